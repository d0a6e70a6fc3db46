"""`reprotune dvc ARGS`: the dvc CLI in this process, less the warnings a user can do nothing about.

Running dvc in-process (not through a pipe) keeps its progress bars, colours and exit status.
"""

import logging

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


def run(argv: list[str]) -> int:
    from dvc.cli import main

    quiet_checkout_warnings()
    return main(argv)
