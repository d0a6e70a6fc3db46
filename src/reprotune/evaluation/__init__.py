"""Quality and efficiency metrics, computed the same way for every candidate."""

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
from sklearn import metrics as skm


def quality_metrics(
    y_true: np.ndarray, proba: np.ndarray, label_names: list[str], y_pred=None
) -> dict:
    """Accuracy, F1/precision/recall (macro and weighted), log-loss, ROC-AUC, per class; of
    `y_pred` when given (a binary model's thresholded labels), else of the likeliest class."""
    labels = list(range(len(label_names)))
    y_pred = proba.argmax(axis=1) if y_pred is None else y_pred
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    result = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "macro_f1": skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "weighted_f1": skm.f1_score(
            y_true, y_pred, labels=labels, average="weighted", zero_division=0
        ),
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
        "log_loss": skm.log_loss(y_true, _clip(proba), labels=labels),
        "roc_auc_ovr": _roc_auc(y_true, proba, labels),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
    }
    return {k: _round(v) for k, v in result.items()}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return skm.confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))


def _clip(proba: np.ndarray) -> np.ndarray:
    clipped = np.clip(proba, 1e-15, 1.0)
    return clipped / clipped.sum(axis=1, keepdims=True)


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, labels: list[int]) -> float | None:
    """One-vs-rest macro ROC-AUC; None when the test split lacks a class."""
    if len(np.unique(y_true)) < len(labels):
        return None
    if len(labels) == 2:
        return skm.roc_auc_score(y_true, proba[:, 1])
    return skm.roc_auc_score(y_true, _clip(proba), multi_class="ovr", labels=labels)


def _round(value, digits: int = 6):
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, float | np.floating):
        return round(float(value), digits)
    return value


def predict_timed(
    predict: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str], batch_size: int
) -> tuple[np.ndarray, float]:
    """Predictions for `texts` in batches, and the samples per second it took.

    One untimed warm-up batch first; the timed pass is the one whose predictions are scored.
    """
    predict(texts[:batch_size])
    start = time.perf_counter()
    parts = [predict(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    elapsed = time.perf_counter() - start
    return np.concatenate(parts), round(len(texts) / elapsed, 2)


def latency_ms(predict: Callable[[Sequence], object], example, repeats: int) -> float:
    """Median milliseconds to predict one example (after one untimed warm-up call).

    `example`: one text, or a batch of one (a one-row table for typed features)."""
    batch = [example] if isinstance(example, str) else example
    predict(batch)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(batch)
        timings.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(timings), 4)
