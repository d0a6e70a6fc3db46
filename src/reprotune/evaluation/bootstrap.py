"""How sure a test score is: seeded bootstrap intervals of a candidate's score, and paired
intervals of the difference between two candidates scored on the same test rows.

Every candidate is resampled with the same row indices (same seed, same test split), so a
difference is measured on the same draws: the paired bootstrap. With ~17 positives in a test
split a +0.7 % lift is noise; the interval says so."""

import numpy as np
import pandas as pd

RESAMPLES = 1000
LEVEL = 0.95
LABEL, PREDICTED, PROBA = "label", "predicted", "proba_"


def predictions_frame(y_true: np.ndarray, proba: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """What evaluate keeps of a candidate's test predictions (predictions/<candidate>.parquet)."""
    frame = pd.DataFrame({LABEL: np.asarray(y_true), PREDICTED: np.asarray(y_pred)})
    for column in range(proba.shape[1]):
        frame[f"{PROBA}{column}"] = proba[:, column].astype("float64")
    return frame


def split_predictions(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    columns = [c for c in frame.columns if c.startswith(PROBA)]
    return frame[LABEL].to_numpy(), frame[columns].to_numpy(), frame[PREDICTED].to_numpy()


def _clip(proba: np.ndarray) -> np.ndarray:
    clipped = np.clip(proba, 1e-15, 1.0)
    return clipped / clipped.sum(axis=1, keepdims=True)


def resample_indices(n_rows: int, seed: int, count: int = RESAMPLES) -> np.ndarray:
    """`count` draws of `n_rows` row indices with replacement: the same for every candidate."""
    return np.random.default_rng(seed).integers(0, n_rows, size=(count, n_rows))


def _draw_counts(indices: np.ndarray, n_rows: int) -> np.ndarray:
    """How often each row is drawn in each resample: (resamples, rows)."""
    count = indices.shape[0]
    offsets = (indices + n_rows * np.arange(count)[:, None]).ravel()
    return np.bincount(offsets, minlength=count * n_rows).reshape(count, n_rows).astype(float)


def _safe_divide(numerator, denominator):
    return np.divide(
        numerator, denominator, out=np.zeros_like(numerator, dtype=float), where=denominator > 0
    )


def _confusions(weights, y_true, y_pred, n_classes: int) -> np.ndarray:
    """Each resample's confusion matrix, (resamples, true, predicted)."""
    cells = np.zeros((len(y_true), n_classes * n_classes))
    cells[np.arange(len(y_true)), y_true * n_classes + y_pred] = 1.0
    return (weights @ cells).reshape(-1, n_classes, n_classes)


def _from_confusion(metric: str, matrices: np.ndarray, costs: dict | None) -> np.ndarray:
    diagonal = np.diagonal(matrices, axis1=1, axis2=2)
    support, predicted = matrices.sum(axis=2), matrices.sum(axis=1)
    total = support.sum(axis=1)
    precision, recall = _safe_divide(diagonal, predicted), _safe_divide(diagonal, support)
    f1 = _safe_divide(2 * diagonal, support + predicted)
    if metric == "accuracy":
        return diagonal.sum(axis=1) / total
    if metric == "macro_f1":
        return f1.mean(axis=1)
    if metric == "weighted_f1":
        return (f1 * support).sum(axis=1) / total
    if metric == "macro_precision":
        return precision.mean(axis=1)
    if metric == "macro_recall":
        return recall.mean(axis=1)
    if metric in ("precision", "recall", "f1"):
        return {"precision": precision, "recall": recall, "f1": f1}[metric][:, 1]
    if metric == "balanced_accuracy":
        present = (support > 0) | (predicted > 0)
        defined = np.where(support > 0, recall, np.nan)
        return np.nanmean(np.where(present, defined, np.nan), axis=1)
    tn, fp, fn, tp = (matrices[:, a, b] for a, b in ((0, 0), (0, 1), (1, 0), (1, 1)))
    if metric == "mcc":
        spread = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return _safe_divide(tp * tn - fp * fn, spread)
    if metric == "expected_cost":
        if not costs:
            return np.full(len(matrices), np.nan)
        return 1000 * (fp * costs["false_positive"] + fn * costs["false_negative"]) / total
    raise ValueError(metric)


def _ranking(weights, positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per resample and distinct score (highest first): positive and negative weights."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    drawn = weights[:, order]
    is_positive = positive[order].astype(float)
    positives = np.add.reduceat(drawn * is_positive, starts, axis=1)
    negatives = np.add.reduceat(drawn * (1 - is_positive), starts, axis=1)
    return positives, negatives


def _roc_auc(weights, positive, scores) -> np.ndarray:
    """Mann-Whitney: each positive against the negatives ranked below it, ties counting half."""
    positives, negatives = _ranking(weights, positive, scores)
    below = negatives.sum(axis=1, keepdims=True) - np.cumsum(negatives, axis=1)
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    won = (positives * (below + 0.5 * negatives)).sum(axis=1)
    return np.where(pairs > 0, won / np.where(pairs > 0, pairs, 1), np.nan)


def _average_precision(weights, positive, scores) -> np.ndarray:
    """sklearn's step-wise average precision: precision at each distinct score, weighted by
    the recall it adds."""
    positives, negatives = _ranking(weights, positive, scores)
    found = np.cumsum(positives, axis=1)
    precision = _safe_divide(found, found + np.cumsum(negatives, axis=1))
    total = positives.sum(axis=1)
    both = (total > 0) & (negatives.sum(axis=1) > 0)
    value = (positives * precision).sum(axis=1) / np.where(total > 0, total, 1)
    return np.where(both, value, np.nan)


def replicate_scores(metric: str, frame: pd.DataFrame, indices: np.ndarray, costs=None):
    """`metric` on every resample at once (draw counts as weights), equal to `score` on the
    resampled rows (tested)."""
    y_true, proba, y_pred = split_predictions(frame)
    weights = _draw_counts(indices, len(y_true))
    n_classes = proba.shape[1]
    if metric == "log_loss":
        row_loss = -np.log(_clip(proba)[np.arange(len(y_true)), y_true])
        return weights @ row_loss / weights.sum(axis=1)
    if metric == "brier":
        return weights @ (proba[:, 1] - y_true) ** 2 / weights.sum(axis=1)
    if metric in ("roc_auc", "pr_auc"):
        ranker = _roc_auc if metric == "roc_auc" else _average_precision
        return ranker(weights, y_true == 1, proba[:, 1])
    if metric == "roc_auc_ovr":
        if n_classes == 2:
            return _roc_auc(weights, y_true == 1, proba[:, 1])
        clipped = _clip(proba)
        per_class = [_roc_auc(weights, y_true == c, clipped[:, c]) for c in range(n_classes)]
        return np.mean(per_class, axis=0)  # nan where a resample lacks a class, as sklearn
    return _from_confusion(metric, _confusions(weights, y_true, y_pred, n_classes), costs)


def interval(values: np.ndarray, level: float = LEVEL) -> list[float] | None:
    """The percentile interval of the finite replicates; None when there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [round(float(low), 6), round(float(high), 6)]
