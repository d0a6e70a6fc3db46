"""Text explanations on the generated corpus, whose four topics each have their own words."""

import pytest
from corpus import LABEL_NAMES, TOPIC_WORDS, texts_and_labels

from reprotune import models
from reprotune.explanation.local import lime_text
from reprotune.explanation.run import Explainer
from reprotune.explanation.settings import ExplainParams
from reprotune.families.tfidf_logreg import TfidfLogregParams

TOPIC_OF = {LABEL_NAMES[label - 1]: set(words) for label, words in TOPIC_WORDS.items()}


@pytest.fixture(scope="module")
def baseline():
    model = models.create(TfidfLogregParams(family="tfidf_logreg"), LABEL_NAMES, seed=0)
    model.fit(*texts_and_labels(30, 1), *texts_and_labels(5, 2))
    return model


def test_top_ngrams_are_each_class_topic_words(baseline):
    top = baseline.top_ngrams(5)
    assert list(top) == LABEL_NAMES
    for name, grams in top.items():
        assert {gram for gram, _ in grams} <= TOPIC_OF[name], name
        assert [w for _, w in grams] == sorted((w for _, w in grams), reverse=True)


def test_lime_text_weighs_the_topic_words(baseline):
    text = "the minister said today the election and the treaty of the week"
    weights = lime_text(baseline, text, LABEL_NAMES.index("World"), 300, 5, 0)
    assert {word for word, _ in weights[:3]} <= TOPIC_OF["World"]
    assert all(w > 0 for _, w in weights[:3])
    assert weights == lime_text(baseline, text, LABEL_NAMES.index("World"), 300, 5, 0)


def _explain(model, folder):
    import pandas as pd

    texts, labels = texts_and_labels(10, 3)
    test = pd.DataFrame({"text": texts, "label": labels})
    (folder / "e").mkdir(parents=True)
    (folder / "p").mkdir()
    settings = ExplainParams(lime_samples=200, top_k=5)
    summary = Explainer(model, "baseline", settings, 0, "macro_f1").run(
        None, test, folder / "e", folder / "p"
    )
    return summary, {
        str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()
    }


def test_a_text_model_explains_identically_twice(baseline, tmp_path):
    summary, first = _explain(baseline, tmp_path / "one")
    _, second = _explain(baseline, tmp_path / "two")
    assert first == second
    assert {"e/ngrams.png", "e/examples/index.html", "p/ngrams.json", "p/tokens.json"} <= set(first)
    assert summary["top_ngrams"]["Sports"][0] in TOPIC_OF["Sports"]
    assert summary["top_tokens"] and summary["notes"] == []
    page = first["e/examples/index.html"].decode()
    assert "rgba(31,119,180" in page and "<script" not in page  # words shaded, offline
