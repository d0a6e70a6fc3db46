"""The README's "When one machine is not enough", on one machine: `mlflow server` on
PostgreSQL with artifacts in an S3-compatible store, a DVC remote in that store, a second
clone of the project standing for a second machine, and three `reprotune tune` workers (two
in the clone, one in the original) sharing one Optuna study in PostgreSQL. `dvc repro` then
trains with the study's best params, and the results travel through the DVC remote."""

import json
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from commands import (
    ALWAYS_RUNS,
    baseline_only_project,
    git_commit_all,
    run,
    stages_run,
    stale_stages,
)
from mlflow.tracking import MlflowClient
from servers import S3_CREDENTIALS, mlflow_server, postgres_server, s3_keys, s3_server

from reprotune.workspace import copy_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.server]

ROOT = Path(__file__).parents[1]
N_TRIALS = 24
WORKERS = 3
STUDY = "reprotune-logreg_tuned"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    with (
        s3_server(("mlflow-artifacts", "dvc-store")) as s3,
        postgres_server(("mlflow", "optuna")) as mlflow_db,
        mlflow_server(
            mlflow_db,
            "s3://mlflow-artifacts",
            env={**S3_CREDENTIALS, "MLFLOW_S3_ENDPOINT_URL": s3},
        ) as tracking_uri,
    ):
        yield {
            "MLFLOW_TRACKING_URI": tracking_uri,
            "REPROTUNE_TUNE_STORAGE": mlflow_db.rsplit("/", 1)[0] + "/optuna",
            "S3": s3,
        }


def client_env(servers) -> dict[str, str]:
    """What each machine sets: the tracking server, the study, the DVC remote's credentials."""
    return {
        "MLFLOW_TRACKING_URI": servers["MLFLOW_TRACKING_URI"],
        "REPROTUNE_TUNE_STORAGE": servers["REPROTUNE_TUNE_STORAGE"],
        **S3_CREDENTIALS,
    }


@pytest.fixture(scope="module")
def workers(tmp_path_factory, servers):
    env = client_env(servers)
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("project"))
    baseline_only_project(project, tmp_path_factory.mktemp("corpus"), 40, 20, N_TRIALS)
    run(["dvc", "remote", "add", "-d", "store", "s3://dvc-store/cache"], project)
    run(["dvc", "remote", "modify", "store", "endpointurl", servers["S3"]], project)
    run(["dvc", "repro", "preprocess", "configure"], project, env=env)
    run(["dvc", "push"], project, env=env)
    git_commit_all(project, "data and configs")
    # The second machine: a clone of the repository, its data from the DVC remote.
    second = tmp_path_factory.mktemp("second") / "project"
    run(["git", "clone", "-q", str(project), str(second)], project)
    run(["dvc", "pull", "preprocess"], second, env=env)  # what was pushed: the data
    assert (second / "data/processed/train.parquet").is_file()
    reprotune = str(Path(sys.executable).parent / "reprotune")
    env = {**run_env(), **env, "REPROTUNE_NUM_THREADS": "1"}
    started = [
        subprocess.Popen(
            [reprotune, "tune", "logreg_tuned"],
            cwd=machine,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for machine in (project, second, second)
    ]
    outputs = [process.communicate(timeout=600) for process in started]
    for process, (_, err) in zip(started, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    return project, [out for out, _ in outputs], second


def run_env() -> dict[str, str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    clean["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{clean['PATH']}"
    return clean


def load_study(servers):
    return optuna.load_study(study_name=STUDY, storage=servers["REPROTUNE_TUNE_STORAGE"])


def test_trials_add_up_none_lost_or_duplicated(servers, workers):
    _, outputs, _ = workers
    ran = [int(re.search(r"ran (\d+) trial", out).group(1)) for out in outputs]
    trials = load_study(servers).get_trials()
    assert sum(ran) == len(trials)  # every trial a worker ran is in the study, once
    assert N_TRIALS <= len(trials) < N_TRIALS + WORKERS  # each stops once the study is full
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
               for t in trials)  # fmt: skip
    by_worker = {t.user_attrs["reprotune.worker"] for t in trials}
    assert len(by_worker) >= 2  # the work was shared

    client = MlflowClient(servers["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("reprotune")
    trial_runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`reprotune.study` = '{STUDY}'"
    )
    numbers = [
        r.data.tags["reprotune.trial"] for r in trial_runs if "reprotune.trial" in r.data.tags
    ]
    assert sorted(map(int, numbers)) == list(range(len(trials)))  # one MLflow run per trial
    assert all(r.info.status == "FINISHED" for r in trial_runs)


def test_repro_takes_the_shared_study_best_params(servers, workers):
    project, _, second = workers
    done = run(["dvc", "repro"], project, env=client_env(servers))
    assert re.search(r"\[tune\] logreg_tuned: .* \(0 run here\)", done.stdout)  # study was full
    study = load_study(servers)
    top = max(t.value for t in study.trials if t.value is not None)
    first_best = min((t for t in study.trials if t.value == top), key=lambda t: t.number)
    best = json.loads((project / "tune/logreg_tuned/best_params.json").read_text())
    assert best["params"] == first_best.params  # ties go to the earliest trial
    assert (best["best_value"], best["best_trial"]) == (pytest.approx(top), first_best.number)
    card = json.loads((project / "models/logreg_tuned/candidate.json").read_text())
    assert card["params"]["C"] == pytest.approx(first_best.params["C"])
    assert not (project / "tune/logreg_tuned/study.db").exists()  # the study lives in PostgreSQL

    # Artifacts went through the tracking server to the object store.
    keys = s3_keys(servers["S3"], "mlflow-artifacts")
    assert any(k.endswith("parallel_coordinates.png") for k in keys)
    assert any(k.endswith("MLmodel") for k in keys)
    # Results travel to the other machine through git and the DVC remote.
    run(["dvc", "push"], project, env=client_env(servers))
    git_commit_all(project, "tuned")
    run(["git", "pull", "-q", "origin", "HEAD"], second)
    run(["dvc", "pull"], second, env=client_env(servers))
    pulled = json.loads((second / "models/logreg_tuned/candidate.json").read_text())
    assert pulled == card
    # A candidate without a study has no tune@ stage: its empty best params are written by
    # `sources`, not pulled, so the first repro there runs that stage and trains nothing.
    assert stale_stages(second, env=client_env(servers)) == {"train@baseline"}
    done = run(["dvc", "repro"], second, env=client_env(servers))
    assert stages_run(done.stdout) == {ALWAYS_RUNS}
    assert stale_stages(second, env=client_env(servers)) == set()


def test_a_changed_search_space_under_the_same_study_name_is_refused(servers, workers):
    project, _, _ = workers
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["tune"]["candidates"]["logreg_tuned"]["space"]["C"]["high"] = 5.0
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        done = run(
            ["dvc", "repro", "tune@logreg_tuned"], project, env=client_env(servers), check=False
        )
    finally:
        run(["git", "checkout", "params.yaml"], project)
    assert done.returncode != 0
    assert f"study '{STUDY}'" in done.stderr and "made for another search" in done.stderr
    assert "tune.candidates.logreg_tuned.study" in done.stderr
