"""Batch scoring (`reprotune predict`): a table — CSV, Parquet or JSON lines, a file or an http(s)
URL, any size — scored by a model in chunks streamed with pyarrow, so memory stays flat however
many rows there are; the predictions go to a Parquet file that appears only when every row is
scored (written beside it under a temporary name, then renamed).

Each output row holds the input's row number (`row`, from 0), the kept input columns (by
default every column that is not a feature: ids, a label column), the decision
(`prediction`), every class's probability (`probability_<class>`), the tuned threshold of a
binary model and the model version that scored it."""

import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow as pa

from reprotune.drift import DATASET_SHARE, Sample, stored_columns
from reprotune.errors import DataError
from reprotune.features import FEATURE_TYPES
from reprotune.io import publish_mode

CHUNK_ROWS = 50_000
TEXT_COLUMN = "text"  # what a text model reads from a scored table
SEPARATORS = (",", ";", "\t", "|")
SHOWN_BAD_ROWS = 5


@dataclass
class ScoreReport:
    rows: int  # input rows read
    scored: int
    rejected: int
    seconds: float
    out: Path
    rejects: Path | None
    drift: dict | None = None  # the scored rows against the model's training rows
    # Every breach of the model's data contract (per column and check); None: not checked.
    contract: list[dict] | None = None


def score_table(
    model,
    source: str,
    out: Path,
    *,
    keep: list[str] | None = None,
    on_error: str = "fail",
    rejects: Path | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = False,
    contract: str = "count",
) -> ScoreReport:
    """Score every row of `source` with `model` (a service.model.ServedModel) into `out`.

    on_error "fail": the first chunk holding a value the model cannot take stops the run
    (DataError naming rows, columns and values; nothing is written). "skip": such rows go
    to `rejects` (Parquet, with an `error` column) and the others are scored.

    contract "count": every row is checked against the model's data contract and the breaches
    are reported (the rows are still scored); "enforce": the first block of rows (Tally's
    BLOCK_ROWS) with a breach stops the run (DataError with the table; nothing is written);
    "off"."""
    start = time.perf_counter()
    out = Path(out)
    rejects = Path(rejects) if rejects else out.with_name(f"{out.stem}.rejects.parquet")
    with contextlib.ExitStack() as stack:
        path = stack.enter_context(_local_copy(source))
        batches, total = _batches(path, chunk_rows)
        bar = stack.enter_context(_progress(total, progress))
        writer = stack.enter_context(_AtomicParquet(out))
        rejected_writer = (
            stack.enter_context(_AtomicParquet(rejects)) if on_error == "skip" else None
        )
        stack.enter_context(_terminate_as_interrupt())
        offset = scored = rejected = 0
        sample = Sample(model.profile) if model.profile else None
        tally = _contract_tally(model, contract, source)
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if sample is not None:
                stored = stored_columns(model.profile, profiled_columns(table, model.profile))
                sample.add_stored(stored)
                if tally is not None:
                    _check_contract(tally, stored, offset, contract)
            good, errors, typed = find_bad_rows(model, table, offset, path.parent)
            if errors is not None and on_error == "fail":
                raise DataError(errors.describe())
            if errors is not None:
                rejected_writer.write(errors.table)
                rejected += errors.count
            kept = table.filter(pa.array(good)) if errors is not None else table
            if errors is not None:
                typed = {column: values[good] for column, values in typed.items()}
            rows = np.flatnonzero(good) + offset
            writer.write(score_chunk(model, kept, rows, keep, path.parent, typed))
            scored += len(rows)
            offset += batch.num_rows
            bar.update(batch.num_rows)
        if tally is not None:
            _check_contract(tally, None, offset, contract)  # the last block
        if rejected_writer is not None and not rejected:
            rejected_writer.discard()
    return ScoreReport(
        offset,
        scored,
        rejected,
        time.perf_counter() - start,
        out,
        rejects if rejected else None,
        sample.report() if sample is not None else None,
        tally.violations() if tally is not None else None,
    )


