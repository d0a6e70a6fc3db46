"""Running a stage script: user-facing errors become one clear message and a non-zero exit."""

import signal
import sys
import time
from collections.abc import Callable

from reprotune.errors import ReprotuneError
from reprotune.runtime import quiet_frameworks

EXIT_BAD_INPUT = 2


def _exit_on_sigterm(signum, frame) -> None:
    # SystemExit unwinds through the stage's MLflow run, which then ends as KILLED.
    raise SystemExit(128 + signum)


def run_stage(stage: str, main: Callable[..., None], *args: str) -> None:
    start = time.perf_counter()
    quiet_frameworks()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        main(*args)
    except ReprotuneError as exc:
        print(f"[{stage}] error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    print(f"[{stage}] done in {time.perf_counter() - start:.1f}s", file=sys.stderr)


def single_argument(stage: str, argv: list[str], what: str) -> str:
    if len(argv) != 1:
        print(f"usage: python stages/{stage}.py <{what}>", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)
    return argv[0]
