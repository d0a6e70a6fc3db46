"""The `tune` section of params.yaml: Optuna studies over candidates' params, their search
spaces (ranges and choices) and how trials are scored."""

import json
import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from reprotune.errors import ParamsError, did_you_mean
from reprotune.io import read_json, staged_dir, write_json
from reprotune.paths import best_params_file, tune_dir
from reprotune.schema import Strict

SAMPLERS = ("tpe", "random", "grid")
STORAGE_URL = re.compile(r"^[a-z][a-z0-9]*(\+[a-z0-9]+)?://")
Number = int | float
Choice = bool | int | float | str | list[Any] | None


class Range(Strict):
    """A numeric range to search: integers when both bounds are, else floats."""

    low: Number
    high: Number
    log: bool = False
    step: PositiveFloat | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "Range":
        if self.low > self.high:
            raise ValueError(
                f"inverted range: low {self.low} > high {self.high}; fix: swap the bounds"
            )
        if self.low == self.high:
            raise ValueError(
                f"empty range: low = high = {self.low}; fix: widen it, or drop the parameter "
                "from the search space and set it on the candidate"
            )
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0; fix: raise low or set log: false")
        if self.log and self.step is not None:
            raise ValueError("a log range cannot have a step; fix: drop step or log")
        if self.is_int and self.step is not None and not float(self.step).is_integer():
            raise ValueError("an integer range needs an integer step; fix: use a whole step")
        return self

    @property
    def is_int(self) -> bool:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high))

    def grid(self) -> list[Number] | None:
        """Every value a grid search visits, or None for a continuous range."""
        if self.is_int:
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        if self.step is None:
            return None
        count = int((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def bounds(self) -> list[Number]:
        return [self.low, self.high]


class Choices(Strict):
    choices: list[Choice] = Field(min_length=1)

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[Any]) -> list[Any]:
        seen = [json.dumps(c, sort_keys=True) for c in choices]
        if len(set(seen)) != len(seen):
            raise ValueError("choices repeat a value; fix: list each value once")
        return choices

    def grid(self) -> list[Any]:
        return list(self.choices)

    def bounds(self) -> list[Any]:
        return list(self.choices)


SearchDimension = Range | Choices


class StudyParams(Strict):
    """One candidate's search: its space, and optionally its own study name and budget."""

    space: dict[str, SearchDimension] = Field(min_length=1)
    study: str | None = Field(default=None, min_length=1, max_length=200)
    n_trials: PositiveInt | None = None
    # Overrides tune.cv_folds for this study; set it to cross-validate a neural family too.
    cv_folds: int | None = Field(default=None, ge=2, le=20)


class TuneParams(Strict):
    """Optuna studies over candidates' params, scored on the validation split."""

    sampler: Literal["tpe", "random", "grid"] = "tpe"
    n_trials: PositiveInt = 20  # finished trials per study, counted across all its workers
    timeout_s: PositiveFloat | None = None
    metric: str = "macro_f1"  # on the validation split; never the test split
    pruner: Literal["median", "none"] = "median"
    pruner_startup_trials: int = Field(default=5, ge=0)
    pruner_warmup_epochs: int = Field(default=1, ge=0)
    # null: an SQLite file in the stage's output; a database URL lets workers share a study.
    storage: str | None = None
    # A worker's running trial beats this often; silent for 4 beats (its machine lost, the
    # process killed), the next worker to start a trial marks it FAIL and runs one in its place.
    heartbeat_s: PositiveInt = 30
    # Families that train in seconds score each trial by k-fold cross-validation over train +
    # validation (stratified; grouped by data.group_column): less noise than one small
    # validation split. null: every family is scored on the validation split.
    cv_folds: int | None = Field(default=5, ge=2, le=20)
    candidates: dict[str, StudyParams] = Field(default_factory=dict)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        allowed = ("accuracy", "macro_f1", "precision", "recall", "loss", "roc_auc", "pr_auc")
        if metric not in allowed:
            raise ValueError(f"fix: use one of {', '.join(allowed)}")
        return metric

    @field_validator("storage")
    @classmethod
    def _database_url(cls, storage: str | None) -> str | None:
        if storage is not None and not STORAGE_URL.match(storage):
            raise ValueError(
                "not a database URL; fix: use e.g. sqlite:///optuna.db or "
                "postgresql://user@host/db, or null for the default"
            )
        return storage

    @property
    def higher_is_better(self) -> bool:
        return self.metric != "loss"

    def study(self, candidate: str) -> StudyParams:
        return self.candidates[candidate]

    def n_trials_for(self, candidate: str) -> int:
        return self.candidates[candidate].n_trials or self.n_trials

    def cv_folds_for(self, candidate: str, quick: bool) -> int | None:
        """Folds that score the candidate's trials; None: the validation split does."""
        own = self.candidates[candidate].cv_folds
        return own if own is not None else (self.cv_folds if quick else None)

    def study_name(self, candidate: str) -> str:
        return self.candidates[candidate].study or f"reprotune-{candidate}"


UNTUNABLE = ("family",)


def check_dimension(candidate: BaseModel, where: str, key: str) -> None:
    fields = [f for f in type(candidate).model_fields if f not in UNTUNABLE]
    if key not in fields:
        raise ValueError(
            f"{where}.{key}: {candidate.family} candidates have no parameter {key!r}; "
            f"{did_you_mean(key, fields)}fix: use one of {', '.join(fields)}"
        )


def with_value(candidate: BaseModel, values: dict[str, Any], where: str) -> BaseModel:
    """`candidate` with `values` set, checked by the same rules as params.yaml."""
    try:
        return type(candidate).model_validate({**candidate.model_dump(), **values})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ValueError(
            f"{where}: value {error.get('input')!r} is not valid for "
            f"{candidate.family}.{'.'.join(map(str, error['loc']))} ({error['msg']}); "
            "fix: keep the search range inside what the candidate accepts"
        ) from None


def apply_tuned(candidate: BaseModel, name: str) -> BaseModel:
    """`candidate` with the best params its study found, when tune@<name> tuned it."""
    tuned = read_tuned_params(name)
    if not tuned:
        return candidate
    try:
        return with_value(candidate, tuned, f"{best_params_file(name)}")
    except ValueError as exc:
        raise ParamsError(f"{exc}; or re-run `dvc repro tune@{name}`") from None


def read_tuned_params(candidate: str) -> dict[str, Any]:
    """The best params tune@<candidate> found; empty when the candidate is not tuned."""
    path = best_params_file(candidate)
    try:
        return json.loads(path.read_text(encoding="utf-8"))["params"]
    except FileNotFoundError as exc:
        raise ParamsError(
            f"{path} is missing; fix: run `dvc repro train@{candidate}` (it runs the "
            "candidate's study first, or writes empty best params for one without)"
        ) from exc


def untuned_params(candidate: str, skipped: str | None = None) -> dict[str, Any]:
    """What tune/<candidate>/best_params.json holds when no study ran for the candidate."""
    return {"candidate": candidate, "params": {}, **({"skipped": skipped} if skipped else {})}


def write_untuned_params(train_candidates, tune: TuneParams) -> list[str]:
    """Empty best params for each candidate without a study; returns those (re)written.

    dvc.yaml's tune@ stages exist only for the candidates in tune.candidates (a foreach over
    them), while every train@<candidate> depends on tune/<candidate>/best_params.json: the
    always-run `sources` stage writes that file for the others, and rewrites it only when it
    is not already the empty one, so their train@ stays up to date. A folder left from an
    earlier study is replaced (DVC's cache keeps that study)."""
    written = []
    for candidate in train_candidates:
        if candidate in tune.candidates:
            continue
        expected = untuned_params(candidate)
        if _holds_only(best_params_file(candidate), expected):
            continue
        with staged_dir(tune_dir(candidate)) as folder:
            write_json(folder / best_params_file(candidate).name, expected)
        written.append(candidate)
    return written


def _holds_only(file, content) -> bool:
    """`file` is its folder's only file and holds `content`."""
    try:
        return list(file.parent.iterdir()) == [file] and read_json(file) == content
    except (OSError, ValueError):
        return False
