"""One record's explanation, for the model service's /explain: per-column SHAP values for a
tabular model (TreeExplainer for tree families; else the permutation explainer over the
background rows saved with the model), per-word LIME weights for a text model."""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from reprotune.errors import DataError, FieldError
from reprotune.models.background import BACKGROUND

SEED = 0


def read_background(model_folder: Path) -> pd.DataFrame | None:
    path = Path(model_folder) / BACKGROUND
    return pd.read_parquet(path) if path.is_file() else None


def explain_record(
    model, record, background: pd.DataFrame | None, samples: int, permutations: int, top_k: int
) -> dict:
    """{explained_class, method, units, base_value, attributions: [{feature, value}]}, the
    attributions largest |value| first."""
    if not model.typed_inputs:
        return _text(model, record, samples, top_k)
    from reprotune.explanation.attribution import attributions, shap_explainer_of

    frame = pd.DataFrame([record])[list(model.features)]
    if background is None and shap_explainer_of(model) != "tree":
        raise DataError(
            f"this model's folder has no {BACKGROUND} (it was trained before /explain existed); "
            "fix: re-train it (dvc repro) to save the background rows SHAP needs"
        )
    result = attributions(model, frame, background, permutations, SEED)
    pairs = sorted(
        zip(result.columns, result.values[0], strict=True), key=lambda p: (-abs(p[1]), p[0])
    )
    return {
        "explained_class": model.label_names[int(result.classes[0])],
        "method": result.method,
        "units": result.units,
        "base_value": float(result.base_values[0]),
        "attributions": [{"feature": c, "value": round(float(v), 6)} for c, v in pairs],
    }


def _text(model, record: dict, samples: int, top_k: int) -> dict:
    from reprotune.explanation.local import lime_text

    text = model.select_inputs_from_records([record])[0]
    if not re.search(r"\w", text):
        raise FieldError(
            "text", f"text {text[:40]!r} has no words to weigh; fix: send a text with words"
        )
    predicted = int(np.argmax(model.predict_proba([text])[0]))
    if model.threshold is not None and len(model.label_names) == 2:
        predicted = 1  # binary: weights toward the positive class, as for tabular models
    weights = lime_text(model, text, predicted, samples, top_k, SEED)
    return {
        "explained_class": model.label_names[predicted],
        "method": f"LIME ({samples} perturbed texts)",
        "units": "probability",
        "base_value": None,
        "attributions": [{"feature": word, "value": w} for word, w in weights],
    }
