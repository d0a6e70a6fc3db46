"""A time budget shared by one candidate's explanation steps: a step checks it before it starts
(and between rows or examples), and what it skipped is written down as a note, not a hang."""

import time


class Budget:
    def __init__(self, seconds: float, clock=time.perf_counter):
        self.seconds = seconds
        self._clock = clock
        self._start = clock()
        self.notes: list[str] = []

    @property
    def elapsed(self) -> float:
        return self._clock() - self._start

    @property
    def exhausted(self) -> bool:
        return self.elapsed >= self.seconds

    def allows(self, step: str) -> bool:
        """False (and a note) when `step` would start past the budget."""
        if not self.exhausted:
            return True
        self.notes.append(
            f"{step}: skipped, the time budget of {self.seconds:g} s (explain.time_budget_s) "
            f"was spent after {self.elapsed:.1f} s"
        )
        return False

    def cut_short(self, step: str, done: int, total: int, unit: str) -> None:
        self.notes.append(
            f"{step}: stopped after {done} of {total} {unit}, the time budget of "
            f"{self.seconds:g} s (explain.time_budget_s) was spent; raise it or lower the "
            "sample sizes"
        )
