"""One typed, validated view of params.yaml.

Every stage calls `load_params()` first: a bad key or value stops it before any work, with a
message naming the key, the value and the fix.
"""

import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

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

from reprotune.errors import ParamsError, did_you_mean
from reprotune.explanation.settings import ExplainParams
from reprotune.models.ensemble import EnsembleParams
from reprotune.models.keras_multimodal import KerasMultimodalParams
from reprotune.models.keras_tabular import KerasTabularParams
from reprotune.models.logreg import LogregParams
from reprotune.models.random_forest import RandomForestParams
from reprotune.models.xgboost import XgboostParams
from reprotune.paths import PARAMS_FILE, best_params_file
from reprotune.schema import FamilyParams, Strict

SKLEARN_DATASETS = ("breast_cancer", "iris", "wine", "digits")
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
FeatureTypeName = Literal["number", "category", "binary", "text", "set", "image"]

PHASES = ("baseline", "optimized", "tuned", "ensembled")
Phase = Literal["baseline", "optimized", "tuned", "ensembled"]


class SplitFiles(Strict):
    train: str | None = None
    test: str | None = None


class CsvOptions(Strict):
    header: bool = True
    columns: list[str] | None = Field(
        default=None, description="column names, for files without a header row"
    )
    sep: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)


class ImageParams(Strict):
    """Image columns (features of type `image`)."""

    size: int = Field(default=64, ge=8, le=512)  # stored and trained as size x size RGB
    # A missing, unreadable or undownloadable image: stop (fail) or drop its row (skip, counted
    # in data/raw/manifest.json and metrics/preprocess.json).
    missing: Literal["fail", "skip"] = "fail"


class DerivedTarget(Strict):
    """A target computed from other columns, binned into classes: data.label_column names
    the result, and the columns the expression reads are never features."""

    expression: str = Field(min_length=1)  # pandas eval, e.g. Likes - Dislikes + Bookmarks
    bins: Literal["median", "quantiles"] = "median"  # edges from the training split
    quantiles: int = Field(default=3, ge=2, le=20)  # with bins: quantiles
    names: list[str] | None = None  # class names, lowest first (default low/high, q1..qN)

    @property
    def classes(self) -> int:
        return 2 if self.bins == "median" else self.quantiles

    def class_names(self) -> list[str]:
        if self.names:
            return list(self.names)
        return ["low", "high"] if self.classes == 2 else [f"q{i + 1}" for i in range(self.classes)]

    @property
    def columns(self) -> list[str]:
        from reprotune.data.target import columns_of

        return columns_of(self.expression)

    @model_validator(mode="after")
    def _consistent(self) -> "DerivedTarget":
        self.columns  # noqa: B018 - a syntax error stops here, naming the key
        if self.names is not None and len(self.names) != self.classes:
            raise ValueError(
                f"data.target.names lists {len(self.names)} names for {self.classes} bins; "
                f"fix: name {self.classes} classes, lowest first"
            )
        if self.names is not None and len(set(self.names)) != len(self.names):
            raise ValueError(
                f"data.target.names {self.names} repeats a name; fix: make them unique"
            )
        return self


