"""Data sources for the fetch stage: Hub datasets, tabular files (local or http), scikit-learn.

Each source returns the raw splits as DataFrames plus what is known of the labels; `fetch`
writes them as parquet with a manifest (source, revision, rows, columns, sha256 per file).
"""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reprotune import paths
from reprotune.data.download import download, is_url
from reprotune.data.settings import DataParams
from reprotune.errors import DataError, did_you_mean
from reprotune.io import sha256_file, staged_dir, write_json

OFFLINE_HINT = (
    "fix: if this machine is offline, point the pipeline at local copies instead, e.g. for "
    "the original AG News CSV files: data.source: csv, data.files.train: PATH/train.csv, "
    "data.files.test: PATH/test.csv, data.csv.header: false, "
    "data.csv.columns: [label, title, description], data.text_columns: [title, description], "
    "data.label_base: 1, data.label_names: [World, Sports, Business, Sci/Tech]"
)


@dataclass
class RawData:
    splits: dict[str, pd.DataFrame]
    label_names: list[str] | None = None
    revision: str | None = None
    files: dict[str, str] = field(default_factory=dict)


def fetch(data: DataParams, seed: int, out_dir: Path = paths.RAW_DIR) -> dict:
    """Load the configured source and write `out_dir` atomically. Returns the manifest."""
    if data.engine == "spark":  # read and written by Spark's executors, not held here
        from reprotune.data import on_spark

        return on_spark.fetch(data, seed, out_dir)
    raw = load_source(data, seed)
    for split, frame in raw.splits.items():
        if frame.empty:
            raise DataError(f"the {split} split of {describe_source(data)} has no rows")
    with staged_dir(out_dir) as staging:
        from reprotune.data.images import localise

        images = localise(raw.splits, local_files(raw.files), data, staging)
        checksums = {}
        for split, frame in raw.splits.items():
            target = staging / f"{split}.parquet"
            frame.to_parquet(target, index=False)
            checksums[target.name] = sha256_file(target)
        manifest = {
            "source": data.source,
            "name": data.name if data.source in ("hf", "sklearn", "openml") else None,
            "revision": raw.revision,
            "files": raw.files,
            "rows": {split: len(frame) for split, frame in raw.splits.items()},
            "columns": [str(c) for c in next(iter(raw.splits.values())).columns],
            "label_column": data.label_column,
            "label_names": raw.label_names,
            "sha256": checksums,
            **({"images": images} if images else {}),
        }
        write_json(staging / "manifest.json", manifest)
    return manifest


def local_files(files: dict[str, str]) -> dict[str, str]:
    """Each split's data file as fetch read it: a URL, or an absolute local path (relative
    paths start at the project root)."""
    return {
        split: location if is_url(location) else str(paths.local_path(location))
        for split, location in files.items()
    }


def describe_source(data: DataParams) -> str:
    if data.source in ("hf", "sklearn", "openml"):
        return f"{data.source} dataset {data.name!r}"
    return f"{data.source} files {data.files.train!r} / {data.files.test!r}"


def load_source(data: DataParams, seed: int) -> RawData:
    if data.source == "hf":
        return load_hub_dataset(
            data.name, data.revision, data.label_column, data.test_fraction, seed
        )
    if data.source == "sklearn":
        return load_sklearn_dataset(data.name, data.label_column, data.test_fraction, seed)
    if data.source == "openml":
        return load_openml_dataset(data, seed)
    return load_files(data, seed)


OPENML_CACHE = Path.home() / ".cache" / "reprotune" / "openml"


def load_openml_dataset(data: DataParams, seed: int, cache: Path = OPENML_CACHE) -> RawData:
    """An OpenML dataset by name (data.revision: its version, default the active one) or by
    numeric id, through scikit-learn's `fetch_openml`, cached under ~/.cache/reprotune."""
    from sklearn.datasets import fetch_openml

    by_id = str(data.name).isdigit()
    try:
        bunch = fetch_openml(
            name=None if by_id else data.name,
            data_id=int(data.name) if by_id else None,
            version=int(data.revision) if data.revision else "active",
            as_frame=True,
            data_home=str(cache),
            n_retries=1,
            delay=0.5,
        )
    except Exception as exc:  # offline: URLError/OSError; unknown names: ValueError
        raise DataError(
            f"could not load OpenML dataset {data.name!r}: {type(exc).__name__}: {exc}\n"
            "fix: check the name or id; offline, download it once where the network is "
            f"reachable (it is cached in {cache}), or export it to CSV and use data.source: csv"
        ) from exc
    frame = bunch.frame
    target = bunch.target_names[0] if bunch.target_names else data.label_column
    frame = frame.rename(columns={target: data.label_column})
    train, test = split_off_test(frame, data, seed)
    return RawData({"train": train, "test": test}, revision=str(bunch.details.get("version")))


def load_hub_dataset(
    name: str, revision: str | None, label_column: str, test_fraction: float, seed: int
) -> RawData:
    from reprotune import hub

    unreachable = hub.check_reachable(name, "dataset")
    if unreachable not in (None, "cached"):
        raise DataError(
            f"could not download Hub dataset {name!r}: the Hugging Face Hub is out of reach "
            f"({unreachable}) and no copy is cached\n{OFFLINE_HINT}"
        )
    import datasets  # heavy: only this source needs it

    try:
        dataset = datasets.load_dataset(name, revision=revision)
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise DataError(
            f"could not download Hub dataset {name!r} (revision {revision or 'main'}): "
            f"{type(exc).__name__}: {exc}\n{OFFLINE_HINT}"
        ) from exc
    except Exception as exc:  # datasets wraps network and lookup failures in many types
        raise DataError(
            f"could not load Hub dataset {name!r} (revision {revision or 'main'}): "
            f"{type(exc).__name__}: {exc}\n{OFFLINE_HINT}"
        ) from exc
    if "train" not in dataset:
        raise DataError(f"Hub dataset {name!r} has no 'train' split (it has {list(dataset)})")
    train = dataset["train"].to_pandas()
    if "test" in dataset:
        test = dataset["test"].to_pandas()
    else:
        train, test = _split_off_test(train, label_column, test_fraction, seed)
    feature = dataset["train"].features.get(label_column)
    label_names = list(feature.names) if hasattr(feature, "names") else None
    return RawData({"train": train, "test": test}, label_names, revision=revision or "main")


