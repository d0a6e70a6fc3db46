"""Optuna studies on real processed data: search spaces, pruning, shared storage, clashes."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from commands import baseline_only_project, run
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from reprotune import tuning
from reprotune.config import parse_params
from reprotune.errors import ParamsError
from reprotune.families.keras_mlp import KerasMlpParams
from reprotune.models.training import epoch_metrics
from reprotune.tracking import StageRun
from reprotune.workspace import copy_pipeline

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project whose data is fetched and split and whose candidates are configured."""
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("project"))
    baseline_only_project(project, tmp_path_factory.mktemp("corpus"), 40, 20, tuned_trials=6)
    run(["dvc", "repro", "preprocess", "configure"], project)
    return project


@pytest.fixture
def in_project(project, monkeypatch) -> Path:
    monkeypatch.chdir(project)
    monkeypatch.delenv(tuning.STORAGE_ENV, raising=False)
    return project


def project_params(project: Path, **tune):
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["tune"].update(tune)
    return parse_params(raw)


def logreg_objective(project: Path, **tune) -> tuning.Objective:
    params = project_params(project, **tune)
    base = params.candidate("logreg_tuned")
    return tuning.Objective(params, "logreg_tuned", base, params.seed, StageRun())


def test_choices_of_lists_round_trip_and_grid_visits_every_point():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["tune"]["sampler"] = "grid"
    raw["tune"]["candidates"] = {
        "mlp": {
            "space": {
                "hidden_units": {"choices": [[64], [128, 32]]},
                "dropout": {"low": 0.0, "high": 0.5, "step": 0.25},
            }
        }
    }
    params = parse_params(raw)
    space = params.tune.study("mlp").space
    study = optuna.create_study(sampler=tuning.make_sampler(params.tune, space, seed=1))
    seen = []

    def objective(trial):
        values = {key: tuning.suggest(trial, key, dim) for key, dim in space.items()}
        seen.append((tuple(values["hidden_units"]), values["dropout"]))
        assert tuning.decode(space, trial.params) == values
        return values["dropout"]

    study.optimize(objective, n_trials=50)  # the grid sampler stops the study when done
    expected = set(itertools.product([(64,), (128, 32)], [0.0, 0.25, 0.5]))
    assert sorted(seen) == sorted(expected)


def test_trials_train_on_train_and_score_on_validation(in_project):
    objective = logreg_objective(in_project, cv_folds=None)
    assert objective.base.fit_on_val is True  # the final model may use the validation rows ...
    assert objective.settings({"C": 1.0}).fit_on_val is False  # ... a trial never does
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"analyzer": "word", "C": 1.0, "ngram_max": 1, "sublinear_tf": True})
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]

    from reprotune import models

    model = models.create(objective.settings(tuning.decode(objective.space, trial.params)),
                          objective.label_names, objective.seed)  # fmt: skip
    model.fit(objective.train.inputs, objective.train.labels, [], [])
    expected = epoch_metrics(objective.val.labels, model.predict_proba(objective.val.inputs), "val")
    assert trial.value == pytest.approx(expected["val_macro_f1"])
    assert trial.value > 0.5  # four classes: chance is 0.25


def test_quick_families_score_a_trial_by_cross_validation(in_project):
    """The trial's value is the mean over folds of train + validation, each fold scored by a
    model fitted without it; the spread is recorded with it."""
    from reprotune import models
    from reprotune.data.folds import concat_rows, inner_split, take_rows

    objective = logreg_objective(in_project, cv_folds=3)
    assert objective.settings({"C": 1.0}).fit_on_val is True  # in-fold rows only: allowed
    values = {"analyzer": "word+char_wb", "C": 2.0, "ngram_max": 1, "sublinear_tf": True}
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(values)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]

    rows = concat_rows(objective.train.inputs, objective.val.inputs)
    labels = np.concatenate([objective.train.labels, objective.val.labels])
    assert len(objective.folds) == 3
    expected = []
    for fit_rows, held_rows in objective.folds:
        assert not set(fit_rows) & set(held_rows)
        fit_part, _ = inner_split(labels[fit_rows], objective.seed, trains_on_val=True)
        model = models.create(objective.settings(values), objective.label_names, objective.seed)
        model.fit(take_rows(rows, fit_rows[fit_part]), labels[fit_rows[fit_part]], [], [])
        proba = model.predict_proba(take_rows(rows, held_rows))
        expected.append(epoch_metrics(labels[held_rows], proba, "val")["val_macro_f1"])
    assert trial.user_attrs["cv_scores"] == pytest.approx(expected, abs=1e-6)
    assert trial.value == pytest.approx(np.mean(expected))
    assert trial.user_attrs["cv_std"] == pytest.approx(np.std(expected), abs=1e-6)
    assert sorted(trial.intermediate_values) == [1, 2, 3]  # a running mean after each fold
    (row,) = tuning.trials_table(study)
    assert row["cv_scores"] == trial.user_attrs["cv_scores"] and row["last_epoch"] == 3


