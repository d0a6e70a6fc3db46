"""Optuna studies over one candidate's params.

Each trial trains through the same model code as the train stage, on the train split, and is
scored on the validation split (never the test split). Trials are nested MLflow runs under the
tune stage's run; a trial whose per-epoch validation score falls below the median of earlier
trials at the same epoch is pruned. Several processes, on one machine or many, share a study
through a database storage: each runs trials until the study holds `n_trials` finished ones.
"""

import contextlib
import json
import os
import random
import signal
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from reprotune import models, paths
from reprotune.config import Params
from reprotune.data.prepare import training_rows_digest
from reprotune.errors import DataError, ParamsError
from reprotune.models.training import epoch_metrics
from reprotune.tracking import StageRun
from reprotune.tuning_settings import Choices, Range, SearchDimension, TuneParams, with_value

STORAGE_ENV = "REPROTUNE_TUNE_STORAGE"
STUDY_FILE = "study.db"
SEARCH_ATTR = "reprotune.search"
WORKER_ATTR = "reprotune.worker"
RUN_ATTR = "reprotune.mlflow_run_id"
VALIDATION_FITTING = ("fit_on_val", "refit_on_val")  # params that train on validation rows
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


# -- the search space --------------------------------------------------------------------------


def _needs_encoding(dimension: Choices) -> bool:
    # Optuna's categorical values are scalars; a choice such as hidden_units [256, 64] is not.
    return any(isinstance(choice, list | dict) for choice in dimension.choices)


def _encoded_choices(dimension: Choices) -> list[Any]:
    if _needs_encoding(dimension):
        return [json.dumps(choice) for choice in dimension.choices]
    return list(dimension.choices)


def suggest(trial: optuna.Trial, key: str, dimension: SearchDimension) -> Any:
    """The trial's value for `key`, as the candidate takes it."""
    if isinstance(dimension, Choices):
        value = trial.suggest_categorical(key, _encoded_choices(dimension))
        return json.loads(value) if _needs_encoding(dimension) else value
    if dimension.is_int:
        return trial.suggest_int(
            key, int(dimension.low), int(dimension.high), step=int(dimension.step or 1),
            log=dimension.log,
        )  # fmt: skip
    return trial.suggest_float(
        key, float(dimension.low), float(dimension.high), step=dimension.step, log=dimension.log
    )


def decode(space: dict[str, SearchDimension], values: dict[str, Any]) -> dict[str, Any]:
    """A trial's stored params as the candidate takes them."""
    decoded = dict(values)
    for key, dimension in space.items():
        if isinstance(dimension, Choices) and _needs_encoding(dimension) and key in decoded:
            decoded[key] = json.loads(decoded[key])
    return decoded


def grid_space(space: dict[str, SearchDimension]) -> dict[str, list[Any]]:
    grid = {}
    for key, dimension in space.items():
        grid[key] = (
            _encoded_choices(dimension) if isinstance(dimension, Choices) else dimension.grid()
        )
    return grid


def space_as_dict(space: dict[str, SearchDimension]) -> dict[str, Any]:
    return {key: dimension.model_dump(exclude_defaults=True) for key, dimension in space.items()}


# -- studies ---------------------------------------------------------------------------------


def shared_storage_url(tune: TuneParams, override: str | None = None) -> str | None:
    """The database workers share: --storage, else REPROTUNE_TUNE_STORAGE, else tune.storage."""
    return override or os.environ.get(STORAGE_ENV) or tune.storage


def storage_url(tune: TuneParams, folder: Path, override: str | None = None) -> str:
    """The shared database if one is named, else an SQLite file in `folder` (the stage's own
    output)."""
    shared = shared_storage_url(tune, override)
    return shared or f"sqlite:///{(Path(folder) / STUDY_FILE).resolve()}"


