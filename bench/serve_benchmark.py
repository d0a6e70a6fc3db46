"""Load benchmark: `reprotune serve` against `mlflow models serve` on the same registered model.

    make pipeline AG_NEWS_DIR=../shared/data/ag_news CHECKPOINT=...    # registers a champion
    .venv/bin/python bench/serve_benchmark.py --store sqlite:///mlflow.db \
        --model models:/reprotune-ag-news@champion --requests 400

Both servers run on loopback in this one run; an asyncio client (aiohttp) sends the same
single-text requests at concurrency 1, 8 and 32 and reports requests/s, p50/p95/p99 latency and
errors. With --alias-move VERSION it then moves the alias to VERSION while 32 clients keep
sending to `reprotune serve`, and counts failed requests and the versions that answered.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

BIN = Path(sys.executable).parent
MOVE_SECONDS = 8  # the alias moves 1 s in; the service polls every second
TEXTS = [
    "Oil prices fell as stocks rallied on strong bank profits.",
    "The striker scored twice as the home side won the cup final.",
    "Ministers met in Geneva to discuss the new trade treaty.",
    "The chip maker unveiled a faster processor for data centres.",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict, ready_url: str) -> subprocess.Popen:
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(ready_url, timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    stop(process)
    sys.exit(f"{command[0]} did not start")


def mlflow_serve_command(model: str, port: int, workers: int = 1) -> list[str]:
    """`mlflow models serve` on loopback, in this environment (no conda/virtualenv build)."""
    return [
        str(BIN / "mlflow"), "models", "serve", "-m", model, "--env-manager", "local",
        "-h", "127.0.0.1", "-p", str(port), "--workers", str(workers),
    ]  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


async def load(url: str, body_of, requests: int, concurrency: int, seconds=None) -> dict:
    """`requests` requests from `concurrency` clients; with `seconds`, as many as fit."""
    latencies, errors, versions = [], 0, {}
    counter = iter(range(requests)) if seconds is None else _until(time.monotonic() + seconds)

    async def worker(session: aiohttp.ClientSession):
        nonlocal errors
        for i in counter:
            start = time.perf_counter()
            try:
                async with session.post(url, json=body_of(i)) as response:
                    payload = await response.read()
                    if response.status != 200:
                        errors += 1
                        continue
                    version = response.headers.get("X-Model-Version")
                    if version:
                        versions[version] = versions.get(version, 0) + 1
                    json.loads(payload)
            except aiohttp.ClientError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - start) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    ordered = sorted(latencies) or [float("nan")]

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(pct(0.95), 2),
        "p99_ms": round(pct(0.99), 2),
        "errors": errors,
        "versions": versions,
    }


def _until(deadline: float):
    i = 0
    while time.monotonic() < deadline:
        yield i
        i += 1


def v2_body(record: dict) -> dict:
    """One record as Open Inference Protocol tensors: one per feature."""
    tensors = []
    for column, value in record.items():
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        datatype = "FP64" if numeric else "BYTES"
        tensors.append({"name": column, "datatype": datatype, "shape": [1], "data": [value]})
    return {"inputs": tensors}


# route -> (what the table calls it, its path, the request body of one record)
ROUTES = {
    "predict": ("reprotune serve /predict", "/predict", lambda r: r),
    "invocations": (
        "reprotune serve /invocations",
        "/invocations",
        lambda r: {"dataframe_records": [r]},
    ),
    "v2": ("reprotune serve V2 infer", "/v2/models/{name}/infer", v2_body),
    "mlflow": ("mlflow models serve", "/invocations", lambda r: {"dataframe_records": [r]}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True, help="MLflow tracking URI of the registry")
    parser.add_argument("--model", required=True, help="models:/<name>@<alias>")
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--workers", type=int, default=1, help="processes of each server")
    parser.add_argument("--alias-move", help="a version to move the alias to under load")
    parser.add_argument(
        "--record",
        help="a JSON record to send (a tabular model's features); default: AG News texts",
    )
    parser.add_argument(
        "--routes",
        nargs="+",
        default=["predict", "mlflow"],
        choices=sorted(ROUTES),
        help="predict, invocations, v2 (ours) and mlflow (mlflow models serve's /invocations)",
    )
    args = parser.parse_args()
    records = [json.loads(args.record)] if args.record else [{"text": t} for t in TEXTS]
    model_name = args.model.removeprefix("models:/").split("@")[0].split("/")[0]
    # mlflow models serve starts `uvicorn` by name: the venv comes first on PATH.
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": args.store, "PATH": path}
    ours_port, theirs_port = free_port(), free_port()
    ours = start(
        [
            str(BIN / "reprotune"),
            "serve",
            "--model",
            args.model,
            "--port",
            str(ours_port),
            "--workers",
            str(args.workers),
            "--poll-seconds",
            "1",
            "--tracking-uri",
            args.store,
            "--log-level",
            "warning",
        ],
        env,
        f"http://127.0.0.1:{ours_port}/ready",
    )
    theirs = start(
        mlflow_serve_command(args.model, theirs_port, args.workers),
        env,
        f"http://127.0.0.1:{theirs_port}/ping",
    )
    try:
        rows = []
        for concurrency in args.concurrency:
            ports = {"ours": ours_port, "theirs": theirs_port}
            for route in args.routes:
                name, path, body = ROUTES[route]
                server = "theirs" if route == "mlflow" else "ours"
                url = f"http://127.0.0.1:{ports[server]}{path.format(name=model_name)}"

                def body_of(i, body=body):
                    return body(records[i % len(records)])

                asyncio.run(load(url, body_of, min(50, args.requests), concurrency))  # warm-up
                result = asyncio.run(load(url, body_of, args.requests, concurrency))
                rows.append({"server": name, "concurrency": concurrency, **result})
                print(json.dumps(rows[-1]), flush=True)
        print("\n| server | concurrency | requests/s | p50 ms | p95 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['server']} | {r['concurrency']} | {r['requests_per_s']} | {r['p50_ms']} "
                f"| {r['p95_ms']} | {r['p99_ms']} | {r['errors']} |"
            )
        if args.alias_move:
            move_under_load(args, ours_port)
    finally:
        stop(ours)
        stop(theirs)


def move_under_load(args, port: int) -> None:
    from mlflow.tracking import MlflowClient

    name, alias = args.model.removeprefix("models:/").split("@")
    client = MlflowClient(args.store)
    before = client.get_model_version_by_alias(name, alias).version

    async def scenario():
        url = f"http://127.0.0.1:{port}/predict"
        task = asyncio.create_task(
            load(url, lambda i: {"text": TEXTS[i % len(TEXTS)]}, 0, 32, seconds=MOVE_SECONDS)
        )
        await asyncio.sleep(1.0)
        client.set_registered_model_alias(name, alias, args.alias_move)
        return await task

    try:
        result = asyncio.run(scenario())
    finally:
        client.set_registered_model_alias(name, alias, before)
    answered = sum(result["versions"].values())
    print(
        f"\nalias {alias} moved {before} -> {args.alias_move} under load (32 clients, "
        f"{MOVE_SECONDS} s): {result['errors']} failed of {answered + result['errors']}; "
        f"answered by versions {result['versions']}"
    )


if __name__ == "__main__":
    main()
