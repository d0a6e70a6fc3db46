"""Progress of a long step: done/total and an ETA, never silent for longer than `every_s`.

A step reports each unit it finishes (a trial, a fold, an epoch, a fit); a daemon thread
prints the latest state whenever nothing was printed for `every_s` seconds, so even one long
unit (a fold of 160k rows) shows the step is alive. Plain lines in the stages' own
`[stage] ...` style, the same on a terminal and in a pipe (CI, `dvc repro | tee`): at most one
per `every_s`, and one when the step completes.
"""

import contextlib
import sys
import threading
import time
from typing import TextIO

EVERY_S = 20.0  # under the 30 s a user waits before wondering whether a step hangs


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "ETA ?"
    seconds = max(0, round(seconds))
    minutes, seconds = divmod(seconds, 60)
    return f"ETA {minutes}m{seconds:02d}s" if minutes else f"ETA {seconds}s"


class Progress:
    """`with Progress("tune@xgb", 20, "trials") as bar: ... bar.advance()`"""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str,
        every_s: float = EVERY_S,
        stream: TextIO | None = None,
        clock=time.monotonic,
    ):
        self.label, self.total, self.unit = label, max(int(total), 0), unit
        self.every_s = every_s
        self.stream = stream or sys.stdout
        self.clock = clock
        self.done = 0
        self.detail = ""
        self._start = clock()
        self._last_print = self._start
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the step reports ---------------------------------------------------------------

    def advance(self, units: int = 1, detail: str = "") -> None:
        with self._lock:
            self.done = min(self.done + units, self.total) if self.total else self.done + units
            self.detail = detail
            if self.clock() - self._last_print >= self.every_s or self.done == self.total:
                self._print_locked()

    def note(self, detail: str) -> None:
        """What the current unit is doing (e.g. 'fold 3/5'), shown with the next line."""
        with self._lock:
            self.detail = detail

    def finish_early(self, reason: str) -> None:
        with self._lock:
            self.detail = reason
            self.total = self.done
            self._print_locked()

    # -- the line ------------------------------------------------------------------------------

    def line(self) -> str:
        elapsed = self.clock() - self._start
        eta = None
        if self.total and self.done:
            eta = elapsed / self.done * (self.total - self.done)
        if self.total:
            counted = f"{self.done}/{self.total} {self.unit}"
            text = f"[{self.label}] {counted}, {elapsed:.0f}s, {eta_text(eta)}"
        else:  # a count not known ahead (epochs until early stopping)
            text = f"[{self.label}] {self.done} {self.unit}, {elapsed:.0f}s"
        return f"{text} ({self.detail})" if self.detail else text

    def _print_locked(self) -> None:
        self._last_print = self.clock()
        with contextlib.suppress(ValueError):  # the stream closed under a daemon thread at exit
            print(self.line(), file=self.stream, flush=True)

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self.every_s / 4)):
            with self._lock:
                if self.clock() - self._last_print >= self.every_s:
                    self._print_locked()

    def __enter__(self) -> "Progress":
        self._thread = threading.Thread(
            target=self._beat, name=f"progress {self.label}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
