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

    refitted = False

    def fit_on_spark(
        self, files: dict, train_share: float = 1.0
    ) -> tuple[list[dict], np.ndarray, np.ndarray]:
        """`engine: spark` (families/xgboost/spark.py): the encoder fitted on a sample of the
        training split, XGBoost trained on the executors (on `train_share` of the training
        rows, stratified: the budget's plan) with early stopping on validation, then
        (refit_on_val) again on train + validation for the rounds chosen. Returns the
        per-round history and the validation rows' labels and probabilities (for the
        threshold), the fitted pipeline saved like the local one's; `trained_rows` says how
        many training rows it saw."""
        from sklearn.pipeline import Pipeline
        from xgboost import XGBClassifier

        from reprotune.data.prepare import sample_parquet
        from reprotune.families.xgboost import spark as on_spark
        from reprotune.models.tabular import preprocessor

        settings = self.params.spark
        sample = sample_parquet(files["train"], settings.encoder_rows, self.seed)
        pre = preprocessor(self.features, self.native_categories)
        pre.fit(self.select_inputs(sample))
        base = self.build_classifier(sample["label"].to_numpy(), pre).get_params()
        if hasattr(pre.transform(self.select_inputs(sample.head(100))), "toarray"):
            # A sparse encoding: the local fit (and the saved pipeline, serving) sees the
            # zeros it leaves out as missing; the executors' dense rows must say the same.
            base["missing"] = 0.0
        with on_spark.spark_session(settings) as spark:
            classes = len(self.label_names)
            train, self.trained_rows = on_spark.training_rows(
                spark, files["train"], train_share, classes, self.seed
            )
            frame = on_spark.encoded_frame(
                train, files["val"], pre, self.features, settings.num_workers
            )
            fitted = on_spark.estimator(base, settings.num_workers, validation=True).fit(frame)
            summary = fitted.training_summary
            history = round_history(
                {"train": summary.train_objective_history,
                 "val": summary.validation_objective_history},
                ROUND_METRICS,
            )  # fmt: skip
            booster = fitted.get_booster()
            best = booster.attr("best_iteration")
            self.best_epoch = int(best) + 1 if best is not None else len(history)
            labels, proba = on_spark.validation_probabilities(fitted, frame, classes)
            self.refitted = bool(self.params.refit_on_val)
            if self.refitted:
                rounds = {**base, "n_estimators": self.best_epoch}
                final = on_spark.estimator(rounds, settings.num_workers, validation=False)
                booster = final.fit(frame).get_booster()
        classifier = XGBClassifier(**base)
        classifier.load_model(bytearray(booster.save_raw("json")))
        self.pipeline = Pipeline([("features", pre), ("model", classifier)])
        return history, labels, proba

    def score_split_on_spark(self, path) -> tuple[np.ndarray, np.ndarray]:
        """`engine: spark`: a split's labels and probabilities scored on the executors."""
        from reprotune.families.xgboost import spark as on_spark

        with on_spark.spark_session(self.params.spark) as spark:
            return on_spark.split_probabilities(spark, path, self)

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
