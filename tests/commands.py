"""Running the project's commands (dvc, git, reprotune) from the tests."""

import os
import subprocess
import sys
from pathlib import Path


def run(
    cmd: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run with the test venv's tools first on PATH, no inherited MLFLOW_/DVC_ settings, and
    `env` on top."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    clean["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{clean['PATH']}"
    done = subprocess.run(
        cmd, cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=600
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
