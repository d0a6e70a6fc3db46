"""LightGBM behind the typed-column encoder: category and binary columns reach it as integer
codes it splits on natively (or one-hot columns), early stopping watches the validation split,
and the final model is refitted on train + validation for the rounds it chose."""

import numpy as np

from reprotune.models.tabular import (
    BoostedTrees,
    categorical_output_columns,
    positive_weight,
    round_history,
)
from reprotune.runtime import thread_count

# LightGBM's metric names -> the history's; the first one listed is what early stopping watches.
ROUND_METRICS = {
    "average_precision": "pr_auc",
    "auc": "roc_auc",
    "binary_logloss": "loss",
    "multi_logloss": "loss",
}
BINARY_METRICS = ["average_precision", "auc", "binary_logloss"]
MULTICLASS_METRICS = ["multi_logloss"]


class Lightgbm(BoostedTrees):
    family = "lightgbm"

    def build_classifier(self, train_labels: np.ndarray, pre):
        from lightgbm import LGBMClassifier

        p = self.params
        codes = categorical_output_columns(pre, self.features) if self.native_categories else []
        self._fit_options = {"categorical_feature": codes or "auto"}
        weight = positive_weight(p.scale_pos_weight, train_labels, len(self.label_names))
        return LGBMClassifier(
            n_estimators=p.n_estimators,
            learning_rate=p.learning_rate,
            num_leaves=p.num_leaves,
            max_depth=p.max_depth or -1,
            min_child_samples=p.min_child_samples,
            subsample=p.subsample,
            subsample_freq=1 if p.subsample < 1 else 0,
            colsample_bytree=p.colsample_bytree,
            reg_lambda=p.reg_lambda,
            scale_pos_weight=weight or 1.0,
            min_data_per_group=p.min_data_per_group,
            cat_smooth=p.cat_smooth,
            # The same trees on every run and any thread count.
            deterministic=True,
            force_row_wise=True,
            random_state=self.seed,
            n_jobs=thread_count() or -1,
            verbose=-1,
        )

    def fit_classifier(self, classifier, X, y, X_val, y_val, on_epoch) -> list[dict]:
        import lightgbm

        binary = len(self.label_names) == 2
        evals: dict = {}
        callbacks = [lightgbm.record_evaluation(evals)]
        eval_X, eval_y = [X], [y]
        if X_val is not None and self.params.early_stopping_rounds:
            eval_X.append(X_val)
            eval_y.append(y_val)
            callbacks.append(
                lightgbm.early_stopping(
                    self.params.early_stopping_rounds, first_metric_only=True, verbose=False
                )
            )
        classifier.fit(
            X,
            y,
            eval_X=tuple(eval_X),
            eval_y=tuple(eval_y),
            eval_names=["train", "val"][: len(eval_X)],
            eval_metric=BINARY_METRICS if binary else MULTICLASS_METRICS,
            callbacks=callbacks,
            **self._fit_options,
        )
        history = round_history(evals, ROUND_METRICS)
        if on_epoch is not None:
            for row in history:
                on_epoch(row)
        self.best_epoch = classifier.best_iteration_ or len(history)
        return history

    def refit_classifier(self, classifier, X, y) -> None:
        """As many rounds as early stopping chose on validation, now without it."""
        classifier.set_params(n_estimators=self.best_epoch)
        classifier.fit(X, y, **self._fit_options)

    def n_parameters(self) -> int:
        trees = self.pipeline.named_steps["model"].booster_.dump_model()["tree_info"]
        return int(sum(2 * tree["num_leaves"] - 1 for tree in trees))  # tree nodes


MODEL = Lightgbm
