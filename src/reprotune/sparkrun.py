"""A Spark session for the work that runs on Apache Spark (`data.engine: spark` in fetch and
preprocess, `engine: spark` on an XGBoost candidate): Java, the master and the executors'
Python checked before any data is read, each failure one line naming the fix; a console as
quiet as the rest of the pipeline (the JVM's log at ERROR, no stage bars) unless
REPROTUNE_VERBOSE is set."""

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

from reprotune.errors import DataError
from reprotune.runtime import verbose

CONNECT_TIMEOUT_S = 5


def check_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") or (java_home and (Path(java_home) / "bin" / "java").is_file()):
        return
    raise DataError(
        "Spark needs a Java runtime (it runs on the JVM) and none was found; fix: install one "
        "(Debian: apt-get install default-jre-headless) or set JAVA_HOME"
    )


def check_master(master: str, key: str) -> None:
    """A spark:// master that does not answer stops here, in seconds, not after Spark's
    retries; `key` is where params.yaml sets it."""
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
        f"{key} = {master!r} cannot be reached ({reason}); fix: start the master "
        "(sbin/start-master.sh), correct the address, or use local[2]"
    )


def check_executors(spark, modules: tuple[str, ...]) -> None:
    """The executors' Python must import `modules`: a task asks them."""

    def probe(_):
        found = {m: importlib.util.find_spec(m) is not None for m in modules}
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
def spark_session(settings, key: str, app: str, modules: tuple[str, ...] = ("reprotune",)):
    """A Spark session for `settings` (schema.SparkSessionSettings set at `key`), checked
    before any data is read: Java, the master, the executors' Python and `modules`."""
    check_java()
    check_master(settings.master, f"{key}.master")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local executors: this venv
    if settings.master.startswith("local"):  # not "hostname resolves to a loopback address"
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app).master(settings.master)
    if settings.master.startswith("local"):
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
        )
    # Scores and samples come back to the driver as Arrow columns.
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    if not verbose():  # Spark's stage bars, its start-up log lines, XGBoost's INFO lines
        builder = builder.config("spark.ui.showConsoleProgress", "false")
        builder = builder.config("spark.driver.extraJavaOptions", quiet_log4j_option())
        logging.getLogger("XGBoost-PySpark").setLevel(logging.WARNING)
        # PySpark's note on pandas 3, in this process and in the Python workers it starts.
        warnings.filterwarnings("ignore", PANDAS_NOTE, FutureWarning)
        os.environ.setdefault("PYTHONWARNINGS", f"ignore:{PANDAS_NOTE}:FutureWarning")
    for name, value in settings.conf.items():  # the user's settings win
        builder = builder.config(name, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        check_executors(spark, modules)
        yield spark
    finally:
        spark.stop()


PANDAS_NOTE = "PySpark does not yet fully support"
# Spark's own loggers named at the root's level: a PySpark driver prints "Setting default log
# level" (and how to change it) when the root's level differs from theirs (WARN when unset).
QUIET_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
logger.spark.name = org.apache.spark
logger.spark.level = error
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