class DataParams(Strict):
    source: Literal["hf", "csv", "parquet", "json", "sklearn", "openml"] = "hf"
    name: str | None = "fancyzhx/ag_news"
    revision: str | None = None
    files: SplitFiles = SplitFiles()
    csv: CsvOptions = CsvOptions()
    text_columns: list[str] = Field(default=["text"], min_length=1)
    label_column: str = "label"
    label_names: list[str] | None = None
    label_base: int = 0
    train_size: PositiveInt | None = None
    test_size: PositiveInt | None = None
    val_fraction: float = Field(default=0.1, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.9)
    # Typed features. null: a text task, one text input joined from text_columns. A mapping
    # column -> number | category | binary | text | auto (auto: inferred), or `auto` for
    # every column but the target, data.drop_columns and data.group_column.
    features: dict[str, FeatureTypeName | Literal["auto"]] | Literal["auto"] | None = None
    drop_columns: list[str] = Field(default_factory=list)  # leaky or identifier columns
    positive_label: str | None = None  # binary tasks: the class whose F1/recall/cost counts
    group_column: str | None = None  # rows of one group never straddle a split
    target: DerivedTarget | None = None  # a derived target (named data.label_column)
    images: ImageParams = ImageParams()

    @property
    def tabular(self) -> bool:
        return self.features is not None

    def declared_types(self, columns: list[str] | None = None) -> set[str]:
        """The feature types params.yaml names (inferred ones are known after preprocess),
        of `columns` only when given."""
        if self.features is None:
            return {"text"}
        if self.features == "auto":
            return set()
        return {
            kind
            for column, kind in self.features.items()
            if kind != "auto" and (not columns or column in columns)
        }

    @model_validator(mode="after")
    def _columns_are_consistent(self) -> "DataParams":
        if isinstance(self.features, dict):
            for key, column in (
                [("data.label_column", self.label_column)]
                + [("data.group_column", self.group_column)]
                + [("data.drop_columns", c) for c in self.drop_columns]
            ):
                if column in self.features:
                    raise ValueError(
                        f"{key} {column!r} is also listed in data.features; fix: remove it "
                        "from data.features"
                    )
        if self.label_column in self.drop_columns:
            raise ValueError(
                f"data.drop_columns lists the target {self.label_column!r}; fix: remove it"
            )
        if self.target is not None:
            if self.features is None:
                raise ValueError(
                    "data.target derives a target, which needs typed features; fix: set "
                    "data.features (a mapping, or auto)"
                )
            if isinstance(self.features, dict):
                leaks = [c for c in self.target.columns if c in self.features]
                if leaks:
                    raise ValueError(
                        f"data.features lists {leaks}, which data.target.expression derives "
                        "the target from: a model would read its own answer; fix: remove "
                        "them from data.features"
                    )
            if self.positive_label is not None and self.positive_label not in (
                self.target.class_names()
            ):
                raise ValueError(
                    f"data.positive_label = {self.positive_label!r} is not one of the derived "
                    f"classes {self.target.class_names()}; fix: use one of them"
                )
        return self

    @model_validator(mode="after")
    def _source_is_complete(self) -> "DataParams":
        if self.source in ("csv", "parquet", "json") and self.files.train is None:
            raise ValueError(
                f"data.source is {self.source!r} but data.files.train is not set; fix: set "
                "data.files.train (and data.files.test, or leave it null to split off "
                "data.test_fraction) to paths or http(s) URLs"
            )
        if self.source == "openml" and not self.name:
            raise ValueError(
                "data.source is 'openml' but data.name is empty; fix: name an OpenML "
                "dataset or give its id, e.g. bank-marketing or 1461"
            )
        if self.source == "hf" and not self.name:
            raise ValueError(
                "data.source is 'hf' but data.name is empty; fix: name a Hub dataset, "
                "e.g. fancyzhx/ag_news"
            )
        if self.source == "sklearn" and self.name not in SKLEARN_DATASETS:
            raise ValueError(
                f"data.name {self.name!r} is not a scikit-learn dataset; "
                f"fix: use one of {', '.join(SKLEARN_DATASETS)}"
            )
        if self.csv.header is False and self.source == "csv" and not self.csv.columns:
            raise ValueError(
                "data.csv.header is false but data.csv.columns is not set; "
                "fix: name the columns, e.g. [label, title, description] for AG News"
            )
        return self


class PreprocessParams(Strict):
    clean_text: bool = True
    lowercase: bool = False


