"""Soft voting and stacking over trained candidates, on generated data: they beat their
weakest member, out-of-fold predictions never come from a model that saw the row, and the
bundled ensemble reloads (directly and as an MLflow pyfunc) with the same predictions."""

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss
from tabular_data import FEATURES, make_bank_like

from reprotune import models
from reprotune.config import PARAMS_CLASSES
from reprotune.families.ensemble import EnsembleParams
from reprotune.families.ensemble.model import Ensemble, fitted_weights
from reprotune.models.base import input_example
from reprotune.models.tabular import tabular_inputs
from reprotune.serving import build_model_dir

LABELS = ["no", "yes"]
MEMBERS = {
    "logreg": {"family": "logreg", "C": 0.01},
    "forest": {"family": "random_forest", "n_estimators": 40, "max_depth": 3},
    "boost": {"family": "xgboost", "n_estimators": 60, "max_depth": 2},
}


def _frame(n: int, seed: int) -> pd.DataFrame:
    frame = make_bank_like(n, seed=seed)
    frame["label"] = (frame.pop("y") == "yes").astype(int)
    return frame


@pytest.fixture(scope="module")
def splits():
    return _frame(600, 11), _frame(300, 12), _frame(500, 13)


@pytest.fixture(scope="module")
def members(splits, tmp_path_factory):
    """Each member trained and saved the way the train stage does it."""
    train, val, _ = splits
    trained, folders = {}, {}
    models_dir = tmp_path_factory.mktemp("models")
    for name, settings in MEMBERS.items():
        params = PARAMS_CLASSES[settings["family"]](**settings)
        model = models.create(params, LABELS, 0, FEATURES)
        model.fit(
            model.select_inputs(train),
            train["label"].to_numpy(),
            model.select_inputs(val),
            val["label"].to_numpy(),
        )
        folder = models_dir / name
        folder.mkdir()
        model.save(folder, extra={"train": {"train_seconds": 1.0, "n_parameters": 0}})
        trained[name], folders[name] = models.load(folder)[0], folder
    return trained, folders


def _ensemble(members, **settings) -> Ensemble:
    trained, folders = members
    params = EnsembleParams(members=list(trained), **settings)
    return Ensemble(params, LABELS, 0, FEATURES, trained, folders)


def _fit(ensemble: Ensemble, splits) -> Ensemble:
    train, val, _ = splits
    ensemble.fit(
        ensemble.select_inputs(train),
        train["label"].to_numpy(),
        ensemble.select_inputs(val),
        val["label"].to_numpy(),
    )
    return ensemble


@pytest.mark.parametrize(
    "settings",
    [
        {"method": "voting"},
        {"method": "voting", "weights": "fitted"},
        {"method": "stacking"},
        {"method": "stacking", "fit_on": "oof", "cv_folds": 3},
        {"method": "stacking", "passthrough": True},
    ],
    ids=["voting", "voting-fitted", "stacking", "stacking-oof", "stacking-passthrough"],
)
def test_ensemble_beats_its_weakest_member(members, splits, settings):
    ensemble = _fit(_ensemble(members, **settings), splits)
    test = splits[2]
    y = test["label"].to_numpy()
    losses = {
        name: log_loss(y, member.predict_proba(member.select_inputs(test)), labels=[0, 1])
        for name, member in members[0].items()
    }
    ensemble_loss = log_loss(y, ensemble.predict_proba(ensemble.select_inputs(test)), labels=[0, 1])
    assert ensemble_loss < max(losses.values()), (ensemble_loss, losses)
    assert ensemble.n_parameters() >= sum(m.n_parameters() for m in members[0].values())


def test_fitted_weights_prefer_the_informative_member():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    informative = np.where(labels[:, None] == [0, 1], 0.9, 0.1)
    noise = rng.dirichlet([1, 1], 400)
    weights = fitted_weights([noise, informative], labels)
    assert weights[1] > 0.9 and np.isclose(weights.sum(), 1)


