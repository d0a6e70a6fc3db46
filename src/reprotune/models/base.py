"""What every candidate model offers the train and evaluate stages."""

import abc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from reprotune.io import read_json, write_json

CARD = "candidate.json"
EpochCallback = Callable[[dict], None]


class Candidate(abc.ABC):
    """A model family behind one interface: fit on its inputs (text, or typed columns),
    predict class probabilities; binary models also carry a tuned decision threshold."""

    family: str
    # Families that train in epochs (or boosting rounds) get per-epoch charts.
    iterative: bool = False
    passes_name: str = "epochs"  # what one pass over the training rows is called
    # True: takes a table of typed columns; False: one text per example.
    typed_inputs: bool = False
    # The SHAP explainer the explain stage and /explain use: "tree", "linear" (exact, on the
    # encoded columns) or "permutation" (model-agnostic, on the raw columns).
    shap_explainer: str = "permutation"
    # The units of a "tree" explainer's values: the model's raw output (boosted trees add up
    # log-odds) or probabilities (a forest averages them).
    tree_output: str = "probability"
    # One forward pass over many rows costs little more than over one (a transformer): a
    # service waits a few ms under load to batch more requests together.
    gains_from_batches: bool = False

    def __init__(self, params, label_names: list[str], seed: int, features=None):
        self.params = params
        self.label_names = list(label_names)
        self.seed = seed
        # column -> feature type; None for the text task's one joined `text` column.
        self.features: dict[str, str] | None = dict(features) if features else None
        # Binary tasks: P(positive) at or above it predicts the positive class (index 1).
        self.decision: dict = {}

    def select_inputs(self, frame) -> list[str]:
        """What `fit` and `predict_proba` take, from a processed split: here the text."""
        text_columns = [c for c, kind in (self.features or {"text": "text"}).items()]
        if len(text_columns) == 1:
            return frame[text_columns[0]].astype(str).tolist()
        return frame[text_columns].fillna("").astype(str).agg(" ".join, axis=1).tolist()

    def select_inputs_from_records(self, records: list[dict]):
        """What `predict_proba` takes, from request records (raw column values)."""
        import pandas as pd

        return self.select_inputs(pd.DataFrame(records))

    def select_inputs_from_columns(self, columns: dict):
        """What `predict_proba` takes, from one array per input column (a scored chunk)."""
        import pandas as pd

        return self.select_inputs(pd.DataFrame(columns))

    @property
    def trains_on_validation(self) -> bool:
        """Whether the saved model also learned from the validation rows (its predictions
        on them are in-sample)."""
        params = self.params
        return bool(getattr(params, "fit_on_val", False) or getattr(params, "refit_on_val", False))

    def refit_with_validation(self, train_inputs, train_labels, val_inputs, val_labels) -> bool:
        """After the threshold is chosen on validation, a family may learn from those rows
        too (the tabular ones: `refit_on_val`). Returns whether it refitted."""
        return False

    def device_settings(self) -> dict:
        """What the family chose for the device it ran on (batch sizes, lr, loop, precision),
        logged with the training run; {} when nothing depends on the device."""
        return {}

    @property
    def threshold(self) -> float | None:
        return self.decision.get("threshold")

    def top_ngrams(self, top_k: int) -> dict[str, list[tuple[str, float]]] | None:
        """{class: [(n-gram, weight)]} for a linear model on n-grams; None for the others."""
        return None

    @abc.abstractmethod
    def fit(
        self,
        train_texts: list[str],
        train_labels: np.ndarray,
        val_texts: list[str],
        val_labels: np.ndarray,
        on_epoch: "EpochCallback | None" = None,
    ) -> list[dict]:
        """Train; returns per-epoch history rows (one row for single-shot models).

        `on_epoch` sees each history row as it is made; an exception it raises (a tuning
        trial being pruned) stops the training.
        """

    @abc.abstractmethod
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), n_classes), columns in label order."""

    @abc.abstractmethod
    def n_parameters(self) -> int:
        """Count of learned parameters."""

    @abc.abstractmethod
    def save_weights(self, folder: Path) -> None:
        """Write the fitted model's files into `folder`."""

    @classmethod
    @abc.abstractmethod
    def load_weights(cls, folder: Path, card: dict) -> "Candidate":
        """Rebuild a fitted model from `save_weights`' files and its card."""

    def predict(self, inputs) -> np.ndarray:
        return decide(self.predict_proba(inputs), self.threshold)

    def save(self, folder: Path, extra: dict) -> None:
        self.save_weights(folder)
        card = {
            "family": self.family,
            "params": self.params.model_dump(mode="json"),
            "label_names": self.label_names,
            "seed": self.seed,
            "features": self.features,
            "decision": self.decision,
            **extra,
        }
        write_json(Path(folder) / CARD, card)


def expand_to_all_classes(probabilities: np.ndarray, seen: np.ndarray, n_classes: int):
    """Columns for every class, even ones absent from the training rows."""
    if len(seen) == n_classes:
        return probabilities
    full = np.zeros((probabilities.shape[0], n_classes))
    full[:, seen] = probabilities
    return full


def decide(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class indices: the positive class (1) from `threshold` up for binary models that have
    one, else the most probable class."""
    if threshold is not None and proba.shape[1] == 2:
        return (proba[:, 1] >= threshold).astype(int)
    return proba.argmax(axis=1)


def read_card(folder: Path) -> dict:
    return read_json(Path(folder) / CARD)


def input_example(frame, features: dict[str, str], rows: int = 2) -> list[dict]:
    """Raw feature values of a few validation rows: the MLflow model's input example (JSON:
    images as base64 strings)."""
    import base64

    sample = frame[list(features)].head(rows).astype(object)
    for column, kind in features.items():
        if kind == "image":
            sample[column] = sample[column].map(
                lambda v: base64.b64encode(v).decode() if isinstance(v, bytes) else None
            )
    return sample.where(sample.notna(), None).to_dict(orient="records")


def fit_inputs(model: Candidate, train, val) -> tuple:
    """`model.fit`'s arguments from the processed train and validation splits."""
    return (
        model.select_inputs(train),
        train["label"].to_numpy(),
        model.select_inputs(val),
        val["label"].to_numpy(),
    )
