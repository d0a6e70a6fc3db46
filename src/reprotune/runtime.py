"""Process-wide settings for the training frameworks: threads, quiet logs."""

import logging
import os
import sys

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