def test_a_hopeless_trial_is_pruned_on_its_validation_curve(in_project, monkeypatch):
    monkeypatch.setenv("REPROTUNE_NUM_THREADS", "1")  # set once, kept by the later trials
    raw = yaml.safe_load((in_project / "params.yaml").read_text())
    mlp = {"family": "keras_mlp", "hidden_units": [16], "epochs": 6, "patience": 6}
    raw["train"]["candidates"]["mlp"] = mlp
    raw["tune"].update(pruner_startup_trials=2, pruner_warmup_epochs=1)
    raw["tune"]["candidates"] = {"mlp": {"space": {"lr": {"choices": [0.01, 1.0e-7]}}}}
    params = parse_params(raw)
    base = KerasMlpParams(**mlp)
    objective = tuning.Objective(params, "mlp", base, params.seed, StageRun())
    study = optuna.create_study(direction="maximize", pruner=tuning.make_pruner(params.tune))
    for lr in (0.01, 0.01, 1.0e-7):
        study.enqueue_trial({"lr": lr})
    study.optimize(objective, n_trials=3)
    good, _, hopeless = study.trials
    assert good.state == optuna.trial.TrialState.COMPLETE
    assert hopeless.state == optuna.trial.TrialState.PRUNED
    assert len(hopeless.intermediate_values) < mlp["epochs"]
    assert max(hopeless.intermediate_values.values()) < good.value


