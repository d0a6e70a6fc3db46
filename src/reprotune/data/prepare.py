"""The preprocess stage's logic: text from columns, cleaning, label names, seeded splits."""

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from reprotune import paths
from reprotune.data.settings import DataParams, PreprocessParams
from reprotune.errors import DataError, did_you_mean
from reprotune.io import read_json, staged_dir, write_json

# AG News replaced the "&" of entities by a space: "There #39;s", "said,  quot;I".
_NUMERIC_ENTITY = re.compile(r"[& ]?#(\d{1,6});")
_NAMED_ENTITY = re.compile(r"[& ](quot|amp|lt|gt|apos);")
_TAG = re.compile(r"<[^>]{1,300}>")
_WHITESPACE = re.compile(r"\s+")


def _codepoint(match: re.Match) -> str:
    number = int(match.group(1))
    return chr(number) if 0 < number < 0x110000 else match.group(0)


def clean_text(text: str) -> str:
    text = _NUMERIC_ENTITY.sub(_codepoint, text)
    text = _NAMED_ENTITY.sub(lambda m: f"&{m.group(1)};", text)
    text = html.unescape(text)
    text = _TAG.sub(" ", text)
    text = text.replace("\\", " ")
    return _WHITESPACE.sub(" ", text).strip()


TEXT_SCHEMA = {"features": {"text": "text"}}


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    label_names: list[str]
    # features.json: column -> type, and for typed tasks what was inferred, the target, the
    # positive label, dropped columns and the group column.
    schema: dict = field(default_factory=lambda: dict(TEXT_SCHEMA))

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        return [("train", self.train), ("val", self.val), ("test", self.test)]


def load_raw(raw_dir: Path = paths.RAW_DIR) -> tuple[dict[str, pd.DataFrame], dict]:
    manifest_path = raw_dir / "manifest.json"
    if not manifest_path.is_file():
        raise DataError(f"{manifest_path} is missing; fix: run the fetch stage first (dvc repro)")
    frames = {split: pd.read_parquet(raw_dir / f"{split}.parquet") for split in paths.RAW_SPLITS}
    return frames, read_json(manifest_path)


def check_columns(frames: dict[str, pd.DataFrame], data: DataParams) -> None:
    for split, frame in frames.items():
        available = [str(c) for c in frame.columns]
        for key, column in [("data.label_column", data.label_column)] + [
            ("data.text_columns", c) for c in data.text_columns
        ]:
            if column not in frame.columns:
                raise DataError(
                    f"{key}: column {column!r} is not in the {split} split "
                    f"(columns: {available}); fix: set {key} to one of them"
                )


def build_text(frame: pd.DataFrame, columns: list[str], prep: PreprocessParams) -> pd.Series:
    parts = frame[columns].fillna("").astype(str)
    text = parts.agg(" ".join, axis=1)
    text = text.map(clean_text) if prep.clean_text else text.str.strip()
    if prep.lowercase:
        text = text.str.lower()
    return text


def resolve_label_names(
    frames: dict[str, pd.DataFrame], data: DataParams, manifest: dict
) -> tuple[list[str], bool]:
    """The ordered class names, and whether raw labels are integer codes into them."""
    values = pd.concat([f[data.label_column] for f in frames.values()])
    names = data.label_names or manifest.get("label_names")
    if pd.api.types.is_integer_dtype(values) and names:
        return list(names), True
    if names:
        unknown = sorted(set(values.astype(str)) - set(names))
        if unknown:
            raise DataError(
                f"data.label_names: labels {unknown[:5]} in column {data.label_column!r} "
                f"are not among {names}; fix: list every class"
            )
        return list(names), False
    return sorted(values.astype(str).unique()), False