def _contract_tally(model, mode: str, source: str):
    """The model's whole data contract (pandera, vectorized), or None: off, or a model saved
    before models carried one."""
    # The check runs on the rows' stored form, which the profile's feature types give.
    if mode == "off" or not model.profile or model.contract is None or not model.contract.path:
        return None
    from reprotune.data import contract

    return contract.Tally(contract.read(model.contract.path), source)


def _check_contract(tally, stored: "pd.DataFrame | None", offset: int, mode: str) -> None:
    """Gather `stored` (None: the end of the table); stop on a breach under enforce (the
    output is published only at the end, so nothing is written)."""
    found = tally.add(stored, offset) if stored is not None else tally.flush()
    if found and mode == "enforce":
        from reprotune.data.contract import render

        raise DataError(
            f"{tally.source}: rows break the model's data contract (--contract enforce; "
            f"nothing written):\n{render(found)}\nfix: correct those rows, or score them with "
            "--contract count to only report the breaches"
        )


def profiled_columns(table: pa.Table, profile: dict) -> "pd.DataFrame":
    names = [c for c in profile["features"] if c in table.column_names]
    return table.select(names).to_pandas()


def table_drift(
    profile: dict, source: str, share: float = DATASET_SHARE, chunk_rows: int = CHUNK_ROWS
) -> dict:
    """`source`'s rows (a sample of them, for a large file) against the reference profile."""
    checked = False
    sample = Sample(profile)
    with _local_copy(source) as path:
        batches, _ = _batches(path, chunk_rows)
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if not checked:
                missing = [c for c in profile["features"] if c not in table.column_names]
                if missing:
                    raise DataError(
                        f"--data {source!r} lacks the feature column(s) {missing} the model "
                        f"trained on; fix: add them (columns: {table.column_names[:20]})"
                    )
                checked = True
            sample.add(profiled_columns(table, profile))
    if not sample.rows:
        raise DataError(f"--data {source!r} has no rows; fix: point it at a file with data")
    return sample.report(share)


def score_chunk(
    model, table: pa.Table, rows: np.ndarray, keep, folder: Path, typed: dict
) -> pa.Table:
    """The output rows of one chunk (already free of bad rows; `typed`: its columns the
    feature types' Arrow pass already typed)."""
    candidate = model.candidate
    frame = model_inputs(model, table, folder, typed)
    proba = np.asarray(candidate.predict_proba(frame)) if len(rows) else np.zeros((0, 0))
    from reprotune.models import decide

    decisions = decide(proba, candidate.threshold) if len(rows) else np.zeros(0, int)
    names = np.asarray(candidate.label_names, dtype=object)
    columns = {"row": pa.array(rows, pa.int64())}
    for column in kept_columns(model, table.column_names, keep):
        columns[column] = table.column(column)
    columns["prediction"] = pa.array(names[decisions].tolist(), pa.string())
    for i, name in enumerate(candidate.label_names):
        columns[f"probability_{name}"] = pa.array(proba[:, i] if len(rows) else [], pa.float64())
    if candidate.threshold is not None:
        columns["threshold"] = pa.array(np.full(len(rows), candidate.threshold), pa.float64())
    columns["model_version"] = pa.array([model.version] * len(rows), pa.string())
    return pa.table(columns)


def model_inputs(model, table: pa.Table, folder: Path, typed: dict):
    """What the model's predict_proba takes, from a chunk: the typed feature columns (image
    paths relative to the scored file's folder), or the text column."""
    candidate = model.candidate
    if not candidate.typed_inputs:
        return table.column(TEXT_COLUMN).to_pandas().fillna("").astype(str).tolist()
    columns = {}
    for column, kind in candidate.features.items():
        if column in typed:
            columns[column] = typed[column]
            continue
        values = table.column(column).to_numpy(zero_copy_only=False)
        if kind == "image":
            values = np.array([_beside(v, folder) for v in values], dtype=object)
        columns[column] = values
    return candidate.select_inputs_from_columns(columns)


