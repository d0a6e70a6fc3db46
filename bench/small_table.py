"""Your own small table, as a new user runs it: `reprotune init`, then `dvc repro` (timed).

    .venv/bin/python bench/small_table.py                      # 300 and 5,000 generated rows
    .venv/bin/python bench/small_table.py --data my.csv --target y
    .venv/bin/pip install flaml && .venv/bin/python bench/small_table.py --flaml-seconds 60

For each table it copies the project into a temporary git repository, runs `reprotune init
--data <table> --target <target> --force` and `dvc repro` (each stage wrapped in GNU time), and
prints the wall time, the slowest stages, the champion and its test score with its 95 %
interval. Then, on the pipeline's own split (fit on train + validation, scored on test), what a
user would pick instead: one-hot + logistic regression, one-hot + XGBoost with library defaults
and, when FLAML is installed, FLAML's AutoML with the given time budget; each with the same
seeded bootstrap interval, and the champion's paired gap to it.

The generated tables have what real ones have: numbers, an integer-coded category (0-4), string
categories, missing values and a signal that mixes them; 300 rows with three classes, 5,000 rows
with a rare (about 12 %) positive class.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reprotune.workspace import copy_pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from pipeline_benchmark import record_stage_resources  # noqa: E402
from tabular_benchmark import commit_project, plain_encoder  # noqa: E402


def generated_table(rows: int, classes: int, seed: int) -> pd.DataFrame:
    """A table with mixed feature types, missing values and a learnable, noisy target."""
    rng = np.random.default_rng(seed)
    age = rng.normal(45, 12, rows).round()
    income = rng.lognormal(10, 0.6, rows).round(2)
    visits = rng.poisson(3, rows)
    region = rng.integers(0, 5, rows)  # integer-coded category
    plan = rng.choice(["basic", "plus", "pro", "enterprise"], rows, p=[0.4, 0.3, 0.2, 0.1])
    channel = rng.choice(["web", "store", "phone"], rows)
    region_effect = np.array([-0.8, 0.2, 0.9, -0.3, 0.4])[region]
    plan_effect = pd.Series(plan).map({"basic": -0.6, "plus": 0.0, "pro": 0.5, "enterprise": 1.1})
    score = (
        0.04 * (age - 45)
        + 0.5 * np.log(income / 22000)
        + 0.3 * (visits - 3)
        + region_effect
        + plan_effect.to_numpy()
        + 0.6 * (channel == "store") * (visits > 3)
        + rng.normal(0, 0.9, rows)
    )
    if classes == 2:
        target = np.where(score > np.quantile(score, 0.88), "yes", "no")
    else:
        edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
        target = np.array(["low", "mid", "high"][:classes])[np.searchsorted(edges, score)]
    table = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "visits": visits,
            "region": region,
            "plan": plan,
            "channel": channel,
            "outcome": target,
        }
    )
    for column in ("age", "income", "plan"):
        table.loc[rng.random(rows) < 0.05, column] = np.nan
    return table


def run_pipeline(table: Path, target: str, workdir: Path) -> tuple[Path, float]:
    """init + `dvc repro` in a fresh copy of the project; (the project, wall seconds of both)."""
    project = copy_pipeline(ROOT, workdir)
    record_stage_resources(project)
    env = commit_project(project)
    start = time.perf_counter()
    for command in (
        ["reprotune", "init", "--data", str(table), "--target", target, "--force"],
        ["dvc", "repro"],
    ):
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return project, time.perf_counter() - start


def slowest_stages(project: Path, count: int = 6) -> tuple[float, str]:
    """(the summed stage seconds, the `count` slowest stages as `stage s`)."""
    timed = []
    for line in (project / "stage_resources.txt").read_text().splitlines():
        if line.count("|") == 2:
            command, seconds, _ = line.split("|")
            stage = command.removeprefix("python stages/").replace(".py", "").replace(" ", "@")
            timed.append((float(seconds), stage))
    timed.sort(reverse=True)
    listed = ", ".join(f"{stage} {seconds:.1f}" for seconds, stage in timed[:count])
    return sum(seconds for seconds, _ in timed), f"{len(timed)} stages; slowest: {listed}"


def split(project: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict, str]:
    processed = project / "data/processed"
    features = json.loads((processed / "features.json").read_text())["features"]
    fit = pd.concat([pd.read_parquet(processed / f"{s}.parquet") for s in ("train", "val")])
    test = pd.read_parquet(processed / "test.parquet")
    metric = json.loads((project / "metrics/compare.json").read_text())["metric"]
    return fit, test, features, metric


def plain_scripts(features: dict, flaml_seconds: float, seed: int) -> dict:
    """What a user would write instead: name -> an unfitted estimator on the feature frame."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from xgboost import XGBClassifier

    scaled, unscaled = plain_encoder(features, True), plain_encoder(features, False)
    scripts = {
        "plain: one-hot + logistic regression": make_pipeline(
            scaled, LogisticRegression(max_iter=2000)
        ),
        "plain: one-hot + XGBoost defaults": make_pipeline(
            unscaled, XGBClassifier(random_state=seed, n_jobs=2)
        ),
    }
    if flaml_seconds > 0:
        scripts[f"FLAML AutoML, {flaml_seconds:.0f} s"] = FlamlModel(flaml_seconds, seed)
    return scripts