class TfidfLogregParams(FamilyParams):
    """TF-IDF features + logistic regression: the baseline every candidate must beat."""

    family: Literal["tfidf_logreg"]
    quick: ClassVar[bool] = True
    # word: word n-grams; char_wb: character n-grams inside word boundaries (robust to
    # spelling, inflection and rare names); word+char_wb: both, side by side.
    analyzer: Literal["word", "char_wb", "word+char_wb"] = "word"
    ngram_max: int = Field(default=2, ge=1, le=5)
    char_ngram_max: int = Field(default=5, ge=2, le=8)  # character n-grams from 2 to this
    sublinear_tf: bool = True
    min_df: PositiveInt = 1
    max_features: PositiveInt | None = None
    C: PositiveFloat = 10.0
    max_iter: PositiveInt = 1000
    # Without early stopping the validation rows have no use of their own: fit on them too.
    fit_on_val: bool = True


class KerasMlpParams(FamilyParams):
    """A Keras 3 MLP on TF-IDF features (a TextVectorization layer inside the model)."""

    family: Literal["keras_mlp"]
    max_tokens: PositiveInt = 50000
    ngram_max: int = Field(default=2, ge=1, le=3)
    hidden_units: list[PositiveInt] = Field(default=[256], min_length=1)
    dropout: float = Field(default=0.5, ge=0, lt=1)
    # Dropout on the TF-IDF features themselves (word dropout): each step sees each text with
    # some of its n-grams missing.
    input_dropout: float = Field(default=0.0, ge=0, lt=1)
    l2: float = Field(default=1e-5, ge=0)
    batch_norm: bool = False
    lr: PositiveFloat = 1e-3
    epochs: PositiveInt = 20
    batch_size: PositiveInt = 32
    patience: PositiveInt = 3
    # The validation score early stopping follows: loss is smoother than macro F1 on a small
    # validation split, where a few rows flip the F1 from one epoch to the next.
    monitor: Literal["macro_f1", "loss"] = "loss"
    class_weight: bool = False
    # Scale each TF-IDF vector to unit length (as the baseline's TfidfVectorizer does), so
    # long and short texts reach the first layer on one scale.
    normalize: bool = False
    # After early stopping picked the epoch count on validation, train again from scratch on
    # train + validation for that many epochs (the baseline's fit_on_val, for an MLP).
    refit_on_val: bool = True


class TransformerParams(FamilyParams):
    """A fine-tuned Hugging Face sequence classifier (PyTorch).

    `lr`, `epochs`, `batch_size` and `checkpoint` live at the top of params.yaml, so that
    `dvc exp run -S lr=...` works as spelled; the configure stage copies them in here.
    """

    family: Literal["hf_transformer"]
    max_length: int = Field(default=128, ge=8, le=4096)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    # The new classification head (and pooler) learns from scratch: a larger step helps it.
    head_lr_multiplier: PositiveFloat = 1.0
    # Layer-wise learning-rate decay: the top encoder layer trains at lr * d, each one below
    # at one more factor d. 1.0: every layer at lr.
    layer_lr_decay: float = Field(default=1.0, gt=0, le=1)
    max_grad_norm: PositiveFloat = 1.0
    patience: PositiveInt = 2
    num_threads: int | None = Field(default=None, ge=1, description="null: all cores")
    # Data-parallel processes (torchrun): one per GPU, or gloo processes on a CPU. batch_size
    # is per process, so the global batch is num_processes * batch_size.
    num_processes: int = Field(default=1, ge=1, le=64)
    eval_batch_size: PositiveInt = 64
    # How evaluate, the MLflow model and the service run the trained model: pytorch, or its
    # ONNX Runtime export (fused graph), or that export with int8 weights (fastest on a CPU).
    inference: Literal["pytorch", "onnx", "onnx_int8"] = "pytorch"
    lr: PositiveFloat | None = None
    epochs: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    checkpoint: str | None = None


TOP_LEVEL_KNOBS = ("lr", "epochs", "batch_size", "checkpoint")
CandidateParams = Annotated[
    TfidfLogregParams
    | KerasMlpParams
    | TransformerParams
    | LogregParams
    | RandomForestParams
    | XgboostParams
    | KerasTabularParams
    | KerasMultimodalParams,
    Field(discriminator="family"),
]
PARAMS_CLASSES = {
    cls.model_fields["family"].annotation.__args__[0]: cls
    for cls in CandidateParams.__origin__.__args__
}
FAMILIES = tuple(PARAMS_CLASSES)