def test_out_of_fold_predictions_never_see_their_own_fold(members, splits):
    """On random labels a deep forest memorizes its training rows: predictions from a model
    that saw the row would be right nearly always, honest ones only by chance."""
    train, val, _ = splits
    rng = np.random.default_rng(5)
    rows = pd.concat([train, val], ignore_index=True)
    labels = rng.integers(0, 2, len(rows))
    memorizer = models.create(
        PARAMS_CLASSES["random_forest"](family="random_forest", n_estimators=30),
        LABELS,
        0,
        FEATURES,
    )
    ensemble = _ensemble(members, method="stacking", fit_on="oof", cv_folds=4)
    from reprotune.data.folds import fold_indices

    folds = fold_indices(labels, 4, 0)
    for fit_rows, held_rows in folds:
        assert not set(fit_rows) & set(held_rows)
    assert sorted(np.concatenate([held for _, held in folds])) == list(range(len(rows)))

    in_sample = ensemble._refit(memorizer, rows, labels)
    seen_accuracy = np.mean(in_sample.predict_proba(rows).argmax(1) == labels)
    oof = ensemble.out_of_fold(memorizer, rows, labels, folds)
    oof_accuracy = np.mean(oof.argmax(1) == labels)
    assert seen_accuracy > 0.85
    assert 0.4 < oof_accuracy < 0.6, oof_accuracy


def test_out_of_fold_predictions_are_cached_per_member_digest(
    members, splits, monkeypatch, tmp_path
):
    """A change to one member refits only that member: the others' out-of-fold predictions
    come from the cache, the same numbers."""
    monkeypatch.setenv("REPROTUNE_CACHE_DIR", str(tmp_path))
    digests = {name: f"{name}-v1" for name in MEMBERS}
    first = _ensemble(members, method="stacking", fit_on="oof", cv_folds=3)
    first.member_digests = dict(digests)
    _fit(first, splits)
    cached = sorted((tmp_path / "oof").glob("*.npy"))
    assert len(cached) == len(MEMBERS)

    refits = []
    real = Ensemble._fit_out_of_fold

    def counted(self, member, *args, **kwargs):
        refits.append(member.params.family)
        return real(self, member, *args, **kwargs)

    monkeypatch.setattr(Ensemble, "_fit_out_of_fold", counted)
    second = _ensemble(members, method="stacking", fit_on="oof", cv_folds=3)
    second.member_digests = {**digests, "boost": "boost-v2"}  # one member's settings changed
    _fit(second, splits)
    assert refits == ["xgboost"]
    assert len(list((tmp_path / "oof").glob("*.npy"))) == len(MEMBERS) + 1
    test = second.select_inputs(splits[2])
    np.testing.assert_allclose(second.predict_proba(test), first.predict_proba(test))


def test_cross_fitting_covers_members_that_trained_on_validation(splits):
    """A TF-IDF member with fit_on_val saw every validation row; the ensemble's validation
    predictions for it come from copies that did not see the row's fold."""
    from corpus import texts_and_labels

    texts, labels = texts_and_labels(60, seed=3)
    order = np.random.default_rng(0).permutation(len(texts))
    texts, labels = [texts[i] for i in order], np.asarray(labels)[order]
    rng = np.random.default_rng(1)
    labels[160:] = rng.integers(0, 4, 80)  # validation labels the text cannot predict
    member = models.create(
        PARAMS_CLASSES["tfidf_logreg"](family="tfidf_logreg", C=1000.0, fit_on_val=True),
        ["a", "b", "c", "d"],
        0,
    )
    member.fit(texts[:160], labels[:160], texts[160:], labels[160:])
    other = models.create(
        PARAMS_CLASSES["tfidf_logreg"](family="tfidf_logreg", fit_on_val=False),
        ["a", "b", "c", "d"],
        0,
    )
    other.fit(texts[:160], labels[:160], texts[160:], labels[160:])
    ensemble = Ensemble(
        EnsembleParams(members=["member", "other"], cv_folds=4),
        ["a", "b", "c", "d"],
        0,
        None,
        {"member": member, "other": other},
    )
    seen = np.mean(member.predict_proba(texts[160:]).argmax(1) == labels[160:])
    probas, _, _ = ensemble.held_out_probas(texts[:160], labels[:160], texts[160:], labels[160:])
    honest = np.mean(probas[0].argmax(1) == labels[160:])
    assert seen > 0.9 and honest < 0.5, (seen, honest)


