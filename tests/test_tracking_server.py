"""The pipeline, unchanged, against `mlflow server` on a PostgreSQL backend store."""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from commands import baseline_only_project, run
from mlflow.tracking import MlflowClient
from servers import mlflow_server, postgres_server

from reprotune.workspace import copy_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.server]

ROOT = Path(__file__).parents[1]
STAGES = {
    "fetch",
    "preprocess",
    "drift",
    "configure",
    "train@baseline",
    "evaluate@baseline",
    "explain@baseline",
    "compare",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with (
        postgres_server() as database,
        mlflow_server(database, tmp_path_factory.mktemp("artifacts")) as uri,
    ):
        yield uri


@pytest.fixture(scope="module")
def project(tmp_path_factory, server):
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("project"))
    corpus = tmp_path_factory.mktemp("corpus")
    baseline_only_project(project, corpus, n_train=40, n_test=20)
    run(["dvc", "repro"], project, env={"MLFLOW_TRACKING_URI": server})
    return project


def test_every_stage_lands_on_the_server(server, project):
    client = MlflowClient(server)
    experiment = client.get_experiment_by_name("reprotune")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("reprotune.kind") == "pipeline"]
    children = {
        r.info.run_name: r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert set(children) == STAGES
    assert all(r.info.status == "FINISHED" for r in runs)
    evaluate = children["evaluate@baseline"]
    assert evaluate.data.metrics["accuracy"] > 0.6
    assert evaluate.data.tags["dvc.stage"] == "evaluate@baseline"
    assert evaluate.data.tags["reprotune.input.data/processed/test.parquet"]
    plots = {Path(a.path).name for a in client.list_artifacts(evaluate.info.run_id, "plots")}
    assert "confusion.png" in plots
    assert not (project / "mlflow.db").exists()  # nothing went to the default store


def test_registry_alias_and_model_are_served_by_the_server(server, project):
    import mlflow.pyfunc

    client = MlflowClient(server)
    version = client.get_model_version_by_alias("reprotune-ag-news", "champion")
    assert version.tags["reprotune.candidate"] == "baseline"
    assert version.tags["reprotune.reason"] == "no champion yet"
    mlflow.set_tracking_uri(server)
    try:
        model = mlflow.pyfunc.load_model("models:/reprotune-ag-news@champion")
        predicted = model.predict(pd.DataFrame({"text": ["shares profit market bank"]}))
    finally:
        mlflow.set_tracking_uri(None)
    labels = yaml.safe_load((project / "data/processed/labels.json").read_text())["names"]
    assert predicted["label"].tolist()[0] in labels


def test_a_second_execution_does_not_replace_a_better_champion(server, project):
    run(
        ["dvc", "exp", "run", "-n", "weak-c", "-S", "train.candidates.baseline.C=0.0001"],
        project,
        env={"MLFLOW_TRACKING_URI": server},
    )
    client = MlflowClient(server)
    versions = client.search_model_versions("name = 'reprotune-ag-news'")
    assert len(versions) == 2
    champion = client.get_model_version_by_alias("reprotune-ag-news", "champion")
    challenger = client.get_model_version_by_alias("reprotune-ag-news", "challenger")
    # The generated task is easy enough for a tie; a tie does not move the alias either: the
    # champion is re-scored on the same test rows and the gap's interval includes 0.
    assert str(champion.version) == "1" and str(challenger.version) == "2"
    assert float(champion.tags["reprotune.score"]) >= float(challenger.tags["reprotune.score"])
    reason = challenger.tags["reprotune.reason"]
    assert reason.startswith(("not told apart", "worse")) and "same 80 test rows" in reason
