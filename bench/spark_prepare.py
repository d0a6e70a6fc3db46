"""fetch + preprocess with `data.engine: spark` beside the local path: driver memory, wall time.

    .venv/bin/python bench/spark_prepare.py --rows 10000000 --local-rows 1000000

Writes a generated Bank-shaped table (16 typed columns, bench/budget_benchmark.py's) as a
folder of 500k-row Parquet files (never the whole table in memory), then runs what the fetch
and preprocess stages run, each engine in its own process sampled every 0.2 s for the peak
resident memory of the driver (the Python process and its JVM, as bench/spark_training.py
measures it): Spark on `--rows` rows (local[2]), the local path (pandas) on `--local-rows`
rows of the same table. Prints rows per split and the figures.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from budget_benchmark import bank_shaped
from drift_overhead import BANK_FEATURES as FEATURES
from spark_training import PEAKS, measured_run

PIECE = 500_000

PREPARE = """
import json, sys, time
from pathlib import Path
from reprotune.data.settings import DataParams
from reprotune.data.sources import fetch
data, folder = json.loads(sys.argv[1])
data = DataParams(**data)
raw, processed = Path(folder) / "raw", Path(folder) / "processed"
start = time.perf_counter()
fetch(data, 42, raw)
fetched = time.perf_counter() - start
if data.engine == "spark":
    from reprotune.data import on_spark
    done = on_spark.preprocess(data, 42, raw_dir=raw, out_dir=processed)
    rows = {s: c["rows"] for s, c in done["counts"].items()}
else:
    from reprotune.data.prepare import load_raw, write_splits
    from reprotune.data.tabular import prepare_tabular
    splits = prepare_tabular(load_raw(raw)[0], data, 42, raw)
    write_splits(splits, processed)
    rows = {s: len(t) for s, t in splits.items()}
print(json.dumps({"fetch_s": round(fetched, 1),
                  "preprocess_s": round(time.perf_counter() - start - fetched, 1), **rows}))
"""


def write_table(folder: Path, rows: int, seed: int) -> Path:
    """The table as PIECE-row Parquet files in `folder`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for piece, start in enumerate(range(0, rows, PIECE)):
        frame = bank_shaped(min(PIECE, rows - start), seed + piece)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, folder / f"part-{piece:04d}.parquet")
    return folder


def data_params(location: Path, engine: str) -> dict:
    return {
        "source": "parquet",
        "name": None,
        "files": {"train": str(location), "test": None},
        "label_column": "y",
        "positive_label": "yes",
        "features": FEATURES,
        "val_fraction": 0.1,
        "test_fraction": 0.2,
        "engine": engine,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--local-rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", default="spark,local", help="which to run, in order")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        header = (
            "| engine | rows | fetch s | preprocess s | wall s | driver peak RSS MiB | "
            "train / val / test |"
        )
        lines = []
        sizes = {"spark": args.rows, "local": args.local_rows}
        for engine in args.engines.split(","):
            rows = sizes[engine]
            table = write_table(folder / f"{engine}-source", rows, args.seed)
            if engine == "local":  # the local path reads one file
                import pyarrow.parquet as pq

                single = folder / "local.parquet"
                pq.write_table(pq.read_table(table), single)
                table = single
            payload = [data_params(table, engine), str(folder / engine)]
            answer, wall, peak = measured_run([sys.executable, "-c", PREPARE, json.dumps(payload)])
            print(json.dumps({"engine": engine, "rows": rows, "wall_s": round(wall, 1),
                              "peak_mib": round(peak), "peaks_mib": dict(PEAKS), **answer}),
                  flush=True)  # fmt: skip
            lines.append(
                f"| {engine} | {rows:,} | {answer['fetch_s']} | {answer['preprocess_s']} | "
                f"{wall:.1f} | {peak:,.0f} | {answer['train']:,} / {answer['val']:,} / "
                f"{answer['test']:,} |"
            )
        print(f"\n{header}\n|---|---|---|---|---|---|---|")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
