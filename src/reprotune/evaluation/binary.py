"""Binary-task metrics: threshold-free scores (ROC-AUC, PR-AUC, Brier, log loss) and, at 0.5
and at the tuned threshold, the positive class's precision/recall/F1, balanced accuracy,
MCC, the confusion counts and the expected cost per 1,000 cases."""

import numpy as np
from sklearn import metrics as skm

from reprotune.evaluation.thresholds import DEFAULT_THRESHOLD, cost_per_1000, error_counts


def at_threshold(y_true, positive_proba, threshold: float, costs: dict | None) -> dict:
    y_pred = (positive_proba >= threshold).astype(int)
    values = {
        "threshold": threshold,
        "precision": skm.precision_score(y_true, y_pred, zero_division=0),
        "recall": skm.recall_score(y_true, y_pred, zero_division=0),
        "f1": skm.f1_score(y_true, y_pred, zero_division=0),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "mcc": skm.matthews_corrcoef(y_true, y_pred),
        **error_counts(y_true, y_pred),
    }
    if costs:
        values["expected_cost"] = cost_per_1000(y_true, y_pred, costs)
    return {k: round(float(v), 6) if isinstance(v, float) else v for k, v in values.items()}


def binary_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float | None, costs: dict | None
) -> dict:
    """Top-level keys are at the tuned threshold (what compare ranks); `at_0.5` beside."""
    positive = proba[:, 1]
    tuned = DEFAULT_THRESHOLD if threshold is None else threshold
    both = len(np.unique(y_true)) == 2
    return {
        "roc_auc": round(float(skm.roc_auc_score(y_true, positive)), 6) if both else None,
        "pr_auc": round(float(skm.average_precision_score(y_true, positive)), 6) if both else None,
        "brier": round(float(skm.brier_score_loss(y_true, positive)), 6),
        "positive_rate": round(float(np.mean(y_true)), 6),
        **at_threshold(y_true, positive, tuned, costs),
        "at_0.5": at_threshold(y_true, positive, DEFAULT_THRESHOLD, costs),
    }


def curves(y_true: np.ndarray, positive_proba: np.ndarray, bins: int = 10) -> dict[str, list]:
    """ROC, precision-recall and reliability (calibration) points, as rows for the charts."""
    from sklearn.calibration import calibration_curve

    fpr, tpr, _ = skm.roc_curve(y_true, positive_proba)
    precision, recall, _ = skm.precision_recall_curve(y_true, positive_proba)
    observed, predicted = calibration_curve(y_true, positive_proba, n_bins=bins)
    return {
        "roc": _rows(fpr, tpr),
        "pr": _rows(recall[::-1], precision[::-1]),
        "calibration": _rows(predicted, observed),
    }


def _rows(x: np.ndarray, y: np.ndarray, most: int = 400) -> list[dict]:
    """(x, y) points, thinned to at most `most` so the plot files stay small."""
    step = max(1, int(np.ceil(len(x) / most)))
    keep = list(range(0, len(x), step))
    if keep[-1] != len(x) - 1:
        keep.append(len(x) - 1)
    return [{"x": round(float(x[i]), 6), "y": round(float(y[i]), 6)} for i in keep]
