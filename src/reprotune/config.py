"""One typed, validated view of params.yaml.

Every stage calls `load_params()` first: a bad key or value stops it before any work, with a
message naming the key, the value and the fix. Each section's settings live beside the code
that reads them (data/settings.py, tuning_settings.py, explanation/settings.py, each family's
folder); this module joins them and checks what spans sections. It knows the families only
through their registry (reprotune.models.registry).
"""

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    Field,
    PositiveFloat,
    PositiveInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAMLError

from reprotune.data.settings import DataParams, PreprocessParams
from reprotune.errors import ParamsError, did_you_mean
from reprotune.explanation.settings import ExplainParams
from reprotune.io import read_yaml
from reprotune.models import registry as families
from reprotune.paths import DVC_YAML, PARAMS_FILE
from reprotune.plan_settings import PlanParams
from reprotune.schema import PositiveFloatOrAuto, PositiveIntOrAuto, Strict, describe_error
from reprotune.tracking import TrackingParams
from reprotune.tuning_settings import TuneParams, check_dimension, with_value

CANDIDATE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Safe in every MLflow registry backend and in a `models:/<name>@<alias>` URI.
REGISTERED_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Metrics `compare.metric` may rank by, and whether a larger value is better.
RANKABLE_METRICS = {
    "accuracy": True,
    "macro_f1": True,
    "weighted_f1": True,
    "macro_precision": True,
    "macro_recall": True,
    "roc_auc_ovr": True,
    "log_loss": False,
    # Binary tasks only; threshold metrics are at the candidate's tuned decision threshold.
    "roc_auc": True,
    "pr_auc": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "balanced_accuracy": True,
    "mcc": True,
    "brier": False,
    "expected_cost": False,
}
BINARY_ONLY_METRICS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "brier", "expected_cost")

PHASES = ("baseline", "optimized", "tuned", "ensembled")
Phase = Literal["baseline", "optimized", "tuned", "ensembled"]


# The families a train candidate may take, by name (ensembles have a section of their own).
PARAMS_CLASSES = {cls.family_name(): cls for cls in families.candidate_params_classes()}
FAMILIES = tuple(PARAMS_CLASSES)
CandidateParams = Annotated[
    Union[tuple(PARAMS_CLASSES.values())],  # noqa: UP007 - a union built at run time
    Field(discriminator="family"),
]
EnsembleParams = families.params_classes()["ensemble"]  # the `ensemble` section's entries


class TrainParams(Strict):
    candidates: dict[str, CandidateParams] = Field(min_length=1)

    @field_validator("candidates")
    @classmethod
    def _names_are_paths(cls, candidates: dict[str, Any]) -> dict[str, Any]:
        for name in candidates:
            if not CANDIDATE_NAME.match(name):
                raise ValueError(
                    f"candidate name {name!r} must be lower-case letters, digits and _ "
                    "(it names a folder, a metrics file and an MLflow tag)"
                )
        return candidates


class EnsembleSection(Strict):
    """Ensembles over trained candidates: ensemble@<name> combines `members`."""

    candidates: dict[str, EnsembleParams] = Field(default_factory=dict)

    @field_validator("candidates")
    @classmethod
    def _names_are_paths(cls, candidates: dict[str, Any]) -> dict[str, Any]:
        return TrainParams._names_are_paths(candidates)


class Costs(Strict):
    """What each kind of error costs (any unit): the cost-optimal threshold and the reported
    expected cost per 1,000 cases follow from them."""

    false_positive: PositiveFloat = 1.0
    false_negative: PositiveFloat = 1.0


class EvaluateParams(Strict):
    latency_repeats: PositiveInt = 50
    throughput_batch_size: PositiveInt = 256
    # Binary tasks: each candidate's decision threshold is tuned on the validation split to
    # maximize the positive class's F1 (f1) or minimize the expected cost (cost); none: 0.5.
    threshold: Literal["f1", "cost", "none"] = "f1"
    costs: Costs | None = None

    @model_validator(mode="after")
    def _costs_for_cost_threshold(self) -> "EvaluateParams":
        if self.threshold == "cost" and self.costs is None:
            raise ValueError(
                "evaluate.threshold is 'cost' but evaluate.costs is not set; fix: set "
                "evaluate.costs: {false_positive: 1, false_negative: 10} (your costs)"
            )
        return self