def shown_url(url: str) -> str:
    """The URL without its password, for logs and MLflow tags."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


# A worker that dies mid-trial stops beating; after the grace period the next worker to start
# a trial marks it FAIL, and the study's budget (which counts finished trials) gets it back.
GRACE_BEATS = 4
SCHEMA_ATTEMPTS = 6


def open_storage(url: str, heartbeat_s: int = 30, on_stale_trial=None):
    """The study database, its schema created if new. Workers starting together on a new
    database race to create it (PostgreSQL: 'duplicate key ... studydirection'): the losers
    retry, and find it made. `on_stale_trial(study, trial)` runs for each trial found dead."""
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    heartbeat_interval=heartbeat_s,
                    grace_period=GRACE_BEATS * heartbeat_s,
                    heartbeat_stale_trial_callback=on_stale_trial,
                    engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else {},
                )
        except SQLAlchemyError:
            if attempt == SCHEMA_ATTEMPTS:
                raise
            time.sleep(0.2 * attempt + random.random() * 0.3)
    raise AssertionError("unreachable")


def make_sampler(tune: TuneParams, space: dict[str, SearchDimension], seed: int):
    if tune.sampler == "grid":
        return optuna.samplers.GridSampler(grid_space(space), seed=seed)
    if tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(tune: TuneParams):
    if tune.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=tune.pruner_startup_trials, n_warmup_steps=tune.pruner_warmup_epochs
    )


def search_signature(trials: "Objective", digest: str) -> dict[str, Any]:
    """What makes two studies comparable: the same candidate, space, objective and data."""
    tune = trials.params.tune
    return {
        "candidate": trials.candidate,
        "base_params": trials.base.model_dump(mode="json"),
        "space": space_as_dict(trials.space),
        "metric": trials.score_key,
        "seed": trials.seed,
        "data": digest,
        "pruner": tune.pruner,
        "scored_on": f"{trials.cv_folds}-fold" if trials.cv_folds else "validation",
        **({"rows": trials.plan.rows} if trials.plan is not None else {}),
    }


def open_study(trials: "Objective", storage: str, sampler_seed: int, digest: str):
    """Create the study, or join it if it exists with the same search; refuse a clash."""
    params, candidate = trials.params, trials.candidate
    tune = params.tune
    space = tune.study(candidate).space
    name = tune.study_name(candidate)
    study = optuna.create_study(
        storage=open_storage(storage, tune.heartbeat_s, trials.end_stale_trial),
        study_name=name,
        direction="maximize" if tune.higher_is_better else "minimize",
        sampler=make_sampler(tune, space, sampler_seed),
        pruner=make_pruner(tune),
        load_if_exists=True,
    )
    signature = json.dumps(search_signature(trials, digest), sort_keys=True)
    recorded = study.user_attrs.get(SEARCH_ATTR)
    if recorded is None:
        study.set_user_attr(SEARCH_ATTR, signature)
    elif recorded != signature:
        raise ParamsError(
            f"study {name!r} in {shown_url(storage)} was made for another search "
            f"(different space, base params, metric, folds, seed or data):\n  theirs: {recorded}\n"
            f"  yours:  {signature}\nfix: set tune.candidates.{candidate}.study to a new name, "
            "or delete the old study (optuna delete-study)"
        )
    return study


def finished_trials(study) -> list:
    return study.get_trials(deepcopy=False, states=FINISHED)


# -- trials ----------------------------------------------------------------------------------


@dataclass
class Split:
    inputs: Any  # what the candidate's family takes: texts, or a table of typed columns
    labels: np.ndarray

    @classmethod
    def read(cls, split: str, reader: models.Candidate, engine: str, seed: int) -> "Split":
        """The split (data.engine: spark, a seeded sample of it: the study runs here)."""
        from reprotune.data.prepare import driver_rows

        frame: pd.DataFrame = driver_rows(split, engine, seed)
        return cls(reader.select_inputs(frame), frame["label"].to_numpy())


class Objective:
    """Train one trial's settings on train, score them on validation, log a nested run."""

    def __init__(self, params: Params, candidate: str, base, seed: int, run: StageRun, plan=None):
        """`base`, `seed`: the candidate's resolved settings, as configure wrote them; `plan`:
        the budget's StudyPlan (trials, folds, the rows the study sees), or None."""
        self.params, self.candidate, self.run = params, candidate, run
        self.base, self.seed, self.plan = base, seed, plan
        from reprotune.data.prepare import load_features, load_label_names

        self.label_names, self.features = load_label_names(), load_features()
        models.check_reads(candidate, base, self.features)
        reader = models.create(base, self.label_names, seed, self.features)
        engine = params.data.engine
        self.train, self.val = (Split.read(s, reader, engine, seed) for s in ("train", "val"))
        if not len(self.val.labels):
            raise DataError(
                "the validation split is empty, and trials are scored on it; fix: raise "
                "data.val_fraction"
            )
        self.space = params.tune.study(candidate).space
        self.score_key = f"val_{params.tune.metric}"
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.cv_folds = params.tune.cv_folds_for(candidate, type(base).quick)
        if plan is not None:
            self.cv_folds = plan.cv_folds
        self.kept = self._subsample(plan.rows if plan is not None else None)
        self.folds = self._folds(params) if self.cv_folds else None
        self.progress = None

    def _subsample(self, rows: int | None) -> dict[str, np.ndarray] | None:
        """The plan's stratified share of the rows (train and validation alike when they are
        cross-validated together; the training rows alone when validation scores)."""
        from reprotune.data.folds import stratified_rows, take_rows

        n_train, n_val = len(self.train.labels), len(self.val.labels)
        available = n_train + n_val if self.cv_folds else n_train
        if rows is None or rows >= available:
            return None
        train_rows = round(rows * n_train / available) if self.cv_folds else rows
        kept = {"train": stratified_rows(self.train.labels, train_rows, self.seed)}
        if self.cv_folds:
            kept["val"] = stratified_rows(self.val.labels, max(rows - train_rows, 1), self.seed)
        for split, index in kept.items():
            whole = getattr(self, split)
            setattr(self, split, Split(take_rows(whole.inputs, index), whole.labels[index]))
        return kept

    def _folds(self, params: Params) -> list:
        """Cross-validation folds over train + validation (grouped when the task is)."""
        from reprotune.data.folds import check_fold_count, fold_indices
        from reprotune.data.prepare import driver_rows

        labels = np.concatenate([self.train.labels, self.val.labels])
        groups = None
        if params.data.group_column:
            column = params.data.group_column
            parts = []
            for split in ("train", "val"):
                values = driver_rows(split, params.data.engine, self.seed)[column]
                if self.kept and split in self.kept:
                    values = values.iloc[self.kept[split]]
                parts.append(values)
            groups = pd.concat(parts)
        key = "tune.cv_folds"
        check_fold_count(labels, self.cv_folds, key, None if groups is None else list(groups))
        return fold_indices(labels, self.cv_folds, self.seed, groups)

    def settings(self, values: dict[str, Any]):
        where = f"trial params of {self.candidate!r}"
        try:
            settings = with_value(self.base, values, where)
        except ValueError as exc:
            raise ParamsError(str(exc)) from None
        if self.folds is None:
            # The validation rows score the trial: they must not also train it.
            learns_from_val = [k for k in VALIDATION_FITTING if getattr(settings, k, False)]
            settings = settings.model_copy(update=dict.fromkeys(learns_from_val, False))
        return settings

    def __call__(self, trial: optuna.Trial) -> float:
        values = {key: suggest(trial, key, dim) for key, dim in self.space.items()}
        trial.set_user_attr(WORKER_ATTR, self.worker)
        settings = self.settings(values)
        tags = {
            "reprotune.trial": str(trial.number),
            "reprotune.study": trial.study.study_name,
            "reprotune.candidate": self.candidate,
            "reprotune.worker": self.worker,
        }
        pruned = False
        with self.run.nested(f"trial-{trial.number}", tags) as child:
            if child.enabled:
                trial.set_user_attr(RUN_ATTR, child.run_id)
            child.log_params({**values, "trial": trial.number})
            try:
                score = self._train(trial, settings, child)
                stop_if_terminating()  # a SIGTERM whose interrupt was lost after the last epoch
            except optuna.TrialPruned:
                pruned = True
            child.set_tags({"reprotune.trial_state": "PRUNED" if pruned else "COMPLETE"})
        if pruned:
            raise optuna.TrialPruned()
        return score

    def end_stale_trial(self, study, trial: optuna.trial.FrozenTrial) -> None:
        """Optuna marked a dead worker's trial FAIL: end its MLflow run likewise."""
        worker = trial.user_attrs.get(WORKER_ATTR, "?")
        print(f"trial {trial.number} of worker {worker} stopped beating: marked FAIL")
        run_id = trial.user_attrs.get(RUN_ATTR)
        if run_id and self.run.enabled:
            self.run.client.set_tag(run_id, "reprotune.trial_state", "FAIL")
            self.run.client.set_terminated(run_id, "FAILED")

    def _train(self, trial: optuna.Trial, settings, child: StageRun) -> float:
        def on_epoch(row: dict) -> None:
            stop_if_terminating()
            if self.progress is not None:
                self.progress.note(f"trial {trial.number}, epoch {row['epoch']}")
            child.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])
            if self.score_key in row:
                trial.report(row[self.score_key], row["epoch"])
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {row['epoch']}")

        if self.folds is not None:
            return self._cross_validate(trial, settings, child)
        model = models.create(settings, self.label_names, self.seed, self.features)
        model.fit(self.train.inputs, self.train.labels, self.val.inputs, self.val.labels, on_epoch)
        scores = self._scores(self.val.labels, model.predict_proba(self.val.inputs))
        child.log_metrics({"objective": scores[self.score_key], **scores})
        return scores[self.score_key]

    def _scores(self, labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
        scores = epoch_metrics(labels, proba, "val")
        if self.score_key not in scores:
            raise ParamsError(
                f"tune.metric {self.score_key.removeprefix('val_')!r} needs a binary task; "
                "fix: use macro_f1, accuracy or loss"
            )
        return scores

    def _cross_validate(self, trial: optuna.Trial, settings, child: StageRun) -> float:
        """The mean score over the folds, each fold held out from a model fitted on the
        others; the running mean is reported after each fold, so a poor trial is pruned."""
        from reprotune.data.folds import concat_rows, take_rows

        rows = concat_rows(self.train.inputs, self.val.inputs)
        labels = np.concatenate([self.train.labels, self.val.labels])
        fold_scores = []
        for number, (fit_rows, held_rows) in enumerate(self.folds, start=1):
            stop_if_terminating()
            if self.progress is not None:
                self.progress.note(f"trial {trial.number}, fold {number}/{len(self.folds)}")
            model = models.fit_on_rows(
                settings, self.label_names, self.seed, self.features,
                take_rows(rows, fit_rows), labels[fit_rows],
            )  # fmt: skip
            proba = model.predict_proba(take_rows(rows, held_rows))
            fold_scores.append(self._scores(labels[held_rows], proba)[self.score_key])
            child.log_metrics({f"fold_{self.score_key}": fold_scores[-1]}, step=number)
            trial.report(float(np.mean(fold_scores)), number)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {number}")
        mean, spread = float(np.mean(fold_scores)), float(np.std(fold_scores))
        trial.set_user_attr("cv_scores", [round(v, 6) for v in fold_scores])
        trial.set_user_attr("cv_std", round(spread, 6))
        child.log_metrics(
            {
                "objective": mean,
                f"cv_mean_{self.score_key}": mean,
                f"cv_std_{self.score_key}": spread,
            }
        )
        return mean


def run_trials(study, objective: Objective, n_trials: int, timeout_s: float | None) -> int:
    """Trials until the study holds `n_trials` finished ones (counting other workers');
    returns how many this call ran."""
    from reprotune.progress import Progress

    remaining = n_trials - len(finished_trials(study))
    if remaining <= 0:
        return 0
    before = _trials_of(study, objective.worker)

    with Progress(f"tune@{objective.candidate}", remaining, "trials") as progress:
        objective.progress = progress

        def finished(study, trial) -> None:
            best = _best_text(study)
            progress.advance(detail=f"trial {trial.number} {trial.state.name.lower()}{best}")

        with sigterm_fails_the_trial():
            study.optimize(
                objective,
                n_trials=remaining,
                timeout=timeout_s,
                callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=FINISHED), finished],
                gc_after_trial=True,
            )
    return _trials_of(study, objective.worker) - before