def kept_columns(model, names: list[str], keep: list[str] | None) -> list[str]:
    if keep is not None:
        unknown = [c for c in keep if c not in names]
        if unknown:
            raise DataError(
                f"--keep {unknown}: not columns of the table (it has {names[:20]}); fix: name "
                "columns it has"
            )
        return list(keep)
    used = set(model.candidate.features or {TEXT_COLUMN: "text"})
    return [n for n in names if n not in used and n not in OUTPUT_NAMES]


OUTPUT_NAMES = ("row", "prediction", "threshold", "model_version")


@dataclass
class BadRows:
    rows: list[int]  # input row numbers, from 0
    messages: list[str]  # per bad row: its columns and values
    table: pa.Table  # the bad input rows with `row` and `error`

    @property
    def count(self) -> int:
        return len(self.rows)

    def describe(self) -> str:
        shown = "; ".join(
            f"row {r}: {m}" for r, m in zip(self.rows[:SHOWN_BAD_ROWS], self.messages, strict=False)
        )
        more = f" (and {self.count - SHOWN_BAD_ROWS} more)" if self.count > SHOWN_BAD_ROWS else ""
        return (
            f"{self.count} row(s) hold values the model cannot take: {shown}{more}; fix: "
            "correct those values, or pass --on-error skip to score the other rows and write "
            "these to a rejects file"
        )


def find_bad_rows(model, table: pa.Table, offset: int, folder: Path):
    """(mask of good rows, BadRows or None, {column: model inputs} for the columns a feature
    type's Arrow pass typed) of one chunk; DataError if a feature column is missing."""
    features = model.candidate.features or {TEXT_COLUMN: "text"}
    missing = [c for c in features if c not in table.column_names]
    if missing:
        raise DataError(
            f"the table lacks the model's input column(s) {missing} (it has "
            f"{table.column_names[:20]}); fix: add them, or score with the model that reads "
            "these columns"
        )
    bad = np.zeros(table.num_rows, dtype=bool)
    reasons: dict[int, list[str]] = {}
    typed = {}
    for column, kind in features.items():
        fast = FEATURE_TYPES[kind].arrow_inputs(table.column(column))
        if fast is not None:
            typed[column], invalid = fast
        else:
            values = table.column(column).to_pandas()
            if kind == "image":
                values = values.map(lambda v: _beside(v, folder))
            invalid = FEATURE_TYPES[kind].invalid(values).to_numpy()
        for i in np.flatnonzero(invalid):
            value = table.column(column)[int(i)].as_py()
            reasons.setdefault(int(i), []).append(f"{column}={_short(value)} ({kind})")
        bad |= invalid
    if not bad.any():
        return ~bad, None, typed
    where = np.flatnonzero(bad)
    messages = [", ".join(reasons[int(i)]) for i in where]
    rejected = table.filter(pa.array(bad))
    rejected = rejected.append_column("row", pa.array(where + offset, pa.int64()))
    rejected = rejected.append_column("error", pa.array(messages, pa.string()))
    return ~bad, BadRows([int(i) + offset for i in where], messages, rejected), typed


def _short(value) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _beside(value, folder: Path):
    """An image path relative to the scored file's folder, as init reads them."""
    if isinstance(value, str) and value.strip() and len(value) < 1024:
        path = Path(value.strip())
        if not path.is_absolute() and (folder / path).is_file():
            return str(folder / path)
    return value