def families_reading(types: set[str]) -> list[str]:
    return [name for name, cls in PARAMS_CLASSES.items() if types <= cls.reads]


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


class TrackingParams(Strict):
    experiment: str = Field(default="reprotune", min_length=1, max_length=200)
    enabled: bool = True
    # false: when the tracking store cannot be reached, warn once and run without tracking.
    required: bool = True
    system_metrics: bool = True  # CPU, memory (and GPU) of the training runs


class Params(Strict):
    seed: int = 42
    # Top-level knobs of the fine-tuned transformer (`dvc exp run -S lr=...`).
    lr: PositiveFloat | None = None
    epochs: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    checkpoint: str | None = None
    data: DataParams = DataParams()
    preprocess: PreprocessParams = PreprocessParams()
    train: TrainParams
    evaluate: EvaluateParams = EvaluateParams()
    compare: CompareParams = CompareParams()
    tune: TuneParams = TuneParams()
    ensemble: EnsembleSection = EnsembleSection()
    explain: ExplainParams = ExplainParams()
    tracking: TrackingParams = TrackingParams()

    @model_validator(mode="after")
    def _knobs_at_top_level(self) -> "Params":
        for name, candidate in self.train.candidates.items():
            if not isinstance(candidate, TransformerParams):
                continue
            for knob in TOP_LEVEL_KNOBS:
                if getattr(candidate, knob) is not None:
                    raise ValueError(
                        f"train.candidates.{name}.{knob} is set; fix: set the top-level "
                        f"`{knob}` instead (it is what `dvc exp run -S {knob}=...` changes)"
                    )
                if getattr(self, knob) is None:
                    raise ValueError(
                        f"candidate {name!r} is a transformer but the top-level `{knob}` is "
                        f"not set; fix: add `{knob}:` at the top of params.yaml"
                    )
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
                    + f"); fix: use one of {', '.join(families_reading(declared))}"
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
            check_ensemble(name, ensemble, self)
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
                _check_dimension(self.candidate(name), f"tune.candidates.{name}.space", key)
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
        candidate = self.train.candidates[name]
        if isinstance(candidate, TransformerParams):
            return candidate.model_copy(update={k: getattr(self, k) for k in TOP_LEVEL_KNOBS})
        return candidate


def check_ensemble(name: str, ensemble: EnsembleParams, params: "Params") -> None:
    where = f"ensemble.candidates.{name}"
    twice = sorted({m for m in ensemble.members if ensemble.members.count(m) > 1})
    if twice:
        raise ValueError(f"{where}.members lists {', '.join(twice)} twice; fix: list each once")
    for member in ensemble.members:
        if member == name:
            raise ValueError(
                f"{where}.members lists the ensemble itself; fix: list train candidates only"
            )
        if member in params.ensemble.candidates:
            raise ValueError(
                f"{where}.members lists {member!r}, another ensemble: ensembles combine "
                f"trained candidates only; fix: list {member!r}'s members instead "
                f"({', '.join(params.ensemble.candidates[member].members)})"
            )
        if member not in params.train.candidates:
            raise ValueError(
                f"{where}.members lists {member!r}, which is not a candidate; "
                f"{did_you_mean(member, params.train.candidates)}fix: use "
                f"train candidates ({', '.join(params.train.candidates)})"
            )
    slow = [m for m in ensemble.members if not type(params.train.candidates[m]).quick]
    if ensemble.fit_on == "oof" and slow:
        raise ValueError(
            f"{where}.fit_on is 'oof', which refits every member {ensemble.cv_folds} times, "
            f"and {', '.join(slow)} train(s) in minutes, not seconds; fix: use fit_on: val, "
            "or drop them from the members"
        )
    if ensemble.passthrough and (ensemble.method != "stacking" or params.data.features is None):
        raise ValueError(
            f"{where}.passthrough is true, which feeds a tabular task's raw features to a "
            "stacking meta-model; fix: set it to false, or use method: stacking on a tabular task"
        )
    if ensemble.weights == "fitted" and ensemble.method != "voting":
        raise ValueError(
            f"{where}.weights is 'fitted', which applies to method: voting (stacking learns "
            "its own weights); fix: drop weights or use method: voting"
        )


