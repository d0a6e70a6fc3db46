"""MLflow tracking: one run per stage, nested under one parent run per pipeline execution.

The store is `MLFLOW_TRACKING_URI` when set, else an SQLite file at the project root
(`paths.project_root`: the original repository, also for queued experiments running in DVC's
temporary copies), so every run lands in one store with its artifacts in one place.
"""

import contextlib
import hashlib
import json
import os
import re
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from reprotune import lineage
from reprotune.errors import TrackingError
from reprotune.paths import MANIFEST, PARAMS_FILE, find_project_root, project_root
from reprotune.runtime import verbose
from reprotune.schema import Strict
from reprotune.stage import FAILURE_HOOKS, note_mlflow_run

STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
TAG_PREFIX = "reprotune."
_TRUNCATED = "...[truncated]"
_UNSAFE_KEY = re.compile(r"[^\w\-. /]")
SYSTEM_METRICS_INTERVAL_S = 5
RESOLVED_PARAMS_FILE = "resolved_params.json"


class TrackingParams(Strict):
    experiment: str = Field(default="reprotune", min_length=1, max_length=200)
    enabled: bool = True
    # false: when the tracking store cannot be reached, warn once and run without tracking.
    required: bool = True
    system_metrics: bool = True  # CPU, memory (and GPU) of the training runs


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / STORE_FILE}"


def ui_url(base: str, experiment_id: str | None) -> str:
    """The MLflow UI page of an experiment's runs, in the model-training view (the UI opens
    its GenAI view otherwise)."""
    page = f"experiments/{experiment_id}/runs" if experiment_id else ""
    return f"{base.rstrip('/')}/#/{page}?workflowType=machine_learning"


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


@dataclass(frozen=True)
class Execution:
    """Which pipeline execution a stage belongs to: its stages share one parent run."""

    key: str
    name: str
    tags: dict[str, str]


def current_execution() -> Execution:
    tags = {**lineage.git_tags(), **lineage.dvc_tags(), **lineage.environment_tags()}
    tags.pop("dvc.stage", None)
    commit = tags["mlflow.source.git.commit"]
    exp_name = tags.get("dvc.exp_name")
    if exp_name:
        return Execution(f"exp:{exp_name}", execution_name(exp_name, commit), tags)
    # Plain `dvc repro`: the same commit and params make the same execution.
    params_digest = hashlib.md5(
        PARAMS_FILE.read_bytes() if PARAMS_FILE.is_file() else b""
    ).hexdigest()[:8]
    branch = tags.get("git.branch", "unknown")
    label = branch if branch not in ("unknown", "HEAD") else "repro"
    return Execution(f"repro:{commit[:12]}:{params_digest}", execution_name(label, commit), tags)


def execution_name(label: str, commit: str) -> str:
    """What the MLflow UI lists a parent run as: `lr-sweep@a7f75be`, `main@a7f75be`."""
    return f"{label}@{commit[:7]}" if commit != "unknown" else label


