"""Candidate model families. Each family's module is imported only when that family runs, so
stages that need neither TensorFlow nor torch never import them."""

import importlib
from pathlib import Path

from reprotune.models.base import Candidate, read_card

FAMILY_CLASSES = {
    "tfidf_logreg": "reprotune.models.baseline:TfidfLogreg",
}


def family_class(family: str) -> type[Candidate]:
    module_name, class_name = FAMILY_CLASSES[family].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create(params, label_names: list[str], seed: int) -> Candidate:
    return family_class(params.family)(params, label_names, seed)


def load(folder: Path) -> tuple[Candidate, dict]:
    card = read_card(folder)
    return family_class(card["family"]).load_weights(Path(folder), card), card


__all__ = ["Candidate", "create", "family_class", "load", "read_card"]
