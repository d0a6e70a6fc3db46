"""`data.engine: spark`: fetch and preprocess of a table larger than one machine's memory.

The executors read the source files (CSV, Parquet or JSON lines; local, HDFS or S3 paths),
check and cast every column with the local path's own code (`tabular.table`, applied to each
partition through `mapInPandas`), draw the splits and write them; the driver reads only a
seeded sample (feature types, the contract and the training rows' profile) and counts. Splits
are drawn by hashing each row (its group, with data.group_column) with the seed: the same data
and seed give the same rows in every split whatever the partitioning, each class in the same
expected share (a Bernoulli draw per row, not the local path's exact stratified counts).
Each split is written as one Parquet file (Spark's part files joined in order, row group by
row group), so every stage reads data/processed/ as it does after a local preprocess.
"""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from reprotune import paths
from reprotune.data.prepare import sample_parquet
from reprotune.data.settings import DataParams
from reprotune.errors import DataError
from reprotune.io import sha256_file, staged_dir, write_json

SAMPLE_ROWS = 100_000  # what the driver reads of the training rows: types, contract, profile
HASH_BUCKETS = 1 << 30
JOIN_BATCH_ROWS = 65_536  # rows a time when Spark's part files are joined into one file


def session(data: DataParams, stage: str):
    from reprotune.sparkrun import spark_session

    return spark_session(data.spark, "data.spark", f"reprotune {stage}")


# ---- fetch ----------------------------------------------------------------------------


def fetch(data: DataParams, seed: int, out_dir: Path = paths.RAW_DIR) -> dict:
    """The configured files read by Spark and written to `out_dir` as train/test Parquet
    (the test split hashed off when there is no test file), with fetch's manifest."""
    files = {s: getattr(data.files, s) for s in paths.RAW_SPLITS if getattr(data.files, s)}
    with session(data, "fetch") as spark:
        frames = {split: read_source(spark, data, files[split], split) for split in files}
        columns = frames["train"].columns
        if data.label_column not in columns:
            raise DataError(
                f"data.label_column {data.label_column!r} is not a column of "
                f"data.files.train (columns: {columns}); fix: set data.label_column to the "
                "target column"
            )
        if "test" not in frames:
            frames["train"], frames["test"] = hash_split(
                frames["train"], data.test_fraction, seed, "test", data.group_column
            )
        with staged_dir(out_dir) as staging:
            for split, frame in frames.items():
                write_parquet(frame, staging / f"{split}.parquet")
            rows = {split: parquet_rows(staging / f"{split}.parquet") for split in frames}
            for split, count in rows.items():
                if count == 0:
                    raise DataError(f"the {split} split of {files} has no rows")
            manifest = {
                "source": data.source,
                "name": None,
                "revision": None,
                "files": files,
                "rows": rows,
                "columns": list(columns),
                "label_column": data.label_column,
                "label_names": data.label_names,
                "sha256": {f"{s}.parquet": sha256_file(staging / f"{s}.parquet") for s in frames},
                "engine": "spark",
            }
            write_json(staging / "manifest.json", manifest)
    return manifest


def read_source(spark, data: DataParams, location: str, split: str):
    key = f"data.files.{split}"
    if "://" not in location:
        path = paths.local_path(location)
        if not path.exists():
            raise DataError(
                f"{key} = {location!r}: no such file or folder (relative paths start at the "
                f"project root); fix: point {key} at an existing file, folder or hdfs:// / "
                "s3a:// path"
            )
        location = str(path)
    reader = spark.read
    try:
        if data.source == "csv":
            frame = (
                reader.option("header", data.csv.header)
                .option("sep", data.csv.sep)
                .option("quote", data.csv.quotechar)
                .option("inferSchema", False)  # strings, cast by the feature types
                .csv(location)
            )
        elif data.source == "parquet":
            frame = reader.parquet(location)
        else:
            frame = reader.json(location)
    except Exception as exc:  # Spark's AnalysisException: unreadable, not that format
        raise DataError(
            f"{key} = {location!r} could not be read as {data.source} by Spark: "
            f"{str(exc).splitlines()[0][:300]}; fix: check the path, or set data.source to "
            "its format"
        ) from None
    if data.source == "csv" and not data.csv.header:
        names = data.csv.columns or []
        if len(frame.columns) != len(names):
            raise DataError(
                f"{key} = {location!r} has {len(frame.columns)} columns but data.csv.columns "
                f"names {len(names)} ({names}); fix: name every column of the file"
            )
        frame = frame.toDF(*names)
    return frame


