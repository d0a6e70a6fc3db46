"""`reprotune report` on a real git + DVC repository with two commits of metrics and params."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from commands import git_commit_all, run

from reprotune.drift import build_profile
from reprotune.report import MetricChange, Rule, data_drift

DVC_YAML = {
    "params": ["params.yaml"],
    "metrics": ["metrics/evaluate/baseline.json", "metrics/compare.json", "metrics/explain"],
}


def write_explain(repo: Path, candidate: str, importance: dict) -> None:
    (repo / "metrics/explain").mkdir(parents=True, exist_ok=True)
    summary = {"top_features": list(importance), "importance": importance, "seconds": 1.0}
    (repo / f"metrics/explain/{candidate}.json").write_text(json.dumps(summary))


def write_state(repo: Path, params: dict, evaluate: dict, champion: str) -> None:
    (repo / "metrics/evaluate").mkdir(parents=True, exist_ok=True)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    (repo / "metrics/evaluate/baseline.json").write_text(json.dumps(evaluate))
    (repo / "metrics/compare.json").write_text(
        json.dumps({"champion": champion, "champion_score": evaluate["macro_f1"]})
    )


FEATURES = {"age": "number", "balance": "number", "job": "category"}


def training_rows(seed: int, age_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3000
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n).round() + age_shift,
            "balance": rng.lognormal(6, 1, n).round(),
            "job": rng.choice(["admin", "technician", "services", "retired"], n),
        }
    )


def write_training_data(repo: Path, rows: pd.DataFrame) -> None:
    """What preprocess and drift leave: the training split (DVC's) and its profile (git's)."""
    (repo / "data/processed").mkdir(parents=True, exist_ok=True)
    rows.to_parquet(repo / "data/processed/train.parquet", index=False)
    (repo / "data/profile.json").write_text(json.dumps(build_profile(rows, FEATURES)))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["dvc", "init", "-q"], repo)
    (repo / ".gitignore").write_text("/data/processed/\n")
    (repo / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML))
    write_training_data(repo, training_rows(seed=1))
    write_state(
        repo,
        {"lr": 0.001, "C": 10.0},
        {"accuracy": 0.80, "macro_f1": 0.80, "latency_ms": 2.0, "old_metric": 1.0},
        champion="baseline",
    )
    write_explain(repo, "baseline", {"age": 0.20, "job": 0.10, "loan": 0.01})
    git_commit_all(repo, "base")
    run(["git", "tag", "base"], repo)
    write_state(
        repo,
        {"lr": 0.0005, "C": 10.0},
        {"accuracy": 0.85, "macro_f1": 0.78, "latency_ms": 2.0, "new_metric": 3.0},
        champion="transformer",
    )
    write_explain(repo, "baseline", {"job": 0.25, "age": 0.05, "loan": 0.012})
    write_explain(repo, "transformer", {"balance": 0.3, "age": 0.1})
    write_training_data(repo, training_rows(seed=2, age_shift=12))  # ages moved, rest did not
    git_commit_all(repo, "change")
    return repo


def report(repo: Path, *args: str) -> subprocess.CompletedProcess:
    cli = str(Path(sys.executable).parent / "reprotune")
    return run([cli, "report", "--base", "base", *args], repo, check=False)


def test_report_lists_changes_with_direction(repo):
    done = report(repo)
    assert done.returncode == 0, done.stderr
    md = done.stdout
    assert md.startswith("<!-- reprotune-report -->")
    assert "| `lr` | 0.001 | 0.0005 |" in md and "`C`" not in md
    assert (
        "| metrics/evaluate/baseline.json | accuracy | 0.8 | 0.85 | +0.05 | +6.25% | 🟢 better |"
        in md
    )
    assert "| macro_f1 | 0.8 | 0.78 | -0.02 | -2.50% | 🔴 worse |" in md
    assert "| new_metric | - | 3 | - | - | 🆕 new |" in md
    assert "| old_metric | 1 | - | - | - | ❌ removed |" in md
    assert "latency_ms" not in md and "metrics unchanged" in md
    assert "**Champion:** baseline → **transformer**" in md
    assert "**transformer's top features** (permutation importance, test): `balance` (+0.3)" in md


def test_report_lists_the_features_whose_importance_moved_most(repo):
    md = report(repo).stdout
    section = md.split("### Feature importance that moved most")[1].split("###")[0]
    rows = [line for line in section.splitlines() if line.startswith("| baseline")]
    assert rows == [
        "| baseline | age | importance | 0.2 | 0.05 | -0.15 |",
        "| baseline | job | importance | 0.1 | 0.25 | +0.15 |",
        "| baseline | loan | importance | 0.01 | 0.012 | +0.002 |",
    ]
    metrics_table = md.split("### Metrics")[1].split("###")[0]
    assert "importance.age" not in metrics_table  # not a better/worse metric


def test_all_shows_unchanged_metrics(repo):
    assert "| latency_ms | 2 | 2 | +0 | +0.00% | = |" in report(repo, "--all").stdout


def test_gate_fails_on_a_regression_beyond_the_threshold(repo):
    done = report(repo, "--fail-on", "macro_f1<-0.01")
    assert done.returncode == 1
    assert "Regression gate failed" in done.stdout
    assert (
        "metrics/evaluate/baseline.json:macro_f1 0.8 -> 0.78 breaks macro_f1<-0.01" in done.stderr
    )


@pytest.mark.parametrize(
    "rule", ["macro_f1<-0.05", "accuracy<0", "latency_ms>+10%", "metrics/evaluate/*:new_metric<0"]
)
def test_gate_passes_within_thresholds(repo, rule):
    assert report(repo, "--fail-on", rule).returncode == 0


def test_relative_rule_and_malformed_rule(repo):
    assert report(repo, "--fail-on", "accuracy>+5%").returncode == 1  # +6.25% > 5%
    done = report(repo, "--fail-on", "macro_f1 dropped")
    assert done.returncode == 2 and "fix: write METRIC<CHANGE" in done.stderr


def test_unknown_base_revision_is_a_clear_error(repo):
    done = run(
        [str(Path(sys.executable).parent / "reprotune"), "report", "--base", "nope"],
        repo,
        check=False,
    )
    assert done.returncode == 2 and "dvc metrics diff" in done.stderr


def test_direction_by_metric_name():
    assert MetricChange("m", "efficiency.latency_ms", 2.0, 1.0).verdict == "better"
    assert MetricChange("m", "log_loss", 0.5, 0.6).verdict == "worse"
    assert MetricChange("m", "per_class.World.f1", 0.5, 0.6).verdict == "better"
    assert MetricChange("m", "n_test", 5, 6).verdict == "changed"
    assert MetricChange("m", "expected_cost", 700.0, 650.0).verdict == "better"
    assert MetricChange("m", "at_0.5.expected_cost", 700.0, 750.0).verdict == "worse"
    assert MetricChange("m", "brier", 0.08, 0.09).verdict == "worse"
    assert MetricChange("m", "pr_auc", 0.3, 0.35).verdict == "better"
    assert MetricChange("m", "mcc", 0.3, 0.2).verdict == "worse"
    assert Rule.parse("macro_f1<-0.01").violated_by(MetricChange("m", "macro_f1", 0.9, 0.85))


def test_a_base_without_metrics_is_said_in_one_line():
    from reprotune.report import render

    metrics = [MetricChange("metrics/compare.json", f"m{i}", None, 0.5) for i in range(30)]
    text = render("main", [], metrics, (None, "baseline"), [], [])
    assert "`main` has no metrics yet: all 30 are new." in text
    assert "| file | metric |" not in text and "🆕" not in text


def test_the_champion_line_carries_its_interval_and_why(tmp_path):
    from reprotune.report import champion_interval

    assert champion_interval(tmp_path) == ""
    (tmp_path / "metrics").mkdir()
    compare = {
        "metric": "pr_auc",
        "champion": "logreg",
        "champion_score": 0.3152,
        "champion_reason": "not told apart from the best-scoring stack",
        "intervals": {"scores": {"logreg": [0.25, 0.38]}},
    }
    (tmp_path / "metrics/compare.json").write_text(json.dumps(compare))
    assert champion_interval(tmp_path) == (
        "pr_auc 0.3152, 95% CI [0.25, 0.38] (paired bootstrap of the test rows); "
        "not told apart from the best-scoring stack"
    )


def test_new_training_rows_are_measured_against_the_base_revisions(repo):
    md = report(repo).stdout
    section = md.split("### Data drift: the training rows changed since `base`")[1]
    assert "1 of 3 features moved" in section
    rows = {line.split(" | ")[0].strip("| "): line for line in section.splitlines() if "|" in line}
    assert rows["age"].endswith("| **yes** |")
    assert rows["balance"].endswith("| no |") and rows["job"].endswith("| no |")


def test_no_drift_section_when_the_training_rows_did_not_change(repo):
    assert data_drift("HEAD", repo) == ""  # the workspace's profile is HEAD's
    assert data_drift("no-such-revision", repo) == ""
