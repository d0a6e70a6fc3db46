"""A budget the pipeline keeps: init + `dvc repro` on Bank-shaped tables of 10k / 100k / 1M rows.

    .venv/bin/python bench/budget_benchmark.py                          # 10k, 100k, 1M rows
    .venv/bin/python bench/budget_benchmark.py --rows 40000 --budget 60 default
    .venv/bin/pip install flaml   # optional: FLAML with the same budget beside it

For each size and budget it copies the project into a temporary git repository, writes a
generated table shaped like UCI Bank Marketing (16 typed columns: ages, balances, jobs, months,
contacts, previous outcomes...; about 11.5 % positive), runs `reprotune init` (its default
budget_s, or the one given) and `dvc repro`, each stage wrapped in GNU time, and prints: wall
time, the stages' own seconds and what is left between them, the largest peak RSS of any
process, the plan's estimate, the champion with its 95 % interval; then, on the pipeline's own
split (fit on train + validation, scored on test), a plain one-hot + XGBoost script and FLAML
with the same budget, with the champion's paired gap to each.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reprotune.workspace import copy_pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from pipeline_benchmark import record_stage_resources  # noqa: E402
from small_table import FlamlModel, interval_rows, markdown, split  # noqa: E402
from tabular_benchmark import commit_project, plain_encoder  # noqa: E402

JOBS = ["admin.", "blue-collar", "entrepreneur", "housemaid", "management", "retired",
        "self-employed", "services", "student", "technician", "unemployed", "unknown"]  # fmt: skip
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def bank_shaped(rows: int, seed: int) -> pd.DataFrame:
    """16 typed columns as in the UCI file, with a signal that mixes them (no leaky duration)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 95, rows)
    job = rng.choice(JOBS, rows)
    marital = rng.choice(["married", "single", "divorced"], rows, p=[0.6, 0.28, 0.12])
    education = rng.choice(["primary", "secondary", "tertiary", "unknown"], rows,
                           p=[0.15, 0.5, 0.3, 0.05])  # fmt: skip
    default = rng.choice(["no", "yes"], rows, p=[0.98, 0.02])
    balance = rng.normal(1400, 3000, rows).round()
    housing = rng.choice(["yes", "no"], rows, p=[0.55, 0.45])
    loan = rng.choice(["no", "yes"], rows, p=[0.84, 0.16])
    contact = rng.choice(["cellular", "telephone", "unknown"], rows, p=[0.65, 0.07, 0.28])
    day = rng.integers(1, 32, rows)
    month = rng.choice(MONTHS, rows)
    campaign = rng.geometric(0.35, rows)
    previous = rng.poisson(0.6, rows)
    pdays = np.where(previous > 0, rng.integers(1, 400, rows), -1)
    poutcome = np.where(previous > 0, rng.choice(["failure", "other", "success"], rows,
                                                 p=[0.6, 0.2, 0.2]), "unknown")  # fmt: skip
    score = (
        0.03 * np.abs(age - 45)
        + 0.00012 * balance
        - 0.25 * campaign
        + 1.0 * np.isin(job, ["retired", "student"])
        + 1.1 * np.isin(month, ["mar", "sep", "oct", "dec"])
        - 0.6 * (housing == "yes")
        - 0.4 * (loan == "yes")
        - 0.9 * (contact == "unknown")
        + 2.0 * (poutcome == "success")
        + 0.3 * (education == "tertiary")
        + 0.02 * np.minimum(day, 10)
        + rng.normal(0, 1.1, rows)
    )
    target = np.where(score > np.quantile(score, 1 - 0.115), "yes", "no")
    return pd.DataFrame(
        {"age": age, "job": job, "marital": marital, "education": education,
         "default": default, "balance": balance, "housing": housing, "loan": loan,
         "contact": contact, "day": day, "month": month, "campaign": campaign,
         "pdays": pdays, "previous": previous, "poutcome": poutcome, "y": target}
    )  # fmt: skip


