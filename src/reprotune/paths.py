"""Where each stage reads and writes, relative to the project root.

Stage name = script name = params section = metrics file = MLflow tag, so every path derives
from the stage (and candidate) name.
"""

import os
from pathlib import Path

PARAMS_FILE = Path("params.yaml")
DVC_YAML = Path("dvc.yaml")
DVC_LOCK = Path("dvc.lock")
LOCK_FILE = Path("constraints.txt")  # the pinned environment `make install` builds
RAW_DIR = Path("data/raw")
PROCESSED_DIR = Path("data/processed")
MODELS_DIR = Path("models")
# Ensembles bundle copies of members from models/: the ensemble stage depends on models/ as
# a whole (DVC deps cannot list a variable number of members), so it writes beside it.
ENSEMBLES_DIR = Path("ensembles")
# Explanations: charts, LIME pages and their data, one folder per candidate or ensemble.
EXPLANATIONS_DIR = Path("explanations")
METRICS_DIR = Path("metrics")
# Each candidate's test predictions (labels, decisions, probabilities): compare's paired
# bootstrap resamples the same rows for every candidate.
PREDICTIONS_DIR = Path("predictions")
PLOTS_DIR = Path("plots")

CONFIGS_DIR = Path("configs")
TUNE_DIR = Path("tune")  # one folder per tuned candidate: best params, the default study store
MANIFEST = RAW_DIR / "manifest.json"
# What the data sources hold (content hashes), rewritten only when it changes; fetch's dep.
SOURCES = Path("data/sources.json")
# md5 of local data files by size and mtime, so a no-op repro re-reads nothing (not an output).
FINGERPRINT_CACHE = Path(".dvc/tmp/reprotune-fingerprints.json")
LABELS = PROCESSED_DIR / "labels.json"
FEATURES = PROCESSED_DIR / "features.json"
# The data contract committed beside params.yaml (wins over the inferred one, which preprocess
# writes to CONTRACT).
COMMITTED_CONTRACT = Path("contract.yaml")
CONTRACT = PROCESSED_DIR / "contract.yaml"  # data/reference.py's file names
PROFILE = PROCESSED_DIR / "profile.json"
# The same profile kept in git by the drift stage: a later revision's report measures its
# training rows against it (the base revision's champion trained on those rows).
REFERENCE_PROFILE = Path("data/profile.json")
RAW_SPLITS = ("train", "test")


def raw_split(split: str) -> Path:
    return RAW_DIR / f"{split}.parquet"


def processed_split(split: str) -> Path:
    return PROCESSED_DIR / f"{split}.parquet"


def candidate_config(candidate: str) -> Path:
    return CONFIGS_DIR / f"{candidate}.json"


def tune_dir(candidate: str) -> Path:
    return TUNE_DIR / candidate


def best_params_file(candidate: str) -> Path:
    return tune_dir(candidate) / "best_params.json"


def model_dir(candidate: str) -> Path:
    return MODELS_DIR / candidate


def ensemble_dir(name: str) -> Path:
    return ENSEMBLES_DIR / name


def explanation_dir(name: str) -> Path:
    return EXPLANATIONS_DIR / name


def predictions_file(name: str) -> Path:
    return PREDICTIONS_DIR / f"{name}.parquet"


def stage_metrics(stage: str, candidate: str | None = None) -> Path:
    if candidate is None:
        return METRICS_DIR / f"{stage}.json"
    return METRICS_DIR / stage / f"{candidate}.json"


def stage_plots(stage: str, candidate: str | None = None) -> Path:
    return PLOTS_DIR / stage / candidate if candidate else PLOTS_DIR / stage


def project_root() -> Path:
    """The repository the pipeline belongs to.

    DVC sets DVC_ROOT for every stage; for queued experiments running in a temporary copy it
    points at the original repository, so relative data paths and the MLflow store resolve there.
    """
    dvc_root = os.environ.get("DVC_ROOT")
    return Path(dvc_root).resolve() if dvc_root else find_project_root()


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding dvc.yaml (or the current folder)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    return here


def local_path(location: str | Path) -> Path:
    """A user's local path: `~` expanded, relative paths from the project root."""
    path = Path(location).expanduser()
    return path if path.is_absolute() else project_root() / path


# The budget's plan (the plan stage): the whole plan, and one file per candidate or ensemble
# that its stages depend on, so a change to one candidate's plan re-runs only that candidate.
PLAN_FILE = Path("plan.json")
PLANS_DIR = Path("plans")


def candidate_plan(name: str) -> Path:
    return PLANS_DIR / f"{name}.json"
