"""The served model: where it comes from (a registry alias or version, or a candidate folder),
what `/version` says about it, and its hot reload — when the alias moves, the new version is
loaded and warmed beside the old one, then swapped in with one assignment."""

import functools
import logging
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from reprotune import models
from reprotune.data.contract import RequestChecks
from reprotune.data.reference import contract_of, profile_of
from reprotune.errors import ReprotuneError
from reprotune.explanation.record import read_background

log = logging.getLogger("reprotune.service")
WARM_TEXT = "warm up the model"


class ModelSourceError(ReprotuneError):
    """The model to serve cannot be found or loaded."""


@dataclass(frozen=True)
class ModelRef:
    """models:/<name>@<alias> | models:/<name>/<version> | a candidate folder."""

    uri: str
    name: str | None = None
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, uri: str) -> "ModelRef":
        if not uri.startswith("models:/"):
            return cls(uri)
        rest = uri.removeprefix("models:/")
        if "@" in rest:
            name, alias = rest.split("@", 1)
            return cls(uri, name=name, alias=alias)
        name, _, version = rest.partition("/")
        if not version.isdigit():
            raise ModelSourceError(
                f"--model {uri!r}: expected models:/<name>@<alias> or models:/<name>/<version>"
            )
        return cls(uri, name=name, version=version)

    @property
    def in_registry(self) -> bool:
        return self.name is not None


@dataclass
class ServedModel:
    candidate: models.Candidate
    card: dict
    info: dict = field(default_factory=dict)
    # Training rows for /explain's model-agnostic SHAP (typed-input models); None: not saved.
    background: "pd.DataFrame | None" = None
    # The training rows' reference profile, drift's baseline (data/reference.py); None: a
    # model saved before models carried one.
    profile: dict | None = None
    # The data contract compiled for requests (data/contract.py); None: none saved.
    contract: "RequestChecks | None" = None

    @property
    def version(self) -> str:
        return str(self.info.get("version") or "local")

    @functools.cached_property
    def text_vocabularies(self) -> dict[str, frozenset[str]]:
        """Each text feature's training vocabulary (its profile's most common words)."""
        features = (self.profile or {}).get("features", {})
        return {
            column: frozenset(spec["vocabulary"])
            for column, spec in features.items()
            if spec.get("type") == "text" and spec.get("vocabulary")
        }

    def warm(self) -> None:
        example = self.card.get("input_example")
        if self.candidate.typed_inputs and example:
            self.candidate.predict_proba(self.candidate.select_inputs_from_records(example))
        elif not self.candidate.typed_inputs:
            self.candidate.predict_proba([WARM_TEXT])

    def warm_record(self) -> dict | None:
        """A request record this model can score: its input example's first row, or a text."""
        if not self.candidate.typed_inputs:
            return {"text": WARM_TEXT}
        example = self.card.get("input_example")
        return dict(example[0]) if example else None


def _client(tracking_uri: str | None):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri)


def registry_version(ref: ModelRef, tracking_uri: str | None):
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        if ref.alias:
            return client.get_model_version_by_alias(ref.name, ref.alias)
        return client.get_model_version(ref.name, ref.version)
    except MlflowException as exc:
        raise ModelSourceError(
            f"{ref.uri}: not in the registry at {tracking_uri or 'the default store'} "
            f"({exc.message if hasattr(exc, 'message') else exc}); fix: run the pipeline "
            "(compare registers the champion), or pass --model models/<candidate>"
        ) from None


def _run_facts(tracking_uri: str | None, run_id: str) -> dict:
    """The git commit and data digest of the run that trained it, and its test metrics
    (from the evaluate run that scored the model that run trained)."""
    client = _client(tracking_uri)
    run = client.get_run(run_id)
    digests = {
        next((t.value for t in d.tags if t.key == "mlflow.data.context"), ""): d.dataset.digest
        for d in run.inputs.dataset_inputs
    }
    evaluations = client.search_runs(
        [run.info.experiment_id],
        filter_string=(
            f"tags.`reprotune.train_run` = '{run_id}' and tags.`reprotune.stage` = 'evaluate'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    metrics = evaluations[0].data.metrics if evaluations else {}
    return {
        "run_id": run_id,
        "git_commit": run.data.tags.get("mlflow.source.git.commit", ""),
        "data_digest": digests.get("training", ""),
        "test_metrics": dict(sorted(metrics.items())),
    }


def load(ref: ModelRef, tracking_uri: str | None, downloads: Path) -> ServedModel:
    if not ref.in_registry:
        folder = Path(ref.uri)
        if not (folder / models.base.CARD).is_file():
            raise ModelSourceError(
                f"--model {ref.uri!r}: no candidate folder (no {models.base.CARD}); fix: pass "
                "models/<candidate> after `dvc repro`, or models:/<name>@champion"
            )
        candidate, card = models.load(folder)
        info = {"source": str(folder), "version": "local", "candidate": card.get("family")}
        run_id = (card.get("mlflow") or {}).get("run_id")
        return ServedModel(
            candidate,
            card,
            {**info, "run_id": run_id or ""},
            read_background(folder),
            profile_of(folder),
            request_checks(folder),
        )
    version = registry_version(ref, tracking_uri)

    from reprotune.registry import download_version

    target = Path(tempfile.mkdtemp(prefix=f"v{version.version}-", dir=downloads))
    folder = download_version(_client(tracking_uri), ref.name, str(version.version), target)
    candidate, card = models.load(folder)
    info = {
        "source": ref.uri,
        "name": ref.name,
        "alias": ref.alias or "",
        "version": str(version.version),
        "candidate": version.tags.get("reprotune.candidate", ""),
        **_run_facts(tracking_uri, version.run_id),
    }
    return ServedModel(
        candidate, card, info, read_background(folder), profile_of(folder), request_checks(folder)
    )


def request_checks(folder: Path) -> "RequestChecks | None":
    path = contract_of(folder)
    return RequestChecks.read(path) if path is not None else None


def same_interface(old: ServedModel, new: ServedModel) -> bool:
    """A new version may replace the served one only if requests keep their meaning."""
    keys = ("features", "label_names")
    return all(old.card.get(k) == new.card.get(k) for k in keys) and (
        old.candidate.typed_inputs == new.candidate.typed_inputs
    )


class ModelHolder:
    """The model requests use. Each request reads `current` once, so a swap never mixes
    two versions in one answer."""

    def __init__(self, ref: ModelRef, tracking_uri: str | None):
        self.ref, self.tracking_uri = ref, tracking_uri
        self.current: ServedModel | None = None
        self._downloads = Path(tempfile.mkdtemp(prefix="reprotune-serve-"))
        self._reload_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.current is not None

    def load(self) -> ServedModel:
        served = load(self.ref, self.tracking_uri, self._downloads)
        served.warm()
        self.current = served
        return served

    def reload_if_moved(self) -> bool:
        """Load, warm and swap in the version the alias points to now; True if swapped."""
        if not self.ref.alias or self.current is None:
            return False
        with self._reload_lock:
            latest = str(registry_version(self.ref, self.tracking_uri).version)
            if latest == self.current.version:
                return False
            new = load(self.ref, self.tracking_uri, self._downloads)
            if not same_interface(self.current, new):
                log.warning(
                    "%s moved to version %s, whose inputs or classes differ from version %s: "
                    "kept serving %s (restart the service to switch)",
                    self.ref.uri,
                    latest,
                    self.current.version,
                    self.current.version,
                )
                return False
            new.warm()
            old, self.current = self.current, new
            log.warning(
                "%s moved: now serving version %s (was %s)", self.ref.uri, latest, old.version
            )
            return True