class FlamlModel:
    """FLAML's AutoML behind fit / predict_proba; it picks its own validation inside the
    train + validation rows it is given (as a user would call it)."""

    def __init__(self, seconds: float, seed: int):
        self.seconds, self.seed = seconds, seed

    def fit(self, frame: pd.DataFrame, labels: pd.Series, metric: str):
        from flaml import AutoML

        objective = {"pr_auc": "ap", "roc_auc": "roc_auc", "macro_f1": "macro_f1"}
        self.automl = AutoML()
        frame = frame.copy()
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].astype("category")
        self.categories = {
            c: frame[c].cat.categories for c in frame if frame[c].dtype == "category"
        }
        self.automl.fit(
            frame,
            labels,
            task="classification",
            metric=objective.get(metric, "accuracy"),
            time_budget=self.seconds,
            seed=self.seed,
            n_jobs=2,
            verbose=0,
        )
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        frame = frame.copy()
        for column, categories in self.categories.items():
            frame[column] = pd.Categorical(frame[column], categories=categories)
        return self.automl.predict_proba(frame)


def test_probabilities(model, fit: pd.DataFrame, test: pd.DataFrame, features: dict, metric: str):
    columns = list(features)
    if isinstance(model, FlamlModel):
        model.fit(fit[columns], fit["label"], metric)
    else:
        model.fit(fit[columns], fit["label"])
    return model.predict_proba(test[columns])


def interval_rows(project: Path, scripts: dict, seed: int) -> list[dict]:
    """The champion and each script: test score, 95 % interval, and the paired gap interval
    (champion minus script) on the same seeded bootstrap resamples compare uses."""
    from reprotune.evaluation.bootstrap import (
        interval,
        predictions_frame,
        replicate_scores,
        resample_indices,
    )

    fit, test, features, metric = split(project)
    champion = json.loads((project / "metrics/compare.json").read_text())["champion"]
    frames = {
        f"pipeline champion: {champion}": pd.read_parquet(
            project / f"predictions/{champion}.parquet"
        )
    }
    seconds = {f"pipeline champion: {champion}": "-"}
    labels = test["label"].to_numpy()
    for name, model in scripts.items():
        start = time.perf_counter()
        proba = test_probabilities(model, fit, test, features, metric)
        seconds[name] = round(time.perf_counter() - start, 1)
        frames[name] = predictions_frame(labels, proba, proba.argmax(axis=1))
    indices = resample_indices(len(labels), seed)
    everything = np.arange(len(labels))[None, :]
    replicates = {name: replicate_scores(metric, frame, indices) for name, frame in frames.items()}
    champion_replicates = next(iter(replicates.values()))
    rows = []
    for name, frame in frames.items():
        gap = interval(champion_replicates - replicates[name])
        rows.append(
            {
                "model": name,
                metric: round(float(replicate_scores(metric, frame, everything)[0]), 4),
                "95 % interval": _interval(interval(replicates[name])),
                "champion minus it": "-" if name.startswith("pipeline") else _interval(gap),
                "fit s": seconds[name],
            }
        )
    return rows


def _interval(bounds: list[float] | None) -> str:
    return "-" if bounds is None else f"[{bounds[0]:+.3f}, {bounds[1]:+.3f}]"


def markdown(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="your table (default: two generated ones)")
    parser.add_argument("--target", default="outcome")
    parser.add_argument("--flaml-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[300, 5000],
        help="sizes of the generated tables (300: three classes, else binary)",
    )
    args = parser.parse_args()
    try:
        import flaml  # noqa: F401
    except ImportError:
        print("FLAML is not installed (pip install flaml): no AutoML reference this run")
        args.flaml_seconds = 0
    with tempfile.TemporaryDirectory() as tmp:
        tables = [(args.data.resolve(), args.target)] if args.data else []
        for rows in [] if args.data else args.rows:
            classes = 3 if rows <= 1000 else 2
            path = Path(tmp) / f"table_{rows}.csv"
            generated_table(rows, classes, args.seed).to_csv(path, index=False)
            tables.append((path, "outcome"))
        for table, target in tables:
            project, wall = run_pipeline(table, target, Path(tmp) / f"project_{table.stem}")
            stage_seconds, stages = slowest_stages(project)
            print(f"\n## {table.name}: {len(pd.read_csv(table))} rows")
            print(
                f"init + dvc repro: {wall:.1f} s wall ({stage_seconds:.1f} s in stages; {stages})"
            )
            compare = json.loads((project / "metrics/compare.json").read_text())
            reason = compare.get("champion_reason", "the best score")
            print(f"champion: {compare['champion']} ({reason})")
            print(
                markdown(
                    interval_rows(
                        project,
                        plain_scripts(split(project)[2], args.flaml_seconds, args.seed),
                        args.seed,
                    )
                )
            )


if __name__ == "__main__":
    main()
