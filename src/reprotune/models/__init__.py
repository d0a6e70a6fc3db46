"""Candidate model families. Each family's module is imported only when that family runs, so
stages that need neither TensorFlow nor torch never import them."""

import importlib
from pathlib import Path

from reprotune.models.base import Candidate, read_card

# Family name = module name (dvc.yaml makes train@<candidate> depend on that module alone).
FAMILY_CLASSES = {
    "tfidf_logreg": "TfidfLogreg",
    "keras_mlp": "KerasMlp",
    "hf_transformer": "HfTransformer",
}


def family_class(family: str) -> type[Candidate]:
    module = importlib.import_module(f"reprotune.models.{family}")
    return getattr(module, FAMILY_CLASSES[family])


def create(params, label_names: list[str], seed: int) -> Candidate:
    return family_class(params.family)(params, label_names, seed)


def load(folder: Path) -> tuple[Candidate, dict]:
    card = read_card(folder)
    return family_class(card["family"]).load_weights(Path(folder), card), card


__all__ = ["Candidate", "create", "family_class", "load", "read_card"]
