"""The model families, one folder each, listed once in `NAMES`.

A family's folder holds everything about it: `__init__.py` its params class (`PARAMS`: the
params.yaml settings, their defaults and checks, and the ClassVars every other part reads:
which feature types it `reads`, its pip `requirements`, its MLflow `native_flavor`, ...), light
to import; `model.py` its Candidate class (`MODEL`), imported only when the family runs, so a
stage that needs neither TensorFlow nor torch never imports them. To add a family: a folder
here and its name below (docs/architecture.md).
"""

import importlib
from functools import cache

NAMES = (
    "tfidf_logreg",
    "keras_mlp",
    "hf_transformer",
    "logreg",
    "random_forest",
    "xgboost",
    "keras_tabular",
    "keras_multimodal",
    "ensemble",
)


@cache
def params_classes() -> dict:
    """Every family's params class, by family name."""
    return {name: importlib.import_module(f"{__name__}.{name}").PARAMS for name in NAMES}


def candidate_params_classes() -> tuple:
    """The params classes a `train.candidates` entry may take (ensembles have their own section)."""
    return tuple(cls for cls in params_classes().values() if cls.trained_alone)


def reading(types: set[str]) -> list[str]:
    """The train families that can read every feature type in `types`."""
    return [
        name for name, cls in params_classes().items() if cls.trained_alone and types <= cls.reads
    ]


def model_module(family: str) -> str:
    return f"{__name__}.{family}.model"


def candidate_class(family: str):
    """The family's Candidate class (imports its framework)."""
    return importlib.import_module(model_module(family)).MODEL
