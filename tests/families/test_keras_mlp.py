import numpy as np
import pytest
from corpus import LABEL_NAMES, texts_and_labels

from reprotune import models
from reprotune.families.keras_mlp import KerasMlpParams


@pytest.fixture(scope="module")
def trained():
    params = KerasMlpParams(
        family="keras_mlp",
        hidden_units=[32],
        epochs=8,
        patience=2,
        monitor="macro_f1",
        refit_on_val=False,
    )
    model = models.create(params, LABEL_NAMES, seed=0)
    history = model.fit(*texts_and_labels(40, 1), *texts_and_labels(10, 2))
    return model, history


def test_mlp_beats_chance_by_far(trained):
    model, _ = trained
    test_x, test_y = texts_and_labels(25, seed=3)
    assert (model.predict(test_x) == test_y).mean() > 0.6  # chance is 0.25


def test_history_has_train_and_val_metrics_per_epoch(trained):
    _, history = trained
    assert [row["epoch"] for row in history] == list(range(1, len(history) + 1))
    for split in ("train", "val"):
        for metric in ("loss", "accuracy", "macro_f1", "precision", "recall"):
            assert f"{split}_{metric}" in history[0]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_best_epoch_weights_are_kept(trained):
    model, history = trained
    best = max(history, key=lambda row: row["val_macro_f1"])
    assert model.best_epoch == best["epoch"]
    val_x, val_y = texts_and_labels(10, 2)
    f1 = models.training.epoch_metrics(val_y, model.predict_proba(val_x), "val")["val_macro_f1"]
    assert f1 == pytest.approx(best["val_macro_f1"], abs=1e-6)


def test_save_and_load_predicts_from_raw_text(trained, tmp_path):
    model, _ = trained
    model.save(tmp_path, extra={})
    loaded, card = models.load(tmp_path)
    texts = ["shares profit market investor", "goal coach match season"]
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)
    assert [LABEL_NAMES[i] for i in loaded.predict(texts)] == ["Business", "Sports"]
    assert card["family"] == "keras_mlp" and loaded.n_parameters() == model.n_parameters()


def test_class_weights_balance_frequencies():
    model = models.create(KerasMlpParams(family="keras_mlp"), ["a", "b", "c"], seed=0)
    weights = model._class_weights(np.array([0, 0, 0, 1]))
    assert weights == {0: pytest.approx(4 / 6), 1: pytest.approx(2.0), 2: 0.0}


def test_normalized_refit_mlp_learns_the_validation_rows_and_reloads(tmp_path):
    """Unit-length TF-IDF, word dropout, early stopping on val loss, then a refit on train +
    validation for the best epoch count."""
    params = KerasMlpParams(
        family="keras_mlp",
        hidden_units=[16],
        epochs=10,
        patience=3,
        normalize=True,
        input_dropout=0.2,
        monitor="loss",
        refit_on_val=True,
    )
    train_x, train_y = texts_and_labels(30, 1)
    val_x, val_y = texts_and_labels(10, 2)
    val_x = [f"{text} valonlyword" for text in val_x]
    model = models.create(params, LABEL_NAMES, seed=0)
    history = model.fit(train_x, train_y, val_x, val_y)
    best = min(history, key=lambda row: row["val_loss"])
    assert model.best_epoch == best["epoch"]
    layers = {layer.name for layer in model.model.layers[-1].layers}
    assert {"l2_normalize", "input_dropout"} <= layers
    assert model.trains_on_validation
    # The refit learned its vocabulary from the validation rows too.
    (vectorize,) = [layer for layer in model.model.layers if layer.name == "tfidf"]
    assert "valonlyword" in vectorize.get_vocabulary()
    assert (model.predict(val_x) == val_y).mean() > 0.6
    model.save(tmp_path, extra={})
    loaded, _ = models.load(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(val_x), model.predict_proba(val_x), atol=1e-6)
