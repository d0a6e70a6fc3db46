"""The whole pipeline on Spark: `dvc exp run` on a generated Bank-shaped table, every stage's
wall time and its driver's peak memory.

    .venv/bin/python bench/spark_pipeline.py --rows 2000000

A fresh `git clone` of this commit with the Bank example's params.yaml turned to Spark: the
table as a folder of 500k-row Parquet files (`data.source: parquet`, `data.engine: spark`),
one candidate, the example's `xgboost` with `engine: spark` on local[2], no study and no
ensemble (both read their splits whole on one machine). `dvc exp run` runs every stage
(fetch, preprocess, drift, configure, plan, tune, train, evaluate, explain, compare) in its
own process (REPROTUNE_WARM=0), sampled every 0.2 s: per stage the peak resident memory of
its Python process plus the JVM it starts (not the executors' Python workers, which a cluster
runs elsewhere).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from drift_overhead import BANK_FEATURES as FEATURES
from loop_speed import BIN, ROOT, timed_console
from spark_prepare import write_table


def spark_params(table: Path) -> dict:
    raw = yaml.safe_load((ROOT / "examples/bank-marketing/params.yaml").read_text())
    raw["data"] = {
        **raw["data"], "source": "parquet", "files": {"train": str(table), "test": None},
        "label_column": "y", "positive_label": "yes", "features": FEATURES,
        "drop_columns": [], "train_size": None, "test_size": None, "engine": "spark",
    }  # fmt: skip
    xgboost = {**raw["train"]["candidates"]["xgboost"], "engine": "spark"}
    raw["train"]["candidates"] = {"xgboost_spark": xgboost}
    raw["tune"]["candidates"] = {}
    raw["ensemble"]["candidates"] = {}
    raw["compare"]["phases"] = {"baseline": ["xgboost_spark"]}
    return raw


class StagePeaks:
    """Per stage (its command's arguments after stages/), the peak RSS of its Python process
    and the JVMs below it."""

    def __init__(self) -> None:
        self.peaks: dict[str, int] = {}
        self.done = threading.Event()

    def sample(self) -> None:
        import psutil

        while not self.done.wait(0.2):
            for process in psutil.process_iter(["cmdline"]):
                try:
                    cmdline = process.info["cmdline"] or []
                    script = next((a for a in cmdline if a.startswith("stages/")), None)
                    if script is None or not cmdline[0].endswith("python"):
                        continue
                    name = " ".join([Path(script).stem, *cmdline[cmdline.index(script) + 1 :]])
                    family = [process, *process.children(recursive=True)]
                    drivers = [p for p in family if p is process or p.name().startswith("java")]
                    rss = sum(p.memory_info().rss for p in drivers)
                    self.peaks[name] = max(self.peaks.get(name, 0), rss)
                except (psutil.Error, ValueError):
                    continue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ["PATH"] = f"{BIN}:{os.environ['PATH']}"
    os.environ["REPROTUNE_WARM"] = "0"  # a process per stage, measured alone
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "project"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(project)], check=True)
        table = write_table(Path(scratch) / "table", args.rows, args.seed)
        (project / "params.yaml").write_text(yaml.safe_dump(spark_params(table), sort_keys=False))
        subprocess.run(["git", "commit", "-qam", "spark"], cwd=project, check=True)
        peaks = StagePeaks()
        thread = threading.Thread(target=peaks.sample, daemon=True)
        thread.start()
        start = time.perf_counter()
        run = timed_console([str(BIN / "dvc"), "exp", "run"], project)
        wall = time.perf_counter() - start
        peaks.done.set()
        thread.join()
        starts = [s.start for s in run.stages[1:]] + [run.wall]
        print(f"## {args.rows:,} rows, `dvc exp run`: {wall:.1f} s\n")
        print(run.champion)
        print("\n| stage | wall s | its work s | driver peak RSS MiB |\n|---|---|---|---|")
        for stage, end in zip(run.stages, starts, strict=True):
            name = stage.name.replace("@", " ")
            peak = peaks.peaks.get(name, 0) / 2**20
            print(
                f"| {stage.name} | {end - stage.start:.1f} | {stage.reported:.1f} | {peak:,.0f} |"
            )
        print(f"\nlargest driver: {max(peaks.peaks.values(), default=0) / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
