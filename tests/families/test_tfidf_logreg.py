import numpy as np
import pytest
from corpus import LABEL_NAMES, texts_and_labels

from reprotune import models
from reprotune.families.tfidf_logreg import TfidfLogregParams


@pytest.fixture
def fitted():
    params = TfidfLogregParams(family="tfidf_logreg")
    model = models.create(params, LABEL_NAMES, seed=0)
    train_x, train_y = texts_and_labels(30, seed=1)
    val_x, val_y = texts_and_labels(5, seed=2)
    history = model.fit(train_x, train_y, val_x, val_y)
    assert len(history) == 1 and history[0]["train_accuracy"] > 0.9
    assert "val_accuracy" not in history[0]  # validation rows were trained on
    return model


def test_baseline_beats_chance_by_far(fitted):
    test_x, test_y = texts_and_labels(25, seed=3)
    accuracy = (fitted.predict(test_x) == test_y).mean()
    assert accuracy > 0.8  # chance is 0.25


def test_probabilities_cover_every_class(fitted):
    proba = fitted.predict_proba(["shares profit market", "goal coach match"])
    assert proba.shape == (2, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert [LABEL_NAMES[i] for i in proba.argmax(axis=1)] == ["Business", "Sports"]


def test_save_and_load_round_trip(fitted, tmp_path):
    fitted.save(tmp_path, extra={"train": {"train_seconds": 1.0}})
    loaded, card = models.load(tmp_path)
    assert card["family"] == "tfidf_logreg" and card["label_names"] == LABEL_NAMES
    assert card["train"] == {"train_seconds": 1.0}
    texts = ["election minister treaty", "processor chip software"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))
    assert loaded.n_parameters() == fitted.n_parameters()


def test_parameter_count_is_weights_plus_biases(fitted):
    vocabulary = len(fitted.pipeline.named_steps["tfidf"].vocabulary_)
    assert fitted.n_parameters() == 4 * vocabulary + 4


def test_training_is_deterministic():
    params = TfidfLogregParams(family="tfidf_logreg", C=3.0)
    train_x, train_y = texts_and_labels(20, seed=4)
    probas = []
    for _ in range(2):
        model = models.create(params, LABEL_NAMES, seed=0)
        model.fit(train_x, train_y, [], np.array([], dtype=int))
        probas.append(model.predict_proba(train_x[:10]))
    np.testing.assert_array_equal(*probas)


def test_missing_class_still_gets_a_column():
    params = TfidfLogregParams(family="tfidf_logreg", fit_on_val=False)
    model = models.create(params, LABEL_NAMES, seed=0)
    x, y = texts_and_labels(10, seed=5)
    keep = y != 3
    model.fit([t for t, k in zip(x, keep, strict=True) if k], y[keep], [], np.array([]))
    proba = model.predict_proba(x[:3])
    assert proba.shape == (3, 4) and (proba[:, 3] == 0).all()


def test_character_ngrams_read_words_the_training_text_never_had():
    texts, labels = texts_and_labels(30, seed=1)
    unseen = ["strikerz tournamentz championshipz", "ministerz parliamentz embassiez"]
    predicted = {}
    for analyzer in ("word", "word+char_wb"):
        params = TfidfLogregParams(family="tfidf_logreg", analyzer=analyzer, fit_on_val=False)
        model = models.create(params, LABEL_NAMES, seed=0)
        model.fit(texts, labels, [], labels[:0])
        predicted[analyzer] = [LABEL_NAMES[i] for i in model.predict(unseen)]
        assert model.n_parameters() > 0
    assert predicted["word+char_wb"] == ["Sports", "World"]
    assert predicted["word"] != ["Sports", "World"]  # every word is unknown to it
