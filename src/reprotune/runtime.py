"""Process-wide settings for the training frameworks: threads, quiet logs."""

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

THREADS_ENV = "REPROTUNE_NUM_THREADS"
VERBOSE_ENV = "REPROTUNE_VERBOSE"  # `REPROTUNE_VERBOSE=1 dvc repro`: the frameworks' own logs


def thread_count(configured: int | None = None) -> int | None:
    """Threads for one training process: the param, else REPROTUNE_NUM_THREADS, else all cores.

    Two DVC queue workers on one machine should each get 1, or they thrash.
    """
    if configured:
        return configured
    value = os.environ.get(THREADS_ENV)
    return int(value) if value else None


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false")


def quiet_frameworks() -> None:
    """MLflow's INFO lines (database set-up, system metrics) stay off the console unless
    REPROTUNE_VERBOSE is set; TensorFlow's and Optuna's are quieted where they are loaded
    (quiet_tensorflow, tuning.tune). Before MLflow is imported."""
    if not verbose():
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        if "mlflow" in sys.modules:  # imported already, by the warm launcher's server
            level = os.environ["MLFLOW_LOGGING_LEVEL"].upper()
            logging.getLogger("mlflow").setLevel(level)


def quiet_tensorflow() -> None:
    if not verbose():  # level 3 also hides C++ "errors" such as use_unbounded_threadpool
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


# What TensorFlow's C++ side writes to the process's stderr as it loads, whatever
# TF_CPP_MIN_LOG_LEVEL says (read after these lines are written): nothing a user can act on.
NATIVE_IMPORT_NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",
    "This TensorFlow binary is optimized",
)


@contextlib.contextmanager
def native_import_noise_dropped() -> Iterator[None]:
    """Around an import whose C++ code logs to file descriptor 2: that descriptor goes to a
    temporary file, and every line but NATIVE_IMPORT_NOISE is written back to stderr after."""
    if verbose() or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode(errors="replace")
            kept = [line for line in text.splitlines() if not _noise(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


def _noise(line: str) -> bool:
    return any(marker in line for marker in NATIVE_IMPORT_NOISE)


def quiet_transformers(local_source: bool) -> None:
    """Hides transformers' warnings (the load report of a classification head that is new, as
    it is for every fine-tuning) and, when the weights are on disk, its progress bars; a Hub
    name keeps them, since a download may be under way."""
    if verbose():
        return
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    if local_source:
        transformers_logging.disable_progress_bar()


def world_size() -> int:
    """Processes training together, as torchrun (or any launcher setting WORLD_SIZE) says."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0
