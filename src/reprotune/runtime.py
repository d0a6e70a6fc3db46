"""Process-wide settings for the training frameworks: threads, quiet logs."""

import os

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
    """Framework logs a user can do nothing about (MLflow's database set-up and system-metrics
    INFO lines, TensorFlow's C++ lines, Optuna's line per trial) stay off the console, unless
    REPROTUNE_VERBOSE is set. Before the frameworks are imported."""
    if verbose():
        return
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def world_size() -> int:
    """Processes training together, as torchrun (or any launcher setting WORLD_SIZE) says."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0
