"""The console of a pipeline run: what each stage did, without framework noise."""

import json
import re
from pathlib import Path

import pytest
import yaml
from commands import baseline_only_project, git_commit_all, run

from reprotune.workspace import copy_pipeline

ROOT = Path(__file__).parents[1]
# Python warnings (`UserWarning: ...`), MLflow's and DVC's logged warnings (an empty output
# folder, "No file hash info found"), TensorFlow's C++ and absl start-up lines.
NOISE = re.compile(
    r"Warning: |WARNING|is empty|hash info|oneDNN|absl::|use_unbounded|cuda_|Please consider"
)
TIMING = r"\(\d+\.\ds, MLflow run [0-9a-f]{8}\)"
# One line per stage run: what it did, its time and its MLflow run.
SUMMARIES = [
    rf"\[fetch\] 120 train, 40 test rows from csv {TIMING}",
    rf"\[preprocess\] 96 train, 24 val, 40 test rows; 4 classes; features: text 1 {TIMING}",
    rf"\[configure\] 2 candidates: baseline \(tfidf_logreg\), mlp \(keras_mlp\) {TIMING}",
    rf"\[train\] mlp \(keras_mlp\): 96 rows, 2 epochs \(best [12]\), fit in [\d.]+s; "
    rf"val macro_f1 [01]\.\d{{4}} {TIMING}",
    rf"\[evaluate\] mlp: accuracy [01]\.\d{{4}}, macro_f1 [01]\.\d{{4}} {TIMING}",
    rf"\[compare\] champion (baseline|mlp): macro_f1 [01]\.\d{{4}} "
    rf"\(95% CI [01]\.\d{{4}}-[01]\.\d{{4}}\) on the test split, "
    rf"(best of 2 candidates|not told apart from the best-scoring .* per example) {TIMING}",
    r"\[compare\]   phases: baseline baseline [01]\.\d{4} -> optimized mlp [01]\.\d{4} "
    r"\([+-]\d+\.\d%(, level)?\)",
    r"\[compare\]   leaderboard: metrics/compare.md",
]


def with_keras_candidate(project: Path) -> None:
    """Adds a two-epoch Keras MLP: TensorFlow's start-up lines are the loudest noise."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    mlp = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["candidates"]["mlp"]
    params["train"]["candidates"]["mlp"] = {**mlp, "epochs": 2, "hidden_units": [16]}
    params["compare"]["phases"]["optimized"] = ["mlp"]
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git_commit_all(project, "a keras candidate")


@pytest.mark.e2e  # the real dvc CLI on a generated project
def test_a_first_experiment_prints_one_line_per_stage_and_no_warnings(tmp_path):
    project = copy_pipeline(ROOT, tmp_path / "project")
    baseline_only_project(project, tmp_path / "corpus", n_train=30, n_test=10)
    with_keras_candidate(project)
    # `dvc exp run` before any dvc.lock: plain dvc warns once per output here.
    done = run(["reprotune", "dvc", "exp", "run"], project)
    console = done.stdout + done.stderr
    noisy = [line for line in console.splitlines() if NOISE.search(line)]
    assert not noisy, "\n".join(noisy)
    lines = console.splitlines()
    for summary in SUMMARIES:
        assert any(re.fullmatch(summary, line) for line in lines), (summary, console)
    ours = [line for line in lines if line.startswith("[")]
    stage_runs = console.count("Running stage '")
    assert len(ours) <= 2 * stage_runs + 1, "\n".join(ours)  # one or two lines per stage
    shown = run(["dvc", "plots", "show", "--json"], project)
    assert "errors" not in json.loads(shown.stdout)  # "DVC failed to load some plots"