class StageRun:
    """Logging calls of one stage's MLflow run; does nothing when tracking is disabled."""

    def __init__(self, client=None, run_id: str | None = None, experiment_id: str | None = None):
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    @property
    def enabled(self) -> bool:
        return self.client is not None

    @contextlib.contextmanager
    def nested(self, name: str, tags: dict[str, str]) -> Iterator["StageRun"]:
        """A run under this one (a tuning trial); FAILED if the block raises, KILLED on an
        interrupt."""
        if not self.enabled:
            yield StageRun()
            return
        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={"mlflow.parentRunId": self.run_id, **_inherited_tags(self), **tags},
        )
        child = StageRun(self.client, run.info.run_id, self.experiment_id)
        try:
            yield child
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt | SystemExit)
            self.client.set_terminated(child.run_id, "KILLED" if interrupted else "FAILED")
            raise
        self.client.set_terminated(child.run_id, "FINISHED")

    def log_params(self, params: dict[str, Any]) -> None:
        """The stage's resolved params: flat as MLflow params (long values truncated with a
        marker) and whole as the artifact resolved_params.json."""
        if not self.enabled:
            return
        self.client.log_dict(self.run_id, params, RESOLVED_PARAMS_FILE)
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

        items = [Param(k, param_value(v, MAX_PARAM_VAL_LENGTH)) for k, v in flatten(params).items()]
        for start in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(
                self.run_id, params=items[start : start + MAX_PARAMS_TAGS_PER_BATCH]
            )

    def log_metrics(self, metrics: dict[str, Any], step: int = 0) -> None:
        if self.enabled:
            self._log_metric_items(_metric_items(metrics, step, int(time.time() * 1000)))

    def log_history(self, rows: list[dict[str, Any]]) -> None:
        """Per-epoch rows (each with its `epoch`, the step) in as few writes as MLflow allows:
        500 boosting rounds are a second of SQLite writes, not 16."""
        if not self.enabled:
            return
        now = int(time.time() * 1000)
        self._log_metric_items(
            [
                item
                for row in rows
                for item in _metric_items(
                    {k: v for k, v in row.items() if k != "epoch"}, row["epoch"], now
                )
            ]
        )

    def _log_metric_items(self, items: list) -> None:
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        for start in range(0, len(items), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=items[start : start + MAX_METRICS_PER_BATCH])

    def set_tags(self, tags: dict[str, Any]) -> None:
        if not self.enabled:
            return
        from mlflow.entities import RunTag
        from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

        self.client.log_batch(
            self.run_id,
            tags=[RunTag(k, param_value(v, MAX_TAG_VAL_LENGTH)) for k, v in tags.items()],
        )

    def log_artifacts(self, files: list[Path], artifact_path: str | None = None) -> None:
        if not self.enabled:
            return
        for file in files:
            if Path(file).exists():
                self.client.log_artifact(self.run_id, str(file), artifact_path)

    def log_dict(self, data: dict[str, Any], artifact_file: str) -> None:
        if self.enabled:
            self.client.log_dict(self.run_id, data, artifact_file)

    def log_dataset(self, frame, split: str, source: dict | str | None = None) -> None:
        """A split as an MLflow dataset input (name, digest, schema, rows; context training,
        validation or test), so the runs table's Dataset column names it."""
        if not self.enabled:
            return
        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        with warnings.catch_warnings():
            # MLflow hints that integer columns cannot hold missing values, and that a local
            # path could be more than one kind of source: neither is for the user to act on.
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_pandas(
                frame,
                source=dataset_source(source),
                targets="label" if "label" in frame.columns else None,
                name=f"{dataset_name(source)}-{split}",
            )
            entity = dataset._to_mlflow_entity()  # the schema is inferred (and hinted) here
        tag = InputTag(MLFLOW_DATASET_CONTEXT, DATASET_CONTEXTS.get(split, split))
        self.client.log_inputs(self.run_id, datasets=[DatasetInput(entity, tags=[tag])])

    def create_model(self, name: str, tags: dict[str, str]) -> str | None:
        """A logged model produced by this run, to be filled by `upload_model`; its id."""
        if not self.enabled:
            return None
        from mlflow.entities import LoggedModelOutput

        model = self.client.create_logged_model(
            self.experiment_id, name=name, source_run_id=self.run_id, tags=tags
        )
        self.client.log_outputs(self.run_id, [LoggedModelOutput(model.model_id, step=0)])
        return model.model_id

    def upload_model(self, model_id: str | None, candidate_dir: Path) -> None:
        """The candidate as an MLflow model (see reprotune.serving), marked READY or FAILED."""
        if model_id is None:
            return
        from reprotune.serving import build_model_dir

        try:
            with tempfile.TemporaryDirectory() as scratch:
                folder = build_model_dir(Path(candidate_dir), Path(scratch) / "model")
                self.client.log_model_artifacts(model_id, str(folder))
        except BaseException:
            self.client.finalize_logged_model(model_id, "FAILED")
            raise
        self.client.finalize_logged_model(model_id, "READY")

    def log_model(self, name: str, candidate_dir: Path, tags: dict[str, str]) -> str | None:
        model_id = self.create_model(name, tags)
        self.upload_model(model_id, candidate_dir)
        return model_id


def _metric_items(metrics: dict[str, Any], step: int, timestamp_ms: int) -> list:
    from mlflow.entities import Metric

    return [
        Metric(metric_key(k), float(v), timestamp_ms, step)
        for k, v in flatten(metrics).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]


NOT_INHERITED = ("mlflow.parentRunId", "mlflow.runName")
DATASET_CONTEXTS = {"train": "training", "val": "validation", "test": "test"}


def _manifest(source: dict | str | None) -> dict:
    if isinstance(source, dict):
        return source
    if source is None and MANIFEST.is_file():
        return json.loads(MANIFEST.read_text(encoding="utf-8"))
    return {}


