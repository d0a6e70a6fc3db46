"""What every candidate model offers the train and evaluate stages."""

import abc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from reprotune.io import read_json, write_json

CARD = "candidate.json"
EpochCallback = Callable[[dict], None]


class Candidate(abc.ABC):
    """A model family behind one interface: fit on text, predict class probabilities."""

    family: str

    def __init__(self, params, label_names: list[str], seed: int):
        self.params = params
        self.label_names = list(label_names)
        self.seed = seed

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

    def predict(self, texts: list[str]) -> np.ndarray:
        return self.predict_proba(texts).argmax(axis=1)

    def save(self, folder: Path, extra: dict) -> None:
        self.save_weights(folder)
        card = {
            "family": self.family,
            "params": self.params.model_dump(mode="json"),
            "label_names": self.label_names,
            "seed": self.seed,
            **extra,
        }
        write_json(Path(folder) / CARD, card)


def read_card(folder: Path) -> dict:
    return read_json(Path(folder) / CARD)
