"""bench/loop_speed.py's reading of a timestamped console: each stage's reported work, the
stage process around it, DVC's part, and the lines that are noise to a user."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from loop_speed import costliest_gaps, parse, split_times

CONSOLE = [
    (0.5, "Reproducing experiment 'fond-yaks'"),
    (1.0, "Running stage 'fetch':"),
    (1.0, "> python stages/fetch.py"),
    (3.0, "[fetch] 120 train, 40 test rows from csv (1.5s, MLflow run 0a1b2c3d)"),
    (3.2, "Updating lock file 'dvc.lock'"),
    (3.4, ""),
    (4.0, "Running stage 'tune@mlp':"),
    (4.0, "> python stages/tune.py mlp"),
    (4.5, "[tune] mlp: no study (not in tune.candidates) (0.2s)"),
    (4.6, "WARNING: something a user cannot act on"),
    (5.0, "Updating lock file 'dvc.lock'"),
    (6.0, "Ran experiment(s): fond-yaks"),
]


def test_the_wall_splits_into_work_the_stage_process_and_dvc():
    run = parse(CONSOLE, wall=6.5)
    assert [s.name for s in run.stages] == ["fetch", "tune@mlp"]
    assert [s.reported for s in run.stages] == [1.5, 0.2]
    parts = split_times(run)
    assert parts["work"] == pytest.approx(1.7)
    # fetch: 2.0 s from its start to its line, 1.5 reported; tune: 0.5 s, 0.2 reported.
    assert parts["process"] == pytest.approx(0.5 + 0.3)
    # Before the first stage 1.0; fetch 0.2 to the lock + 0.8 to tune; tune 0.5 + 1.5 to the end.
    assert parts["dvc"] == pytest.approx(1.0 + 1.0 + 2.0)
    assert sum(parts.values()) == pytest.approx(run.wall)
    assert run.noise == ["WARNING: something a user cannot act on"]
    assert costliest_gaps(run).startswith("tune@mlp 2.3s")
