"""Where a run's figures come from: the code (git), the DVC experiment and stage, the exact
inputs (hashed the way DVC records them in dvc.lock) and the software that ran."""

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

# Distributions whose versions change results; framework versions are read from the package
# metadata, so recording them imports neither TensorFlow nor torch.
KEY_PACKAGES = (
    "reprotune",
    "dvc",
    "mlflow",
    "numpy",
    "pandas",
    "scikit-learn",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
)


def git(*args: str, cwd: Path | None = None) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_tags(cwd: Path | None = None) -> dict[str, str]:
    """Commit, branch and whether tracked files differ from the commit (dvc.lock included)."""
    status = git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    return {
        "mlflow.source.git.commit": git("rev-parse", "HEAD", cwd=cwd) or "unknown",
        "git.branch": git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd) or "unknown",
        "git.dirty": "unknown" if status is None else str(bool(status)).lower(),
    }


def dvc_tags() -> dict[str, str]:
    """The DVC experiment and stage that DVC announces to the stage command."""
    tags = {}
    for env, tag in (
        ("DVC_EXP_NAME", "dvc.exp_name"),
        ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev"),
        ("DVC_STAGE", "dvc.stage"),
    ):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


def package_versions() -> dict[str, str]:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment_tags() -> dict[str, str]:
    return {
        "python.version": platform.python_version(),
        **{f"package.{name}": version for name, version in package_versions().items()},
    }


def dvc_hashes(stage_address: str, root: Path) -> dict[str, str]:
    """md5 of each file or folder the DVC stage depends on, as DVC writes it to dvc.lock.

    Uses DVC's own hashing (and its hash cache), so a folder gets DVC's `.dir` hash. Empty when
    the stage is not a DVC stage (a stage script run by hand) or DVC cannot read the project.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            (stage,) = repo.stage.collect(stage_address)
            return {
                str(dep.def_path): dep.get_hash().value
                for dep in stage.deps
                if not hasattr(dep, "params") and dep.exists
            }
    except (DvcException, ValueError, OSError):
        return {}