UNTUNABLE = ("family",)


def _check_dimension(candidate: BaseModel, where: str, key: str) -> None:
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


def read_yaml(text: str) -> Any:
    """YAML 1.2, as DVC reads and rewrites params.yaml (`dvc exp run -S` writes `yes`
    unquoted: a string in 1.2, where YAML 1.1 readers would see a boolean)."""
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def load_params(path: Path = PARAMS_FILE) -> Params:
    try:
        raw = read_yaml(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ParamsError(f"{path} not found; fix: run from the project root") from exc
    except YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from exc
    return parse_params(raw or {}, source=str(path))


def parse_params(raw: dict[str, Any], source: str = "params.yaml") -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(error)}" for error in exc.errors())
        raise ParamsError(f"{source} has {exc.error_count()} problem(s):\n{problems}") from None


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(_without_union_tags(error["loc"])) or "(top level)"
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        unknown = str(error["loc"][-1])
        return (
            f"{key}: unknown key; {did_you_mean(unknown, _keys_beside(error['loc']))}"
            "fix: remove it or correct its spelling"
        )
    if kind == "missing":
        return f"{key}: required key is missing; fix: add it"
    if kind == "union_tag_invalid":
        return (
            f"{key}.family = {error['ctx']['tag']!r} is not a known model family; "
            f"{did_you_mean(error['ctx']['tag'], FAMILIES)}fix: use one of {', '.join(FAMILIES)}"
        )
    if kind == "union_tag_not_found":
        return f"{key}.family is missing; fix: set it to one of {', '.join(FAMILIES)}"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "value_error" and isinstance(value, dict):
        # A check across keys: the message names them.
        return message if key == "(top level)" else f"{key}: {message}"
    return f"{key} = {value!r}: {message}" + ("" if "fix:" in message else _fix(kind, key))


def _keys_beside(loc: tuple) -> list[str]:
    """The keys allowed where the unknown key at `loc` (pydantic's path, with the family
    tags it puts after candidate names) was written."""
    model: type[BaseModel] | None = Params
    for part in (str(p) for p in loc[:-1]):
        if part in PARAMS_CLASSES:  # a family tag: that family's params
            model = PARAMS_CLASSES[part]
        elif model is not None and part in model.model_fields:
            model = _model_in(model.model_fields[part].annotation)
        # else a mapping's key (a candidate's name): the mapping's model stays
    return list(model.model_fields) if model is not None else []


def _model_in(annotation) -> type[BaseModel] | None:
    """The params model an annotation holds: itself, or inside Optional, dict or a union."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _without_union_tags(loc: tuple) -> list[str]:
    """pydantic puts the family tag after a candidate's name (candidates.logreg.logreg.C);
    the key a user wrote has no tag (a family name may also be a candidate name)."""
    parts = [str(p) for p in loc]
    return [
        p
        for i, p in enumerate(parts)
        if not (p in FAMILIES and i >= 2 and parts[i - 2] == "candidates")
    ]


def _fix(kind: str, key: str) -> str:
    if kind.startswith(("greater_than", "less_than")):
        return f"; fix: change {key} to a value inside the allowed range"
    if kind == "literal_error":
        return f"; fix: use one of the values listed for {key}"
    return f"; fix: correct {key} in params.yaml"


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


def apply_tuned(candidate: CandidateParams, name: str) -> CandidateParams:
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
            f"{path} is missing; fix: run `dvc repro tune@{candidate}` first"
        ) from exc


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
