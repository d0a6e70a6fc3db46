"""The `data` and `preprocess` sections of params.yaml: where the rows come from, which columns
are features of which type, how the splits are drawn, and how text is cleaned."""

from typing import Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from reprotune.schema import SparkSessionSettings, Strict

SKLEARN_DATASETS = ("breast_cancer", "iris", "wine", "digits")


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
    features: dict[str, str] | Literal["auto"] | None = None
    drop_columns: list[str] = Field(default_factory=list)  # leaky or identifier columns
    positive_label: str | None = None  # binary tasks: the class whose F1/recall/cost counts
    group_column: str | None = None  # rows of one group never straddle a split
    target: DerivedTarget | None = None  # a derived target (named data.label_column)
    images: ImageParams = ImageParams()
    # A contract.yaml committed beside params.yaml: new data that breaks it stops preprocess
    # (fail), or is reported and used (warn); off: not checked.
    contract: Literal["fail", "warn", "off"] = "fail"
    # local: fetch and preprocess read the table into this process (pandas); spark: the
    # executors read, cast and split it and write the splits as Parquet, the driver holding a
    # sample (a table larger than one machine's memory; data/on_spark.py).
    engine: Literal["local", "spark"] = "local"
    spark: SparkSessionSettings = SparkSessionSettings()

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

    @field_validator("features")
    @classmethod
    def _known_feature_types(cls, features):
        if not isinstance(features, dict):
            return features
        from reprotune.errors import did_you_mean
        from reprotune.features import FEATURE_TYPES  # the registry of feature types

        allowed = [*FEATURE_TYPES, "auto"]
        for column, kind in features.items():
            if kind not in allowed:
                raise ValueError(
                    f"data.features.{column} = {kind!r} is not a feature type; "
                    f"{did_you_mean(kind, allowed)}fix: use one of {', '.join(allowed)}"
                )
        return features

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
        if self.engine == "spark":
            self._check_spark_engine()
        if self.csv.header is False and self.source == "csv" and not self.csv.columns:
            raise ValueError(
                "data.csv.header is false but data.csv.columns is not set; "
                "fix: name the columns, e.g. [label, title, description] for AG News"
            )
        return self

    def _check_spark_engine(self) -> None:
        """What data.engine: spark reads: typed features from files Spark can open."""
        if self.source not in ("csv", "parquet", "json"):
            raise ValueError(
                f"data.engine is 'spark' but data.source is {self.source!r}; fix: export the "
                "table to Parquet or CSV files (data.source: parquet, data.files.train: PATH), "
                "or use data.engine: local"
            )
        if self.features is None:
            raise ValueError(
                "data.engine: spark prepares typed (tabular) features, and data.features is "
                "null (a text task); fix: declare data.features (a mapping, or auto), or use "
                "data.engine: local"
            )
        if self.target is not None:
            raise ValueError(
                "data.engine: spark does not derive a target (data.target); fix: compute the "
                "target column into the files, or use data.engine: local"
            )
        for split in ("train", "test"):
            location = getattr(self.files, split)
            if location and location.startswith(("http://", "https://")):
                raise ValueError(
                    f"data.files.{split} = {location!r}: Spark's executors read files, not "
                    "URLs; fix: download it (or use an hdfs:// or s3a:// path), or use "
                    "data.engine: local"
                )
        if isinstance(self.features, dict) and "image" in self.features.values():
            raise ValueError(
                "data.engine: spark does not read image features; fix: use data.engine: local"
            )


class PreprocessParams(Strict):
    clean_text: bool = True
    lowercase: bool = False
