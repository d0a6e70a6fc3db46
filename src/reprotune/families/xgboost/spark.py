"""`engine: spark`: an XGBoost candidate trained on Apache Spark.

The driver reads a sample of the training split (`spark.encoder_rows`, never the whole table)
and fits the same feature encoder the local path uses; the executors read the Parquet splits,
apply that encoder to their partitions (`mapInPandas`) and train with XGBoost's own PySpark
estimator (`xgboost.spark.SparkXGBClassifier`: early stopping on the validation split through
`validation_indicator_col`, the class weight, the seed). The booster comes back as an
`XGBClassifier` behind the encoder, the family's usual saved pipeline, so evaluate, compare,
the registry, serve, predict and explain take it as any other. The validation split's
probabilities (for the decision threshold) and the test split's (for evaluate) are computed on
the executors; only they and the labels reach the driver.
"""

import importlib.util
import logging
import os
import shutil
import socket
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from reprotune.errors import DataError
from reprotune.runtime import verbose

CONNECT_TIMEOUT_S = 5
# XGBClassifier settings the Spark estimator sets itself (the objective) or has no use for.
LOCAL_ONLY = ("objective", "n_jobs", "enable_categorical", "feature_types", "max_cat_to_onehot")


def check_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") or (java_home and (Path(java_home) / "bin" / "java").is_file()):
        return
    raise DataError(
        "engine: spark needs a Java runtime (Spark runs on the JVM) and none was found; fix: "
        "install one (Debian: apt-get install default-jre-headless) or set JAVA_HOME"
    )


def check_master(master: str) -> None:
    """A spark:// master that does not answer stops here, in seconds, not after Spark's
    retries."""
    if not master.startswith("spark://"):
        return
    for address in master.removeprefix("spark://").split(","):
        parsed = urlparse(f"spark://{address}")
        try:
            with socket.create_connection(
                (parsed.hostname, parsed.port or 7077), CONNECT_TIMEOUT_S
            ):
                return
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
    raise DataError(
        f"train.candidates.<name>.spark.master = {master!r} cannot be reached ({reason}); fix: "
        "start the master (sbin/start-master.sh), correct the address, or use local[2]"
    )


def check_executors(spark) -> None:
    """The executors' Python must import this package and XGBoost: a task asks them."""

    def probe(_):
        found = {m: importlib.util.find_spec(m) is not None for m in ("reprotune", "xgboost")}
        return [sys.executable, found]

    try:
        python, found = spark.sparkContext.parallelize([0], 1).map(probe).collect()[0]
    except Exception as exc:  # the worker's Python could not even start
        raise DataError(
            f"the Spark executors could not run Python ({str(exc).splitlines()[0][:200]}); "
            "fix: install this environment on the workers and point PYSPARK_PYTHON at it"
        ) from None
    missing = [m for m, ok in found.items() if not ok]
    if missing:
        raise DataError(
            f"the Spark executors' Python ({python}) lacks {', '.join(missing)}; fix: install "
            "this project's environment on every worker (pip install -c constraints.txt .) "
            "and set PYSPARK_PYTHON to that interpreter"
        )


@contextmanager
def spark_session(settings):
    """A Spark session for `settings` (SparkSettings), checked before any data is read."""
    check_java()
    check_master(settings.master)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local executors: this venv
    if settings.master.startswith("local"):  # not "hostname resolves to a loopback address"
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("reprotune train").master(settings.master)
    if settings.master.startswith("local"):
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
        )
    # Scores come back to the driver as Arrow columns (validation_probabilities, ...).
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    if not verbose():  # Spark's stage bars, its start-up log lines, XGBoost's INFO lines
        builder = builder.config("spark.ui.showConsoleProgress", "false")
        builder = builder.config("spark.driver.extraJavaOptions", quiet_log4j_option())
        logging.getLogger("XGBoost-PySpark").setLevel(logging.WARNING)
        # PySpark's note on pandas 3, in this process and in the Python workers it starts.
        warnings.filterwarnings("ignore", PANDAS_NOTE, FutureWarning)
        os.environ.setdefault("PYTHONWARNINGS", f"ignore:{PANDAS_NOTE}:FutureWarning")
    for key, value in settings.conf.items():  # the user's settings win
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        check_executors(spark)
        yield spark
    finally:
        spark.stop()


PANDAS_NOTE = "PySpark does not yet fully support"
QUIET_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""


