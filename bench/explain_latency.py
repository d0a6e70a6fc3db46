"""Latency of the service's POST /explain beside POST /predict, per saved model.

    .venv/bin/python bench/explain_latency.py --project path/to/kept/pipeline [--requests 30]

For each candidate folder in the project's models/ and ensembles/, it starts `reprotune serve
--model <folder>` (a real uvicorn process on loopback), sends the same test records (one per
request) to /predict and to /explain, and prints the median and 95th-percentile latency of
each. Keep a project with `bench/pipeline_benchmark.py --keep DIR` or
`bench/tabular_benchmark.py --keep`.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: dict) -> float:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
    return (time.perf_counter() - start) * 1000


def records(project: Path, folder: Path, count: int) -> list[dict]:
    card = json.loads((folder / "candidate.json").read_text())
    test = pd.read_parquet(project / "data/processed/test.parquet").head(count)
    features = card.get("features") or {"text": "text"}
    rows = test[list(features)].astype(object)
    rows = rows.where(rows.notna(), None)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in rows.to_dict("records")
    ]


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cli = str(Path(sys.executable).parent / "reprotune")
    process = subprocess.Popen(
        [cli, "serve", "--model", str(folder), "--port", str(port), "--poll-seconds", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/ready", timeout=1).read()
            return process, url
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{folder}: the service did not become ready")


def percentiles(values: list[float]) -> str:
    return f"{np.median(values):.1f} | {np.percentile(values, 95):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--only", nargs="*", help="candidate names (default: all)")
    args = parser.parse_args()
    project = args.project.resolve()
    folders = sorted(
        f for d in ("models", "ensembles") for f in (project / d).glob("*") if f.is_dir()
    )
    if args.only:
        folders = [f for f in folders if f.name in args.only]
    print("| model | family | /predict p50 ms | p95 | /explain p50 ms | p95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for folder in folders:
        family = json.loads((folder / "candidate.json").read_text())["family"]
        process, url = serve(folder)
        try:
            bodies = records(project, folder, args.requests)
            for body in bodies[:3]:  # warm both paths (SHAP's numba compile, LIME imports)
                post(f"{url}/predict", body)
                post(f"{url}/explain", body)
            predict = [post(f"{url}/predict", body) for body in bodies]
            explain = [post(f"{url}/explain", body) for body in bodies]
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
        print(f"| {folder.name} | {family} | {percentiles(predict)} | {percentiles(explain)} |")


if __name__ == "__main__":
    main()
