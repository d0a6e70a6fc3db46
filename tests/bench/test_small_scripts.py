"""bench/baseline_reference.py and bench/tinybert_shaped_checkpoint.py on generated inputs."""

import json
import re
import sys
from pathlib import Path

from commands import run
from corpus import write_ag_news_csv

BENCH = Path(__file__).parents[2] / "bench"


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