class CompareParams(Strict):
    metric: str = "macro_f1"
    registered_model: str = "reprotune-ag-news"
    # Candidates grouped by phase; compare reports each phase's best and its lift over baseline.
    phases: dict[Phase, list[str]] = Field(default_factory=dict)

    @field_validator("phases")
    @classmethod
    def _phases_complete(cls, phases: dict[str, list[str]]) -> dict[str, list[str]]:
        if phases and "baseline" not in phases:
            raise ValueError(
                "phases need a `baseline` phase to measure the others' lift against; "
                "fix: add `baseline: [<candidate>]`"
            )
        listed = [name for names in phases.values() for name in names]
        twice = sorted({name for name in listed if listed.count(name) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed in more than one phase; fix: keep one")
        for phase, names in phases.items():
            if not names:
                raise ValueError(f"phase {phase!r} lists no candidate; fix: list one or drop it")
        return phases

    @field_validator("registered_model")
    @classmethod
    def _registry_safe_name(cls, name: str) -> str:
        if not REGISTERED_MODEL_NAME.match(name):
            raise ValueError(
                "a registered model name must be 1-100 letters, digits, '_', '-' or '.' and "
                "start with a letter or digit; fix: rename it, e.g. 'ag-news-classifier'"
            )
        return name

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in RANKABLE_METRICS:
            raise ValueError(f"fix: use one of {', '.join(RANKABLE_METRICS)}")
        return metric

    @property
    def higher_is_better(self) -> bool:
        return RANKABLE_METRICS[self.metric]


class DriftParams(Strict):
    """drift: the held-out splits against the training rows' profile (metrics/drift.json)."""

    # The data set drifted when at least this share of its features did.
    share: float = Field(0.3, gt=0, le=1)


class Params(Strict):
    seed: int = 42
    # Top-level knobs of the fine-tuned transformer (`dvc exp run -S lr=...`); lr and
    # batch_size may be `auto`: chosen for the device it trains on.
    lr: PositiveFloatOrAuto = None
    epochs: PositiveInt | None = None
    batch_size: PositiveIntOrAuto = None
    checkpoint: str | None = None
    # The whole pipeline's budget in seconds (the plan stage turns it into counts: trials,
    # folds, rows); null: params.yaml's counts as they are.
    budget_s: float | None = None
    plan: PlanParams = PlanParams()
    data: DataParams = DataParams()
    preprocess: PreprocessParams = PreprocessParams()
    drift: DriftParams = DriftParams()
    train: TrainParams
    evaluate: EvaluateParams = EvaluateParams()
    compare: CompareParams = CompareParams()
    tune: TuneParams = TuneParams()
    ensemble: EnsembleSection = EnsembleSection()
    explain: ExplainParams = ExplainParams()
    tracking: TrackingParams = TrackingParams()

    @field_validator("budget_s", mode="before")
    @classmethod
    def _budget_in_seconds(cls, value: Any) -> Any:
        fix = "fix: set budget_s to the seconds the whole pipeline may take (e.g. 600), or null"
        if value is None:
            return value
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"not a number of seconds; {fix}")
        if value <= 0:
            raise ValueError(f"must be greater than 0; {fix}")
        return float(value)

    @model_validator(mode="after")
    def _families_check_their_candidates(self) -> "Params":
        for name, candidate in self.train.candidates.items():
            candidate.check_in(name, self)
        return self

    @model_validator(mode="after")
    def _families_read_the_features(self) -> "Params":
        for name, candidate in self.train.candidates.items():
            declared = self.data.declared_types(candidate.columns)
            if isinstance(self.data.features, dict) and candidate.columns:
                unknown = [c for c in candidate.columns if c not in self.data.features]
                if unknown:
                    raise ValueError(
                        f"train.candidates.{name}.columns: {unknown} are not in "
                        f"data.features; fix: use some of {list(self.data.features)}"
                    )
            unread = sorted(declared - type(candidate).reads)
            if unread:
                raise ValueError(
                    f"train.candidates.{name}: family {candidate.family!r} cannot read "
                    f"{', '.join(unread)} features ("
                    + (
                        "the text task's joined text"
                        if self.data.features is None
                        else "declared in data.features"
                    )
                    + f"); fix: use one of {', '.join(families.reading(declared))}"
                )
        if self.compare.metric in BINARY_ONLY_METRICS and self.data.features is None:
            raise ValueError(
                f"compare.metric {self.compare.metric!r} needs a binary task, and this is a "
                "text classification task; fix: use macro_f1 or accuracy"
            )
        return self

    @model_validator(mode="after")
    def _phases_name_candidates(self) -> "Params":
        for phase, names in self.compare.phases.items():
            for name in names:
                if name not in self.ranked_candidates:
                    raise ValueError(
                        f"compare.phases.{phase} lists {name!r}, which is not a candidate; "
                        f"{did_you_mean(name, self.ranked_candidates)}"
                        f"fix: use one of {', '.join(self.ranked_candidates)}"
                    )
        return self

    @model_validator(mode="after")
    def _ensembles_combine_candidates(self) -> "Params":
        for name in self.ensemble.candidates:
            if name in self.train.candidates:
                raise ValueError(
                    f"ensemble.candidates.{name}: {name!r} is also a train candidate; fix: "
                    "give the ensemble its own name"
                )
        for name, ensemble in self.ensemble.candidates.items():
            ensemble.check_in(name, self)
        return self

    @model_validator(mode="after")
    def _explain_skips_candidates(self) -> "Params":
        for name in self.explain.skip:
            if name not in self.ranked_candidates:
                raise ValueError(
                    f"explain.skip lists {name!r}, which is not a candidate; "
                    f"{did_you_mean(name, self.ranked_candidates)}fix: use one of "
                    f"{', '.join(self.ranked_candidates)}"
                )
        return self

    @property
    def ranked_candidates(self) -> list[str]:
        """Every candidate compare ranks: the trained ones, then the ensembles."""
        return [*self.train.candidates, *self.ensemble.candidates]

    @model_validator(mode="after")
    def _search_spaces_fit_candidates(self) -> "Params":
        for name, study in self.tune.candidates.items():
            if name not in self.train.candidates:
                raise ValueError(
                    f"tune.candidates.{name}: no such candidate; "
                    f"{did_you_mean(name, self.train.candidates)}fix: use one of "
                    f"{', '.join(self.train.candidates)} or add it under train.candidates"
                )
            for key, dimension in study.space.items():
                check_dimension(self.candidate(name), f"tune.candidates.{name}.space", key)
                if self.tune.sampler == "grid" and dimension.grid() is None:
                    raise ValueError(
                        f"tune.candidates.{name}.space.{key} is a continuous range, which a "
                        "grid cannot enumerate (tune.sampler: grid); fix: give it a step or "
                        "choices, or use the tpe or random sampler"
                    )
                for value in dimension.bounds():
                    where = f"tune.candidates.{name}.space.{key}"
                    with_value(self.candidate(name), {key: value}, where)
        return self

    def candidate(self, name: str) -> CandidateParams:
        """A candidate's settings, with the top-level knobs filled in for transformers."""
        if name not in self.train.candidates:
            known = ", ".join(self.train.candidates)
            raise ParamsError(
                f"params.yaml: train.candidates has no candidate {name!r}; "
                f"{did_you_mean(name, self.train.candidates)}"
                f"fix: use one of {known} or add it under train.candidates"
            )
        return self.train.candidates[name].resolved(self)


def load_params(path: Path = PARAMS_FILE, tracked_by: Path | None = None) -> Params:
    """params.yaml, typed and validated; with `tracked_by` (dvc.yaml), also checked for every
    key that a stage there tracks."""
    try:
        raw = read_yaml(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ParamsError(f"{path} not found; fix: run from the project root") from exc
    except YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from exc
    params = parse_params(raw or {}, source=str(path))
    if tracked_by is not None:
        check_tracked_keys(raw or {}, tracked_by, source=str(path))
    return params


def check_tracked_keys(raw: dict[str, Any], dvc_yaml: Path = DVC_YAML, source="params.yaml"):
    """Stop when params.yaml lacks a key that a dvc.yaml stage lists under `params`, such as
    a setting left to its default: DVC would stop at that stage, after the ones before it
    ran, with no default to add."""
    stages = read_yaml(Path(dvc_yaml).read_text(encoding="utf-8")).get("stages") or {}
    missing: dict[str, str] = {}
    for name, stage in stages.items():
        for key in tracked_keys(raw, stage):
            if not _holds_key(raw, key):
                missing.setdefault(key, f"the {name}@ stages" if "foreach" in stage else name)
    if missing:
        problems = "\n".join(
            f"  - {key} (tracked by {stage}){_default_hint(key)}" for key, stage in missing.items()
        )
        raise ParamsError(
            f"{source} lacks {len(missing)} key(s) that dvc.yaml's stages track:\n{problems}\n"
            "fix: add each one to params.yaml (DVC compares them between runs, so they cannot "
            "be left to their defaults)"
        )


def tracked_keys(raw: dict[str, Any], stage: dict[str, Any]) -> list[str]:
    """The params.yaml keys a dvc.yaml stage lists, a foreach stage's for each of its items."""
    if "foreach" not in stage:
        return _params_yaml_keys(stage.get("params") or [])
    over = re.fullmatch(r"\$\{([\w.]+)\}", str(stage["foreach"]))
    items = _lookup(raw, over.group(1)) if over else None
    listed = _params_yaml_keys((stage.get("do") or {}).get("params") or [])
    keys = [key.replace("${key}", str(item)) for item in items or [] for key in listed]
    return [key for key in keys if "${" not in key]


def _params_yaml_keys(entries: list) -> list[str]:
    keys = [entry for entry in entries if isinstance(entry, str)]
    for entry in entries:
        if isinstance(entry, dict):
            keys += [k for file, ks in entry.items() if file == str(PARAMS_FILE) for k in ks or []]
    return keys


def _lookup(raw: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(raw, dict) or part not in raw:
            return None
        raw = raw[part]
    return raw


def _holds_key(raw: dict[str, Any], dotted: str) -> bool:
    *parents, last = dotted.split(".")
    holder = _lookup(raw, ".".join(parents)) if parents else raw
    return isinstance(holder, dict) and last in holder


def _default_hint(dotted: str) -> str:
    model: Any = Params
    for part in dotted.split("."):
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        model = field.annotation
    if field.is_required():
        return ""
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        default = default.model_dump()
    return f"; default: {json.dumps(default, default=str)}"


def parse_params(raw: dict[str, Any], source: str = "params.yaml") -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(
            f"  - {describe_error(error, Params, PARAMS_CLASSES)}" for error in exc.errors()
        )
        raise ParamsError(f"{source} has {exc.error_count()} problem(s):\n{problems}") from None


_CANDIDATE_ADAPTER = TypeAdapter(CandidateParams)


def resolved_config(params: Params, name: str) -> dict[str, Any]:
    """What train@<name> depends on: the candidate's settings (knobs filled in), the seed,
    how a binary task's decision threshold is chosen, and a digest of every module its family
    runs (so editing one re-trains exactly the candidates whose family uses it)."""
    from reprotune.codedeps import family_code

    candidate = params.candidate(name)
    return {
        "seed": params.seed,
        "params": candidate.model_dump(mode="json"),
        "decision": decision_settings(params.evaluate),
        "code": family_code(candidate.family),
    }


def decision_settings(evaluate: EvaluateParams) -> dict[str, Any]:
    costs = evaluate.costs.model_dump() if evaluate.costs else None
    return {"threshold": evaluate.threshold, "costs": costs}


def read_decision_settings(candidate: str) -> dict[str, Any]:
    """How train@<candidate> picks a binary decision threshold (configure wrote it)."""
    from reprotune.paths import candidate_config

    raw = json.loads(candidate_config(candidate).read_text(encoding="utf-8"))
    return raw.get("decision") or {"threshold": "none", "costs": None}


def read_resolved_config(path: Path) -> tuple[CandidateParams, int]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ParamsError(f"{path} is missing; fix: run the configure stage (dvc repro)") from exc
    return _CANDIDATE_ADAPTER.validate_python(raw["params"]), raw["seed"]
