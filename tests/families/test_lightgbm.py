"""`lightgbm`: native category splits, early stopping then a refit for the rounds it chose,
the same trees from the same seed, tuned like any quick family."""

import numpy as np
import pytest
from tabular_data import FEATURES, make_bank_like

from reprotune import models
from reprotune.config import PARAMS_CLASSES, parse_params
from reprotune.families.lightgbm.model import ROUND_METRICS
from reprotune.models.tabular import round_history

LABELS = ["no", "yes"]


def _split(frame):
    return frame[list(FEATURES)], (frame["y"] == "yes").astype(int).to_numpy()


@pytest.fixture(scope="module")
def data():
    return _split(make_bank_like(700, seed=1)), _split(make_bank_like(250, seed=2))


def _fit(data, **settings):
    (X, y), (X_val, y_val) = data
    params = PARAMS_CLASSES["lightgbm"](family="lightgbm", **settings)
    model = models.create(params, LABELS, seed=0, features=FEATURES)
    history = model.fit(X, y, X_val, y_val)
    return model, history


def _split_kinds(model) -> set[str]:
    booster = model.pipeline.named_steps["model"].booster_
    found, todo = set(), [t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    while todo:
        node = todo.pop()
        if "decision_type" in node:
            found.add(node["decision_type"])
            todo += [node["left_child"], node["right_child"]]
    return found


def test_categories_are_split_natively_or_one_hot(data):
    native, _ = _fit(data, n_estimators=60, min_data_per_group=5)
    one_hot, _ = _fit(data, n_estimators=60, categorical="one_hot")
    assert "==" in _split_kinds(native)  # a split on a set of category codes
    assert _split_kinds(one_hot) == {"<="}
    encoded = native.pipeline.named_steps["features"].get_feature_names_out()
    assert len(encoded) == len(FEATURES)  # one code column per category, not one per level


def test_early_stopping_then_refit_on_train_and_validation_for_the_chosen_rounds(data):
    model, history = _fit(data, n_estimators=400, early_stopping_rounds=10)
    assert model.best_epoch < len(history) < 400
    assert {"train_pr_auc", "val_pr_auc", "val_roc_auc", "val_loss"} <= set(history[-1])
    (X, y), (X_val, y_val) = data
    assert model.refit_with_validation(X, y, X_val, y_val)
    classifier = model.pipeline.named_steps["model"]
    assert classifier.booster_.num_trees() == model.best_epoch
    assert model.n_parameters() > model.best_epoch


def test_same_seed_same_model_and_saved_model_predicts_the_same(data, tmp_path):
    first, _ = _fit(data, n_estimators=80)
    second, _ = _fit(data, n_estimators=80)
    rows = data[1][0].head(50)
    np.testing.assert_array_equal(first.predict_proba(rows), second.predict_proba(rows))
    folder = tmp_path / "candidate"
    folder.mkdir()
    first.save(folder, extra={"train": {}})
    loaded, card = models.load(folder)
    assert card["family"] == "lightgbm"
    np.testing.assert_array_equal(loaded.predict_proba(rows), first.predict_proba(rows))


def test_multiclass_history_has_the_loss():
    evals = {"train": {"multi_logloss": [0.9, 0.8]}, "val": {"multi_logloss": [1.0, 0.95]}}
    history = round_history(evals, ROUND_METRICS)
    assert history == [
        {"epoch": 1, "train_loss": 0.9, "val_loss": 1.0},
        {"epoch": 2, "train_loss": 0.8, "val_loss": 0.95},
    ]


def test_params_are_checked_and_tunable():
    raw = {
        "data": {"source": "csv", "files": {"train": "t.csv"}, "features": {"age": "number"}},
        "train": {"candidates": {"gbm": {"family": "lightgbm"}}},
        "tune": {"candidates": {"gbm": {"space": {"num_leaves": {"low": 4, "high": 64}}}}},
    }
    params = parse_params(raw)
    assert type(params.candidate("gbm")).quick  # studies cross-validate it, ensembles refit it
    raw["tune"]["candidates"]["gbm"]["space"] = {"num_leaves": {"low": 1, "high": 8}}
    with pytest.raises(Exception, match="num_leaves"):
        parse_params(raw)
