"""Permutation importance on the user's columns: how much the test score drops when one
column's values are shuffled (scikit-learn's `permutation_importance`, repeated and seeded).
Model-agnostic: the model sees raw columns, so there is nothing to sum back."""

import numpy as np
import pandas as pd
from sklearn import metrics as sk

from reprotune.models.base import decide

# compare.metric -> (score of labels, probabilities and decisions; higher is better)
_LABEL_SCORES = {
    "accuracy": sk.accuracy_score,
    "macro_f1": lambda y, p: sk.f1_score(y, p, average="macro", zero_division=0),
    "weighted_f1": lambda y, p: sk.f1_score(y, p, average="weighted", zero_division=0),
    "macro_precision": lambda y, p: sk.precision_score(y, p, average="macro", zero_division=0),
    "macro_recall": lambda y, p: sk.recall_score(y, p, average="macro", zero_division=0),
    "balanced_accuracy": sk.balanced_accuracy_score,
    "mcc": sk.matthews_corrcoef,
    "f1": lambda y, p: sk.f1_score(y, p, zero_division=0),
    "precision": lambda y, p: sk.precision_score(y, p, zero_division=0),
    "recall": lambda y, p: sk.recall_score(y, p, zero_division=0),
}


def score_name(metric: str) -> str:
    """The score permutation importance measures drops of: compare.metric where it is a
    score of probabilities or decisions; expected cost (which needs the costs) -> log loss."""
    return "log_loss" if metric == "expected_cost" else metric


def score(metric: str, labels: np.ndarray, proba: np.ndarray, threshold: float | None) -> float:
    metric = score_name(metric)
    if metric in _LABEL_SCORES:
        return float(_LABEL_SCORES[metric](labels, decide(proba, threshold)))
    if metric == "roc_auc":
        return float(sk.roc_auc_score(labels, proba[:, 1]))
    if metric == "pr_auc":
        return float(sk.average_precision_score(labels, proba[:, 1]))
    if metric == "roc_auc_ovr":
        return float(
            sk.roc_auc_score(labels, proba, multi_class="ovr", labels=range(proba.shape[1]))
        )
    if metric == "brier":
        return -float(sk.brier_score_loss(labels, proba[:, 1]))
    if metric == "log_loss":
        return -float(sk.log_loss(labels, np.clip(proba, 1e-15, 1), labels=range(proba.shape[1])))
    raise ValueError(f"no permutation score for metric {metric!r}")


class _Scored:
    """What `permutation_importance` calls: a fitted model it never refits."""

    def __init__(self, model):
        self.model = model

    def fit(self, *_):
        return self

    def predict_proba(self, frame):
        return self.model.predict_proba(frame)


def permutation_importances(
    model, frame: pd.DataFrame, labels: np.ndarray, metric: str, repeats: int, seed: int
) -> dict[str, dict[str, float]]:
    """{column: {mean, std}} of the score drop, columns in descending order of the mean."""
    from sklearn.inspection import permutation_importance

    def scorer(estimator, X, y):
        return score(metric, y, estimator.predict_proba(X), model.threshold)

    result = permutation_importance(
        _Scored(model),
        frame.reset_index(drop=True),
        np.asarray(labels),
        scoring=scorer,
        n_repeats=repeats,
        random_state=seed,
        n_jobs=1,
    )
    rows = {
        column: {"mean": round(float(mean), 6), "std": round(float(std), 6)}
        for column, mean, std in zip(
            frame.columns, result.importances_mean, result.importances_std, strict=True
        )
    }
    return dict(sorted(rows.items(), key=lambda item: (-item[1]["mean"], item[0])))
