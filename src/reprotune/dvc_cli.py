"""`reprotune dvc ARGS`: the dvc CLI in this process, less the warnings a user can do nothing about.

Running dvc in-process (not through a pipe) keeps its progress bars, colours and exit status.
"""

import logging
import sys
from pathlib import Path

from reprotune.paths import find_project_root
from reprotune.runtime import verbose

# The first `dvc exp run` before a dvc.lock exists warns once per output that it cannot be checked
# out: none has been produced yet, and the run is about to produce them. The message means only
# that (a hash that is known but missing from the cache is a different, louder error).
NOT_PRODUCED_YET = "No file hash info found for"
CHECKOUT_LOGGERS = ("dvc_data.index.checkout", "dvc_data.hashfile.checkout")


class _DropNotProducedYet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(NOT_PRODUCED_YET)


def quiet_checkout_warnings() -> None:
    if verbose():
        return
    for name in CHECKOUT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNotProducedYet) for f in logger.filters):
            logger.addFilter(_DropNotProducedYet())


# Commands that run the pipeline in the workspace itself (not in the experiments queue): two at
# once would run every stage twice over the same files, and DVC would then refuse to save the
# second experiment.
WORKSPACE_RUNS = (("exp", "run"), ("repro",))
QUEUED = ("--queue", "--run-all", "--temp")
LOCK = Path(".dvc") / "tmp" / "reprotune-workspace.lock"


def runs_in_workspace(argv: list[str]) -> bool:
    words = [a for a in argv if not a.startswith("-")]
    in_workspace = any(tuple(words[: len(cmd)]) == cmd for cmd in WORKSPACE_RUNS)
    return in_workspace and not any(a in QUEUED for a in argv)


def run(argv: list[str]) -> int:
    from dvc.cli import main

    quiet_checkout_warnings()
    if not runs_in_workspace(argv):
        return main(argv)
    from filelock import FileLock, Timeout

    root = find_project_root()
    if not (root / ".dvc").is_dir():
        return main(argv)
    (root / LOCK).parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(root / LOCK, timeout=0):
            return main(argv)
    except Timeout:
        print(
            f"reprotune dvc {' '.join(argv)}: another `dvc exp run` or `dvc repro` is running in "
            f"this workspace ({root}); two at once would run every stage twice and DVC would "
            "not save the second experiment. fix: wait for it, or queue this one: "
            "`dvc exp run --queue ...` then `dvc queue start`",
            file=sys.stderr,
        )
        return 1
