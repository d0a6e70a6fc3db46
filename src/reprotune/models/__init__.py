"""Candidates: create, fit, save and load any family's model through one interface
(`Candidate`, models/base.py). The families themselves live in reprotune.families, one folder
each; their code is imported only when that family runs, so stages that need neither
TensorFlow nor torch never import them."""

from pathlib import Path

import numpy as np

from reprotune.errors import ParamsError, did_you_mean
from reprotune.models import registry
from reprotune.models.base import Candidate, decide, read_card


def family_class(family: str) -> type[Candidate]:
    return registry.candidate_class(family)


def params_class(family: str):
    return registry.params_classes()[family]


def selected_features(params, features: dict[str, str] | None) -> dict[str, str] | None:
    """The features a candidate reads: its `columns`, in their order, or all of them."""
    wanted = getattr(params, "columns", None)
    if not wanted or features is None:
        return features
    return {column: features[column] for column in wanted if column in features}


def check_reads(candidate: str, params, features: dict[str, str]) -> None:
    """Stop when the candidate names a column the task lacks, or its family cannot read some
    of the feature types it is given."""
    unknown = [c for c in (getattr(params, "columns", None) or []) if c not in features]
    if unknown:
        raise ParamsError(
            f"train.candidates.{candidate}.columns: {unknown} are not features of the task; "
            f"{did_you_mean(unknown[0], features)}fix: use some of {list(features)} "
            "(data/processed/features.json), or null for all"
        )
    features = selected_features(params, features)
    unread = sorted(set(features.values()) - set(type(params).reads))
    if unread:
        columns = [c for c, kind in features.items() if kind in unread]
        raise ParamsError(
            f"train.candidates.{candidate}: family {params.family!r} cannot read "
            f"{', '.join(unread)} features ({', '.join(columns[:8])}); fix: use a family that "
            f"reads them ({', '.join(registry.reading(set(features.values())))}), or drop "
            "those columns (data.drop_columns)"
        )


def create(params, label_names: list[str], seed: int, features=None) -> Candidate:
    features = selected_features(params, features)
    return family_class(params.family)(params, label_names, seed, features)


def fit_on_rows(params, label_names: list[str], seed: int, features, inputs, labels) -> Candidate:
    """A fresh model fitted on `inputs` only (a fold's rows): a stratified tenth of them is its
    validation split for early stopping, unless the family would train on it anyway."""
    from reprotune.data.folds import inner_split, take_rows

    labels = np.asarray(labels)
    fit_rows, val_rows = inner_split(labels, seed, getattr(params, "fit_on_val", False))
    model = create(params, label_names, seed, features)
    model.fit(
        take_rows(inputs, fit_rows), labels[fit_rows], take_rows(inputs, val_rows), labels[val_rows]
    )
    return model


def load(folder: Path) -> tuple[Candidate, dict]:
    card = read_card(folder)
    model = family_class(card["family"]).load_weights(Path(folder), card)
    model.features = card.get("features")
    model.decision = card.get("decision") or {}
    return model, card


__all__ = [
    "Candidate",
    "check_reads",
    "create",
    "decide",
    "family_class",
    "fit_on_rows",
    "load",
    "read_card",
]