def _best_text(study) -> str:
    try:
        return f", best {best_trial(study).value:.4f}"
    except ValueError:  # no completed trial yet
        return ""


@contextlib.contextmanager
def sigterm_fails_the_trial() -> Iterator[None]:
    """Schedulers stop a worker with SIGTERM (Slurm preemption, a Kubernetes pod evicted).
    Optuna marks the running trial FAIL on KeyboardInterrupt, so the signal raises that, and
    the study gets the trial back at once instead of after the heartbeat's grace period.
    The process then exits 143, as it would have."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame) -> None:
        _TERMINATING.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except KeyboardInterrupt:
        if not _TERMINATING.is_set():
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if _TERMINATING.is_set():
        _TERMINATING.clear()
        raise SystemExit(128 + signal.SIGTERM)


# Set by SIGTERM. An exception raised while Python runs a finalizer is printed and dropped, so
# the signal's KeyboardInterrupt can be lost; trials also check this at every epoch.
_TERMINATING = threading.Event()


def stop_if_terminating() -> None:
    if _TERMINATING.is_set():
        raise KeyboardInterrupt


def _trials_of(study, worker: str) -> int:
    return sum(t.user_attrs.get(WORKER_ATTR) == worker for t in study.get_trials(deepcopy=False))


def tune(
    params: Params, candidate: str, run: StageRun, storage: str, sampler_seed: int, plan=None
) -> tuple[Any, int]:
    """Join (or create) the candidate's study and run trials until it is complete (the
    plan's trials, folds and rows when the pipeline has a budget); returns the study and how
    many trials this process ran."""
    import optuna

    from reprotune.config import read_resolved_config
    from reprotune.runtime import verbose

    if not verbose():  # the stage prints the study's outcome in one line
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    base, seed = read_resolved_config(paths.candidate_config(candidate))
    objective = Objective(params, candidate, base, seed, run, plan)
    study = open_study(objective, storage, sampler_seed, training_rows_digest())
    n_trials = plan.trials if plan is not None else params.tune.n_trials_for(candidate)
    ran = run_trials(study, objective, n_trials, params.tune.timeout_s)
    return study, ran


# -- results ---------------------------------------------------------------------------------


def best_trial(study):
    """The best completed trial; among equal scores the earliest, so that every worker and
    every storage backend agrees on it. A pruned trial's value is a partial score (the epochs
    or folds it ran), not comparable: it never wins."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    return min(complete, key=lambda t: (sign * t.value, t.number))