# -- reading ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _local_copy(source: str) -> Iterator[Path]:
    """A URL is downloaded to a temporary file first (streamed; removed afterwards)."""
    if urlparse(source).scheme not in ("http", "https"):
        path = Path(source).expanduser()
        if not path.is_file():
            raise DataError(f"--data {source!r}: no such file; fix: check the path")
        yield path
        return
    from reprotune.data.download import download_to

    with tempfile.TemporaryDirectory(prefix="reprotune-predict-") as folder:
        target = Path(folder) / (Path(urlparse(source).path).name or "download")
        download_to(source, target, "--data", progress=True)
        yield target


def _batches(path: Path, chunk_rows: int) -> tuple[Iterator[pa.RecordBatch], int | None]:
    """The file's record batches (of about chunk_rows rows) and its row count when known."""
    suffix = path.suffix.lower()
    try:
        if path.is_file() and path.stat().st_size == 0:
            raise DataError(
                f"--data {str(path)!r} is empty (0 bytes); fix: point at a file with a header "
                "row and data rows"
            )
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            handle = pq.ParquetFile(path)
            return _readable(handle.iter_batches(batch_size=chunk_rows), path), (
                handle.metadata.num_rows
            )
        if suffix in (".json", ".jsonl", ".ndjson"):
            return _readable(_json_batches(path, chunk_rows), path), None
        return _readable(_csv_batches(path, chunk_rows), path), None
    except (pa.ArrowInvalid, OSError) as exc:
        raise unreadable(path, exc) from None


def unreadable(path: Path, exc: Exception) -> DataError:
    """One line for a file that is not the table it claims to be (truncated, another format)."""
    reason = str(exc).splitlines()[0][:200]
    kind = path.suffix.lower().lstrip(".") or "csv"
    shape = {
        "parquet": "a complete Parquet file",
        "json": "JSON lines, or one array of records",
        "jsonl": "one JSON record a line",
        "ndjson": "one JSON record a line",
    }.get(kind, "a header row, then one row a line")
    return DataError(
        f"--data {str(path)!r} could not be read as a {kind} table: {reason}; fix: check "
        f"that the file is complete and is {shape}"
    )


def _readable(batches: Iterator[pa.RecordBatch], path: Path) -> Iterator[pa.RecordBatch]:
    """The batches, with a parse error met while reading (a truncated file, text that is not a
    table) turned into one line naming the file."""
    try:
        yield from batches
    except (pa.ArrowInvalid, OSError, ValueError, UnicodeDecodeError) as exc:
        raise unreadable(path, exc) from None


