"""Progress lines: done/total and an ETA, and never silent for longer than the interval, even
inside one long unit of work, with stdout a pipe."""

import io
import subprocess
import sys
import time

from reprotune.progress import Progress, eta_text


def test_a_line_has_done_total_elapsed_and_eta():
    now = [100.0]
    progress = Progress("tune@x", 4, "trials", stream=io.StringIO(), clock=lambda: now[0])
    now[0] += 30
    progress.done = 1
    assert progress.line() == "[tune@x] 1/4 trials, 30s, ETA 1m30s"
    progress.detail = "fold 2/5"
    assert progress.line().endswith("(fold 2/5)")
    assert eta_text(None) == "ETA ?" and eta_text(59.6) == "ETA 1m00s"


def test_finished_units_print_at_most_once_per_interval_and_at_the_end():
    stream = io.StringIO()
    with Progress("ensemble", 100, "fits", every_s=3600, stream=stream) as progress:
        for _ in range(100):
            progress.advance()
    assert stream.getvalue().splitlines() == [progress.line()]
    assert "100/100 fits" in stream.getvalue()


SLOW_STEP = """
import time
from reprotune.progress import Progress
with Progress("slow", 2, "units", every_s=0.3) as progress:
    progress.note("unit 1")
    time.sleep(1.6)  # one long unit that reports nothing
    progress.advance()
    progress.advance()
"""


def test_one_long_silent_unit_still_prints_through_a_pipe():
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SLOW_STEP], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    beats = [line for line in lines if "0/2 units" in line]
    assert len(beats) >= 3, lines  # 1.6 s of silence at a 0.3 s interval
    assert all("(unit 1)" in line for line in beats)
    assert lines[-1].startswith("[slow] 2/2 units")
    assert time.monotonic() - start < 30
