"""The console of a pipeline run: what each stage did, without framework noise."""

import json
import re
from pathlib import Path

from commands import baseline_only_project, run

from reprotune.workspace import copy_pipeline

ROOT = Path(__file__).parents[1]
# Python warnings (`UserWarning: ...`), MLflow's logged warnings, DVC's warnings (an empty
# output folder), TensorFlow's C++ and absl start-up lines.
NOISE = re.compile(r"Warning: |WARNING|is empty|oneDNN|absl::|cuda_|Please consider")


def test_a_pipeline_run_prints_no_framework_warnings(tmp_path):
    project = copy_pipeline(ROOT, tmp_path / "project")
    baseline_only_project(project, tmp_path / "corpus", n_train=30, n_test=10)
    done = run(["dvc", "repro"], project)
    console = done.stdout + done.stderr
    noisy = [line for line in console.splitlines() if NOISE.search(line)]
    assert not noisy, "\n".join(noisy)
    assert "[evaluate] baseline: accuracy" in console  # what each stage did is still there
    shown = run(["dvc", "plots", "show", "--json"], project)
    assert "errors" not in json.loads(shown.stdout)  # "DVC failed to load some plots"
