"""bench/serve_benchmark.py end to end on a tiny registered text model: both servers answer,
the table is printed, and an alias move under load fails no request."""

import re
import sys
from pathlib import Path

import pytest
from commands import run

pytestmark = pytest.mark.e2e  # a real server, pipeline or browser: `make test-e2e`

sys.path.insert(0, str(Path(__file__).parents[1] / "service"))

BENCH = Path(__file__).parents[2] / "bench"


def test_serve_benchmark_compares_both_servers_and_moves_the_alias(tmp_path):
    from test_app import TEXT_MODEL, in_project, text_model, train_and_register

    with in_project(tmp_path):
        train_and_register(tmp_path / "v1", text_model(1.0), TEXT_MODEL, 0.9)
        train_and_register(tmp_path / "v2", text_model(10.0), TEXT_MODEL, 0.5)  # challenger
    command = [
        sys.executable,
        str(BENCH / "serve_benchmark.py"),
        "--store",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--model",
        f"models:/{TEXT_MODEL}@champion",
        "--requests",
        "40",
        "--concurrency",
        "1",
        "8",
        "--alias-move",
        "2",
        "--routes",
        "predict",
        "invocations",
        "v2",
        "mlflow",
    ]
    done = run(command, cwd=tmp_path)
    row = r"^\| (reprotune serve [/\w ]+|mlflow models serve) \| (\d+) \| ([\d.]+) .*\| (\d+) \|$"
    rows = re.findall(row, done.stdout, re.MULTILINE)
    assert len(rows) == 8, done.stdout  # 4 routes x 2 concurrency levels
    assert {r[0] for r in rows} == {
        "reprotune serve /predict",
        "reprotune serve /invocations",
        "reprotune serve V2 infer",
        "mlflow models serve",
    }
    assert all(errors == "0" and float(rps) > 0 for _, _, rps, errors in rows)
    moved = re.search(
        r"moved 1 -> 2 under load .*: (\d+) failed of \d+; answered by versions (.*)", done.stdout
    )
    assert moved and moved.group(1) == "0", done.stdout
    assert "'2'" in moved.group(2)  # the new version answered before the end
