"""MLflow tracking: one run per stage, nested under one parent run per pipeline execution.

The store is `MLFLOW_TRACKING_URI` when set, else an SQLite file at the project root
(`paths.project_root`: the original repository, also for queued experiments running in DVC's
temporary copies), so every run lands in one store with its artifacts in one place.
"""

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprotune.config import TrackingParams
from reprotune.errors import TrackingError
from reprotune.paths import PARAMS_FILE, project_root

STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
TAG_PREFIX = "reprotune."
_TRUNCATED = "...[truncated]"
_UNSAFE_KEY = re.compile(r"[^\w\-. /]")


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / STORE_FILE}"


def uses_default_store() -> bool:
    return not os.environ.get("MLFLOW_TRACKING_URI")


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def param_value(value: Any, limit: int) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - len(_TRUNCATED)] + _TRUNCATED


def metric_key(key: str) -> str:
    return _UNSAFE_KEY.sub("_", key)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@dataclass(frozen=True)
class Execution:
    """Which pipeline execution a stage belongs to: its stages share one parent run."""

    key: str
    name: str
    tags: dict[str, str]


def current_execution() -> Execution:
    commit = _git("rev-parse", "HEAD") or "unknown"
    exp_name = os.environ.get("DVC_EXP_NAME")
    tags = {
        "mlflow.source.git.commit": commit,
        "git.branch": _git("rev-parse", "--abbrev-ref", "HEAD") or "unknown",
    }
    if exp_name:
        tags["dvc.exp_name"] = exp_name
        tags["dvc.baseline_rev"] = os.environ.get("DVC_EXP_BASELINE_REV", "")
        return Execution(f"exp:{exp_name}", exp_name, tags)
    # Plain `dvc repro`: the same commit and params make the same execution.
    params_digest = hashlib.md5(
        PARAMS_FILE.read_bytes() if PARAMS_FILE.is_file() else b""
    ).hexdigest()[:8]
    return Execution(f"repro:{commit[:12]}:{params_digest}", commit[:7], tags)


class StageRun:
    """Logging calls of one stage's MLflow run; does nothing when tracking is disabled."""

    def __init__(self, client=None, run_id: str | None = None):
        self.client = client
        self.run_id = run_id

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def log_params(self, params: dict[str, Any]) -> None:
        if not self.enabled:
            return
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

        items = [Param(k, param_value(v, MAX_PARAM_VAL_LENGTH)) for k, v in flatten(params).items()]
        for start in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(
                self.run_id, params=items[start : start + MAX_PARAMS_TAGS_PER_BATCH]
            )

    def log_metrics(self, metrics: dict[str, Any], step: int = 0) -> None:
        if not self.enabled:
            return
        from mlflow.entities import Metric
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        now = int(time.time() * 1000)
        items = [
            Metric(metric_key(k), float(v), now, step)
            for k, v in flatten(metrics).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        for start in range(0, len(items), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=items[start : start + MAX_METRICS_PER_BATCH])

    def set_tags(self, tags: dict[str, Any]) -> None:
        if not self.enabled:
            return
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifacts(self, files: list[Path], artifact_path: str | None = None) -> None:
        if not self.enabled:
            return
        for file in files:
            self.client.log_artifact(self.run_id, str(file), artifact_path)


def _client(root: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri(root))


def _experiment_id(client, name: str, root: Path) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (root / ARTIFACTS_DIR).as_uri() if uses_default_store() else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # created meanwhile by a concurrent stage
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def _parent_run_id(client, experiment_id: str, execution: Execution) -> str:
    found = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{TAG_PREFIX}execution` = '{execution.key}' "
            f"and tags.`{TAG_PREFIX}kind` = 'pipeline'"
        ),
        max_results=1,
    )
    if found:
        return found[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=execution.name,
        tags={
            f"{TAG_PREFIX}execution": execution.key,
            f"{TAG_PREFIX}kind": "pipeline",
            **execution.tags,
        },
    )
    return run.info.run_id


@contextlib.contextmanager
def stage_run(
    stage: str,
    tracking: TrackingParams,
    candidate: str | None = None,
    tags: dict[str, Any] | None = None,
) -> Iterator[StageRun]:
    """An MLflow run for one stage (and candidate), nested under its execution's parent."""
    if not tracking.enabled:
        yield StageRun()
        return
    root = project_root()
    try:
        client = _client(root)
        experiment_id = _experiment_id(client, tracking.experiment, root)
        execution = current_execution()
        parent_id = _parent_run_id(client, experiment_id, execution)
        run = client.create_run(
            experiment_id,
            run_name=f"{stage}@{candidate}" if candidate else stage,
            tags={
                "mlflow.parentRunId": parent_id,
                f"{TAG_PREFIX}stage": stage,
                f"{TAG_PREFIX}candidate": candidate or "",
                f"{TAG_PREFIX}execution": execution.key,
                **execution.tags,
                **(tags or {}),
            },
        )
    except Exception as exc:
        raise TrackingError(
            f"MLflow tracking store {tracking_uri(root)!r} is not usable: "
            f"{type(exc).__name__}: {exc}\nfix: check MLFLOW_TRACKING_URI, or set "
            "tracking.enabled: false in params.yaml to run without tracking"
        ) from exc
    run_id = run.info.run_id
    try:
        yield StageRun(client, run_id)
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt | SystemExit) else "FAILED"
        client.set_terminated(run_id, status)
        client.set_terminated(parent_id, status)
        raise
    client.set_terminated(run_id, "FINISHED")
    client.set_terminated(parent_id, "FINISHED")
    print(f"[{stage}] MLflow run {run_id} in {tracking_uri(root)}", file=sys.stderr)