def quiet_log4j_option() -> str:
    """The JVM's logging at ERROR, in place of Spark's default profile (which prints its
    start-up warnings), from a log4j2 file in the temp folder."""
    path = Path(tempfile.gettempdir()) / "reprotune-log4j2-quiet.properties"
    if not path.is_file() or path.read_text() != QUIET_LOG4J:
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text(QUIET_LOG4J)
        partial.replace(path)
    return f"-Dlog4j2.configurationFile=file:{path}"


def encoded_frame(train, val_path: Path, encoder, features: dict[str, str], parts: int):
    """The training rows (training_rows) and the validation split as (features array, label,
    is_val) rows, encoded on the executors, in one partition per XGBoost worker (its barrier
    stage takes no union of other partitionings)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DoubleType,
        LongType,
        StructField,
        StructType,
    )

    from reprotune.models.tabular import typed_arrays

    val = train.sparkSession.read.parquet(str(val_path))
    frame = (
        train.select(*features, "label")
        .withColumn("is_val", F.lit(False))
        .unionByName(val.select(*features, "label").withColumn("is_val", F.lit(True)))
    )
    schema = StructType(
        [
            StructField("features", ArrayType(DoubleType())),
            StructField("label", LongType()),
            StructField("is_val", BooleanType()),
        ]
    )
    columns = list(features)

    def encode(batches):
        for batch in batches:
            X = encoder.transform(typed_arrays(batch[columns], features))
            X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
            yield pd.DataFrame(
                {
                    "features": list(X.astype(float)),
                    "label": batch["label"].astype("int64"),
                    "is_val": batch["is_val"],
                }
            )

    return frame.mapInPandas(encode, schema).repartition(parts)


def training_rows(spark, path: Path, share: float, classes: int, seed: int):
    """The training split, or a stratified share of it (the budget's plan: the same share of
    every class, Bernoulli-sampled with the seed), and how many rows that is."""
    rows = spark.read.parquet(str(path))
    if share < 1:
        rows = rows.sampleBy("label", {label: share for label in range(classes)}, seed)
    return rows, rows.count()


def estimator(classifier_params: dict, num_workers: int, validation: bool):
    from xgboost.spark import SparkXGBClassifier

    settings = {k: v for k, v in classifier_params.items() if v is not None}
    for key in LOCAL_ONLY:
        settings.pop(key, None)
    if not validation:
        settings.pop("early_stopping_rounds", None)
    return SparkXGBClassifier(
        verbose=verbose(),  # XGBoost's per-round evaluation lines, printed by the executors
        features_col="features",
        label_col="label",
        validation_indicator_col="is_val" if validation else None,
        num_workers=num_workers,
        **settings,
    )


def validation_probabilities(spark_model, frame, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The validation rows' labels and probabilities, scored on the executors; they reach the
    driver as plain columns through Arrow (not as a Python object a row)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    scored = spark_model.transform(frame.where("is_val"))
    probability = vector_to_array(F.col("probability"))
    columns = [probability[i].alias(f"p{i}") for i in range(classes)]
    rows = scored.select("label", *columns).toPandas()
    return rows["label"].to_numpy(), rows[[f"p{i}" for i in range(classes)]].to_numpy()


def split_probabilities(spark, path: Path, model) -> tuple[np.ndarray, np.ndarray]:
    """A split's labels and class probabilities, scored on the executors by the saved model
    (`model`, shipped to them) in the file's row order; only those numbers reach the driver,
    through Arrow, never the split's features."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, LongType, StructField, StructType

    classes = len(model.label_names)
    columns = [f"p{i}" for i in range(classes)]
    schema = StructType(
        [StructField("row", LongType()), StructField("label", LongType())]
        + [StructField(c, DoubleType()) for c in columns]
    )

    def score(batches):
        for batch in batches:
            proba = model.predict_proba(model.select_inputs(batch)).astype(float)
            scored = pd.DataFrame(proba, columns=columns)
            scored.insert(0, "label", batch["label"].astype("int64").to_numpy())
            scored.insert(0, "row", batch["row"].to_numpy())
            yield scored

    # Ids follow the read order (partition, then position): sorting by them restores the
    # file's row order, which compare's paired bootstrap pairs candidates by.
    frame = (
        spark.read.parquet(str(path))
        .select(*model.features, "label")
        .withColumn("row", F.monotonically_increasing_id())
    )
    rows = frame.mapInPandas(score, schema).toPandas().sort_values("row", kind="stable")
    return rows["label"].to_numpy(), rows[columns].to_numpy()
