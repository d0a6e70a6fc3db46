"""Pieces shared by the iterative (per-epoch) candidates: epoch metrics and early stopping."""

import numpy as np


def epoch_metrics(y_true: np.ndarray, proba: np.ndarray, prefix: str) -> dict[str, float]:
    """Loss, accuracy, macro F1, macro precision and recall of one split after one epoch;
    ROC-AUC and PR-AUC (average precision) too for binary tasks."""
    # Imported here: config imports the families' params, and every stage imports config.
    from sklearn import metrics as skm

    labels = list(range(proba.shape[1]))
    y_pred = proba.argmax(axis=1)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    clipped = np.clip(proba, 1e-15, 1.0)
    values = {
        "loss": skm.log_loss(y_true, clipped / clipped.sum(axis=1, keepdims=True), labels=labels),
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "macro_f1": f1,
        "precision": precision,
        "recall": recall,
    }
    if len(labels) == 2 and len(np.unique(y_true)) == 2:
        # Threshold-free scores: what an imbalanced binary task is tuned and stopped on.
        values["roc_auc"] = skm.roc_auc_score(y_true, proba[:, 1])
        values["pr_auc"] = skm.average_precision_score(y_true, proba[:, 1])
    return {f"{prefix}_{name}": round(float(value), 6) for name, value in values.items()}


class EarlyStopping:
    """Tracks the best validation score; says when `patience` epochs brought no gain."""

    def __init__(self, patience: int):
        self.patience = patience
        self.best_score = -np.inf
        self.best_epoch = 0
        self.epochs_without_gain = 0

    def update(self, score: float, epoch: int) -> bool:
        """Record an epoch's score; True when it is the best so far."""
        if score > self.best_score:
            self.best_score, self.best_epoch, self.epochs_without_gain = score, epoch, 0
            return True
        self.epochs_without_gain += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.epochs_without_gain >= self.patience


EPOCH_LINE_KEYS = ("train_loss", "val_loss", "val_accuracy", "val_macro_f1")


def epoch_line(row: dict, epochs: int) -> str:
    """`epoch 2/3: train_loss 0.3472, val_loss 0.4716, val_accuracy 0.8700, val_macro_f1 0.8708`
    (every metric of the epoch is in the history, MLflow and the charts)."""
    shown = ", ".join(f"{key} {row[key]:.4f}" for key in EPOCH_LINE_KEYS if key in row)
    return f"epoch {row['epoch']}/{epochs}: {shown}"
