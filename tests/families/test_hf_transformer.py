import random
import re

import numpy as np
import pytest
from corpus import LABEL_NAMES, texts_and_labels
from tiny_bert import build_tiny_bert

from reprotune import models
from reprotune.errors import ParamsError
from reprotune.families.hf_transformer import TransformerParams
from reprotune.families.hf_transformer.model import length_grouped_batches


def params(checkpoint, **overrides) -> TransformerParams:
    values = dict(
        family="hf_transformer",
        lr=3e-3,
        epochs=5,
        batch_size=8,
        patience=5,
        checkpoint=str(checkpoint),
        num_threads=1,
    )
    return TransformerParams(**{**values, **overrides})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    texts, _ = texts_and_labels(60, seed=1)
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), texts)


@pytest.fixture(scope="module")
def trained(checkpoint):
    model = models.create(params(checkpoint), LABEL_NAMES, seed=0)
    history = model.fit(*texts_and_labels(60, 1), *texts_and_labels(10, 2))
    return model, history


def test_fine_tuned_tiny_bert_beats_chance(trained):
    model, history = trained
    test_x, test_y = texts_and_labels(25, seed=3)
    assert (model.predict(test_x) == test_y).mean() > 0.6  # chance is 0.25
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert model.best_epoch == max(history, key=lambda r: r["val_macro_f1"])["epoch"]


def test_save_pretrained_reloads_with_from_pretrained(trained, tmp_path):
    model, _ = trained
    model.save(tmp_path, extra={})
    assert (tmp_path / "config.json").is_file() and (tmp_path / "tokenizer.json").is_file()
    loaded, card = models.load(tmp_path)
    texts = ["shares profit market investor", "goal coach match season"]
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert loaded.model.config.id2label[2] == "Business"
    assert card["params"]["checkpoint"] == model.params.checkpoint


@pytest.mark.parametrize("loop", ["dynamic", "bucketed"])  # bucketed: CUDA's default
def test_training_is_deterministic_on_cpu(checkpoint, loop):
    probas = []
    for _ in range(2):
        model = models.create(params(checkpoint, epochs=1, train_loop=loop), LABEL_NAMES, seed=0)
        model.fit(*texts_and_labels(8, 1), *texts_and_labels(2, 2))
        probas.append(model.predict_proba(["minister election treaty"]))
    np.testing.assert_array_equal(*probas)


def test_fitting_from_a_folder_prints_one_short_line_per_epoch_and_nothing_else(checkpoint, capfd):
    model = models.create(params(checkpoint, epochs=2), LABEL_NAMES, seed=0)
    model.fit(*texts_and_labels(8, 1), *texts_and_labels(2, 2))
    out, err = capfd.readouterr()
    lines = [line for line in (out + err).splitlines() if line.strip()]
    # What was chosen for the device first (eval batch and loop left auto here).
    assert lines[0] == (
        "transformer on cpu: batch 8, lr 0.003, eval batch 64, dynamic loop, fp32 "
        "(eval_batch_size, train_loop: auto for cpu)"
    )
    metrics = r"train_loss [\d.]+, val_loss [\d.]+, val_accuracy [\d.]+, val_macro_f1 [\d.]+"
    epochs = lines[1:]
    assert [line for line in epochs if not re.fullmatch(rf"epoch [12]/2: {metrics}", line)] == []
    assert len(epochs) == 2  # no load report of the new head, no progress bars


def initial_lr_by_parameter_name(model) -> dict[str, float]:
    import torch

    model._torch()
    model._load_pretrained(model.params.checkpoint)
    optimizer, _ = model._optimizer(torch, steps=10)
    lr_of = {
        id(p): group["initial_lr"] for group in optimizer.param_groups for p in group["params"]
    }
    return {name: lr_of[id(p)] for name, p in model.model.named_parameters()}