def positive_last(names: list[str], data: DataParams) -> list[str]:
    """The class names with data.positive_label last (index 1: the class that F1, recall,
    PR-AUC and costs are about), checked to be a class of a binary target."""
    if data.positive_label is None:
        return list(names)
    if data.positive_label not in names:
        raise DataError(
            f"data.positive_label = {data.positive_label!r} is not a value of the target "
            f"{data.label_column!r} (values: {names[:10]}); "
            f"{did_you_mean(data.positive_label, names)}fix: set it to one of them"
        )
    if len(names) != 2:
        raise DataError(
            f"data.positive_label is set but the target {data.label_column!r} has "
            f"{len(names)} classes; fix: set it to null (it is for binary tasks)"
        )
    return [n for n in names if n != data.positive_label] + [data.positive_label]


def encode_labels(
    labels: pd.Series, names: list[str], integer_codes: bool, label_base: int, split: str
) -> np.ndarray:
    if integer_codes:
        codes = labels.astype("int64").to_numpy() - label_base
        bad = (codes < 0) | (codes >= len(names))
        if bad.any():
            raise DataError(
                f"data.label_base = {label_base}: the {split} split has label "
                f"{int(labels[bad].iloc[0])}, outside {label_base}..{label_base + len(names) - 1} "
                f"for {len(names)} label_names; fix: set data.label_base or data.label_names"
            )
        return codes
    index = {name: i for i, name in enumerate(names)}
    return labels.astype(str).map(index).to_numpy(dtype="int64")


def prepare(
    frames: dict[str, pd.DataFrame],
    manifest: dict,
    data: DataParams,
    prep: PreprocessParams,
    seed: int,
) -> Splits:
    check_columns(frames, data)
    raw_names, integer_codes = resolve_label_names(frames, data, manifest)
    names = positive_last(raw_names, data)
    reorder = np.array([names.index(name) for name in raw_names], dtype="int64")
    tables = {}
    for split, frame in frames.items():
        codes = encode_labels(
            frame[data.label_column], raw_names, integer_codes, data.label_base, split
        )
        table = pd.DataFrame(
            {"text": build_text(frame, data.text_columns, prep), "label": reorder[codes]}
        )
        table = table[table["text"] != ""].reset_index(drop=True)
        if table.empty:
            raise DataError(
                f"the {split} split has no rows with text in {data.text_columns}; "
                "fix: check data.text_columns and the data"
            )
        tables[split] = table
    train_pool = subsample(tables["train"], data.train_size, "data.train_size", seed)
    test = subsample(tables["test"], data.test_size, "data.test_size", seed)
    train, val = split_validation(train_pool, data.val_fraction, seed)
    return Splits(
        _with_names(train, names), _with_names(val, names), _with_names(test, names), names
    )


