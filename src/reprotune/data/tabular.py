"""The preprocess stage for typed (tabular) tasks: columns checked, feature types declared or
inferred, values cast, labels encoded (a binary task's positive label last), seeded splits
stratified by class and, with a group column, grouped."""

import numpy as np
import pandas as pd

from reprotune.data.prepare import Splits, positive_last, subsample
from reprotune.data.settings import DataParams
from reprotune.errors import DataError, did_you_mean
from reprotune.features import FEATURE_TYPES, infer_type, is_missing

RESERVED = ("label", "label_name")


def check_column(frame: pd.DataFrame, key: str, column: str, split: str = "train") -> None:
    available = [str(c) for c in frame.columns]
    if column not in available:
        raise DataError(
            f"{key}: column {column!r} is not in the {split} split; "
            f"{did_you_mean(column, available)}fix: use one of {available}"
        )


def leak_guarded(data: DataParams) -> list[str]:
    """Columns a derived target is computed from: never features."""
    return data.target.columns if data.target is not None else []


def feature_columns(frame: pd.DataFrame, data: DataParams) -> dict[str, str]:
    """column -> declared type or 'auto', in the file's column order for `auto`."""
    if data.features == "auto":
        excluded = {data.label_column, data.group_column, *data.drop_columns, *leak_guarded(data)}
        return {str(c): "auto" for c in frame.columns if c not in excluded}
    return dict(data.features)


def check_columns(frames: dict[str, pd.DataFrame], data: DataParams) -> dict[str, str]:
    train = frames["train"]
    check_column(train, "data.label_column", data.label_column)
    for column in data.drop_columns:
        check_column(train, "data.drop_columns", column)
    if data.group_column is not None:
        for split, frame in frames.items():
            check_column(frame, "data.group_column", data.group_column, split)
    declared = feature_columns(train, data)
    if not declared:
        raise DataError("data.features selects no column; fix: declare at least one feature")
    for split, frame in frames.items():
        for column in declared:
            check_column(frame, f"data.features.{column}", column, split)
    for column in declared:
        if column in RESERVED:
            raise DataError(
                f"data.features.{column}: {column!r} is a name the processed splits use for "
                "the target; fix: rename the column in the data"
            )
    return declared


def resolve_types(train: pd.DataFrame, declared: dict[str, str]) -> tuple[dict, dict]:
    """Every feature's type (declarations win) and the ones that were inferred."""
    types, inferred = {}, {}
    for column, kind in declared.items():
        series = train[column]
        if is_missing(series).all():
            raise DataError(
                f"data.features.{column}: the column is empty in the training split (all "
                f"{len(series)} values missing); fix: drop it (remove it from data.features "
                "or add it to data.drop_columns)"
            )
        if kind == "auto":
            kind = inferred[column] = infer_type(series)
        types[column] = kind
    return types, inferred


def resolve_labels(frames: dict[str, pd.DataFrame], data: DataParams) -> list[str]:
    """Class names in label order; a binary task's positive label is the last (index 1)."""
    values = pd.concat([f[data.label_column] for f in frames.values()])
    values = values[~is_missing(values)].astype(str).str.strip()
    names = list(data.label_names) if data.label_names else sorted(values.unique())
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise DataError(
            f"data.label_names: labels {unknown[:5]} in column {data.label_column!r} are not "
            f"among {names}; fix: list every class"
        )
    return positive_last(names, data)


def table(frame: pd.DataFrame, types: dict, data: DataParams, names: list[str], split: str):
    target = frame[data.label_column]
    keep = ~is_missing(target)
    frame = frame[keep]
    columns = {
        column: FEATURE_TYPES[kind].cast(frame[column], column, split)
        for column, kind in types.items()
    }
    if data.group_column is not None:
        columns[data.group_column] = frame[data.group_column].astype(str)
    index = {name: i for i, name in enumerate(names)}
    columns["label"] = frame[data.label_column].astype(str).str.strip().map(index)
    result = pd.DataFrame(columns).reset_index(drop=True)
    result["label"] = result["label"].astype("int64")
    return result


# Rows with an empty target are dropped (nothing to learn or score); past this share the
# file, or data.label_column, is more likely wrong than a few labels missing.
MAX_SHARE_WITHOUT_TARGET = 0.2


def rows_without_target(frames: dict[str, pd.DataFrame], data: DataParams) -> dict[str, int]:
    """How many rows of each split have no target value (they are dropped); stops when they
    are too large a share to be a few missing labels."""
    counts = {split: int(is_missing(f[data.label_column]).sum()) for split, f in frames.items()}
    return check_rows_without_target(counts, sum(len(f) for f in frames.values()), data)


def check_rows_without_target(counts: dict[str, int], total: int, data: DataParams) -> dict:
    """`counts` (rows without a target, per split) when they are a few gaps of `total`."""
    dropped = sum(counts.values())
    if total and dropped / total > MAX_SHARE_WITHOUT_TARGET:
        raise DataError(
            f"{dropped:,} of {total:,} rows ({dropped / total:.0%}) have no value in the target "
            f"{data.label_column!r} (per split: {counts}); fix: check data.label_column and "
            "the file (more than a fifth of the labels missing is not a few gaps)"
        )
    return counts