def test_workers_add_up_to_the_study_total_in_shared_storage(in_project, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    objective = logreg_objective(in_project, n_trials=5)
    first = tuning.open_study(objective, storage, sampler_seed=1, digest="d")
    assert tuning.run_trials(first, objective, 5, None) == 5
    again = tuning.open_study(objective, storage, sampler_seed=2, digest="d")
    assert tuning.run_trials(again, objective, 5, None) == 0  # nothing left to do
    assert len(tuning.finished_trials(again)) == 5
    assert tuning.run_trials(again, objective, 7, None) == 2  # a larger budget tops it up
    assert [t.number for t in again.get_trials()] == list(range(7))


def test_same_study_name_with_another_search_is_refused(in_project, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    tuning.open_study(logreg_objective(in_project), storage, sampler_seed=1, digest="d")
    raw = yaml.safe_load((in_project / "params.yaml").read_text())
    raw["tune"]["candidates"]["logreg_tuned"]["space"]["C"]["high"] = 50.0
    params = parse_params(raw)
    other = tuning.Objective(
        params, "logreg_tuned", params.candidate("logreg_tuned"), params.seed, StageRun()
    )
    with pytest.raises(ParamsError, match="made for another search") as caught:
        tuning.open_study(other, storage, sampler_seed=1, digest="d")
    assert "tune.candidates.logreg_tuned.study" in str(caught.value)
    with pytest.raises(ParamsError, match="made for another search"):  # other data, too
        tuning.open_study(logreg_objective(in_project), storage, sampler_seed=1, digest="e")


def test_a_sigterm_whose_interrupt_was_lost_still_fails_the_trial(in_project):
    objective = logreg_objective(in_project)
    study = optuna.create_study(direction="maximize")
    tuning._TERMINATING.set()  # as if Python had dropped the handler's KeyboardInterrupt
    with pytest.raises(SystemExit) as stopped:
        tuning.run_trials(study, objective, 3, None)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert [t.state for t in study.trials] == [TrialState.FAIL]
    assert not tuning._TERMINATING.is_set()  # the next study in this process runs


def test_storage_precedence_and_hidden_password(monkeypatch, tmp_path):
    tune = parse_params(yaml.safe_load((ROOT / "params.yaml").read_text())).tune
    default = tuning.storage_url(tune, tmp_path)
    assert default == f"sqlite:///{tmp_path / 'study.db'}"
    monkeypatch.setenv(tuning.STORAGE_ENV, "postgresql://u:secret@db/optuna")
    assert tuning.storage_url(tune, tmp_path).startswith("postgresql://")
    assert tuning.storage_url(tune, tmp_path, override="sqlite:///o.db") == "sqlite:///o.db"
    assert "secret" not in tuning.shown_url("postgresql://u:secret@db/optuna")


def test_worker_command_needs_a_shared_storage(in_project):
    from reprotune.cli import main

    assert main(["tune", "logreg_tuned"]) == 2
    assert main(["tune", "baseline", "--storage", "sqlite:///x.db"]) == 2


def test_a_transformer_study_reports_every_epoch(in_project, tmp_path):
    from corpus import texts_and_labels
    from tiny_bert import build_tiny_bert

    checkpoint = build_tiny_bert(tmp_path / "tiny-bert", texts_and_labels(60, seed=1)[0])
    raw = yaml.safe_load((in_project / "params.yaml").read_text())
    raw.update(lr=3e-3, epochs=2, batch_size=16, checkpoint=str(checkpoint))
    raw["train"]["candidates"]["transformer"] = {"family": "hf_transformer", "num_threads": 1}
    raw["tune"]["candidates"] = {
        "transformer": {"space": {"lr": {"low": 1.0e-3, "high": 5.0e-3, "log": True}}}
    }
    params = parse_params(raw)
    base = params.candidate("transformer")
    objective = tuning.Objective(params, "transformer", base, params.seed, StageRun())
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert all(sorted(t.intermediate_values) == [1, 2] for t in study.trials)
    assert all(1.0e-3 <= t.params["lr"] <= 5.0e-3 for t in study.trials)


def running_trial(storage: str, process: subprocess.Popen, timeout_s: float = 120.0) -> int:
    """The number of the study's first RUNNING trial, once its worker has beaten once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the worker ended ({process.returncode}):\n{process.stdout.read()}"
            )
        try:
            study = optuna.load_study(study_name="reprotune-mlp", storage=storage)
        except KeyError:  # no study yet: the worker is still starting
            study = None
        running = study.get_trials(states=[TrialState.RUNNING]) if study else []
        if running:
            time.sleep(1.5)  # its first heartbeat
            return running[0].number
        time.sleep(0.05)
    raise AssertionError("no trial started")


def worker(project: Path, storage: str) -> subprocess.Popen:
    reprotune = str(Path(sys.executable).parent / "reprotune")
    env = {**os.environ, "REPROTUNE_NUM_THREADS": "1"}
    return subprocess.Popen(
        [reprotune, "tune", "mlp", "--storage", storage],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_stopped_or_lost_worker_gives_its_trial_back(tmp_path_factory):
    """SIGTERM (preemption) fails the running trial at once; SIGKILL (a lost machine) leaves it
    RUNNING until its heartbeat is 4 beats old, when the next worker fails it. Either way the
    study still ends with its n_trials finished trials, and MLflow shows what happened."""
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("project"))
    baseline_only_project(project, tmp_path_factory.mktemp("corpus"), 40, 10)
    raw = yaml.safe_load((project / "params.yaml").read_text())
    # Slow enough (early stopping off) that a trial is caught running.
    slow = {"family": "keras_mlp", "hidden_units": [16], "epochs": 20, "patience": 20}
    raw["train"]["candidates"]["mlp"] = slow
    raw["tune"].update(n_trials=2, heartbeat_s=1, pruner="none")
    raw["tune"]["candidates"] = {"mlp": {"space": {"lr": {"low": 1.0e-3, "high": 1.0e-2}}}}
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run(["dvc", "repro", "preprocess", "configure"], project)
    storage = f"sqlite:///{tmp_path_factory.mktemp('study') / 'shared.db'}"

    preempted = worker(project, storage)
    assert running_trial(storage, preempted) == 0
    preempted.send_signal(signal.SIGTERM)
    assert preempted.wait(timeout=60) == 128 + signal.SIGTERM, preempted.stdout.read()
    lost = worker(project, storage)
    assert running_trial(storage, lost) == 1
    lost.kill()
    lost.wait(timeout=60)
    study = optuna.load_study(study_name="reprotune-mlp", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.RUNNING]

    time.sleep(4 * 1 + 1)  # the grace period: 4 missed beats
    done = run(["reprotune", "tune", "mlp", "--storage", storage], project)
    assert "trial 1 of worker" in done.stdout and "stopped beating" in done.stdout
    study = optuna.load_study(study_name="reprotune-mlp", storage=storage)
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("reprotune")
    trials = {
        r.info.run_name: r
        for r in client.search_runs([experiment.experiment_id])
        if "reprotune.trial" in r.data.tags
    }
    assert trials["trial-0"].info.status == "KILLED"
    assert trials["trial-1"].info.status == "FAILED"
    assert trials["trial-1"].data.tags["reprotune.trial_state"] == "FAIL"
    assert {trials[f"trial-{n}"].info.status for n in (2, 3)} == {"FINISHED"}


def test_a_pruned_trial_never_wins_however_high_its_partial_score():
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.80))
    # Optuna gives a pruned trial its last intermediate value (here after one fold of five).
    pruned = optuna.trial.create_trial(
        params={}, distributions={}, value=0.95, intermediate_values={1: 0.95},
        state=TrialState.PRUNED,
    )  # fmt: skip
    study.add_trial(pruned)
    assert study.trials[1].state == TrialState.PRUNED and study.trials[1].value == 0.95
    assert tuning.best_trial(study).number == 0


def test_under_the_spark_engine_a_study_sees_a_seeded_sample_of_the_splits(in_project, monkeypatch):
    """data.engine: spark: a table that may not fit here; the study runs on a sample."""
    from reprotune.data import prepare

    params = project_params(in_project)
    spark = params.model_copy(update={"data": params.data.model_copy(update={"engine": "spark"})})
    base = params.candidate("logreg_tuned")
    whole = tuning.Objective(params, "logreg_tuned", base, params.seed, StageRun())
    monkeypatch.setattr(prepare, "SPARK_DRIVER_ROWS", len(whole.train.labels) // 2)
    sampled = tuning.Objective(spark, "logreg_tuned", base, params.seed, StageRun())
    again = tuning.Objective(spark, "logreg_tuned", base, params.seed, StageRun())
    assert 0 < len(sampled.train.labels) < len(whole.train.labels)
    assert list(sampled.train.inputs) == list(again.train.inputs)  # seeded: the same rows
    assert set(sampled.train.inputs) <= set(whole.train.inputs)


@pytest.mark.e2e  # the real dvc CLI: a study is added to a candidate and removed by -S
def test_only_candidates_with_a_study_have_a_tune_stage(tmp_path):
    from commands import stages_run

    project = copy_pipeline(ROOT, tmp_path / "project")
    baseline_only_project(project, tmp_path / "corpus", 20, 10, tuned_trials=3)
    targets = ["train@baseline", "train@logreg_tuned"]
    first = run(["dvc", "exp", "run", *targets], project)
    assert {"tune@logreg_tuned", *targets} <= stages_run(first.stdout)
    untuned_model = locked_model(project, "baseline")
    listed = run(["dvc", "stage", "list", "--name-only"], project).stdout.split()
    assert "tune@logreg_tuned" in listed and "tune@baseline" not in listed
    assert read_best(project, "baseline") == {}  # written by `sources`
    assert set(read_best(project, "logreg_tuned")) == {"analyzer", "C", "ngram_max", "sublinear_tf"}

    study = "+tune.candidates.baseline={space: {C: {low: 0.5, high: 5.0}}, n_trials: 2}"
    added = run(["dvc", "exp", "run", "-S", study, *targets], project)
    assert stages_run(added.stdout) - {"sources"} == {"plan", "tune@baseline", "train@baseline"}
    assert set(read_best(project, "baseline")) == {"C"}
    assert locked_model(project, "baseline") != untuned_model

    removed = run(["dvc", "exp", "run", "-S", "~tune.candidates.baseline", *targets], project)
    assert "tune@baseline" not in removed.stdout
    assert read_best(project, "baseline") == {}
    # The same inputs as the first run: DVC's run cache gives train@baseline its model back.
    assert "'train@baseline' is cached" in removed.stdout
    assert locked_model(project, "baseline") == untuned_model
    assert [f.name for f in (project / "tune/baseline").iterdir()] == ["best_params.json"]
    assert "train@" not in run(["dvc", "status", *targets], project).stdout


def read_best(project: Path, candidate: str) -> dict:
    best = project / "tune" / candidate / "best_params.json"
    return json.loads(best.read_text(encoding="utf-8"))["params"]


def locked_model(project: Path, candidate: str) -> str:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    outs = lock["stages"][f"train@{candidate}"]["outs"]
    (model,) = [out for out in outs if out["path"].startswith("models")]
    return model["md5"]