def trial_counts(study) -> dict[str, int]:
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {
        "n_trials": len(states),
        "n_complete": states.count(optuna.trial.TrialState.COMPLETE),
        "n_pruned": states.count(optuna.trial.TrialState.PRUNED),
        "n_failed": states.count(optuna.trial.TrialState.FAIL),
    }


def history_rows(study) -> list[dict[str, Any]]:
    """Each completed trial's score and the best so far, for a `dvc plots` line chart."""
    rows, best = [], None
    better = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    complete = [t for t in study.get_trials(deepcopy=False) if t.value is not None]
    for trial in sorted(complete, key=lambda t: t.number):
        best = trial.value if best is None else better(best, trial.value)
        rows.append({"trial": trial.number, "value": trial.value, "series": "trial"})
        rows.append({"trial": trial.number, "value": best, "series": "best so far"})
    return rows


def trials_table(study) -> list[dict[str, Any]]:
    """Every trial: number, state, score, params, the epoch (or fold) it stopped at, its
    worker, and for cross-validated trials each fold's score and their spread."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name,
                "value": trial.value,
                "last_epoch": max(trial.intermediate_values, default=None),
                "params": trial.params,
                "worker": trial.user_attrs.get(WORKER_ATTR),
                **{
                    k: trial.user_attrs[k] for k in ("cv_scores", "cv_std") if k in trial.user_attrs
                },
            }
        )
    return rows


def importances(study) -> dict[str, float]:
    """fANOVA importance of each parameter; empty until two trials complete with varied params."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.value is not None]
    if len(complete) < 2:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError):  # every trial drew the same values
        return {}
    return {key: round(float(value), 6) for key, value in found.items()}


