"""`reprotune ui`: the MLflow UI of the project's store, opened on the experiment's runs."""

import sys
import urllib.request
from pathlib import Path

import pytest
from commands import run
from mlflow.tracking import MlflowClient
from servers import _stderr, free_port, popen_server, stop, wait_for_http

from reprotune.tracking import ui_url

pytestmark = pytest.mark.e2e  # a real server, pipeline or browser: `make test-e2e`

REPROTUNE = str(Path(sys.executable).parent / "reprotune")


def test_ui_url_opens_the_runs_in_the_model_training_view():
    assert ui_url("http://h:5000/", "7") == (
        "http://h:5000/#/experiments/7/runs?workflowType=machine_learning"
    )
    assert ui_url("http://h:5000", None) == "http://h:5000/#/?workflowType=machine_learning"


def test_ui_serves_the_store_and_prints_the_experiment_page(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = MlflowClient(store).create_experiment("task")
    port = free_port()
    command = [REPROTUNE, "ui", "--port", str(port), "--tracking-uri", store]
    ui = popen_server([*command, "--experiment", "task"], cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/health", ui)
        assert ui_url(base, experiment_id) in _stderr(ui)
        with urllib.request.urlopen(base, timeout=10) as page:
            assert "<title>MLflow</title>" in page.read().decode()
        # Pointed at a tracking server, it prints that server's page and starts nothing.
        shown = run([REPROTUNE, "ui", "--tracking-uri", base, "--experiment", "task"], tmp_path)
        assert shown.stdout.strip() == ui_url(base, experiment_id)
    finally:
        stop(ui)
