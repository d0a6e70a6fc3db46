"""XGBoost on Spark (`engine: spark`) beside the local path: driver memory, wall time, quality.

    .venv/bin/python bench/spark_training.py --rows 10000000 --local-rows 1000000

Writes a generated Bank-shaped table (16 typed columns, bench/budget_benchmark.py's) as
Parquet train / validation splits in 500k-row pieces (never the whole table in memory), then:
the Spark path on `--rows` rows (local[2]: the encoder fitted on a sample, the executors
encoding and training, the validation probabilities scored there) and the local path on
`--local-rows` rows, each in its own process, sampled every 0.2 s for the peak resident memory
of the driver (the Python process and its JVM). Both are scored on the same 200k test rows
(PR-AUC with the paired bootstrap interval of their gap): the Spark model on the executors, as
`evaluate` scores an `engine: spark` candidate, the local one in its process.
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

sys.path.insert(0, str(Path(__file__).parent))
from budget_benchmark import bank_shaped
from drift_overhead import BANK_FEATURES as FEATURES

PIECE = 500_000
PEAKS: dict[str, int] = {}
SETTINGS = {
    "family": "xgboost", "n_estimators": 300, "learning_rate": 0.1, "max_depth": 6,
    "early_stopping_rounds": 20, "scale_pos_weight": "auto", "refit_on_val": False,
}  # fmt: skip


def write_splits(folder: Path, rows: int, seed: int) -> dict[str, Path]:
    """train (80 %) and val (20 %) as Parquet folders of PIECE-row files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = {"train": folder / "train", "val": folder / "val"}
    for path in files.values():
        path.mkdir(parents=True, exist_ok=True)
    for piece, start in enumerate(range(0, rows, PIECE)):
        frame = bank_shaped(min(PIECE, rows - start), seed + piece)
        frame["label"] = (frame.pop("y") == "yes").astype("int64")
        cut = int(len(frame) * 0.8)
        for split, part in (("train", frame.iloc[:cut]), ("val", frame.iloc[cut:])):
            table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
            pq.write_table(table, files[split] / f"part-{piece:04d}.parquet")
    return files


FIT = """
import json, sys, time
import pandas as pd
from reprotune import models
from reprotune.families.xgboost import XgboostParams
settings, features, engine, files, test, out = json.loads(sys.argv[1])
params = XgboostParams(**settings, engine=engine)
model = models.create(params, ["no", "yes"], 0, features)
start = time.perf_counter()
if engine == "spark":
    model.fit_on_spark({k: v for k, v in files.items()})
else:
    train, val = (pd.read_parquet(files[s]) for s in ("train", "val"))
    model.fit(model.select_inputs(train), train["label"].to_numpy(),
              model.select_inputs(val), val["label"].to_numpy())
seconds = time.perf_counter() - start
if engine == "spark":  # evaluate's path: the executors score, the driver gets the numbers
    labels, proba = model.score_split_on_spark(test)
else:
    test = pd.read_parquet(test)
    labels, proba = test["label"], model.predict_proba(model.select_inputs(test))
pd.DataFrame({"label": labels, "proba": proba[:, 1]}).to_parquet(out)
print(json.dumps({"fit_s": round(seconds, 1), "rounds": model.best_epoch}))
"""


def measured_run(args: list[str]) -> tuple[dict, float, float]:
    """(the script's answer, wall seconds, peak RSS in MiB of the driver: the process and its
    JVM); `PEAKS` keeps the last run's peaks of each (MiB)."""
    import psutil

    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    peak, python, jvm, done = 0, 0, 0, threading.Event()

    def sample():
        nonlocal peak, python, jvm
        root = psutil.Process(process.pid)
        while not done.wait(0.2):
            try:
                family = [root, *root.children(recursive=True)]
                # The driver: this Python and the JVM it starts (not the executors' Pythons,
                # which a cluster runs elsewhere).
                drivers = [p for p in family if p is root or p.name().startswith("java")]
                sizes = {p.pid: p.memory_info().rss for p in drivers}
                peak = max(peak, sum(sizes.values()))
                python = max(python, sizes.get(root.pid, 0))
                jvm = max(jvm, sum(v for k, v in sizes.items() if k != root.pid))
            except psutil.Error:
                pass

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, _ = process.communicate()
    done.set()
    thread.join()
    if process.returncode:
        sys.exit(f"fit failed ({process.returncode})")
    PEAKS.update(python=round(python / 2**20), jvm=round(jvm / 2**20))
    return json.loads(out.strip().splitlines()[-1]), time.perf_counter() - start, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--local-rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from reprotune.evaluation.bootstrap import (
        interval,
        predictions_frame,
        replicate_scores,
        resamples,
    )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        test = bank_shaped(200_000, 10_000 + args.seed)
        test["label"] = (test.pop("y") == "yes").astype("int64")
        test.to_parquet(folder / "test.parquet")
        results = {}
        for engine, rows in (("spark", args.rows), ("local", args.local_rows)):
            files = write_splits(folder / engine, rows, args.seed)
            out = folder / f"{engine}.parquet"
            payload = [SETTINGS, FEATURES, engine, {k: str(v) for k, v in files.items()},
                       str(folder / "test.parquet"), str(out)]  # fmt: skip
            answer, wall, peak = measured_run([sys.executable, "-c", FIT, json.dumps(payload)])
            scored = pd.read_parquet(out)
            proba = np.column_stack([1 - scored["proba"], scored["proba"]])
            frame = predictions_frame(scored["label"], proba, (scored["proba"] > 0.5).astype(int))
            results[engine] = {"rows": rows, "wall_s": round(wall, 1), "peak_mib": round(peak),
                               "frame": frame, **answer}  # fmt: skip
            print(json.dumps({k: v for k, v in results[engine].items() if k != "frame"}))
        indices = resamples(len(test), args.seed)
        scores = {e: replicate_scores("pr_auc", r["frame"], indices) for e, r in results.items()}
        every = np.arange(len(test))[None, :]
        header = (
            "| engine | training rows | wall s | fit s | rounds | driver peak RSS MiB | PR-AUC |"
        )
        print(f"\n{header}")
        print("|---|---|---|---|---|---|---|")
        for engine, r in results.items():
            point = replicate_scores("pr_auc", r["frame"], every)[0]
            print(f"| {engine} | {r['rows']:,} | {r['wall_s']} | {r['fit_s']} | {r['rounds']} | "
                  f"{r['peak_mib']:,} | {point:.4f} |")  # fmt: skip
        gap = interval(scores["spark"] - scores["local"])
        print(f"\nPR-AUC gap spark - local: 95% interval [{gap[0]:+.4f}, {gap[1]:+.4f}]")


if __name__ == "__main__":
    main()