def load_sklearn_dataset(name: str, label_column: str, test_fraction: float, seed: int) -> RawData:
    from sklearn import datasets as sk_datasets

    bunch = getattr(sk_datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.rename(columns={"target": label_column})
    train, test = _split_off_test(frame, label_column, test_fraction, seed)
    return RawData({"train": train, "test": test}, [str(n) for n in bunch.target_names])


def _split_off_test(
    frame: pd.DataFrame, label_column: str, test_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        frame, test_size=test_fraction, stratify=frame[label_column], random_state=seed
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


STRATUM = "__stratum__"


def split_off_test(frame: pd.DataFrame, data: DataParams, seed: int):
    """A test split carved from one table: stratified by the target, and by group when
    data.group_column is set (no group straddles train and test). A derived target
    (data.target) is stratified by its value's bins over the whole table."""
    if data.target is not None:
        from reprotune.data.target import binned, edges, score

        scores = score(frame, data.target.expression, "source")
        names = data.target.class_names()
        cuts = edges(scores, data.target.bins, data.target.quantiles)
        strata = frame.assign(**{STRATUM: binned(scores, cuts, names, "source").fillna("")})
        stratified = data.model_copy(update={"label_column": STRATUM, "target": None})
        return tuple(
            part.drop(columns=STRATUM) for part in split_off_test(strata, stratified, seed)
        )
    counts = frame[data.label_column].value_counts() if data.label_column in frame else None
    if counts is not None and (len(counts) < 2 or counts.min() < 2):
        raise DataError(
            f"data.label_column {data.label_column!r} has too few rows of some class to hold "
            f"out a test split by class ({counts.to_dict()}); fix: use more data, or a target "
            "with at least two classes of two rows each"
        )
    if data.label_column not in frame.columns:
        raise DataError(
            f"data.label_column {data.label_column!r} is not a column of "
            f"{describe_source(data)} (columns: {[str(c) for c in frame.columns]}); "
            f"{did_you_mean(data.label_column, frame.columns)}"
            "fix: set data.label_column to the target column"
        )
    if data.group_column is None:
        return _split_off_test(frame, data.label_column, data.test_fraction, seed)
    from reprotune.data.tabular import check_column, grouped_split

    check_column(frame, "data.group_column", data.group_column, "source")
    return grouped_split(frame, data.label_column, data.group_column, data.test_fraction, seed)


def load_files(data: DataParams, seed: int = 0) -> RawData:
    splits, files = {}, {}
    with tempfile.TemporaryDirectory(prefix="reprotune-download-") as downloads:
        for split in paths.RAW_SPLITS:
            location = getattr(data.files, split)
            if location is None:
                continue
            local = _localise(location, f"data.files.{split}", Path(downloads))
            splits[split] = _read_table(local, data, f"data.files.{split}")
            files[split] = location
    if "test" not in splits:
        frame = splits.pop("train")
        if frame.empty:
            raise DataError(f"data.files.train = {data.files.train!r} has no rows")
        splits["train"], splits["test"] = split_off_test(frame, data, seed)
    return RawData(splits, data.label_names, files=files)


def _localise(location: str, key: str, downloads: Path) -> Path:
    if is_url(location):
        return download(location, downloads, key)
    path = paths.local_path(location)
    if not path.is_file():
        raise DataError(
            f"{key} = {location!r}: no such file (relative paths start at the project root); "
            f"fix: point {key} at an existing file or an http(s) URL"
        )
    return path


def _read_table(path: Path, data: DataParams, key: str) -> pd.DataFrame:
    try:
        if data.source == "csv":
            return _read_csv(path, data, key)
        if data.source == "parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=path.suffix in (".jsonl", ".ndjson"))
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"{key} = {str(path)!r} could not be read as {data.source}: "
            f"{type(exc).__name__}: {exc}; fix: check the file, or set data.source to its format"
        ) from exc


def _read_csv(path: Path, data: DataParams, key: str) -> pd.DataFrame:
    options = {"sep": data.csv.sep, "quotechar": data.csv.quotechar, "keep_default_na": False}
    if data.csv.header:
        frame = pd.read_csv(path, **options)
        if frame.shape[1] == 1 and data.csv.sep == ",":
            for sep in (";", "\t", "|"):
                if sep in str(frame.columns[0]):
                    raise DataError(
                        f"{key} = {str(path)!r} reads as one column {frame.columns[0][:60]!r}; "
                        f"fix: set data.csv.sep to {sep!r}"
                    )
        return frame
    frame = pd.read_csv(path, header=None, **options)
    names = data.csv.columns or []
    if frame.shape[1] != len(names):
        raise DataError(
            f"{key} = {str(path)!r} has {frame.shape[1]} columns but data.csv.columns names "
            f"{len(names)} ({names}); fix: name every column of the file"
        )
    frame.columns = names
    return frame
