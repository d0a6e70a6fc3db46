"""Running the project's commands (dvc, git, reprotune) from the tests."""

import os
import subprocess
import sys
from pathlib import Path

COLD = {"REPROTUNE_WARM": "0"}  # a stage in its own process, not forked by the warm launcher


def run(
    cmd: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run with the test venv's tools first on PATH, no inherited MLFLOW_/DVC_ settings, and
    `env` on top."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    clean["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{clean['PATH']}"
    done = subprocess.run(
        cmd, cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=1500
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def git_commit_all(repo: Path, message: str = "init") -> None:
    if not (repo / ".git").exists():
        run(["git", "init", "-q"], repo)
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    run(["git", *identity, "add", "-A"], repo)
    run(["git", *identity, "commit", "-qm", message], repo)


def baseline_only_project(
    project: Path, corpus: Path, n_train: int, n_test: int, tuned_trials: int | None = None
) -> Path:
    """The pipeline with just the baseline candidate on generated AG-News-like CSVs, committed;
    with `tuned_trials`, also the tuned logistic regression and its study of that many trials."""
    import yaml
    from corpus import ag_news_data_params, write_ag_news_csv

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(
        ag_news_data_params(
            write_ag_news_csv(corpus / "train.csv", n_per_class=n_train, seed=1),
            write_ag_news_csv(corpus / "test.csv", n_per_class=n_test, seed=2),
            train_size=None,
        )
    )
    params["data"]["test_size"] = None
    candidates = params["train"]["candidates"]
    params["train"]["candidates"] = {"baseline": candidates["baseline"]}
    params["compare"]["phases"] = {"baseline": ["baseline"]}
    params["ensemble"]["candidates"] = {}
    if tuned_trials:
        params["train"]["candidates"]["logreg_tuned"] = candidates["logreg_tuned"]
        params["compare"]["phases"]["tuned"] = ["logreg_tuned"]
        params["tune"]["n_trials"] = tuned_trials
    else:
        params["tune"]["candidates"] = {}
    params["evaluate"]["latency_repeats"] = 3
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git_commit_all(project)
    return project


# Runs on every `dvc repro` (it hashes the data sources; see stages/sources.py).
ALWAYS_RUNS = "sources"


def stages_run(output: str) -> set[str]:
    """The stages a dvc repro / exp run printed as running."""
    return {line.split("'")[1] for line in output.splitlines() if "Running stage '" in line}


def stale_stages(project: Path, env: dict[str, str] | None = None) -> set[str]:
    """What `dvc status` says is out of date, without the always-changed sources stage."""
    import json

    status = json.loads(run(["dvc", "status", "--json"], project, env=env).stdout or "{}")
    return {stage for stage in status if stage != ALWAYS_RUNS}