class PeakMemory:
    """The largest resident set of any process working in `folder` (stages forked by the
    warm launcher included: GNU time sees only the script that hands its stage over),
    sampled every 0.2 s."""

    def __init__(self, folder: Path):
        self.folder, self.peak_bytes = str(folder.resolve()), 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            for process in psutil.process_iter(["cwd", "memory_info"]):
                info = process.info
                if info["cwd"] == self.folder and info["memory_info"] is not None:
                    self.peak_bytes = max(self.peak_bytes, info["memory_info"].rss)

    def __enter__(self) -> "PeakMemory":
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def set_budget(project: Path, budget: str) -> float | None:
    """budget_s in the params.yaml init wrote: `default` keeps init's; a number replaces it."""
    from ruamel.yaml import YAML

    yaml = YAML()
    path = project / "params.yaml"
    document = yaml.load(path.read_text())
    if budget != "default":
        document["budget_s"] = float(budget)
        with path.open("w") as handle:
            yaml.dump(document, handle)
    return document["budget_s"]


def run_pipeline(table: Path, budget: str, workdir: Path) -> dict:
    project = copy_pipeline(ROOT, workdir)
    record_stage_resources(project)
    env = commit_project(project)
    start = time.perf_counter()
    init = ["reprotune", "init", "--data", str(table), "--target", "y", "--force"]
    subprocess.run(init, cwd=project, env=env, check=True, capture_output=True)
    budget_s = set_budget(project, budget)
    with PeakMemory(project) as memory:
        done = subprocess.run(
            ["dvc", "repro"], cwd=project, env=env, capture_output=True, text=True
        )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"dvc repro failed:\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}")
    stages = [
        line.split("|") for line in (project / "stage_resources.txt").read_text().splitlines()
    ]
    stages = [(c, float(s), int(k)) for c, s, k in stages if c.startswith("python")]
    return {
        "project": project,
        "budget_s": budget_s,
        "wall": wall,
        "stage_s": sum(s for _, s, _ in stages),
        "stages": len(stages),
        "peak_mib": max(memory.peak_bytes / 2**20, max(k for _, _, k in stages) / 1024),
        "slowest": sorted(stages, key=lambda s: -s[1])[:4],
    }


def plain_xgboost(features: dict, seed: int):
    from sklearn.pipeline import make_pipeline
    from xgboost import XGBClassifier

    return make_pipeline(plain_encoder(features, False), XGBClassifier(random_state=seed, n_jobs=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--budget", nargs="+", default=["default"], help="'default' (init's) and/or seconds"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-flaml", action="store_true")
    args = parser.parse_args()
    try:
        import flaml  # noqa: F401
    except ImportError:
        print("FLAML is not installed (pip install flaml): no AutoML reference this run")
        args.no_flaml = True
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            table = Path(tmp) / f"bank_{rows}.csv"
            bank_shaped(rows, args.seed).to_csv(table, index=False)
            for budget in args.budget:
                result = run_pipeline(table, budget, Path(tmp) / f"project_{rows}_{budget}")
                project = result["project"]
                plan = json.loads((project / "plan.json").read_text())
                compare = json.loads((project / "metrics/compare.json").read_text())
                between = result["wall"] - result["stage_s"]
                print(f"\n## {rows:,} rows, budget_s {result['budget_s']:g}")
                print(
                    f"init + dvc repro: {result['wall']:.1f} s wall; stages {result['stage_s']:.1f}"
                    f" s ({result['stages']} stages), between stages {between:.1f} s; plan "
                    f"estimate {plan['estimate_s']:.0f} s (measuring {plan['measure_s']:.0f} s); "
                    f"peak RSS {result['peak_mib']:.0f} MiB"
                )
                slow = ", ".join(
                    f"{c.split('stages/')[-1]} {s:.0f}s" for c, s, _ in result["slowest"]
                )
                print(f"slowest: {slow}")
                print(f"champion: {compare['champion']}")
                fit = split(project)[2]
                scripts = {"plain: one-hot + XGBoost defaults": plain_xgboost(fit, args.seed)}
                if not args.no_flaml:
                    seconds = result["budget_s"]
                    scripts[f"FLAML AutoML, {seconds:.0f} s"] = FlamlModel(seconds, args.seed)
                rows_table = interval_rows(project, scripts, args.seed)
                print(markdown(rows_table))
                summary.append((rows, result["budget_s"], result["wall"], result["peak_mib"]))
    print("\n| rows | budget_s | wall s | peak RSS MiB |\n|---|---|---|---|")
    for rows, budget, wall, peak in summary:
        print(f"| {rows:,} | {budget:g} | {wall:.0f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
