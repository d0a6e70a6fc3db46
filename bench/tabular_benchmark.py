"""Benchmark the Bank Marketing example through the real pipeline, beside a plain script.

    .venv/bin/python bench/tabular_benchmark.py --data ../shared/data/bank_marketing/bank.csv

It copies the project into a temporary git repository, puts examples/bank-marketing/params.yaml
in place and runs `dvc exp run -S data.files.train=...` (timed, as `make pipeline
EXAMPLE=bank-marketing DATA=...` does). Then, on the same processed split, it fits what a
user would write by hand with scikit-learn and XGBoost — one-hot + scaled logistic regression,
a random forest and an XGBoost classifier with library defaults, on train + validation, scored
at 0.5 — and prints both side by side. With --with-duration it runs the pipeline once more with
the leaky `duration` column as a feature, for the published ROC-AUC (about 0.93).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from reprotune.workspace import copy_pipeline, keep_only, set_dotted

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from pipeline_benchmark import explain_share, record_stage_resources, stage_resources  # noqa: E402


def commit_project(project: Path) -> dict[str, str]:
    """The copy as a committed git repository; the environment to run its commands in."""
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=project, check=True)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"],
        cwd=project,
        check=True,
    )
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def run_pipeline(
    data: Path,
    workdir: Path,
    with_duration: bool,
    overrides: list[str],
    example: str = "bank-marketing",
    only: list[str] | None = None,
) -> tuple[Path, float]:
    """`make pipeline EXAMPLE=<example> DATA=<data>` in a fresh copy of the project, with the
    dotted `overrides` and, with `only`, just those candidates and ensembles; (the project,
    the pipeline's wall seconds)."""
    project = copy_pipeline(ROOT, workdir)
    params_file = project / "params.yaml"
    shutil.copy(project / f"examples/{example}/params.yaml", params_file)
    params = yaml.safe_load(params_file.read_text())
    if with_duration:
        params["data"]["drop_columns"] = []
        params["data"]["features"]["duration"] = "number"
    if only:
        keep_only(params, only)
    for override in overrides:
        set_dotted(params, override)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    record_stage_resources(project)
    env = commit_project(project)
    start = time.perf_counter()
    done = subprocess.run(
        ["dvc", "exp", "run", "-S", f"data.files.train={data.resolve()}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"pipeline failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return project, seconds


def f1_at_f1_threshold(project: Path, candidate: str) -> float:
    """Test F1 at the threshold that maximizes validation F1 (evaluate.threshold: f1), for the
    model the pipeline trained (the example itself tunes for cost)."""
    from sklearn.metrics import f1_score

    from reprotune import models
    from reprotune.evaluation.thresholds import tune_threshold

    processed = project / "data/processed"
    val, test = (pd.read_parquet(processed / f"{s}.parquet") for s in ("val", "test"))
    folder = project / "models" / candidate
    model, _ = models.load(folder if folder.is_dir() else project / "ensembles" / candidate)
    val_p = model.predict_proba(model.select_inputs(val))[:, 1]
    threshold = tune_threshold(val["label"].to_numpy(), val_p, "f1", None)
    test_p = model.predict_proba(model.select_inputs(test))[:, 1]
    return round(f1_score(test["label"], (test_p >= threshold).astype(int)), 4)


def pipeline_rows(project: Path) -> list[dict]:
    rows = []
    for path in sorted((project / "metrics/evaluate").glob("*.json")):
        m = json.loads(path.read_text())
        rows.append(
            {
                "model": f"pipeline: {path.stem}",
                "roc_auc": m["roc_auc"],
                "pr_auc": m["pr_auc"],
                "f1@0.5": m["at_0.5"]["f1"],
                "f1@f1-tuned": f1_at_f1_threshold(project, path.stem),
                "f1@cost-tuned": m["f1"],
                "threshold": m["threshold"],
                "cost/1000@0.5": m["at_0.5"]["expected_cost"],
                "cost/1000@tuned": m["expected_cost"],
                "train_s": m["efficiency"]["train_seconds"],
            }
        )
    return rows


def plain_encoder(features: dict[str, str], scale: bool):
    """What users write by hand: median-imputed (with `scale`, standardized) numbers and
    one-hot everything else."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = [c for c, kind in features.items() if kind == "number"]
    others = [c for c, kind in features.items() if kind != "number"]
    impute = SimpleImputer(strategy="median")
    return ColumnTransformer(
        [
            ("num", make_pipeline(impute, StandardScaler()) if scale else impute, numbers),
            ("cat", OneHotEncoder(handle_unknown="ignore"), others),
        ]
    )


def plain_rows(project: Path, costs: dict) -> list[dict]:
    """What users write by hand, on the pipeline's own split (train + validation to fit)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from xgboost import XGBClassifier

    from reprotune.evaluation.thresholds import cost_per_1000

    processed = project / "data/processed"
    features = json.loads((processed / "features.json").read_text())["features"]
    train = pd.concat([pd.read_parquet(processed / f"{s}.parquet") for s in ("train", "val")])
    test = pd.read_parquet(processed / "test.parquet")

    def encoder(scale: bool):
        return plain_encoder(features, scale)

    scripts = {
        "plain: logistic regression": make_pipeline(
            encoder(True), LogisticRegression(max_iter=1000)
        ),
        "plain: random forest": make_pipeline(
            encoder(False), RandomForestClassifier(n_estimators=300, random_state=0, n_jobs=-1)
        ),
        "plain: xgboost": make_pipeline(encoder(False), XGBClassifier(random_state=0)),
    }
    rows = []
    for name, model in scripts.items():
        start = time.perf_counter()
        model.fit(train[list(features)], train["label"])
        seconds = time.perf_counter() - start
        positive = model.predict_proba(test[list(features)])[:, 1]
        predicted = (positive >= 0.5).astype(int)
        rows.append(
            {
                "model": name,
                "roc_auc": round(roc_auc_score(test["label"], positive), 4),
                "pr_auc": round(average_precision_score(test["label"], positive), 4),
                "f1@0.5": round(f1_score(test["label"], predicted), 4),
                "f1@f1-tuned": None,
                "f1@cost-tuned": None,
                "threshold": 0.5,
                "cost/1000@0.5": round(cost_per_1000(test["label"], predicted, costs), 1),
                "cost/1000@tuned": None,
                "train_s": round(seconds, 3),
            }
        )
    return rows


def ensemble_versus_members(project: Path, rows: list[dict]) -> str:
    params = yaml.safe_load((project / "params.yaml").read_text())
    ensembles = set(params.get("ensemble", {}).get("candidates", {}))
    pipeline = {r["model"].removeprefix("pipeline: "): r for r in rows if "pipeline" in r["model"]}
    singles = [r for name, r in pipeline.items() if name not in ensembles]
    best_single = max(singles, key=lambda r: r["pr_auc"])
    return "\n".join(
        f"ensemble {name}: PR-AUC {pipeline[name]['pr_auc']:.4f} vs best single "
        f"{best_single['pr_auc']:.4f} ({best_single['model']}); train "
        f"{pipeline[name]['train_s']:.1f} s"
        for name in sorted(ensembles)
    )


def markdown(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [
            "-" if row[c] is None else (f"{row[c]:.4g}" if isinstance(row[c], float) else row[c])
            for c in columns
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="bank.csv (UCI, ;-separated)")
    parser.add_argument("--with-duration", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a param of the example (dotted key, YAML value); repeatable",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="run just these candidates and ensembles of the example (an ensemble's members too)",
    )
    args = parser.parse_args()
    costs = {"false_positive": 1.0, "false_negative": 10.0}
    workdir = Path(tempfile.mkdtemp(prefix="reprotune-tabular-bench-"))
    project, seconds = run_pipeline(args.data, workdir / "project", False, args.set, only=args.only)
    rows = pipeline_rows(project) + plain_rows(project, costs)
    print(f"whole example pipeline (dvc exp run, fetch to compare): {seconds:.1f} s")
    print(f"test rows: {len(pd.read_parquet(project / 'data/processed/test.parquet'))}")
    print(markdown(rows))
    pipeline_best = max(r["roc_auc"] for r in rows if r["model"].startswith("pipeline"))
    plain_best = max(r["roc_auc"] for r in rows if r["model"].startswith("plain"))
    print(f"best ROC-AUC: pipeline {pipeline_best:.4f} vs plain {plain_best:.4f}")
    pipeline_pr = max(r["pr_auc"] for r in rows if r["model"].startswith("pipeline"))
    plain_pr = max(r["pr_auc"] for r in rows if r["model"].startswith("plain"))
    print(f"best PR-AUC: pipeline {pipeline_pr:.4f} vs plain {plain_pr:.4f}")
    tuned = [r for r in rows if r["f1@f1-tuned"] is not None]
    raised = [r["model"] for r in tuned if r["f1@f1-tuned"] > r["f1@0.5"]]
    print(f"F1-tuned threshold raises test F1 over 0.5 for {len(raised)} of {len(tuned)}: {raised}")
    print(ensemble_versus_members(project, rows))
    compare = json.loads((project / "metrics/compare.json").read_text())
    for phase, values in compare.get("phases", {}).items():
        print(f"phase {phase}: {values['best']} lift {values['lift']:+.4f} ({values['verdict']})")
    print("| stage | wall s | peak memory MiB |\n| --- | --- | --- |")
    print("\n".join(stage_resources(project)))
    print(explain_share(project))
    if args.with_duration:
        leaky, seconds = run_pipeline(
            args.data, workdir / "with-duration", True, args.set, only=args.only
        )
        best = max(pipeline_rows(leaky), key=lambda r: r["roc_auc"])
        print(
            f"with duration: best ROC-AUC {best['roc_auc']:.4f} ({best['model']}), {seconds:.1f} s"
        )
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept: {workdir}")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
