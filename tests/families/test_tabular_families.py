"""Every tabular family on generated imbalanced data: trains, beats a trivial classifier on
PR-AUC, saves, and reloads through MLflow pyfunc taking raw typed columns."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score
from tabular_data import FEATURES, make_bank_like

from reprotune import models
from reprotune.config import PARAMS_CLASSES
from reprotune.errors import ParamsError
from reprotune.models.tabular import tabular_inputs
from reprotune.serving import build_model_dir

LABELS = ["no", "yes"]
FAMILY_SETTINGS = {
    "logreg": {"class_weight": "balanced"},
    "random_forest": {"n_estimators": 60},
    "xgboost": {"n_estimators": 150, "scale_pos_weight": "auto"},
    "keras_tabular": {"epochs": 12, "hidden_units": [16], "patience": 4},
    "keras_tabular_one_hot": {"epochs": 12, "hidden_units": [16], "categorical": "one_hot"},
    "logreg_smotenc": {"resample": "smotenc"},
    "xgboost_native": {"n_estimators": 150, "categorical": "native"},
    "lightgbm": {"n_estimators": 150},
}


def _family(name: str) -> str:
    return name.split("_one_hot")[0].removesuffix("_smotenc").removesuffix("_native")


def _split(frame: pd.DataFrame):
    return frame[list(FEATURES)], (frame["y"] == "yes").astype(int).to_numpy()


@pytest.fixture(scope="module")
def data():
    return (
        _split(make_bank_like(700, seed=1)),
        _split(make_bank_like(250, seed=2)),
        _split(make_bank_like(400, seed=3)),
    )


@pytest.fixture(scope="module", params=list(FAMILY_SETTINGS))
def trained(request, data, tmp_path_factory):
    name = request.param
    family = _family(name)
    params = PARAMS_CLASSES[family](family=family, **FAMILY_SETTINGS[name])
    (X, y), (X_val, y_val), _ = data
    model = models.create(params, LABELS, seed=0, features=FEATURES)
    history = model.fit(X, y, X_val, y_val)
    model.decision = {"threshold": 0.3, "objective": "f1", "costs": None}
    folder = tmp_path_factory.mktemp(name) / "candidate"
    folder.mkdir()
    example = X_val.head(2).astype(object)
    model.save(
        folder,
        extra={
            "train": {},
            "input_example": example.where(example.notna(), None).to_dict("records"),
        },
    )
    return name, model, history, folder


def test_beats_a_trivial_classifier_on_pr_auc(trained, data):
    name, model, _, _ = trained
    X_test, y_test = data[2]
    pr_auc = average_precision_score(y_test, model.predict_proba(X_test)[:, 1])
    base_rate = y_test.mean()  # a classifier without skill scores its PR-AUC at the base rate
    assert pr_auc > base_rate + 0.2, (name, pr_auc, base_rate)


def test_history_only_for_families_with_epochs(trained):
    name, _model, history, _ = trained
    if _family(name) in ("keras_tabular", "xgboost", "lightgbm"):
        assert len(history) >= 2 and "val_loss" in history[-1]
    else:
        assert history == []


def test_reloads_through_mlflow_pyfunc_from_raw_columns(trained, data, tmp_path):
    import mlflow.pyfunc

    _name, model, _, folder = trained
    X_test, _ = data[2]
    mlflow_dir = build_model_dir(folder, tmp_path / "mlflow-model")
    loaded = mlflow.pyfunc.load_model(str(mlflow_dir))
    schema = loaded.metadata.get_input_schema()
    assert schema.input_names() == list(FEATURES)
    types = {spec.name: spec.type.name for spec in schema.inputs}
    assert types["age"] == "double" and types["job"] == "string"
    raw = tabular_inputs(X_test.head(20), FEATURES)  # numbers as doubles, as signed
    out = loaded.predict(raw)
    expected = model.predict_proba(raw)[:, 1]
    np.testing.assert_allclose(out["positive_probability"], expected, rtol=1e-5)
    assert out["label"].tolist() == [LABELS[int(p >= 0.3)] for p in expected]
    assert set(out["threshold"]) == {0.3}


def test_unseen_categories_and_missing_values_do_not_fail(trained):
    _, model, _, _ = trained
    odd = pd.DataFrame(
        {
            "age": [40.0, np.nan],
            "balance": [np.nan, 100.0],
            "campaign": [1.0, 2.0],
            "job": ["astronaut", None],
            "month": ["smarch", "may"],
            "housing": ["maybe", "yes"],
            "loan": ["no", None],
        }
    )
    proba = model.predict_proba(odd)
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("family", ["random_forest", "xgboost", "keras_tabular"])
def test_same_seed_same_model(family, data):
    settings = {"random_forest": {"n_estimators": 30}, "xgboost": {"n_estimators": 40}}
    (X, y), (X_val, y_val), (X_test, _) = data
    probabilities = []
    for _ in range(2):
        params = PARAMS_CLASSES[family](family=family, **settings.get(family, {"epochs": 3}))
        model = models.create(params, LABELS, seed=3, features=FEATURES)
        model.fit(X, y, X_val, y_val)
        probabilities.append(model.predict_proba(X_test))
    np.testing.assert_array_equal(probabilities[0], probabilities[1])


def test_a_family_that_cannot_read_the_features_is_named():
    params = PARAMS_CLASSES["keras_tabular"](family="keras_tabular")
    with pytest.raises(ParamsError) as err:
        models.check_reads("mlp", params, {"age": "number", "note": "text"})
    message = str(err.value)
    assert "train.candidates.mlp" in message and "text" in message and "'note'" not in message
    assert "logreg" in message and "fix:" in message


def test_inputs_are_cast_to_the_saved_types():
    frame = pd.DataFrame({"age": ["41", "x"], "job": [3, None]})
    typed = tabular_inputs(frame, {"age": "number", "job": "category"})
    assert typed["age"].dtype == "float64" and np.isnan(typed["age"][1])
    assert typed["job"][0] == "3" and pd.isna(typed["job"][1])


@pytest.mark.parametrize("family", ["logreg", "random_forest", "xgboost"])
def test_refit_learns_from_the_validation_rows_with_the_chosen_rounds(family, data):
    (X, y), (X_val, y_val), _ = data
    X_val = X_val.assign(job=["job-only-in-validation"] * len(X_val))
    params = PARAMS_CLASSES[family](family=family, **FAMILY_SETTINGS[family])
    model = models.create(params, LABELS, seed=0, features=FEATURES)
    model.fit(X, y, X_val, y_val)
    assert model.trains_on_validation
    assert model.refit_with_validation(X, y, X_val, y_val)
    groups = model.pipeline.named_steps["features"].groups_
    encoder = next(encoder for _, columns, encoder in groups if "job" in columns)
    seen = {str(value) for values in encoder[-1].categories_ for value in values}
    assert "job-only-in-validation" in seen
    if family == "xgboost":
        booster = model.pipeline.named_steps["model"]
        assert booster.n_estimators == model.best_epoch < FAMILY_SETTINGS[family]["n_estimators"]
        assert booster.get_booster().num_boosted_rounds() == model.best_epoch
    if family == "random_forest":  # votes summed on one thread: the same digits every run
        assert model.pipeline.named_steps["model"].n_jobs == 1
    off = PARAMS_CLASSES[family](family=family, refit_on_val=False, **FAMILY_SETTINGS[family])
    kept = models.create(off, LABELS, seed=0, features=FEATURES)
    kept.fit(X, y, X_val, y_val)
    assert not kept.trains_on_validation and not kept.refit_with_validation(X, y, X_val, y_val)


def test_random_forest_sums_its_trees_to_exactly_scikit_learns_probabilities(data):
    (X, y), (X_val, y_val), (X_test, _) = data
    params = PARAMS_CLASSES["random_forest"](family="random_forest", n_estimators=40)
    model = models.create(params, LABELS, seed=0, features=FEATURES)
    model.fit(X, y, X_val, y_val)
    fast = model.predict_proba(X_test)
    assert model._summed_alike is True  # the summed road was checked and taken
    pre, forest = model.pipeline.named_steps["features"], model.pipeline.named_steps["model"]
    np.testing.assert_array_equal(fast, forest.predict_proba(pre.transform(X_test)))
