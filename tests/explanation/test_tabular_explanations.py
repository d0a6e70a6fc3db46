"""Tabular explanations on a task whose signal sits in known columns (`dose`, `colour`)."""

import time

import numpy as np
import pandas as pd
import pytest
from signal_data import FEATURES, SIGNAL

from reprotune.explanation.attribution import agnostic_attributions, attributions, import_shap
from reprotune.explanation.budget import Budget
from reprotune.explanation.dependence import partial_dependence_of
from reprotune.explanation.importance import permutation_importances
from reprotune.explanation.local import lime_tabular, pick_examples
from reprotune.explanation.run import Explainer
from reprotune.explanation.settings import ExplainParams
from reprotune.explanation.table import CodedTable
from reprotune.models.background import background_sample
from reprotune.models.tabular import tabular_inputs

FAMILIES = ["logreg", "random_forest", "xgboost", "xgboost_native", "lightgbm"]


def _inputs(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[list(FEATURES)]


@pytest.mark.parametrize("family", FAMILIES)
def test_permutation_importance_ranks_the_signal_columns_first(
    family, signal_models, signal_splits
):
    _, _, test = signal_splits
    ranked = permutation_importances(
        signal_models[family], _inputs(test), test["label"].to_numpy(), "pr_auc", 3, 0
    )
    assert set(list(ranked)[:2]) == SIGNAL
    assert all(ranked[c]["mean"] > 0.05 for c in SIGNAL)
    assert all(abs(ranked[c]["mean"]) < 0.03 for c in set(FEATURES) - SIGNAL)


@pytest.mark.parametrize("family", FAMILIES)
def test_shap_ranks_the_signal_columns_first(family, signal_models, signal_splits):
    train, _, test = signal_splits
    result = attributions(
        signal_models[family], _inputs(test).head(40), _inputs(train).head(30), 3, 0
    )
    assert result.values.shape == (40, len(FEATURES))
    assert set(list(result.mean_abs())[:2]) == SIGNAL
    tree = family in ("random_forest", "xgboost", "xgboost_native", "lightgbm")
    assert result.method.startswith("tree" if tree else "linear")


def test_one_hot_shap_values_sum_back_to_the_original_column(signal_models, signal_splits):
    """The TreeExplainer values of `colour`'s one-hot columns add up to `colour`'s value, and
    the per-column values still add up to the model's output (log-odds for XGBoost)."""
    import shap

    model = signal_models["xgboost"]
    rows = tabular_inputs(_inputs(signal_splits[2]).head(25), FEATURES)
    pre = model.pipeline.named_steps["features"]
    encoded = pre.transform(rows)
    encoded = encoded.toarray() if hasattr(encoded, "toarray") else encoded
    names = list(pre.get_feature_names_out())
    assert sum(n.startswith("colour__") for n in names) == 4
    raw = shap.TreeExplainer(model.pipeline.named_steps["model"]).shap_values(encoded)
    result = attributions(model, rows, rows, 3, 0)
    colour = [i for i, n in enumerate(names) if n.startswith("colour__")]
    np.testing.assert_allclose(
        result.values[:, result.columns.index("colour")], raw[:, colour].sum(axis=1), rtol=1e-5
    )
    margin = model.pipeline.named_steps["model"].predict(encoded, output_margin=True)
    np.testing.assert_allclose(result.values.sum(axis=1) + result.base_values, margin, atol=1e-4)


def test_model_agnostic_shap_adds_up_to_the_probability(signal_models, signal_splits):
    train, _, test = signal_splits
    model = signal_models["logreg"]
    rows, background = _inputs(test).head(12), _inputs(train).head(20)
    table = CodedTable(FEATURES, background, rows)
    result = agnostic_attributions(model, rows, background, table, 4, 0)
    p_yes = model.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(result.values.sum(axis=1) + result.base_values, p_yes, atol=1e-6)
    assert result.method.startswith("permutation") and result.units == "probability"


def test_linear_shap_is_exact_and_sums_one_hot_levels_back(signal_models, signal_splits):
    """logreg: coefficient x (value - background mean) per encoded column, summed per raw
    column; the values add up to the log-odds (less the background's mean log-odds)."""
    train, _, test = signal_splits
    model = signal_models["logreg"]
    rows, background = _inputs(test).head(25), _inputs(train).head(30)
    result = attributions(model, rows, background, 3, 0)
    assert result.method.startswith("linear") and result.units == "log-odds"
    pre, classifier = (model.pipeline.named_steps[s] for s in ("features", "model"))

    def encoded(frame):
        matrix = pre.transform(tabular_inputs(frame, FEATURES))
        return matrix.toarray() if hasattr(matrix, "toarray") else matrix

    log_odds = classifier.decision_function(encoded(rows))
    np.testing.assert_allclose(result.values.sum(axis=1) + result.base_values, log_odds, atol=1e-6)
    names = list(pre.get_feature_names_out())
    colour = [i for i, n in enumerate(names) if n.startswith("colour__")]
    expected = ((encoded(rows) - encoded(background).mean(axis=0)) * classifier.coef_[0])[:, colour]
    np.testing.assert_allclose(
        result.values[:, result.columns.index("colour")], expected.sum(axis=1), atol=1e-9
    )


def test_shaps_numba_kernels_are_cached_on_disk(signal_models, signal_splits):
    """Compiled once, they load in later processes (compiling took ~10 s a process); the
    ones the cache cannot serve run as plain Python."""
    from pathlib import Path

    from reprotune.explanation.attribution import import_shap

    import_shap()
    from shap.maskers import _tabular

    train, _, test = signal_splits
    rows, background = _inputs(test).head(3), _inputs(train).head(5)
    table = CodedTable(FEATURES, background, rows)
    agnostic_attributions(signal_models["logreg"], rows, background, table, 1, 0)
    index = Path(_tabular._delta_masking._cache._cache_file._index_path)
    assert index.is_file() and index.suffix == ".nbi"
    from shap.utils import _masked_model

    assert not hasattr(_masked_model._build_fixed_multi_output, "py_func")  # plain Python


class Slow:
    """A model whose every call takes 50 ms."""

    def __init__(self, model):
        self.model = model
        self.label_names, self.threshold, self.features = model.label_names, None, FEATURES

    def predict_proba(self, frame):
        time.sleep(0.05)
        return self.model.predict_proba(frame)


def test_the_budget_stops_a_slow_explainer_with_a_note(signal_models, signal_splits):
    train, _, test = signal_splits
    slow = Slow(signal_models["logreg"])
    rows, background = _inputs(test).head(100), _inputs(train).head(10)
    table = CodedTable(FEATURES, background, rows)
    import_shap()  # a cold import (a second or more) is not what this budget is about
    budget = Budget(0.5)
    start = time.perf_counter()
    result = agnostic_attributions(slow, rows, background, table, 2, 0, budget)
    assert time.perf_counter() - start < 20
    assert 0 < len(result.values) < 100
    assert "stopped after" in budget.notes[0] and "explain.time_budget_s" in budget.notes[0]
    assert not budget.allows("LIME examples")
    assert budget.notes[-1].startswith("LIME examples: skipped")


def test_partial_dependence_follows_the_signal(signal_models, signal_splits):
    model, test = signal_models["logreg"], signal_splits[2]
    dose = partial_dependence_of(model, _inputs(test), "dose", 10, 20, 0)
    assert dose["class"] == "yes" and len(dose["ice"]) == 20
    assert dose["average"][-1] > dose["average"][0] + 0.3  # more dose, more "yes"
    colour = partial_dependence_of(model, _inputs(test), "colour", 10, 20, 0)
    by_level = dict(zip(colour["grid"], colour["average"], strict=True))
    assert by_level["red"] > by_level["grey"] > by_level["blue"]


def test_lime_weighs_the_signal_columns_and_picks_right_and_wrong_rows(
    signal_models, signal_splits
):
    train, _, test = signal_splits
    model = signal_models["xgboost"]
    inputs, labels = _inputs(test), test["label"].to_numpy()
    proba = model.predict_proba(inputs)
    picked = pick_examples(proba, labels, None, 2)
    assert [p["kind"] for p in picked] == ["right", "right", "wrong", "wrong"]
    assert picked[0]["confidence"] >= picked[1]["confidence"]
    table = CodedTable(FEATURES, _inputs(train), inputs)
    row = inputs.iloc[[picked[0]["row"]]]
    weights = lime_tabular(model, table, _inputs(train), row, 1, 400, 4, 0)
    top = {name.split(" ")[0].split("=")[0] for name, _ in weights[:2]}
    assert top == SIGNAL


def _explain(model, splits, folder, **settings):
    train, _, test = splits
    (folder / "e").mkdir(parents=True)
    (folder / "p").mkdir()
    params = ExplainParams(rows=200, shap_rows=30, background_rows=20, lime_samples=200, **settings)
    summary = Explainer(model, "m", params, 0, "pr_auc").run(
        train, test, folder / "e", folder / "p"
    )
    return summary, {
        str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()
    }


@pytest.mark.parametrize("family", ["logreg", "xgboost"])
def test_two_runs_write_identical_files(family, signal_models, signal_splits, tmp_path):
    summary, first = _explain(signal_models[family], signal_splits, tmp_path / "one")
    _, second = _explain(signal_models[family], signal_splits, tmp_path / "two")
    assert first == second
    expected = {
        "e/permutation_importance.png",
        "e/partial_dependence.png",
        "e/shap_beeswarm.png",
        "e/shap_mean_abs.png",
        "e/examples/index.html",
        "e/explanation.json",
        "p/permutation.json",
        "p/shap.json",
    }
    assert expected <= set(first)
    assert sum(name.startswith("e/examples/") and name.endswith(".png") for name in first) == 4
    assert set(summary["top_features"][:2]) == SIGNAL and summary["notes"] == []
    assert b"<script" not in first["e/examples/index.html"]  # renders offline, nothing to fetch


def test_background_sample_is_seeded_and_keeps_only_features(signal_splits):
    train = signal_splits[0]
    one = background_sample(train, FEATURES, 50, 3)
    assert list(one.columns) == list(FEATURES) and len(one) == 50
    pd.testing.assert_frame_equal(one, background_sample(train, FEATURES, 50, 3))


def test_lime_examples_are_chosen_among_a_bounded_seeded_sample(
    signal_models, signal_splits, tmp_path, monkeypatch
):
    """On a large test split the examples come from EXAMPLE_POOL seeded rows: no prediction
    of every row before the time budget can be checked."""
    from reprotune.explanation import run

    train, _, test = signal_splits
    model = signal_models["logreg"]
    seen = []
    real = type(model).predict_proba

    def counted(self, inputs):
        seen.append(len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs))
        return real(self, inputs)

    monkeypatch.setattr(run, "EXAMPLE_POOL", 120)
    monkeypatch.setattr(type(model), "predict_proba", counted)
    explainer = Explainer(model, "m", ExplainParams(examples=1, lime_samples=60), 0, "pr_auc")
    (tmp_path / "e").mkdir()
    explainer._tabular_examples(train, test, tmp_path / "e")
    assert len(test) == 300 and seen[0] == 120  # the examples' scoring pass: the pool only