def score_name(metric: str, cv_folds: int | None) -> tuple[str, str]:
    """What a trial's score is called, and what it was measured on: a cross-validated mean
    is not a validation score, and says so."""
    if cv_folds:
        return f"cv_mean_{metric}", f"mean of {cv_folds}-fold cross-validation"
    return f"val_{metric}", "validation split"


def summary(
    study,
    space: dict[str, SearchDimension],
    candidate: str,
    metric: str,
    cv_folds: int | None = None,
) -> dict:
    best = best_trial(study)
    name, scored_on = score_name(metric, cv_folds)
    return {
        "candidate": candidate,
        "study": study.study_name,
        "metric": name,
        "scored_on": scored_on,
        "direction": study.direction.name.lower(),
        "best_value": round(float(best.value), 6),
        "best_trial": best.number,
        "params": decode(space, best.params),
    }


def check_can_report(study, candidate: str) -> None:
    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        raise ParamsError(
            f"study {study.study_name!r} has no completed trial for {candidate!r} (all pruned "
            "or failed); fix: raise tune.pruner_startup_trials or tune.n_trials, or set "
            "tune.pruner: none"
        )


__all__ = [
    "Choices",
    "Objective",
    "Range",
    "Split",
    "best_trial",
    "history_rows",
    "importances",
    "open_study",
    "run_trials",
    "storage_url",
    "summary",
    "trial_counts",
]