def test_layer_lr_decay_slows_lower_layers_and_the_head_takes_its_multiplier(checkpoint):
    lr = 1e-3
    decayed = params(checkpoint, lr=lr, layer_lr_decay=0.5, head_lr_multiplier=10.0)
    lrs = initial_lr_by_parameter_name(models.create(decayed, LABEL_NAMES, seed=0))
    expected_by_prefix = {
        "classifier.": lr * 10,
        "bert.pooler.": lr * 10,
        "bert.encoder.layer.1.": lr * 0.5,  # the top of the tiny BERT's 2 layers
        "bert.encoder.layer.0.": lr * 0.25,
        "bert.embeddings.": lr * 0.125,
    }
    for name, value in lrs.items():
        prefix = next(p for p in expected_by_prefix if name.startswith(p))
        assert value == pytest.approx(expected_by_prefix[prefix]), name
    plain = initial_lr_by_parameter_name(models.create(params(checkpoint, lr=lr), LABEL_NAMES, 0))
    assert set(plain.values()) == {lr}


def test_layer_lr_decay_on_a_model_without_numbered_layers_says_how_to_fix(checkpoint):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    model = models.create(params(checkpoint, layer_lr_decay=0.5), LABEL_NAMES, seed=0)
    # GPT-2 names its blocks transformer.h.0., not layer.0.
    model.model = GPT2ForSequenceClassification(GPT2Config(n_layer=1, n_embd=8, n_head=2))
    with pytest.raises(ParamsError, match=r"layer_lr_decay = 0.5.*fix: set layer_lr_decay to 1"):
        model._lr_factors()


def test_missing_checkpoint_folder_fails_before_training(tmp_path):
    model = models.create(params(tmp_path / "no-such-model"), LABEL_NAMES, seed=0)
    with pytest.raises(ParamsError, match=r"checkpoint = .*no-such-model.*no model folder"):
        model.fit(*texts_and_labels(2, 1), *texts_and_labels(1, 2))


def test_unknown_hub_model_offline_says_how_to_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = models.create(params("nobody/no-such-model-xyz"), LABEL_NAMES, seed=0)
    with pytest.raises(ParamsError, match=r"(?s)could not be loaded.*local model folder"):
        model.fit(*texts_and_labels(2, 1), *texts_and_labels(1, 2))


def test_length_grouped_batches_cover_every_example_once():
    lengths = [random.Random(i).randint(1, 100) for i in range(1000)]
    batches = length_grouped_batches(lengths, 16, random.Random(0))
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    assert all(len(batch) <= 16 for batch in batches)
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 10  # random batches of 16 from 1..100 spread ~90


@pytest.mark.parametrize("inference, tolerance", [("onnx", 1e-4), ("onnx_int8", 0.05)])
def test_onnx_export_predicts_like_the_pytorch_model(trained, tmp_path, inference, tolerance):
    import sys

    model, _ = trained
    model.params = model.params.model_copy(update={"inference": inference})
    try:
        model.save(tmp_path, extra={})
    finally:
        model.params = model.params.model_copy(update={"inference": "pytorch"})
    assert (tmp_path / "onnx" / "model.onnx").is_file()
    loaded, _ = models.load(tmp_path)
    assert loaded.onnx is not None and loaded.model is None
    # Batches of mixed lengths (padding masked) and a single example (no padding).
    texts, _ = texts_and_labels(25, seed=3)
    for batch in (texts, texts[:1]):
        expected, got = model.predict_proba(batch), loaded.predict_proba(batch)
        assert np.abs(got - expected).max() < tolerance
    assert (loaded.predict(texts) == model.predict(texts)).mean() >= 0.96
    assert loaded.n_parameters() > 0
    assert "onnxruntime" in sys.modules


def test_exported_model_without_its_file_says_how_to_fix(trained, tmp_path):
    model, _ = trained
    model.save(tmp_path, extra={})
    card = (tmp_path / "candidate.json").read_text().replace('"pytorch"', '"onnx"')
    (tmp_path / "candidate.json").write_text(card)
    with pytest.raises(ParamsError, match=r"onnx/model.onnx is missing.*re-run its train"):
        models.load(tmp_path)
