"""`random_forest`: scikit-learn's random forest (bagged trees) on the typed columns."""

import numpy as np
from scipy import sparse

from reprotune.models.tabular import SklearnTabular
from reprotune.runtime import thread_count


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

    def classify(self, classifier, X) -> np.ndarray:
        """RandomForestClassifier.predict_proba on one thread sums each tree's probabilities
        in order through joblib, which costs ~0.15 ms a tree in task set-up (45 ms for one
        row and 300 trees); summed here in the same order, the numbers are the same. The first
        call checks that against scikit-learn's and keeps its road if they ever differ."""
        if sparse.issparse(X) or classifier.n_outputs_ != 1 or self._summed_alike is False:
            return classifier.predict_proba(X)
        proba = summed_tree_proba(classifier, X)
        if self._summed_alike is None:
            self._summed_alike = bool(np.array_equal(proba, classifier.predict_proba(X)))
            if not self._summed_alike:
                return classifier.predict_proba(X)
        return proba

    _summed_alike: bool | None = None  # whether summed_tree_proba matched scikit-learn's

    def n_parameters(self) -> int:
        forest = self.pipeline.named_steps["model"]
        return int(sum(tree.tree_.node_count for tree in forest.estimators_))


def summed_tree_proba(forest, X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32, order="C")
    proba = np.zeros((X.shape[0], forest.n_classes_), dtype=np.float64)
    n_classes = forest.n_classes_
    for tree in forest.estimators_:  # DecisionTreeClassifier.predict_proba, less its checks
        proba += tree.tree_.predict(X)[:, :n_classes]
    proba /= len(forest.estimators_)
    return proba


MODEL = RandomForest
