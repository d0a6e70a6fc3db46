"""Candidates as MLflow models that predict label names from raw text or raw typed columns.

Each model folder holds the candidate as the pipeline saved it, a `python_function` flavor
whose loader is this module (so `mlflow.pyfunc.load_model` and `mlflow models serve` return
label names), the reprotune code it needs, explicit pip requirements, a signature and a raw-text
input example; plus the family's native flavor where MLflow has one (`sklearn`, `keras`), so
`mlflow.sklearn.load_model` / `mlflow.keras.load_model` give the framework's own object.
"""

import logging
import shutil
import tempfile
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

import reprotune
from reprotune import models
from reprotune.features import FEATURE_TYPES

INPUT_COLUMN = "text"
NATIVE_DIR = "native"
INPUT_EXAMPLE = ["Stocks rallied as oil prices fell.", "The striker scored twice in the final."]
# Distributions every python_function model needs; each family adds its `requirements`.
BASE_REQUIREMENTS = ("mlflow", "numpy", "pandas", "pydantic", "pyyaml", "scikit-learn", "joblib")


class Classifier:
    """The python_function model: raw text (or raw typed columns) in; the label name and its
    probability out, and for binary models P(positive) and the tuned threshold that decided."""

    def __init__(self, candidate: models.Candidate):
        self.candidate = candidate

    def predict(self, model_input, params=None) -> pd.DataFrame:
        candidate = self.candidate
        inputs = _rows(model_input) if candidate.typed_inputs else _texts(model_input)
        proba = candidate.predict_proba(inputs)
        best = models.decide(proba, candidate.threshold) if len(inputs) else np.zeros(0, int)
        out = pd.DataFrame(
            {
                "label": [candidate.label_names[i] for i in best],
                "probability": proba[np.arange(len(best)), best] if len(inputs) else [],
            }
        )
        if candidate.threshold is not None:
            out["positive_probability"] = proba[:, 1] if len(inputs) else []
            out["threshold"] = candidate.threshold
        return out


TextClassifier = Classifier  # the name models logged before typed features load by


def _rows(model_input) -> pd.DataFrame:
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, dict):
        return pd.DataFrame({k: np.atleast_1d(v) for k, v in model_input.items()})
    return pd.DataFrame(list(model_input))


def _texts(model_input) -> list[str]:
    if isinstance(model_input, pd.DataFrame):
        column = INPUT_COLUMN if INPUT_COLUMN in model_input else model_input.columns[0]
        return model_input[column].astype(str).tolist()
    if isinstance(model_input, dict):
        return [str(t) for t in np.atleast_1d(model_input[INPUT_COLUMN])]
    if isinstance(model_input, str):
        return [model_input]
    return [str(t) for t in model_input]


def _load_pyfunc(data_path: str) -> Classifier:
    """MLflow's entry point for the python_function flavor (`loader_module`)."""
    candidate, _ = models.load(Path(data_path))
    return Classifier(candidate)


def signature(card: dict | None = None):
    """Text in, or one typed column per feature (numbers as double, the rest as string)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    card = card or {}
    typed = (
        card.get("typed_inputs", models.family_class(card["family"]).typed_inputs)
        if card
        else False
    )
    if typed:
        inputs = [
            ColSpec(FEATURE_TYPES[kind].signature_type, column, required=False)
            for column, kind in card["features"].items()
        ]
    else:
        inputs = [ColSpec("string", INPUT_COLUMN)]
    outputs = [ColSpec("string", "label"), ColSpec("double", "probability")]
    if (card.get("decision") or {}).get("threshold") is not None:
        outputs += [ColSpec("double", "positive_probability"), ColSpec("double", "threshold")]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def input_example(card: dict) -> pd.DataFrame:
    if card.get("input_example"):
        from reprotune.models.tabular import tabular_inputs

        # In the signature's types: MLflow will not turn an int64 column into a double one.
        return tabular_inputs(pd.DataFrame(card["input_example"]), card["features"])
    return pd.DataFrame({INPUT_COLUMN: INPUT_EXAMPLE})


def families_run(card: dict) -> list[str]:
    """The families a model runs: an ensemble's members' (it needs what each needs)."""
    return list((card.get("members") or {}).values()) or [card["family"]]


def pip_requirements(families: list[str]) -> list[str]:
    """Pinned to what trained the model; inferred requirements would list the whole env.
    Local version labels (torch's `+cpu`) are dropped: indexes do not serve them."""
    pins = []
    needed = [name for family in families for name in models.params_class(family).requirements]
    for name in dict.fromkeys((*BASE_REQUIREMENTS, *needed)):
        try:
            pins.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def _save_sklearn(candidate_dir: Path, dest: Path) -> None:
    import joblib
    import mlflow.sklearn

    from reprotune.models.tabular import WEIGHTS

    # Not skops: the pipelines hold reprotune's own encoders and XGBoost estimators, which
    # skops loads only as explicitly trusted types, and serving never reads this copy (the
    # python_function flavor loads the candidate folder through reprotune). MLflow's warning
    # that cloudpickle executes code on load is about this extra flavor: silenced.
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
    mlflow.sklearn.save_model(
        joblib.load(candidate_dir / WEIGHTS),
        str(dest),
        serialization_format="cloudpickle",
        # Only the payload of this flavor is kept: without a list MLflow would infer one by
        # importing the model in a subprocess (seconds per stage) for a file thrown away.
        pip_requirements=pip_requirements([]),
    )


def _save_keras(candidate_dir: Path, dest: Path) -> None:
    import keras
    import mlflow.keras

    from reprotune.models.keras import WEIGHTS

    # The folder's signature is the python_function's (text in, label out); the keras flavor
    # would only take tensor specs, and MLflow warns when it gets none.
    logging.getLogger("mlflow.keras.save").setLevel(logging.ERROR)
    mlflow.keras.save_model(
        keras.models.load_model(candidate_dir / WEIGHTS),
        str(dest),
        pip_requirements=pip_requirements([]),  # as in _save_sklearn: no inference subprocess
    )


# The native flavors' savers, and the flavor key naming the path of the native payload.
NATIVE_SAVERS = {"sklearn": (_save_sklearn, "pickled_model"), "keras": (_save_keras, "data")}


def build_model_dir(candidate_dir: Path, dest: Path) -> Path:
    """Write the MLflow model folder for the candidate saved in `candidate_dir`."""
    import mlflow.pyfunc
    from mlflow.models import Model

    card = models.read_card(candidate_dir)
    family = card["family"]
    with warnings.catch_warnings():
        # MLflow re-infers the input example's schema and hints that integer columns cannot
        # hold missing values: the signature is given explicitly, so there is nothing to act on.
        warnings.simplefilter("ignore", UserWarning)
        mlflow.pyfunc.save_model(
            path=str(dest),
            loader_module=__name__,
            data_path=str(candidate_dir),
            code_paths=[str(Path(reprotune.__file__).parent)],
            signature=signature(card),
            input_example=input_example(card),
            pip_requirements=pip_requirements(families_run(card)),
        )
    flavor = models.params_class(family).native_flavor
    if flavor is not None:
        save_native, payload_key = NATIVE_SAVERS[flavor]
        model = Model.load(dest)
        with tempfile.TemporaryDirectory() as scratch:
            native = Path(scratch) / "model"
            save_native(Path(candidate_dir), native)
            config = Model.load(native).flavors[flavor]
            target = Path(NATIVE_DIR) / config[payload_key]
            (dest / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(native / config[payload_key], dest / target)
        model.add_flavor(flavor, **{**config, payload_key: target.as_posix()})
        model.save(dest / "MLmodel")
    return dest