def dataset_source(source: dict | str | None):
    """Where the data came from, as an MLflow dataset source: the file (URL or local path),
    the Hub dataset at its revision, or the named dataset (scikit-learn, OpenML)."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.http_dataset_source import HTTPDatasetSource

    manifest = _manifest(source) if not isinstance(source, str) else {"files": {"train": source}}
    location = (manifest.get("files") or {}).get("train")
    if location:
        if str(location).startswith(("http://", "https://")):
            return HTTPDatasetSource(str(location))
        return resolve_dataset_source(str(Path(location).expanduser().resolve()))
    if manifest.get("source") == "hf":
        from mlflow.data.huggingface_dataset_source import HuggingFaceDatasetSource

        return HuggingFaceDatasetSource(
            path=str(manifest.get("name")), revision=manifest.get("revision")
        )
    return CodeDatasetSource(
        {"source": str(manifest.get("source", "unknown")), "name": str(manifest.get("name"))}
    )


def dataset_name(source: dict | str | None) -> str:
    manifest = _manifest(source)
    if manifest.get("name"):
        return str(manifest["name"]).rsplit("/", 1)[-1]
    train = (manifest.get("files") or {}).get("train")
    return Path(str(train)).stem if train else "data"


def _inherited_tags(run: StageRun) -> dict[str, str]:
    """A nested run repeats its stage run's lineage (commit, DVC stage, inputs, data,
    versions), so that it is found and traced by its own tags."""
    tags = run.client.get_run(run.run_id).data.tags
    return {k: v for k, v in tags.items() if k not in NOT_INHERITED}


def _client(root: Path):
    import mlflow
    from mlflow.tracking import MlflowClient

    # Also the process default: MLflow resolves `models:/` URIs (registry sources, system
    # metrics) against it, and its own default is a store in the current folder.
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    if not uri.startswith("sqlite:///"):
        return MlflowClient(uri)
    # Creating the client creates (or migrates) the SQLite schema: one process at a time, or
    # two queue workers opening a new mlflow.db race on it ("duplicate column name").
    from filelock import FileLock

    with FileLock(f"{uri.removeprefix('sqlite:///')}.lock", timeout=300):
        client = MlflowClient(uri)
        client.search_experiments(max_results=1)
    return client


def _experiment_id(client, name: str, root: Path, default_store: bool) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (root / ARTIFACTS_DIR).as_uri() if default_store else None
    try:
        # Opens the MLflow UI on its model-training views rather than the GenAI ones.
        return client.create_experiment(
            name,
            artifact_location=location,
            tags={"mlflow.experimentKind": "custom_model_development"},
        )
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
        client.update_run(found[0].info.run_id, status="RUNNING")
        return found[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=execution.name,
        tags={
            f"{TAG_PREFIX}execution": execution.key,
            f"{TAG_PREFIX}kind": "pipeline",
            "mlflow.source.name": "dvc.yaml",  # the runs table's Source: what ran the stages
            "mlflow.source.type": "PROJECT",
            **execution.tags,
        },
    )
    return run.info.run_id


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_abandoned_runs(client, experiment_id: str) -> list[str]:
    """Mark KILLED the stage runs of this host whose process died without ending them
    (SIGKILL, out of memory, power loss), and their parent runs."""
    abandoned = []
    for run in client.search_runs(
        [experiment_id],
        filter_string=(
            f"attributes.status = 'RUNNING' and tags.`{TAG_PREFIX}host` = '{socket.gethostname()}'"
        ),
    ):
        pid = run.data.tags.get(f"{TAG_PREFIX}pid", "")
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        client.set_terminated(run.info.run_id, "KILLED")
        abandoned.append(run.info.run_id)
        parent_id = run.data.tags.get("mlflow.parentRunId")
        if parent_id and client.get_run(parent_id).info.status == "RUNNING":
            client.set_terminated(parent_id, "KILLED")
    return abandoned


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, not after the REST client's retries, when a tracking server is down."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s):
            pass
    except urllib.error.HTTPError:
        return  # the server answers; the store itself is checked by the first call
    except (urllib.error.URLError, OSError) as exc:
        raise ConnectionError(f"no MLflow server answers at {uri} ({exc})") from exc


def _input_tags() -> dict[str, str]:
    stage_address = os.environ.get("DVC_STAGE")
    if not stage_address:
        return {}
    hashes = lineage.dvc_hashes(stage_address, find_project_root())
    return {f"{TAG_PREFIX}input.{path}": md5 for path, md5 in hashes.items()}


def _dataset_tags() -> dict[str, str]:
    """The dataset the pipeline fetched (fetch itself re-tags with what it just fetched)."""
    if not MANIFEST.is_file():
        return {}
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return {f"data.{key}": str(manifest.get(key) or "") for key in ("source", "name", "revision")}


def _stage_tags(stage: str, candidate: str | None, execution: Execution) -> dict[str, str]:
    return {
        f"{TAG_PREFIX}stage": stage,
        f"{TAG_PREFIX}candidate": candidate or "",
        f"{TAG_PREFIX}execution": execution.key,
        f"{TAG_PREFIX}host": socket.gethostname(),
        f"{TAG_PREFIX}pid": str(os.getpid()),
        # the MLflow UI's Source column reads these; without them it stays empty
        "mlflow.source.name": f"stages/{stage}.py",
        "mlflow.source.type": "LOCAL",
        **execution.tags,
        **lineage.dvc_tags(),
        **_dataset_tags(),
        **_input_tags(),
    }


def _open_stage_run(stage, tracking, candidate, tags, root):
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    check_reachable(tracking_uri(root))
    default_store = uses_default_store()  # before _client, which exports the URI
    client = _client(root)
    experiment_id = _experiment_id(client, tracking.experiment, root, default_store)
    close_abandoned_runs(client, experiment_id)
    execution = current_execution()
    parent_id = _parent_run_id(client, experiment_id, execution)
    run = client.create_run(
        experiment_id,
        run_name=f"{stage}@{candidate}" if candidate else stage,
        tags={
            "mlflow.parentRunId": parent_id,
            **_stage_tags(stage, candidate, execution),
            **(tags or {}),
        },
    )
    return client, experiment_id, parent_id, run.info.run_id


def _unusable(root: Path, exc: Exception) -> str:
    return (
        f"MLflow tracking store {tracking_uri(root)!r} is not usable: "
        f"{type(exc).__name__}: {exc}\nfix: start the server or correct MLFLOW_TRACKING_URI; "
        "or set tracking.required: false (warn and go on untracked) or tracking.enabled: false "
        "in params.yaml"
    )


def _system_metrics_monitor(run_id: str, root: Path):
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(
        run_id, sampling_interval=SYSTEM_METRICS_INTERVAL_S, tracking_uri=tracking_uri(root)
    )
    monitor.start()
    return monitor


@contextlib.contextmanager
def stage_run(
    stage: str,
    tracking: TrackingParams,
    candidate: str | None = None,
    tags: dict[str, Any] | None = None,
    system_metrics: bool = False,
) -> Iterator[StageRun]:
    """An MLflow run for one stage (and candidate), nested under its execution's parent.

    Tagged with the code, DVC experiment, input hashes and software versions that made it;
    params.yaml is logged with it. Ends FINISHED, FAILED, or KILLED on an interrupt.
    """
    if not tracking.enabled:
        yield StageRun()
        return
    root = project_root()
    try:
        client, experiment_id, parent_id, run_id = _open_stage_run(
            stage, tracking, candidate, tags, root
        )
    except Exception as exc:
        if tracking.required:
            raise TrackingError(_unusable(root, exc)) from exc
        warnings.warn(f"running untracked: {_unusable(root, exc)}", stacklevel=3)
        yield StageRun()
        return
    run = StageRun(client, run_id, experiment_id)
    run.log_artifacts([PARAMS_FILE])
    monitor = _system_metrics_monitor(run_id, root) if system_metrics else None
    try:
        yield run
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt | SystemExit) else "FAILED"
        _end(client, [run_id, parent_id], status, monitor)
        raise
    _end(client, [run_id, parent_id], "FINISHED", monitor)
    note_mlflow_run(run_id)
    if verbose():
        print(f"[{stage}] MLflow run {run_id} in {tracking_uri(root)}", file=sys.stderr)


def _finish_monitor(monitor) -> None:
    published = monitor._logging_step > 0
    monitor.finish()
    if not published:  # a run shorter than one sampling interval still gets its sample
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()


def _end(client, run_ids: list[str], status: str, monitor) -> None:
    if monitor is not None:
        _finish_monitor(monitor)
    for run_id in run_ids:
        client.set_terminated(run_id, status)


def fail_execution(status: str) -> None:
    """End the execution's parent run `status` when one of its stages fails, wherever it
    failed: a stage that stops before opening its own run (bad params, data that breaks the
    contract) would otherwise leave the parent as the previous stage did, FINISHED."""
    from mlflow.tracking import MlflowClient

    from reprotune.io import read_yaml

    root = project_root()
    try:
        raw = (read_yaml(PARAMS_FILE.read_text(encoding="utf-8")) or {}).get("tracking") or {}
        settings = TrackingParams(**raw)
    except Exception:  # an unreadable params.yaml is the error being reported: use defaults
        settings = TrackingParams()
    uri = tracking_uri(root)
    if not settings.enabled or (uri.startswith("sqlite:///") and not (root / STORE_FILE).is_file()):
        return
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(settings.experiment)
    if experiment is None:
        return
    found = client.search_runs(
        [experiment.experiment_id],
        filter_string=(
            f"tags.`{TAG_PREFIX}execution` = '{current_execution().key}' "
            f"and tags.`{TAG_PREFIX}kind` = 'pipeline'"
        ),
        max_results=1,
    )
    if found and found[0].info.status != status:
        client.set_terminated(found[0].info.run_id, status)


FAILURE_HOOKS.append(fail_execution)
