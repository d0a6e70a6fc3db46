"""The GitHub Actions workflows: valid, least-privilege, and wired to the project's commands."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).parents[1] / ".github/workflows"


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on` as true
    return workflow


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("name", ["checks.yml", "pipeline.yml"])
def test_workflow_matches_the_github_schema(name):
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(WORKFLOWS / name)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_checks_run_lint_and_tests_and_cancel_superseded_runs():
    workflow = load("checks.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert workflow["permissions"] == {"contents": "read"}
    commands = " ".join(step.get("run", "") for step in steps(workflow))
    assert "make lint" in commands and "make test" in commands


def test_pipeline_is_least_privilege_and_never_pull_request_target():
    workflow = load("pipeline.yml")
    assert set(workflow["on"]) == {"pull_request", "workflow_dispatch"}
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    text = (WORKFLOWS / "pipeline.yml").read_text()
    assert "pull_request_target" not in text


def test_pipeline_reports_comments_once_and_gates():
    workflow = load("pipeline.yml")
    all_steps = steps(workflow)
    checkout = next(s for s in all_steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    caches = [s["with"]["key"] for s in all_steps if s.get("uses", "").startswith("actions/cache")]
    assert any("dvc.lock" in key for key in caches)
    runs = "\n".join(step.get("run", "") for step in all_steps)
    assert "reprotune report --base" in runs and "GITHUB_STEP_SUMMARY" in runs
    assert "reprotune comment" in runs
    gate = next(s for s in all_steps if s.get("name") == "Regression gate")
    assert "exit 1" in gate["run"]
