"""bench/baseline_reference.py and bench/tinybert_shaped_checkpoint.py on generated inputs."""

import json
import re
import sys
from pathlib import Path

import pytest
from commands import run
from corpus import write_ag_news_csv

pytestmark = pytest.mark.e2e  # a real server, pipeline or browser: `make test-e2e`

BENCH = Path(__file__).parents[2] / "bench"
SPLITS = ("train", "val", "test")


def test_baseline_reference_scores_the_plain_script_and_the_pipelines_metrics(tmp_path):
    ag_news = tmp_path / "ag_news"
    write_ag_news_csv(ag_news / "train.csv", n_per_class=60, seed=1)
    write_ag_news_csv(ag_news / "test.csv", n_per_class=20, seed=2)
    metrics = tmp_path / "project" / "metrics" / "evaluate" / "baseline.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(
        json.dumps({"accuracy": 0.5, "macro_f1": 0.25, "efficiency": {"train_seconds": 1.5}})
    )

    command = [sys.executable, str(BENCH / "baseline_reference.py"), "--ag-news-dir", str(ag_news)]
    done = run([*command, "--train-size", "200", "--test-size", "60"], cwd=metrics.parents[2])

    plain = re.search(r"plain scikit-learn\s+accuracy (\S+)\s+macro F1 (\S+)", done.stdout)
    assert plain, done.stdout
    assert float(plain.group(1)) > 0.6  # four easy topics: well above chance (0.25)
    assert "pipeline baseline   accuracy 0.5000  macro F1 0.2500  train 1.50s" in done.stdout


def write_bert_uncased_sized_tokenizer(folder: Path, size: int = 30522) -> Path:
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = [f"word{i}" for i in range(size - len(specials))]
    vocabulary = {token: i for i, token in enumerate(specials + words)}
    BertTokenizer(vocab=vocabulary).save_pretrained(folder)
    return folder


