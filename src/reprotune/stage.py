"""Running a stage script: user-facing errors become one clear message and a non-zero exit."""

import contextlib
import signal
import sys
import time
from collections.abc import Callable

from reprotune.errors import ReprotuneError
from reprotune.runtime import quiet_frameworks

EXIT_BAD_INPUT = 2
# Called with "FAILED" or "KILLED" when a stage ends in error, wherever it failed: tracking
# registers one, so that the execution's parent run does not stay as the last stage left it.
FAILURE_HOOKS: list[Callable[[str], None]] = []
INTERRUPTED = (130, 143)  # Ctrl-C, SIGTERM

# What the running stage did, printed as one or two lines when it ends (see run_stage).
_said: list[str] = []
_mlflow_runs: list[str] = []


def say(line: str) -> None:
    """One line for the stage's console summary: rows, candidates, scores."""
    _said.append(line)


def note_mlflow_run(run_id: str) -> None:
    _mlflow_runs.append(run_id)


def summary_lines(stage: str, seconds: float) -> list[str]:
    """`[stage] what it did (time, MLflow run)`; further lines indented under it."""
    where = f"{seconds:.1f}s"
    if _mlflow_runs:
        where += ", MLflow run " + ", ".join(run_id[:8] for run_id in _mlflow_runs)
    first, *rest = _said or ["done"]
    return [f"[{stage}] {first} ({where})", *(f"[{stage}]   {line}" for line in rest)]


def _exit_on_sigterm(signum, frame) -> None:
    # SystemExit unwinds through the stage's MLflow run, which then ends as KILLED.
    raise SystemExit(128 + signum)


def run_stage(stage: str, main: Callable[..., None], *args: str) -> None:
    start = time.perf_counter()
    _said.clear()
    _mlflow_runs.clear()
    quiet_frameworks()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        main(*args)
    except ReprotuneError as exc:
        _failed("FAILED")
        print(f"[{stage}] error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except SystemExit as exc:
        if exc.code not in (0, None):  # a torchrun relaunch exits 0 when it trained
            _failed("KILLED" if exc.code in INTERRUPTED else "FAILED")
        raise
    except KeyboardInterrupt:
        _failed("KILLED")
        raise
    except Exception:
        _failed("FAILED")
        raise
    for line in summary_lines(stage, time.perf_counter() - start):
        print(line, flush=True)


def _failed(status: str) -> None:
    for hook in FAILURE_HOOKS:
        with contextlib.suppress(Exception):  # never in the way of the stage's own error
            hook(status)


def single_argument(stage: str, argv: list[str], what: str) -> str:
    if len(argv) != 1:
        print(f"usage: python stages/{stage}.py <{what}>", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)
    return argv[0]
