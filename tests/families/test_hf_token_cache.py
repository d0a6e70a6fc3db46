import numpy as np
import pytest
from corpus import LABEL_NAMES, texts_and_labels
from tiny_bert import build_tiny_bert

from reprotune import models
from reprotune.families.hf_transformer import TransformerParams, token_cache


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    first = build_tiny_bert(tmp_path_factory.mktemp("bert-a"), texts_and_labels(60, seed=1)[0])
    # Another vocabulary: trained on other texts.
    second = build_tiny_bert(tmp_path_factory.mktemp("bert-b"), texts_and_labels(15, seed=7)[0])
    return first, second


def tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def test_cached_ids_equal_fresh_ids_and_are_read_back(checkpoints, tmp_path, monkeypatch):
    texts, _ = texts_and_labels(20, seed=3)
    tok = tokenizer(checkpoints[0])
    fresh = token_cache.encode(tok, texts, 16)
    assert token_cache.cached_token_ids(tok, texts, 16, tmp_path) == fresh
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def no_tokenizing(*args):
        raise AssertionError("tokenized again instead of reading the cache")

    monkeypatch.setattr(token_cache, "encode", no_tokenizing)
    assert token_cache.cached_token_ids(tok, texts, 16, tmp_path) == fresh
    assert not list(tmp_path.glob("*.tmp*")), "a temporary file was left behind"


def test_changed_checkpoint_max_length_or_text_is_never_served_stale_ids(checkpoints, tmp_path):
    texts, _ = texts_and_labels(20, seed=3)
    first, second = tokenizer(checkpoints[0]), tokenizer(checkpoints[1])
    token_cache.cached_token_ids(first, texts, 16, tmp_path)
    for tok, max_length, rows in [
        (second, 16, texts),  # another checkpoint's vocabulary
        (first, 8, texts),  # a shorter max length
        (first, 16, [*texts[:-1], texts[-1] + " more"]),  # one text changed
    ]:
        got = token_cache.cached_token_ids(tok, rows, max_length, tmp_path)
        assert got == token_cache.encode(tok, rows, max_length)
    assert len(list(tmp_path.glob("*.npz"))) == 4
    assert token_cache.cache_key(first, 16, texts) != token_cache.cache_key(second, 16, texts)


def test_training_reads_the_cache_and_predicts_as_tokenizing_on_the_fly(checkpoints, tmp_path):
    params = TransformerParams(
        family="hf_transformer", lr=3e-3, epochs=2, batch_size=8, checkpoint=str(checkpoints[0]),
        num_threads=1,
    )  # fmt: skip
    model = models.create(params, LABEL_NAMES, seed=0)
    train, val = texts_and_labels(40, 1), texts_and_labels(10, 2)
    model.fit(*train, *val)
    cached = token_cache.cached_token_ids(model.tokenizer, val[0], params.max_length)
    np.testing.assert_array_equal(model._predict_encoded(cached), model.predict_proba(val[0]))
    assert (
        token_cache.cache_dir() / f"{token_cache.cache_key(model.tokenizer, 128, train[0])}.npz"
    ).is_file()