def _with_names(table: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    table["label_name"] = [names[i] for i in table["label"]]
    return table


def _check_stratifiable(table: pd.DataFrame, key: str, minimum: int = 2) -> None:
    counts = table["label"].value_counts()
    too_small = counts[counts < minimum]
    if not too_small.empty:
        raise DataError(
            f"{key}: class id {int(too_small.index[0])} has only {int(too_small.iloc[0])} row(s), "
            f"too few to split by class; fix: raise {key}, or drop that class from the data"
        )


def subsample(table: pd.DataFrame, size: int | None, key: str, seed: int) -> pd.DataFrame:
    from sklearn.model_selection import train_test_split

    if size is None or size == len(table):
        return table
    if size > len(table):
        raise DataError(
            f"{key} = {size} but the split has only {len(table)} rows; "
            f"fix: set {key} to at most {len(table)}, or null for all rows"
        )
    n_classes = table["label"].nunique()
    if size < n_classes:
        raise DataError(f"{key} = {size} is smaller than the {n_classes} classes; fix: raise {key}")
    _check_stratifiable(table, key)
    kept, _ = train_test_split(table, train_size=size, stratify=table["label"], random_state=seed)
    return kept.sort_index()


def split_validation(
    table: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    n_classes = table["label"].nunique()
    n_val = max(round(len(table) * fraction), n_classes)
    if len(table) - n_val < n_classes:
        raise DataError(
            f"data.val_fraction = {fraction} leaves too few training rows from {len(table)}; "
            "fix: raise data.train_size or lower data.val_fraction"
        )
    _check_stratifiable(table, "data.train_size")
    train, val = train_test_split(
        table, test_size=n_val, stratify=table["label"], random_state=seed
    )
    return train.sort_index(), val.sort_index()


def class_counts(splits: Splits) -> dict:
    counts = {}
    for split, table in splits.items():
        per_class = table["label_name"].value_counts()
        counts[split] = {
            "rows": len(table),
            "classes": {name: int(per_class.get(name, 0)) for name in splits.label_names},
        }
    return counts


def write_splits(
    splits: Splits, out_dir: Path = paths.PROCESSED_DIR, contract_file: Path | None = None
) -> None:
    """The splits, labels and features, with the data contract (`contract_file`, else the
    training split's) and the training split's reference profile (data/reference.py)."""
    from reprotune.data import reference

    with staged_dir(out_dir) as staging:
        for split, table in splits.items():
            table.to_parquet(staging / f"{split}.parquet", index=False)
        write_json(staging / "labels.json", {"names": splits.label_names})
        write_json(staging / "features.json", splits.schema)
        reference.write(staging, splits.train, splits.schema["features"], contract_file)


def load_split(split: str, processed_dir: Path = paths.PROCESSED_DIR) -> pd.DataFrame:
    path = processed_dir / f"{split}.parquet"
    if not path.is_file():
        raise DataError(f"{path} is missing; fix: run the preprocess stage first (dvc repro)")
    return pd.read_parquet(path)


def load_label_names(processed_dir: Path = paths.PROCESSED_DIR) -> list[str]:
    return read_json(processed_dir / "labels.json")["names"]


def load_schema(processed_dir: Path = paths.PROCESSED_DIR) -> dict:
    """features.json; a split written before typed features is the text task's schema."""
    path = processed_dir / "features.json"
    return read_json(path) if path.is_file() else dict(TEXT_SCHEMA)


def load_features(processed_dir: Path = paths.PROCESSED_DIR) -> dict[str, str]:
    return load_schema(processed_dir)["features"]


def sample_parquet(path: Path, rows: int, seed: int) -> pd.DataFrame:
    """A uniform sample of about `rows` rows of a Parquet file or folder of files, read batch
    by batch (the driver never holds the whole table)."""
    import pyarrow.dataset as ds

    table = ds.dataset(str(path), format="parquet")
    share = min(1.0, rows / max(table.count_rows(), 1))
    rng = np.random.default_rng(seed)
    kept = []
    # Read-ahead bounded: pyarrow's default keeps up to 16 batches of 4 files in flight
    # (1.6 GB on an 8M-row split; 0.3 GB so).
    for batch in table.to_batches(batch_size=65_536, batch_readahead=1, fragment_readahead=1):
        frame = batch.to_pandas()
        kept.append(frame[rng.random(len(frame)) < share] if share < 1 else frame)
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()


DRIVER_SAMPLE_ROWS = 5_000  # what the driver keeps of a split Spark reads: logs, examples


def driver_sample(split: str, seed: int) -> pd.DataFrame:
    """A seeded sample of a processed split, for what the driver needs of a split that the
    executors read whole (the MLflow dataset entry, an input example, explainers' rows)."""
    return sample_parquet(paths.processed_split(split), DRIVER_SAMPLE_ROWS, seed)


# data.engine: spark: what a stage that needs rows in memory (drift's measures, the plan's
# cost measurements, explanations) reads of a split: the table may not fit on the driver.
SPARK_DRIVER_ROWS = 200_000


def driver_rows(split: str, engine: str, seed: int) -> pd.DataFrame:
    """A processed split whole, or with data.engine: spark a seeded sample of it."""
    if engine != "spark":
        return load_split(split)
    return sample_parquet(paths.processed_split(split), SPARK_DRIVER_ROWS, seed)


def training_rows_digest() -> str:
    """md5 of what studies and the budget's plan are made for: the processed train and
    validation splits, the labels and the features."""
    import hashlib

    files = [paths.processed_split("train"), paths.processed_split("val"), paths.LABELS]
    files += [paths.FEATURES] if paths.FEATURES.is_file() else []
    digest = hashlib.md5()
    for file in files:
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()
