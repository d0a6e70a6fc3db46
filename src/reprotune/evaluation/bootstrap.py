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


CHUNK_DRAWS = 2_000_000  # row draws held at once (16 MB of indices; a few arrays that size)


class Resamples:
    """resample_indices' draws, made chunk by chunk from the same seeded stream (the same
    numbers, tested): a test split of 2M rows would need 16 GB for the 1,000 x 2M indices at
    once, and as much again for each array derived from them."""

    def __init__(self, n_rows: int, seed: int, count: int = RESAMPLES):
        self.n_rows, self.seed, self.count = n_rows, seed, count

    def chunks(self):
        rng = np.random.default_rng(self.seed)
        size = max(1, CHUNK_DRAWS // max(self.n_rows, 1))
        for start in range(0, self.count, size):
            yield rng.integers(0, self.n_rows, size=(min(size, self.count - start), self.n_rows))


def resamples(n_rows: int, seed: int, count: int = RESAMPLES) -> Resamples:
    return Resamples(n_rows, seed, count)


def _draw_counts(indices: np.ndarray, n_rows: int) -> np.ndarray:
    """How often each row is drawn in each resample: (resamples, rows)."""
    count = indices.shape[0]
    offsets = (indices + n_rows * np.arange(count)[:, None]).ravel()
    return np.bincount(offsets, minlength=count * n_rows).reshape(count, n_rows).astype(float)


def _safe_divide(numerator, denominator):
    return np.divide(
        numerator, denominator, out=np.zeros_like(numerator, dtype=float), where=denominator > 0
    )


def _confusion_cells(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Each row's cell of the confusion matrix, one-hot: weights @ cells gives the matrices."""
    cells = np.zeros((len(y_true), n_classes * n_classes))
    cells[np.arange(len(y_true)), y_true * n_classes + y_pred] = 1.0
    return cells


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


class _Ranked:
    """Rows sorted by score once (highest first), grouped by distinct score: every chunk of
    resamples weighs the same order."""

    def __init__(self, positive: np.ndarray, scores: np.ndarray):
        self.order = np.argsort(-scores, kind="stable")
        sorted_scores = scores[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        self.is_positive = positive[self.order].astype(float)

    def counts(self, weights) -> tuple[np.ndarray, np.ndarray]:
        """Per resample and distinct score: positive and negative weights."""
        drawn = weights[:, self.order]
        positives = np.add.reduceat(drawn * self.is_positive, self.starts, axis=1)
        negatives = np.add.reduceat(drawn * (1 - self.is_positive), self.starts, axis=1)
        return positives, negatives

    def roc_auc(self, weights) -> np.ndarray:
        """Mann-Whitney: each positive against the negatives ranked below it, ties half."""
        positives, negatives = self.counts(weights)
        below = negatives.sum(axis=1, keepdims=True) - np.cumsum(negatives, axis=1)
        pairs = positives.sum(axis=1) * negatives.sum(axis=1)
        won = (positives * (below + 0.5 * negatives)).sum(axis=1)
        return np.where(pairs > 0, won / np.where(pairs > 0, pairs, 1), np.nan)

    def average_precision(self, weights) -> np.ndarray:
        """sklearn's step-wise average precision: precision at each distinct score,
        weighted by the recall it adds."""
        positives, negatives = self.counts(weights)
        found = np.cumsum(positives, axis=1)
        precision = _safe_divide(found, found + np.cumsum(negatives, axis=1))
        total = positives.sum(axis=1)
        both = (total > 0) & (negatives.sum(axis=1) > 0)
        value = (positives * precision).sum(axis=1) / np.where(total > 0, total, 1)
        return np.where(both, value, np.nan)


def replicate_scores(metric: str, frame: pd.DataFrame, indices, costs=None):
    """`metric` on every resample (draw counts as weights), equal to `score` on the resampled
    rows (tested); `indices` an array of draws or `Resamples` (weighed chunk by chunk)."""
    y_true, proba, y_pred = split_predictions(frame)
    scorer = _scorer(metric, y_true, proba, y_pred, costs)
    chunks = indices.chunks() if isinstance(indices, Resamples) else [indices]
    return np.concatenate([scorer(_draw_counts(chunk, len(y_true))) for chunk in chunks])


def _scorer(metric: str, y_true, proba, y_pred, costs):
    """weights (resamples, rows) -> the metric per resample."""
    n_classes = proba.shape[1]
    if metric == "log_loss":
        row_loss = -np.log(_clip(proba)[np.arange(len(y_true)), y_true])
        return lambda weights: weights @ row_loss / weights.sum(axis=1)
    if metric == "brier":
        squared = (proba[:, 1] - y_true) ** 2
        return lambda weights: weights @ squared / weights.sum(axis=1)
    if metric in ("roc_auc", "pr_auc"):
        ranked = _Ranked(y_true == 1, proba[:, 1])
        return ranked.roc_auc if metric == "roc_auc" else ranked.average_precision
    if metric == "roc_auc_ovr":
        if n_classes == 2:
            return _Ranked(y_true == 1, proba[:, 1]).roc_auc
        clipped = _clip(proba)
        per_class = [_Ranked(y_true == c, clipped[:, c]) for c in range(n_classes)]
        # nan where a resample lacks a class, as sklearn
        return lambda weights: np.mean([r.roc_auc(weights) for r in per_class], axis=0)
    cells = _confusion_cells(y_true, y_pred, n_classes)

    def from_confusion(weights):
        matrices = (weights @ cells).reshape(-1, n_classes, n_classes)
        return _from_confusion(metric, matrices, costs)

    return from_confusion


def interval(values: np.ndarray, level: float = LEVEL) -> list[float] | None:
    """The percentile interval of the finite replicates; None when there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [round(float(low), 6), round(float(high), 6)]