def test_tinybert_shaped_checkpoint_loads_for_sequence_classification(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = write_bert_uncased_sized_tokenizer(tmp_path / "tokenizer")
    out = tmp_path / "tinybert-shaped"
    script = [sys.executable, str(BENCH / "tinybert_shaped_checkpoint.py")]
    done = run([*script, "--out", str(out), "--tokenizer-from", str(tokenizer)], cwd=tmp_path)

    assert "TinyBERT-4L-312D shape, 14.4M parameters" in done.stdout
    model = AutoModelForSequenceClassification.from_pretrained(out, num_labels=4)
    shape = model.config
    assert (shape.num_hidden_layers, shape.hidden_size, shape.intermediate_size) == (4, 312, 1200)
    assert len(AutoTokenizer.from_pretrained(out)) == 30522


def test_tinybert_shaped_checkpoint_refuses_another_vocabulary(tmp_path):
    tokenizer = write_bert_uncased_sized_tokenizer(tmp_path / "tokenizer", size=400)
    script = [sys.executable, str(BENCH / "tinybert_shaped_checkpoint.py")]
    command = [*script, "--out", str(tmp_path / "out"), "--tokenizer-from", str(tokenizer)]

    done = run(command, cwd=tmp_path, check=False)

    assert done.returncode == 2
    assert "--tokenizer-from has 400 tokens; TinyBERT's vocabulary has 30522" in done.stderr
    assert not (tmp_path / "out").exists()


def write_bank_csv(path: Path, n: int = 500) -> Path:
    """Every column of the UCI file, generated (the example's params read them all)."""
    import numpy as np
    from tabular_data import make_bank_like

    rng = np.random.default_rng(0)
    frame = make_bank_like(n, seed=8).drop(columns="call_id")
    frame["day"] = rng.integers(1, 31, n)
    frame["pdays"] = rng.choice([-1, 30, 90], n)
    frame["previous"] = rng.integers(0, 3, n)
    frame["duration"] = np.where(frame["y"] == "yes", 400, 120) + rng.integers(0, 200, n)
    for column, levels in {
        "marital": ["married", "single", "divorced"],
        "education": ["primary", "secondary", "tertiary", "unknown"],
        "contact": ["cellular", "telephone", "unknown"],
        "poutcome": ["unknown", "failure", "success", "other"],
        "default": ["no", "yes"],
    }.items():
        frame[column] = rng.choice(levels, n)
    frame.to_csv(path, sep=";", index=False)
    return path


def test_tabular_benchmark_prints_pipeline_and_plain_script_side_by_side(tmp_path):
    data = write_bank_csv(tmp_path / "bank.csv")
    # A phase each (the Keras families are the e2e test's): baseline, optimized, tuned and
    # the stacked ensemble over them.
    only = ["logreg", "random_forest", "xgboost_tuned", "stack"]
    quick = [
        "tune.n_trials=2",
        "tune.cv_folds=2",
        "ensemble.candidates.stack.cv_folds=2",
        "train.candidates.random_forest.n_estimators=20",
        "evaluate.latency_repeats=2",
        "explain.rows=100",
        "explain.shap_rows=10",
        "explain.examples=1",
        # explain@xgboost_tuned runs; the others write their skip note (the e2e test explains)
        "explain.skip=[logreg,random_forest,stack]",
    ]
    command = [sys.executable, str(BENCH / "tabular_benchmark.py"), "--data", str(data)]
    sets = [a for o in quick for a in ("--set", o)]
    done = run([*command, *sets, "--only", *only], cwd=tmp_path)
    rows = [
        line for line in done.stdout.splitlines() if line.startswith(("| pipeline:", "| plain:"))
    ]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == [
        *(f"pipeline: {n}" for n in sorted(only)),
        *("plain: logistic regression", "plain: random forest", "plain: xgboost"),
    ], done.stdout
    assert re.search(r"best ROC-AUC: pipeline 0\.\d+ vs plain 0\.\d+", done.stdout)
    assert re.search(r"raises test F1 over 0\.5 for \d of 4", done.stdout)
    assert re.search(r"ensemble stack: PR-AUC 0\.\d+ vs best single 0\.\d+", done.stdout)
    assert re.search(r"phase tuned: xgboost_tuned lift [+-]0\.\d+ \(", done.stdout)
    assert "| explain@xgboost_tuned | " in done.stdout and "| explain@mlp" not in done.stdout
    assert re.search(
        r"explain stages: [\d.]+ s of [\d.]+ s of stage time \([\d.]+ %\)", done.stdout
    )


def test_text_mlp_study_prints_every_variant_beside_the_baseline(tmp_path):
    ag_news = tmp_path / "ag_news"
    write_ag_news_csv(ag_news / "train.csv", n_per_class=40, seed=1)
    write_ag_news_csv(ag_news / "test.csv", n_per_class=15, seed=2)
    command = [sys.executable, str(BENCH / "text_mlp_study.py"), "--ag-news-dir", str(ag_news)]
    done = run([*command, "--seeds", "1", "--train-size", "120"], cwd=tmp_path)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 7 and rows[0]["run"] == "baseline (tfidf_logreg)"
    assert all(row["macro_f1"] > 0.5 for row in rows), rows  # chance is 0.25
    table = [line for line in done.stdout.splitlines() if line.startswith("| mlp ")]
    assert len(table) == 6 and "today's defaults" in done.stdout


def text_project(tmp_path: Path) -> Path:
    """Processed splits of the generated corpus and two saved baselines, lean and full."""
    import pandas as pd
    from corpus import LABEL_NAMES, texts_and_labels

    from reprotune import models
    from reprotune.data.prepare import Splits, write_splits
    from reprotune.families.tfidf_logreg import TfidfLogregParams

    def split(n: int, seed: int) -> pd.DataFrame:
        texts, labels = texts_and_labels(n, seed)
        return pd.DataFrame({"text": texts, "label": labels})

    train, val, test = split(30, 1), split(10, 2), split(15, 3)
    write_splits(Splits(train, val, test, LABEL_NAMES), tmp_path / "data/processed")
    for name, fit_on_val in (("lean", False), ("full", True)):
        params = TfidfLogregParams(family="tfidf_logreg", C=1.0, fit_on_val=fit_on_val)
        model = models.create(params, LABEL_NAMES, 0)
        model.fit(train["text"].tolist(), train["label"].to_numpy(), val["text"].tolist(),
                  val["label"].to_numpy())  # fmt: skip
        folder = tmp_path / "models" / name
        folder.mkdir(parents=True)
        model.save(folder, extra={"train": {"train_seconds": 1.0}})
    return tmp_path


def test_ensemble_study_scores_every_combination_of_trained_members(tmp_path):
    text_project(tmp_path)
    command = [sys.executable, str(BENCH / "ensemble_study.py"), "--project", str(tmp_path)]
    done = run([*command, "--members", "lean", "full"], cwd=tmp_path)
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| ")][2:]
    assert [r[0] for r in rows[:2]] == ["| lean alone", "| full alone"]
    assert len(rows) == 2 + 5  # each member, then five combinations of the pair
    assert all(0.6 < float(r[1]) <= 1 for r in rows), rows  # chance is 0.25


def test_explain_latency_serves_each_model_and_times_both_endpoints(tmp_path):
    text_project(tmp_path)
    command = [sys.executable, str(BENCH / "explain_latency.py"), "--project", str(tmp_path)]
    done = run([*command, "--requests", "4", "--only", "lean"], cwd=tmp_path)
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("| lean")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "tfidf_logreg"
    assert all(float(c) > 0 for c in cells[2:]), row


def test_gpu_kit_then_transformer_vs_trainer_trains_both_and_times_each_format(tmp_path):
    """The kit that travels to a GPU machine (built here without wheels: offline), then the
    benchmark run from it: fp16-packed weights load back as float32 for both trainings,
    params.yaml's `auto` settings and a `--set` beside them."""
    import pandas as pd
    import torch
    from safetensors.torch import load_file
    from tiny_bert import build_tiny_bert
    from transformers import AutoModel

    ag_news = tmp_path / "ag_news"
    write_ag_news_csv(ag_news / "train.csv", n_per_class=10, seed=1)
    write_ag_news_csv(ag_news / "test.csv", n_per_class=5, seed=2)
    texts = pd.read_csv(ag_news / "train.csv", header=None)[2].tolist()
    checkpoint = build_tiny_bert(tmp_path / "tiny-bert", texts)
    kit = tmp_path / "kit"
    options = ["--ag-news-dir", str(ag_news), "--checkpoint", str(checkpoint), "--out", str(kit)]
    done = run([sys.executable, str(BENCH / "gpu_kit.py"), *options, "--no-wheels"], tmp_path)
    assert "MiB of repository" in done.stdout
    rows = {s: len(pd.read_parquet(kit / "processed" / f"{s}.parquet")) for s in SPLITS}
    assert rows == {"train": 36, "val": 4, "test": 20}  # every row: 90/10, the test file
    weights = load_file(kit / "model" / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.float16}
    original = AutoModel.from_pretrained(checkpoint).state_dict()
    widened = AutoModel.from_pretrained(kit / "model", dtype=torch.float32).state_dict()
    for name, tensor in original.items():
        assert torch.equal(widened[name], tensor.half().float()), name
    script = (kit / "run.sh").read_text()
    assert script.count("bench/transformer_vs_trainer.py") == len(gpu_kit_runs())
    assert "--set batch_size=256 --set compile=true" in script
    out = tmp_path / "out"
    out.mkdir()
    bogus = run(["bash", str(kit / "run.sh"), str(out), "bogus"], BENCH.parent, check=False)
    assert bogus.returncode == 2 and "unknown run bogus: one of shipped_vs_trainers" in bogus.stderr
    assert torch.__version__ in (out / "gpu.txt").read_text()  # versions before the runs

    command = [sys.executable, str(BENCH / "transformer_vs_trainer.py")]
    command += ["--processed-dir", str(kit / "processed"), "--checkpoint", str(kit / "model")]
    quick = ["--seeds", "1", "--epochs", "2", "--formats", "onnx", "--latency-repeats", "3"]
    # From the repository: ours trains with params.yaml's transformer settings.
    done = run([*command, *quick, "--set", "batch_size=8"], cwd=BENCH.parent)

    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines() if "|" in line}
    for name in ("reprotune candidate", "transformers.Trainer fp32_b8"):  # no CUDA: no bf16
        cells = [c.strip() for c in rows[name].split("|")[1:-1]]
        assert cells[1] == "1" and cells[5] == "2", rows[name]  # seed, epochs
        assert float(cells[7]) > 0 and float(cells[8]) > 0  # train and inference samples/s
        assert 0 <= float(cells[9]) <= 1  # accuracy
    # params.yaml's `auto` on a CPU: lr 2e-4, batches padded one by one; --set's batch wins.
    assert [c.strip() for c in rows["reprotune candidate"].split("|")[3:6]] == [
        "0.0002", "8", "dynamic"
    ]  # fmt: skip
    assert re.search(r"training speed: ours / transformers.Trainer fp32_b8 = [\d.]+x", done.stdout)
    assert set(rows) >= {"pytorch", "onnx"}
    # The fused fp32 graph predicts as PyTorch does (int8: tests/families/test_hf_transformer.py).
    assert float(rows["onnx"].split("|")[7]) == 1.0, rows["onnx"]
    assert "20 test rows" in done.stdout
    failed = run([*command, "--runs", "ours", "--set", "batch_sise=8"], BENCH.parent, check=False)
    assert failed.returncode != 0 and "batch_sise" in failed.stderr


def gpu_kit_runs() -> dict:
    sys.path.insert(0, str(BENCH))
    try:
        import gpu_kit
    finally:
        sys.path.remove(str(BENCH))
    return gpu_kit.RUNS
