"""The champions the examples registered, used for real: served by `reprotune serve` and by
`mlflow models serve` side by side, and a large table scored by `reprotune predict`. Trains
nothing: run each example first (its README command), then point this at the projects.

    make pipeline EXAMPLE=bank-marketing DATA=../shared/data/bank_marketing/bank.csv
    .venv/bin/python bench/champions.py --project bank-marketing=. --predict-rows 100000 1000000

Per project: the champion (`models:/<compare.registered_model>@champion` in its mlflow.db),
single-record requests built from the model's own input example at concurrency 1, 8 and 32 on
loopback (one worker each); then `reprotune predict` on N rows drawn with replacement from the
project's training split (Bank-shaped, written once as CSV), with rows/s and peak memory.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from serve_benchmark import BIN, free_port, load, mlflow_serve_command, start, stop

TEXTS = [
    "Oil prices fell as stocks rallied on strong bank profits.",
    "The striker scored twice as the home side won the cup final.",
]


def champion(project: Path) -> tuple[str, str]:
    """(tracking URI, models:/<name>@champion) of a project that ran its pipeline."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    name = params["compare"]["registered_model"]
    return f"sqlite:///{(project / 'mlflow.db').resolve()}", f"models:/{name}@champion"


def example_records(store: str, model: str) -> tuple[list[dict], str, dict]:
    """Request records from the model's input example (texts for a text model), its family
    and version (`typed`: whether it reads a table's columns)."""
    from reprotune.service.model import ModelRef
    from reprotune.service.model import load as load_model

    with tempfile.TemporaryDirectory() as folder:
        served = load_model(ModelRef.parse(model), store, Path(folder))
    family = f"{served.card['family']} ({served.info.get('candidate', '')})"
    served.info["typed"] = served.candidate.typed_inputs
    if not served.candidate.typed_inputs:
        return [{"text": t} for t in TEXTS], family, served.info
    return [dict(r) for r in served.card["input_example"]], family, served.info


def serve_side_by_side(store: str, model: str, records, requests: int) -> list[dict]:
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "PATH": path}
    ours_port, theirs_port = free_port(), free_port()
    rows = []
    servers = [
        (
            "reprotune serve",
            [
                str(BIN / "reprotune"),
                "serve",
                "--model",
                model,
                "--port",
                str(ours_port),
                "--poll-seconds",
                "0",
                "--tracking-uri",
                store,
                "--log-level",
                "warning",
            ],
            f"http://127.0.0.1:{ours_port}",
            "/ready",
            "/predict",
            lambda i: records[i % len(records)],
        ),
        (
            "mlflow models serve",
            mlflow_serve_command(model, theirs_port),
            f"http://127.0.0.1:{theirs_port}",
            "/ping",
            "/invocations",
            lambda i: {"dataframe_records": [records[i % len(records)]]},
        ),
    ]
    for name, command, base, ready, route, body_of in servers:
        process = start(command, env, base + ready)
        try:
            for concurrency in (1, 8, 32):
                asyncio.run(load(base + route, body_of, min(100, requests), concurrency))
                result = asyncio.run(load(base + route, body_of, requests, concurrency))
                rows.append({"server": name, "concurrency": concurrency, **result})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            stop(process)
    return rows


def scored_table(project: Path, rows: int, folder: Path) -> Path:
    """`rows` rows drawn with replacement from the project's raw training split, as CSV."""
    source = pd.read_parquet(project / "data" / "raw" / "train.parquet")
    target = folder / f"rows-{rows}.csv"
    if not target.exists():
        source.sample(rows, replace=True, random_state=0).to_csv(target, index=False)
    return target


def time_predict(store: str, model: str, table: Path, out: Path) -> dict:
    command = [
        str(BIN / "reprotune"),
        "predict",
        "--model",
        model,
        "--data",
        str(table),
        "--out",
        str(out),
        "--tracking-uri",
        store,
        "--quiet",
    ]
    # A parent of its own, so the peak is this run's alone (not a server's, also a child here).
    measure = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)"
    )
    start_s = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", measure, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start_s
    if done.returncode != 0:
        sys.exit(done.stderr)
    peak_kib = int(done.stdout.split()[-1])
    rows = int(table.stem.split("-")[1])
    return {
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mib": round(peak_kib / 1024),
        "report": done.stderr.strip().splitlines()[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--project", action="append", required=True, help="NAME=FOLDER of a project that ran"
    )
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--predict-rows", type=int, nargs="*", default=[])
    args = parser.parse_args()
    for spec in args.project:
        label, _, folder = spec.partition("=")
        project = Path(folder).resolve()
        store, model = champion(project)
        records, family, info = example_records(store, model)
        print(f"\n## {label}: {model} = version {info.get('version')}, {family}", flush=True)
        rows = serve_side_by_side(store, model, records, args.requests)
        print("\n| server | c | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['server']} | {r['concurrency']} | {r['requests_per_s']} | {r['p50_ms']} "
                f"| {r['p99_ms']} | {r['errors']} |"
            )
        if not args.predict_rows or not info["typed"]:
            continue  # a text model's raw files hold no `text` column to score
        with tempfile.TemporaryDirectory() as scratch:
            print("\n| rows | seconds | rows/s | peak RSS MiB |\n|---|---|---|---|")
            for n in args.predict_rows:
                table = scored_table(project, n, Path(scratch))
                result = time_predict(store, model, table, Path(scratch) / "scored.parquet")
                print(
                    f"| {n:,} | {result['seconds']} | {result['rows_per_s']:,} | "
                    f"{result['peak_rss_mib']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
