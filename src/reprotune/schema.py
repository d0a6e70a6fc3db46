"""The base of every params model: unknown keys rejected, values frozen once read; and the
bases the families' params classes share."""

from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, PositiveFloat, PositiveInt

from reprotune.errors import did_you_mean


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkSessionSettings(Strict):
    """Where work on Apache Spark runs (reprotune.sparkrun): a master and session settings."""

    master: str = "local[2]"  # spark://host:7077, yarn, k8s://..., or local[N] on a laptop
    conf: dict[str, str] = Field(default_factory=dict)  # any spark.* session setting


class FamilyParams(Strict):
    """A candidate family's params, and what the rest of the package needs to know of it."""

    # The feature types the family can take.
    reads: ClassVar[frozenset[str]] = frozenset({"text"})
    # Trains in seconds: cross-validated studies and out-of-fold ensembles may refit it.
    quick: ClassVar[bool] = False
    # A `train.candidates` entry, trained by train@<name> (ensembles: by their own stage).
    trained_alone: ClassVar[bool] = True
    # Distributions its python_function model needs beyond the base ones (first found is pinned).
    requirements: ClassVar[tuple[str, ...]] = ()
    # The MLflow flavor saved beside python_function ("sklearn", "keras"), if MLflow has one.
    native_flavor: ClassVar[str | None] = None
    # The task's features this candidate reads (null: all): metadata only, the image alone...
    columns: list[str] | None = Field(default=None, min_length=1)

    @classmethod
    def family_name(cls) -> str:
        """The `family:` value that selects these params."""
        return get_args(cls.model_fields["family"].annotation)[0]

    def check_in(self, name: str, params: Any) -> None:
        """Checks against the rest of params.yaml (raise ValueError naming the key and fix)."""

    def resolved(self, params: Any) -> "FamilyParams":
        """These settings with whatever the family takes from the rest of params.yaml."""
        return self

    def check_ready(self) -> None:
        """Cheap checks before the configure stage writes anything (files the family needs)."""


TABULAR_TYPES = frozenset({"number", "category", "binary", "text", "set"})
Resample = Literal["none", "smote", "smotenc", "undersample"]


class TabularParams(FamilyParams):
    """The scikit-learn-style families on typed columns (logreg, random_forest, xgboost...)."""

    reads = TABULAR_TYPES
    quick = True
    native_flavor = "sklearn"
    # After the validation split chose the decision threshold (and, for boosted trees, the
    # number of rounds), fit once more on train + validation: the saved model has learned
    # from every labelled row but the test split's.
    refit_on_val: bool = True


KERAS_REQUIREMENTS = ("tensorflow-cpu", "tensorflow", "keras")
Activation = Literal["relu", "leaky_relu", "elu", "gelu", "selu", "tanh"]


class KerasTypedParams(FamilyParams):
    """What the Keras families on typed columns share: how categories are encoded, the dense
    head, and training with early stopping."""

    requirements = KERAS_REQUIREMENTS
    native_flavor = "keras"
    categorical: Literal["embedding", "one_hot"] = "embedding"
    embedding_dim: PositiveInt | None = None  # null: min(16, round(1.6 * levels ** 0.56))
    hidden_units: list[PositiveInt] = Field(default=[64, 32], min_length=1)
    activation: Activation = "relu"
    dropout: float = Field(default=0.2, ge=0, lt=1)
    l2: float = Field(default=1e-4, ge=0)
    batch_norm: bool = False
    lr: PositiveFloat = 1e-3
    epochs: PositiveInt = 60
    batch_size: PositiveInt = 64
    patience: PositiveInt = 8
    class_weight: bool = True
    # The validation score early stopping watches; pr_auc and roc_auc need a binary task.
    monitor: Literal["pr_auc", "roc_auc", "macro_f1", "loss"] = "pr_auc"


def _positive_or_auto(kind: type):
    """A positive number, or `auto` (chosen where it runs); one clear error otherwise, not
    one per member of a union."""

    def check(value):
        if value is None or value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("use a positive number or 'auto' (chosen for the device)")
        if kind is int and value != int(value):
            raise ValueError("use a whole number or 'auto' (chosen for the device)")
        if value <= 0:
            raise ValueError("must be greater than 0, or 'auto' (chosen for the device)")
        return kind(value)

    return PlainValidator(check, json_schema_input_type=kind | str | None)


PositiveFloatOrAuto = Annotated[float | Literal["auto"] | None, _positive_or_auto(float)]
PositiveIntOrAuto = Annotated[int | Literal["auto"] | None, _positive_or_auto(int)]


def describe_error(error: dict[str, Any], root: type[BaseModel], tags: dict[str, type]) -> str:
    """One pydantic error as `key: what is wrong; fix: ...`, the key as the user wrote it.
    `tags`: the discriminated union's members by tag (the families' params classes)."""
    key = ".".join(_without_union_tags(error["loc"], tags)) or "(top level)"
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        unknown = str(error["loc"][-1])
        return (
            f"{key}: unknown key; {did_you_mean(unknown, _keys_beside(error['loc'], root, tags))}"
            "fix: remove it or correct its spelling"
        )
    if kind == "missing":
        return f"{key}: required key is missing; fix: add it"
    if kind == "union_tag_invalid":
        return (
            f"{key}.family = {error['ctx']['tag']!r} is not a known model family; "
            f"{did_you_mean(error['ctx']['tag'], list(tags))}fix: use one of {', '.join(tags)}"
        )
    if kind == "union_tag_not_found":
        return f"{key}.family is missing; fix: set it to one of {', '.join(tags)}"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "value_error" and isinstance(value, dict):
        # A check across keys: the message names them.
        return message if key == "(top level)" else f"{key}: {message}"
    return f"{key} = {value!r}: {message}" + ("" if "fix:" in message else _fix(kind, key))


def _keys_beside(loc: tuple, root: type[BaseModel], tags: dict[str, type]) -> list[str]:
    """The keys allowed where the unknown key at `loc` (pydantic's path, with the family
    tags it puts after candidate names) was written."""
    model: type[BaseModel] | None = root
    for part in (str(p) for p in loc[:-1]):
        if part in tags:  # a family tag: that family's params
            model = tags[part]
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


def _without_union_tags(loc: tuple, tags: dict[str, type]) -> list[str]:
    """pydantic puts the family tag after a candidate's name (candidates.logreg.logreg.C);
    the key a user wrote has no tag (a family name may also be a candidate name)."""
    parts = [str(p) for p in loc]
    return [
        p
        for i, p in enumerate(parts)
        if not (p in tags and i >= 2 and parts[i - 2] == "candidates")
    ]


def _fix(kind: str, key: str) -> str:
    if kind.startswith(("greater_than", "less_than")):
        return f"; fix: change {key} to a value inside the allowed range"
    if kind == "literal_error":
        return f"; fix: use one of the values listed for {key}"
    return f"; fix: correct {key} in params.yaml"