# ---- splits ---------------------------------------------------------------------------


def unit_hash(frame, seed: int, salt: str, group: str | None):
    """A number in [0, 1) per row from its values (its group's, when grouped) and the seed:
    the same row draws the same number on any partitioning; equal rows land together."""
    from pyspark.sql import functions as F

    keys = [F.col(group)] if group else [F.col(c) for c in frame.columns]
    hashed = F.xxhash64(F.lit(seed), F.lit(salt), *keys)
    return F.pmod(hashed, F.lit(HASH_BUCKETS)) / HASH_BUCKETS


def hash_split(frame, fraction: float, seed: int, salt: str, group: str | None = None):
    """(kept, held out): about `fraction` of the rows (or groups) held out."""
    drawn = frame.withColumn("__draw__", unit_hash(frame, seed, salt, group))
    kept = drawn.where(f"__draw__ >= {fraction}").drop("__draw__")
    held = drawn.where(f"__draw__ < {fraction}").drop("__draw__")
    return kept, held


def hash_sample(frame, rows: int | None, total: int, seed: int, salt: str):
    """About `rows` of `total` rows (data.train_size / test_size), drawn by hash."""
    if rows is None or rows >= total:
        return frame
    kept, _ = hash_split(frame, 1 - rows / total, seed, salt)
    return kept


# ---- writing --------------------------------------------------------------------------


def write_parquet(frame, target: Path) -> None:
    """`frame` as one Parquet file: Spark writes its part files in parallel, then they are
    joined in partition order, JOIN_BATCH_ROWS rows a time (the driver never holds the
    table; a part file's row group can be 128 MB)."""
    import pyarrow.parquet as pq

    parts_dir = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.parts."))
    try:
        frame.write.mode("overwrite").parquet(str(parts_dir))
        parts = sorted(parts_dir.glob("part-*.parquet"))
        schema = pq.read_schema(parts[0]) if parts else None
        if schema is None:  # no rows at all: Spark may write no part file
            frame.sparkSession.createDataFrame([], frame.schema).toPandas().to_parquet(target)
            return
        with pq.ParquetWriter(target, schema) as writer:
            for part in parts:
                for batch in pq.ParquetFile(part).iter_batches(batch_size=JOIN_BATCH_ROWS):
                    writer.write_batch(batch)
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


# ---- preprocess -----------------------------------------------------------------------


def preprocess(
    data: DataParams,
    seed: int,
    contract_file: Path | None = None,
    check_contract: Callable[[dict[str, pd.DataFrame]], str | None] | None = None,
    raw_dir: Path = paths.RAW_DIR,
    out_dir: Path = paths.PROCESSED_DIR,
) -> dict:
    """Typed splits written to `out_dir` by Spark, as the local preprocess writes them.
    Returns what the stage reports: per split its rows and classes (`counts`), the schema,
    the label names, a seeded sample of each split (`samples`: the MLflow dataset entries)
    and `check_contract`'s warning, the check made on those samples before publishing."""
    from reprotune.data import reference, tabular

    with session(data, "preprocess") as spark:
        raw = {s: spark.read.parquet(str(raw_dir / f"{s}.parquet")) for s in paths.RAW_SPLITS}
        heads = {s: pd.DataFrame(columns=frame.columns) for s, frame in raw.items()}
        declared = tabular.check_columns(heads, data)
        sample = sample_parquet(raw_dir / "train.parquet", SAMPLE_ROWS, seed)
        types, inferred = tabular.resolve_types(sample, declared)
        refuse_images(types)
        names = tabular.resolve_labels(label_values(raw, data.label_column), data)
        without_target, totals = missing_targets(raw, data.label_column)
        tabular.check_rows_without_target(without_target, sum(totals.values()), data)
        tables = {s: typed(frame, types, data, names, s) for s, frame in raw.items()}
        splits = draw_splits(tables, data, seed, totals)
        with staged_dir(out_dir) as staging:
            for split, frame in splits.items():
                write_parquet(frame, staging / f"{split}.parquet")
            counts = split_counts(spark, staging, names)
            for split, count in counts.items():
                present = [name for name, n in count["classes"].items() if n]
                tabular.check_two_classes(split, present, count["rows"])
            samples = {
                s: sample_parquet(staging / f"{s}.parquet", SAMPLE_ROWS, seed) for s in counts
            }
            warning = check_contract(samples) if check_contract else None
            schema = tabular.split_schema(types, inferred, names, data, without_target)
            schema["engine"] = "spark"
            write_json(staging / "labels.json", {"names": names})
            write_json(staging / "features.json", schema)
            reference.write(staging, samples["train"], types, contract_file)
    return {
        "counts": counts,
        "schema": schema,
        "label_names": names,
        "samples": samples,
        "warning": warning,
    }


