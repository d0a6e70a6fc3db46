"""The budget end to end: `dvc repro` with budget_s on a generated Bank-shaped table plans,
tunes, trains and explains within the plan; forced again from the start, the plan replays and
every prediction, best param and score comes out the same."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from commands import git_commit_all, run
from tabular_data import tabular_data_params, write_bank_like_csv

from reprotune.workspace import copy_pipeline

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[1]
KEPT = ("logreg", "xgboost_tuned")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("budgeted"))
    table = write_bank_like_csv(tmp_path_factory.mktemp("data") / "bank.csv", 4000, seed=5)
    raw = yaml.safe_load((ROOT / "examples/bank-marketing/params.yaml").read_text())
    raw["budget_s"] = 45
    raw["data"] = {**raw["data"], **tabular_data_params(table)}
    raw["train"]["candidates"] = {k: raw["train"]["candidates"][k] for k in KEPT}
    raw["compare"]["phases"] = {"baseline": ["logreg"], "tuned": ["xgboost_tuned"]}
    raw["ensemble"]["candidates"] = {}
    raw["evaluate"]["latency_repeats"] = 3
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    git_commit_all(project)
    first = run(["dvc", "repro"], project)
    return project, first.stdout


def results(project: Path) -> dict:
    return {
        "plan": (project / "plan.json").read_text(),
        "best": (project / "tune/xgboost_tuned/best_params.json").read_text(),
        "trials": [(t["trial"], t["state"], t["value"]) for t in json.loads(trials.read_text())]
        if (trials := project / "tune/xgboost_tuned/trials.json").is_file()
        else "study skipped by the plan",
        "predictions": {
            name: pd.read_parquet(project / f"predictions/{name}.parquet") for name in KEPT
        },
        "champion": json.loads((project / "metrics/compare.json").read_text())["champion"],
    }


def test_the_study_runs_the_planned_trials_and_says_so(project):
    project, stdout = project
    plan = json.loads((project / "plan.json").read_text())
    entry = plan["candidates"]["xgboost_tuned"]
    tuned = json.loads((project / "metrics/tune/xgboost_tuned.json").read_text())
    if "study" in entry:
        assert tuned["n_trials"] == entry["study"]["trials"]
        assert f"{entry['study']['trials']}/{entry['study']['trials']} trials" in stdout
    else:
        assert tuned["skipped"] == entry["study_skipped"]
    assert "[plan] budget 45 s" in stdout
    assert "## Plan" in (project / "metrics/compare.md").read_text()


def test_forced_from_the_start_the_plan_replays_and_results_are_identical(project):
    project, _ = project
    before = results(project)
    again = run(["dvc", "repro", "--force"], project)
    assert "(replayed)" in again.stdout
    after = results(project)
    for name in KEPT:
        pd.testing.assert_frame_equal(before["predictions"][name], after["predictions"][name])
    before.pop("predictions"), after.pop("predictions")
    assert before == after
