"""The transformer's device settings and its two ways of feeding batches: `auto` follows the
device and a number wins; token ids padded without the tokenizer match `tokenizer.pad`; the
bucketed loop (CUDA's default) covers every row once an epoch, trains, and is deterministic on
a CPU, where it is tested."""

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from corpus import LABEL_NAMES, texts_and_labels
from tiny_bert import build_tiny_bert
from transformers import AutoTokenizer

from reprotune import models
from reprotune.errors import ParamsError
from reprotune.families.hf_transformer import TransformerParams, device


def knobs(**values):
    base = {"batch_size": "auto", "lr": "auto", "eval_batch_size": "auto", "train_loop": "auto"}
    return SimpleNamespace(**{**base, **values})


def test_auto_follows_the_device_and_a_number_wins():
    cpu = device.resolve(knobs(), "cpu", "fp32")
    assert (cpu.batch_size, cpu.lr, cpu.eval_batch_size, cpu.train_loop) == (
        16, 2e-4, 64, "dynamic"
    )  # fmt: skip
    cuda = device.resolve(knobs(lr=5e-5), "cuda", "bf16")
    assert (cuda.batch_size, cuda.lr, cuda.eval_batch_size, cuda.train_loop) == (
        128, 5e-5, 512, "bucketed"
    )  # fmt: skip
    assert cuda.chosen == ("batch_size", "eval_batch_size", "train_loop")
    assert cuda.line() == (
        "transformer on cuda: batch 128, lr 5e-05, eval batch 512, bucketed loop, bf16 "
        "(batch_size, eval_batch_size, train_loop: auto for cuda)"
    )
    assert cuda.as_dict()["chosen"] == "batch_size,eval_batch_size,train_loop"
    found = device.resolve(knobs(), "cpu", "fp32", device.environment(torch, "cpu")).as_dict()
    assert found["torch"] == torch.__version__ and int(found["threads"]) >= 1


def test_params_accept_auto_and_refuse_other_words():
    TransformerParams(family="hf_transformer", lr="auto", batch_size="auto", checkpoint="x")
    with pytest.raises(ValueError, match="batch_size"):
        TransformerParams(family="hf_transformer", batch_size="big")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    texts, _ = texts_and_labels(60, seed=1)
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), texts)


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_without_the_tokenizer_matches_tokenizer_pad(checkpoint, side):
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    tokenizer.padding_side = side
    texts, _ = texts_and_labels(12, seed=4)
    encoded = [tokenizer(t)["input_ids"] for t in texts]
    rows = [3, 0, 7, 11]
    expected = tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, return_tensors="np")
    ids, mask = device.pad(encoded, rows, tokenizer.pad_token_id, side)
    np.testing.assert_array_equal(ids, expected["input_ids"])
    np.testing.assert_array_equal(mask, expected["attention_mask"])
    wide, _ = device.pad(encoded, rows, tokenizer.pad_token_id, side, multiple=16)
    assert wide.shape[1] % 16 == 0 and wide.shape[1] - ids.shape[1] < 16


def test_buckets_cover_every_row_once_an_epoch_in_full_batches_of_few_shapes():
    rng = np.random.default_rng(0)
    encoded = [list(range(1, n + 1)) for n in rng.integers(3, 70, 200)]
    labels = np.arange(200) % 4
    buckets = device.Buckets(torch, encoded, labels, 0, torch.device("cpu"), batch_size=32)
    assert all(width % device.BUCKET_MULTIPLE == 0 for width in buckets.widths)
    assert len(buckets.widths) <= 5  # 3-70 tokens: widths 16, 32, 48, 64, 80
    seen, shapes = [], set()
    for key in buckets.draw(random.Random(1)):
        inputs, target, real = buckets.batch(key)
        # Static shapes: every batch is full, its filler rows after `real`.
        assert inputs["input_ids"].shape == inputs["attention_mask"].shape
        assert len(target) == 32 and 0 < real <= 32
        shapes.add(tuple(inputs["input_ids"].shape))
        lengths = inputs["attention_mask"].sum(1).tolist()[:real]
        rows = zip(inputs["input_ids"].tolist(), lengths, target[:real].tolist(), strict=False)
        seen += [(tuple(row[:n]), int(t)) for row, n, t in rows]
    assert len(shapes) == len(buckets.widths)
    assert sorted(seen) == sorted((tuple(e), int(t)) for e, t in zip(encoded, labels, strict=True))


def test_a_bucket_smaller_than_a_batch_joins_the_next_wider_one():
    # widths 16 (3 rows), 32 (10 rows), 48 (6 rows); batch 5
    lengths = [5, 9, 12] + [20] * 10 + [40] * 6
    assert [rows.tolist() for rows in device.bucket_rows(lengths, 5)] == [
        list(range(13)), list(range(13, 19))
    ]  # fmt: skip
    # A last remainder (2 rows of width 64) joins the widest bucket before it.
    assert [len(rows) for rows in device.bucket_rows([*lengths, 60, 61], 5)] == [13, 8]
    assert [len(rows) for rows in device.bucket_rows([5, 9], 5)] == [2]  # fewer than a batch


def bucketed(checkpoint, **overrides) -> TransformerParams:
    values = dict(
        family="hf_transformer", lr=3e-3, epochs=5, batch_size=8, patience=5,
        checkpoint=str(checkpoint), num_threads=1, train_loop="bucketed",
    )  # fmt: skip
    return TransformerParams(**{**values, **overrides})


def test_the_bucketed_loop_trains_on_cpu(checkpoint):
    """(Its determinism: tests/families/test_hf_transformer.py, beside the dynamic loop's.)"""
    model = models.create(bucketed(checkpoint), LABEL_NAMES, seed=0)
    history = model.fit(*texts_and_labels(60, 1), *texts_and_labels(10, 2))
    test_x, test_y = texts_and_labels(25, seed=3)
    assert (model.predict(test_x) == test_y).mean() > 0.6  # chance is 0.25
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert model.device_settings()["train_loop"] == "bucketed"
    assert model.device_settings()["attention"] == "sdpa"  # transformers' default, recorded


def test_the_compiled_bucketed_loop_builds_one_graph_per_bucket(checkpoint):
    """torch.compile through aot_eager (dynamo's tracing and AOT autograd, without inductor's
    C++ build): static shapes mean one graph per bucket and no recompiles per batch."""
    from torch._dynamo.utils import counters

    params = bucketed(checkpoint, epochs=2, compile=True, compile_backend="aot_eager")
    model = models.create(params, LABEL_NAMES, seed=0)
    torch._dynamo.reset()
    counters.clear()
    texts, labels = texts_and_labels(60, 1)
    model.fit(texts, labels, *texts_and_labels(10, 2))
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    lengths = [len(tokenizer(text, truncation=True, max_length=128)["input_ids"]) for text in texts]
    assert counters["stats"]["unique_graphs"] == len(device.bucket_rows(lengths, 8))
    assert model.device_settings()["compile"] is True


def test_an_unknown_compile_backend_stops_with_the_choices(checkpoint):
    params = bucketed(checkpoint, compile=True, compile_backend="tvmx")
    model = models.create(params, LABEL_NAMES, seed=0)
    with pytest.raises(ParamsError, match=r"compile_backend = 'tvmx'.*inductor"):
        model.fit(*texts_and_labels(20, 1), *texts_and_labels(8, 2))
