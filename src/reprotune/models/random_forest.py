"""`random_forest`: scikit-learn's random forest (bagged trees) on the typed columns."""

from typing import Literal

from pydantic import Field, PositiveInt

from reprotune.models.tabular import Resample, SklearnTabular, TabularParams
from reprotune.runtime import thread_count


class RandomForestParams(TabularParams):
    family: Literal["random_forest"]
    n_estimators: PositiveInt = 300
    max_depth: PositiveInt | None = None
    min_samples_leaf: PositiveInt = 2
    max_features: float = Field(default=0.5, gt=0, le=1)
    class_weight: Literal["balanced", "balanced_subsample"] | None = "balanced_subsample"
    resample: Resample = "none"


class RandomForest(SklearnTabular):
    family = "random_forest"
    shap_explainer = "tree"

    def build_classifier(self, train_labels, pre):
        from sklearn.ensemble import RandomForestClassifier

        p = self.params
        return RandomForestClassifier(
            n_estimators=p.n_estimators,
            max_depth=p.max_depth,
            min_samples_leaf=p.min_samples_leaf,
            max_features=p.max_features,
            class_weight=p.class_weight,
            n_jobs=thread_count() or -1,
            random_state=self.seed,
        )

    def fit_classifier(self, classifier, X, y, X_val, y_val, on_epoch) -> list[dict]:
        self.refit_classifier(classifier, X, y)
        return []

    def refit_classifier(self, classifier, X, y) -> None:
        classifier.fit(X, y)
        # Trees are fitted in parallel (seeded: the same trees); predictions are summed on one
        # thread, since threads add the trees' votes in any order (last-digit differences), and
        # joblib's thread pool costs ~60 ms a call in waits, more than a small batch's trees.
        classifier.set_params(n_jobs=1)

    def n_parameters(self) -> int:
        forest = self.pipeline.named_steps["model"]
        return int(sum(tree.tree_.node_count for tree in forest.estimators_))