def _csv_batches(path: Path, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """Every column as text (types come from the model's features, as in training);
    the separator detected from the header line."""
    import pyarrow.csv as pcsv

    with open(path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    sep = max(SEPARATORS, key=header.count)
    columns = pcsv.read_csv(
        pa.py_buffer(header.encode()), parse_options=pcsv.ParseOptions(delimiter=sep)
    ).column_names
    reader = pcsv.open_csv(
        path,
        read_options=pcsv.ReadOptions(block_size=max(1 << 16, chunk_rows * 200)),
        parse_options=pcsv.ParseOptions(delimiter=sep, newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types={c: pa.string() for c in columns}, strings_can_be_null=False
        ),
    )
    yield from _rebatch(reader, chunk_rows)


def _json_batches(path: Path, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """JSON lines streamed; a JSON array (one document) read whole."""
    import pyarrow.json as pjson

    with open(path, "rb") as handle:
        first = handle.read(64).lstrip()
    if first.startswith(b"["):
        frame = pd.read_json(path)
        yield from pa.Table.from_pandas(frame, preserve_index=False).to_batches(chunk_rows)
        return
    reader = pjson.open_json(path, read_options=pjson.ReadOptions(block_size=1 << 22))
    yield from _rebatch(reader, chunk_rows)


def _rebatch(reader, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of at most chunk_rows rows, whatever block size the reader used."""
    for batch in reader:
        for start in range(0, batch.num_rows, chunk_rows):
            yield batch.slice(start, chunk_rows)


# -- writing ---------------------------------------------------------------------------------


class _AtomicParquet:
    """A Parquet file written under a temporary name beside `path` and renamed over it when
    the block succeeds; on any failure (or Ctrl-C, SIGTERM) the temporary file is removed."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.writer = None
        self.tmp: Path | None = None
        self.discarded = False

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        os.close(fd)
        self.tmp = Path(tmp)
        return self

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, table.schema)
        elif table.schema != self.writer.schema:
            table = table.cast(self.writer.schema)
        self.writer.write_table(table)

    def discard(self) -> None:
        self.discarded = True

    def __exit__(self, kind, value, traceback):
        if self.writer is not None:
            self.writer.close()
        if kind is None and not self.discarded:
            if self.writer is None:  # no chunk at all: an empty file with no columns
                import pyarrow.parquet as pq

                pq.write_table(pa.table({}), self.tmp)
            publish_mode(self.tmp, 0o666)
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the temporary files are removed."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _progress(total: int | None, enabled: bool):
    from tqdm import tqdm

    with tqdm(
        total=total, unit="rows", unit_scale=True, desc="predict", disable=not enabled
    ) as bar:
        yield bar


# -- Apache Spark ----------------------------------------------------------------------------


def score_on_spark(
    model,
    model_uri: str,
    source: str,
    out: str,
    *,
    keep: list[str] | None = None,
    master: str | None = None,
) -> int:
    """The same scoring on Apache Spark: `mlflow.pyfunc.spark_udf` over the MLflow model (each
    executor loads it once and scores its partitions in Arrow batches through the model's
    python_function flavor, the code `mlflow models serve` runs). `out` is a Parquet folder
    (Spark writes part files, then `_SUCCESS`). `master`: None keeps the session's (spark-submit
    or a cluster's), else e.g. "local[2]". Returns the rows written."""
    import mlflow.pyfunc
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    if master and master.startswith("local"):  # the executors are this machine's: this venv
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("reprotune predict")
    if master:
        builder = builder.master(master)
    if master and master.startswith("local"):
        # One machine: the driver on loopback (the host name may not resolve, and nothing
        # needs to reach it from outside) and no web UI on port 4040.
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
        )
    spark = builder.getOrCreate()
    frame = _spark_table(spark, source)
    features = model.candidate.features or {TEXT_COLUMN: "text"}
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise DataError(f"the table lacks the model's input column(s) {missing}; fix: add them")
    for column, kind in features.items():
        spark_type = "double" if kind == "number" else "string"
        frame = frame.withColumn(column, F.col(column).cast(spark_type))
    outputs = "label string, probability double"
    if model.candidate.threshold is not None:
        outputs += ", positive_probability double, threshold double"
    predict = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=outputs, env_manager="local")
    kept = kept_columns(model, frame.columns, keep)
    scored = frame.withColumn("_scored", predict(*features)).select(
        *kept,
        F.col("_scored.label").alias("prediction"),
        *(
            [
                F.col("_scored.positive_probability").alias(
                    f"probability_{model.candidate.label_names[1]}"
                )
            ]
            if model.candidate.threshold is not None
            else [F.col("_scored.probability").alias("probability")]
        ),
        F.lit(model.version).alias("model_version"),
    )
    scored.write.mode("overwrite").parquet(out)  # a URI (hdfs://, s3a://) stays as given
    return spark.read.parquet(out).count()


def _spark_table(spark, source: str):
    suffix = Path(urlparse(source).path).suffix.lower()
    if suffix == ".parquet":
        return spark.read.parquet(source)
    if suffix in (".json", ".jsonl", ".ndjson"):
        return spark.read.json(source)
    sep = ","
    if Path(source).is_file():  # a local file: its separator, detected as for the local path
        with open(source, encoding="utf-8", errors="replace") as handle:
            sep = max(SEPARATORS, key=handle.readline().count)
    return spark.read.csv(source, header=True, sep=sep, multiLine=True, escape='"')
