"""One record's explanation, as the model service's /explain returns it."""

import math

import pytest
from signal_data import FEATURES

from reprotune.errors import DataError
from reprotune.explanation.record import explain_record, read_background
from reprotune.models.background import save_background


def _record(frame):
    row = frame[list(FEATURES)].iloc[0].to_dict()
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def test_tree_models_need_no_background(signal_models, signal_splits):
    model = signal_models["xgboost"]
    result = explain_record(model, _record(signal_splits[2]), None, 100, 3, 10)
    assert result["method"].startswith("tree") and result["units"] == "log-odds"
    assert {a["feature"] for a in result["attributions"][:2]} <= {"dose", "colour"}


def test_other_models_use_the_saved_background(signal_models, signal_splits, tmp_path):
    model, (train, _, test) = signal_models["logreg"], signal_splits
    with pytest.raises(DataError, match=r"background\.parquet.*re-train"):
        explain_record(model, _record(test), None, 100, 3, 10)
    save_background(tmp_path, train, FEATURES, seed=0)
    background = read_background(tmp_path)
    assert len(background) == 50 and list(background.columns) == list(FEATURES)
    result = explain_record(model, _record(test), background, 100, 3, 10)
    values = [a["value"] for a in result["attributions"]]
    assert values == sorted(values, key=abs, reverse=True)
    assert result["method"].startswith("linear") and result["units"] == "log-odds"
    p_yes = model.predict_proba(test[list(FEATURES)].head(1))[0, 1]
    log_odds = math.log(p_yes / (1 - p_yes))
    assert result["base_value"] + sum(values) == pytest.approx(log_odds, abs=1e-4)  # rounded
