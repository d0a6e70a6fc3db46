"""A grid through DVC's queue with two workers: every experiment finishes with its own
MLflow parent run in the one SQLite store (no lost runs, no "database is locked")."""

import json
import time
from pathlib import Path

import pytest
import yaml
from commands import baseline_only_project, run
from mlflow.tracking import MlflowClient

from reprotune.workspace import copy_pipeline

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[1]
GRID = ("0.1", "1.0", "10.0")
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
PER_EXPERIMENT = {"configure", "train@baseline", "evaluate@baseline", "compare"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("queue"))
    corpus = tmp_path_factory.mktemp("corpus")
    baseline_only_project(project, corpus, n_train=30, n_test=15)
    return project


def wait_for_queue(project: Path, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], project).stdout
        if not any(word in status for word in ("Running", "Queued")):
            return
        time.sleep(3)
    raise AssertionError(f"queue still busy after {timeout_s}s:\n{status}")


def test_grid_runs_through_the_queue_with_two_workers(project):
    env = {"REPROTUNE_NUM_THREADS": "1"}
    run(
        ["dvc", "exp", "run", "--queue", "-S", f"train.candidates.baseline.C={','.join(GRID)}"],
        project,
        env=env,
    )
    run(["dvc", "queue", "start", "-j", "2"], project, env=env)
    wait_for_queue(project)
    try:
        status = run(["dvc", "queue", "status"], project).stdout
        assert status.count("Success") == len(GRID), status
        shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
        experiments = [exp for commit in shown for exp in (commit.get("experiments") or [])]
        names = {exp["name"] for exp in experiments}
        assert len(names) == len(GRID)

        client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("reprotune")
        runs = client.search_runs([experiment.experiment_id], max_results=500)
        parents = {
            r.data.tags["dvc.exp_name"]: r
            for r in runs
            if r.data.tags.get("reprotune.kind") == "pipeline"
        }
        assert set(parents) == names
        for name, parent in parents.items():
            children = [
                r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
            ]
            # fetch and preprocess may come from DVC's run cache (same data): then no run.
            assert PER_EXPERIMENT <= {r.info.run_name for r in children} <= STAGES, name
            assert all(r.info.status == "FINISHED" for r in children), name
            assert {r.data.tags["dvc.exp_name"] for r in children} == {name}
        trained_c = {r.data.params["C"] for r in runs if r.info.run_name == "train@baseline"}
        assert trained_c == set(GRID)
        ranked = run(["dvc", "exp", "show", "--md", "--sort-by", "macro_f1"], project).stdout
        assert all(name in ranked for name in names)
        curated = json.loads(run(["reprotune", "exp", "show", "--format", "json"], project).stdout)
        assert {row["Experiment"] for row in curated} >= names
        assert {key for row in curated for key in row} == {
            *("Experiment", "rev", "Created", "train.candidates.baseline.C"),
            *("champion", "champion_score"),
        }  # the one param the grid changed, and the champion: not every metric
        keep_the_winner(project, runs)
    finally:
        run(["dvc", "queue", "stop"], project, check=False)


def keep_the_winner(project: Path, runs) -> None:
    """`dvc exp apply` brings the best experiment's params into the workspace; `dvc exp branch`
    keeps it on a git branch."""
    scores = {
        r.data.tags["dvc.exp_name"]: r.data.metrics["macro_f1"]
        for r in runs
        if r.info.run_name == "evaluate@baseline"
    }
    winner = max(scores, key=scores.get)
    trained_c = next(
        r.data.params["C"]
        for r in runs
        if r.info.run_name == "train@baseline" and r.data.tags["dvc.exp_name"] == winner
    )
    run(["dvc", "exp", "apply", winner], project)
    applied = yaml.safe_load((project / "params.yaml").read_text())
    assert str(applied["train"]["candidates"]["baseline"]["C"]) == trained_c
    run(["dvc", "exp", "branch", winner, "best-c"], project)
    kept = yaml.safe_load(run(["git", "show", "best-c:params.yaml"], project).stdout)
    assert str(kept["train"]["candidates"]["baseline"]["C"]) == trained_c