def refuse_images(types: dict[str, str]) -> None:
    images = [column for column, kind in types.items() if kind == "image"]
    if images:
        raise DataError(
            f"data.features {images}: image features are not read on Spark (data.engine: "
            "spark); fix: set data.engine: local for a task with images"
        )


def label_values(raw: dict, label: str) -> dict[str, pd.DataFrame]:
    """Each split's distinct target values, as the small frames resolve_labels reads."""
    from pyspark.sql import functions as F

    values = {}
    for split, frame in raw.items():
        distinct = frame.select(F.trim(F.col(label).cast("string")).alias(label)).distinct()
        values[split] = distinct.toPandas()
    return values


def missing_targets(raw: dict, label: str) -> tuple[dict[str, int], dict[str, int]]:
    """Per split: rows without a target value (the local path's test of missing) and rows."""
    from reprotune.features import is_missing

    def count(batches):
        for batch in batches:
            missing = int(is_missing(batch[label]).sum())
            yield pd.DataFrame({"missing": [missing], "rows": [len(batch)]})

    missing, totals = {}, {}
    for split, frame in raw.items():
        summed = frame.select(label).mapInPandas(count, "missing long, rows long").groupBy().sum()
        row = summed.collect()[0]
        missing[split], totals[split] = int(row[0] or 0), int(row[1] or 0)
    return missing, totals


def typed(frame, types: dict[str, str], data: DataParams, names: list[str], split: str):
    """The split as the local preprocess writes it, cast partition by partition with the same
    code (`tabular.table`)."""
    import numpy as np

    from reprotune.data.tabular import table

    fields = [
        f"`{column}` {'double' if kind == 'number' else 'string'}" for column, kind in types.items()
    ]
    if data.group_column is not None:
        fields.append(f"`{data.group_column}` string")
    fields += ["label long", "label_name string"]
    label_names = np.asarray(names, dtype=object)

    def cast(batches):
        for batch in batches:
            result = table(batch, types, data, names, split)
            result["label_name"] = label_names[result["label"].to_numpy()]
            yield result

    return frame.mapInPandas(cast, ", ".join(fields))


def draw_splits(tables: dict, data: DataParams, seed: int, totals: dict[str, int]) -> dict:
    """train / val / test: data.train_size and data.test_size drawn, then data.val_fraction
    of the training rows (of their groups) held out for validation."""
    pool = hash_sample(tables["train"], data.train_size, totals["train"], seed, "train_size")
    test = hash_sample(tables["test"], data.test_size, totals["test"], seed, "test_size")
    train, val = hash_split(pool, data.val_fraction, seed, "val", data.group_column)
    return {"train": train, "val": val, "test": test}


def split_counts(spark, folder: Path, names: list[str]) -> dict:
    """Per written split: rows and rows per class (class_counts' shape)."""
    counts = {}
    for split in ("train", "val", "test"):
        per_class = (
            spark.read.parquet(str(folder / f"{split}.parquet")).groupBy("label").count().toPandas()
        )
        found = dict(zip(per_class["label"], per_class["count"], strict=True))
        counts[split] = {
            "rows": int(sum(found.values())),
            "classes": {name: int(found.get(i, 0)) for i, name in enumerate(names)},
        }
    return counts