def grouped_split(
    frame: pd.DataFrame, label: str, group: str, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """About `fraction` of the groups held out, stratified by class as far as groups allow;
    no group on both sides."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = frame[group].nunique()
    n_splits = min(max(2, round(1 / fraction)), n_groups)
    if n_splits < 2:
        raise DataError(
            f"data.group_column {group!r} has {n_groups} group(s), too few to split; "
            "fix: use another group column or set it to null"
        )
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    kept, held = next(folds.split(frame, frame[label].astype(str), frame[group].astype(str)))
    return frame.iloc[kept].reset_index(drop=True), frame.iloc[held].reset_index(drop=True)


def check_classes(tables: dict[str, pd.DataFrame], names: list[str]) -> None:
    for split, frame in tables.items():
        present = [names[i] for i in sorted(frame["label"].unique())]
        check_two_classes(split, present, len(frame))


def check_two_classes(split: str, present: list[str], rows: int) -> None:
    """A split with one class (`present`: the class names it holds) stops here."""
    if len(present) < 2:
        only = present[0] if present else "none"
        raise DataError(
            f"the {split} split holds a single class ({only!r}, {rows} rows): a "
            "model cannot learn or be scored on it; fix: use more rows (data.train_size, "
            "data.test_size, data.val_fraction) or check data.label_column"
        )


def split_validation(table: pd.DataFrame, data: DataParams, seed: int):
    if data.group_column is not None:
        return grouped_split(table, "label", data.group_column, data.val_fraction, seed)
    from reprotune.data.prepare import split_validation as stratified

    return stratified(table, data.val_fraction, seed)


def derive_target(frames: dict[str, pd.DataFrame], data: DataParams) -> dict:
    """data.label_column computed on every split, binned at the training split's edges;
    returns its definition for features.json."""
    from reprotune.data.target import binned, edges, score

    target = data.target
    if data.label_column in frames["train"].columns:
        raise DataError(
            f"data.label_column {data.label_column!r} names the derived target "
            "(data.target), but the data already has a column of that name; fix: set "
            "data.label_column to a new name, e.g. engagement"
        )
    scores = {split: score(f, target.expression, split) for split, f in frames.items()}
    cuts = edges(scores["train"], target.bins, target.quantiles)
    names = target.class_names()
    for split, frame in frames.items():
        frames[split] = frame.assign(
            **{data.label_column: binned(scores[split], cuts, names, split)}
        )
    return {
        "expression": target.expression,
        "bins": target.bins,
        "edges": cuts,
        "classes": names,
        "from_columns": target.columns,
    }


def load_images(
    frames: dict[str, pd.DataFrame], types: dict[str, str], data: DataParams, raw_dir
) -> dict[str, int]:
    """Image columns decoded, resized and stored as PNG bytes; rows skipped per column."""
    from reprotune.data.images import load_column

    skipped = {}
    for column in [c for c, kind in types.items() if kind == "image"]:
        skipped[column] = 0
        for split, frame in frames.items():
            frames[split], count = load_column(frame, column, raw_dir, data, split)
            skipped[column] += count
    return skipped


def split_schema(types: dict, inferred: dict, names: list[str], data: DataParams, without_target):
    """features.json: the feature types (which were inferred), the target and its classes'
    positive one, the columns left out and the rows dropped without a target."""
    return {
        "features": types,
        "inferred": inferred,
        "target": data.label_column,
        "positive_label": names[1] if len(names) == 2 else None,
        "drop_columns": list(data.drop_columns),
        "group_column": data.group_column,
        "dropped_without_target": without_target,
    }


def prepare_tabular(
    frames: dict[str, pd.DataFrame], data: DataParams, seed: int, raw_dir=None
) -> Splits:
    from reprotune import paths

    frames = dict(frames)
    target = derive_target(frames, data) if data.target is not None else None
    declared = check_columns(frames, data)
    types, inferred = resolve_types(frames["train"], declared)
    skipped = load_images(frames, types, data, raw_dir or paths.RAW_DIR)
    names = resolve_labels(frames, data)
    without_target = rows_without_target(frames, data)
    tables = {split: table(f, types, data, names, split) for split, f in frames.items()}
    for split, frame in tables.items():
        if frame.empty:
            raise DataError(f"the {split} split has no rows with a target value")
    check_classes(tables, names)
    pool = subsample(tables["train"], data.train_size, "data.train_size", seed)
    test = subsample(tables["test"], data.test_size, "data.test_size", seed)
    train, val = split_validation(pool, data, seed)
    splits = {"train": train, "val": val, "test": test}
    check_classes(splits, names)
    for frame in splits.values():
        frame.reset_index(drop=True, inplace=True)
        frame["label_name"] = np.asarray(names, dtype=object)[frame["label"].to_numpy()]
    schema = {
        **split_schema(types, inferred, names, data, without_target),
        **({"derived_target": target} if target else {}),
        **(
            {"images": {"size": data.images.size, "skipped_unreadable": skipped}} if skipped else {}
        ),
    }
    return Splits(splits["train"], splits["val"], splits["test"], names, schema)
