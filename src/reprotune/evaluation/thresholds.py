"""A binary model's decision threshold, tuned on the validation split with scikit-learn's
TunedThresholdClassifierCV around the already-fitted model (FrozenEstimator): to maximize the
positive class's F1, or to minimize the expected cost of its errors."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

DEFAULT_THRESHOLD = 0.5
N_THRESHOLDS = 200


class PositiveScores(ClassifierMixin, BaseEstimator):
    """A 'classifier' whose single input column is the model's P(positive): the threshold
    search then runs on scores already computed, whatever framework made them."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        positive = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1 - positive, positive])


def error_counts(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, int]:
    from sklearn.metrics import confusion_matrix

    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def total_cost(y_true, y_pred, false_positive: float, false_negative: float) -> float:
    counts = error_counts(np.asarray(y_true), np.asarray(y_pred))
    return counts["fp"] * false_positive + counts["fn"] * false_negative


def cost_per_1000(y_true, y_pred, costs: dict) -> float:
    return 1000 * total_cost(y_true, y_pred, **costs) / max(len(y_true), 1)


def scorer(objective: str, costs: dict | None):
    from sklearn.metrics import make_scorer

    if objective == "f1":
        return "f1"
    return make_scorer(total_cost, greater_is_better=False, **costs)


def tune_threshold(
    y_val: np.ndarray, positive_proba: np.ndarray, objective: str, costs: dict | None
) -> float:
    """The threshold that scores best on the validation rows (0.5 for objective 'none')."""
    if objective == "none":
        return DEFAULT_THRESHOLD
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import TunedThresholdClassifierCV

    scores = np.asarray(positive_proba, dtype=float).reshape(-1, 1)
    y_val = np.asarray(y_val)
    every_row = np.arange(len(y_val))
    tuned = TunedThresholdClassifierCV(
        FrozenEstimator(PositiveScores().fit(scores, y_val)),
        scoring=scorer(objective, costs),
        thresholds=N_THRESHOLDS,
        cv=[(every_row, every_row)],  # frozen: no fitting, scored on every validation row
        refit=False,
    ).fit(scores, y_val)
    return round(float(tuned.best_threshold_), 6)


def threshold_curve(y_true, positive_proba, costs: dict | None, points: int = 101) -> list[dict]:
    """F1 of the positive class (and expected cost per 1,000 when costs are set) against the
    threshold, for the chart that marks the chosen one."""
    from sklearn.metrics import f1_score

    rows = []
    for threshold in np.linspace(0, 1, points):
        y_pred = (positive_proba >= threshold).astype(int)
        row = {
            "threshold": round(float(threshold), 4),
            "f1": round(float(f1_score(y_true, y_pred, zero_division=0)), 6),
        }
        if costs:
            row["expected_cost"] = round(cost_per_1000(y_true, y_pred, costs), 4)
        rows.append(row)
    return rows


def decision(label_names: list[str], labels, positive_proba, settings: dict) -> dict:
    """A binary model's decision (threshold tuned on held-out rows by `settings`' objective,
    with its costs and the positive label); {} for a multiclass model."""
    if len(label_names) != 2:
        return {}
    return {
        "threshold": tune_threshold(
            labels, positive_proba, settings["threshold"], settings["costs"]
        ),
        "objective": settings["threshold"],
        "costs": settings["costs"],
        "positive_label": label_names[1],
    }