def test_bundle_reloads_and_serves_through_pyfunc(members, splits, tmp_path):
    ensemble = _fit(_ensemble(members, method="stacking"), splits)
    folder = tmp_path / "ensemble"
    ensemble.save(
        folder,
        extra={
            "train": {"train_seconds": 1.0, "n_parameters": ensemble.n_parameters()},
            "members": ensemble.member_summary(),
            "typed_inputs": True,
            "input_example": input_example(splits[1], FEATURES),
        },
    )
    test = splits[2]
    reloaded, _ = models.load(folder)
    expected = ensemble.predict_proba(ensemble.select_inputs(test))
    np.testing.assert_allclose(reloaded.predict_proba(reloaded.select_inputs(test)), expected)
    assert sorted(p.name for p in (folder / "members").iterdir()) == sorted(MEMBERS)

    served = mlflow.pyfunc.load_model(str(build_model_dir(folder, tmp_path / "mlflow")))
    out = served.predict(tabular_inputs(test.head(20), FEATURES))
    assert list(out["label"]) == [LABELS[i] for i in expected[:20].argmax(1)]
    assert served.metadata.get_input_schema().input_names() == list(FEATURES)


def test_members_must_exist_and_share_the_task_classes(members, tmp_path):
    from reprotune.errors import DataError
    from reprotune.families.ensemble.model import load_members

    _, folders = members
    models_dir = folders["logreg"].parent
    loaded, cards = load_members(["logreg"], LABELS, models_dir)
    assert cards["logreg"]["family"] == "logreg" and loaded["logreg"].label_names == LABELS
    with pytest.raises(DataError, match=r"predicts \['no', 'yes'\].*fix: re-train it"):
        load_members(["logreg"], ["no", "yes", "maybe"], models_dir)
    with pytest.raises(DataError, match=r"holds no trained model; fix: run `dvc repro train@gone`"):
        load_members(["gone"], LABELS, tmp_path)


def test_fold_counts_are_checked_before_any_refit(members):
    from reprotune.errors import DataError
    from reprotune.families.ensemble.model import check_fold_counts

    settings = EnsembleParams(members=list(MEMBERS), fit_on="oof", cv_folds=5)
    labels = np.array([0] * 30 + [1] * 4)
    with pytest.raises(DataError, match=r"ensemble\.candidates\.stack\.cv_folds = 5"):
        check_fold_counts(settings, "stack", labels, labels[:0], members[0])
    check_fold_counts(settings.model_copy(update={"cv_folds": 4}), "stack", labels, labels[:0],
                      members[0])  # fmt: skip


def test_equal_weight_voting_refits_no_member_on_a_multiclass_task():
    """Nothing to learn: the held-out predictions (and the refits that make them) are skipped."""

    class Counting:
        trains_on_validation = True
        typed_inputs = False
        calls = 0

        def predict_proba(self, inputs):
            Counting.calls += 1
            return np.full((len(inputs), 3), 1 / 3)

    members = {"a": Counting(), "b": Counting()}
    ensemble = Ensemble(EnsembleParams(members=["a", "b"]), ["x", "y", "z"], 0, None, members)
    ensemble.fit(["t"] * 6, np.arange(6) % 3, ["v"] * 3, np.arange(3))
    assert ensemble.combiner == {"weights": [0.5, 0.5]} and ensemble.held_out is None
    assert Counting.calls == 0
    assert ensemble.predict_proba(["q"]).shape == (1, 3)
