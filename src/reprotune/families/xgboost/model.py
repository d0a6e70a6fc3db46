"""`xgboost`: gradient-boosted trees (XGBoost's `hist` method, deterministic on CPU), early
stopping on the validation split, one history row per boosting round for the charts."""

import numpy as np

from reprotune.models.tabular import BoostedTrees, positive_weight, round_history
from reprotune.runtime import thread_count

# XGBoost's evaluation names -> the history's metric names.
ROUND_METRICS = {"logloss": "loss", "mlogloss": "loss", "auc": "roc_auc", "aucpr": "pr_auc"}


class Xgboost(BoostedTrees):
    family = "xgboost"

    def build_classifier(self, train_labels: np.ndarray, pre):
        from xgboost import XGBClassifier

        p = self.params
        binary = len(self.label_names) == 2
        weight = positive_weight(p.scale_pos_weight, train_labels, len(self.label_names))
        return XGBClassifier(
            n_estimators=p.n_estimators,
            learning_rate=p.learning_rate,
            max_depth=p.max_depth,
            min_child_weight=p.min_child_weight,
            subsample=p.subsample,
            colsample_bytree=p.colsample_bytree,
            reg_lambda=p.reg_lambda,
            scale_pos_weight=weight,
            tree_method="hist",
            **(native_settings(pre, self.features) if self.native_categories else {}),
            eval_metric=["logloss", "auc", "aucpr"] if binary else ["mlogloss"],
            early_stopping_rounds=p.early_stopping_rounds,
            n_jobs=thread_count() or 0,
            random_state=self.seed,
        )

    def fit_classifier(self, classifier, X, y, X_val, y_val, on_epoch) -> list[dict]:
        if X_val is None:
            classifier.set_params(early_stopping_rounds=None)
            classifier.fit(X, y, eval_set=[(X, y)], verbose=False)
        else:
            classifier.fit(X, y, eval_set=[(X, y), (X_val, y_val)], verbose=False)
        history = round_history(classifier.evals_result(), ROUND_METRICS)
        if on_epoch is not None:
            for row in history:
                on_epoch(row)
        best = getattr(classifier, "best_iteration", None)
        self.best_epoch = (best + 1) if best is not None else len(history)
        return history

    def refit_classifier(self, classifier, X, y) -> None:
        """As many rounds as early stopping chose on validation, now without it. A little
        more data would bear a few more rounds; the chosen count is the safe side."""
        classifier.set_params(n_estimators=self.best_epoch, early_stopping_rounds=None)
        classifier.fit(X, y, verbose=False)

    def n_parameters(self) -> int:
        booster = self.pipeline.named_steps["model"].get_booster()
        return len(booster.trees_to_dataframe())  # tree nodes


def native_settings(pre, features: dict[str, str]) -> dict:
    """Mark the category-code columns as categorical ('c'), the rest quantitative ('q')."""
    from reprotune.models.tabular import categorical_output_columns

    categorical = set(categorical_output_columns(pre, features))
    kinds = ["c" if i in categorical else "q" for i in range(len(pre.get_feature_names_out()))]
    return {"enable_categorical": True, "feature_types": kinds, "max_cat_to_onehot": 1}


MODEL = Xgboost
