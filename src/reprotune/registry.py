"""The MLflow Model Registry: compare registers its champion and moves the `champion` alias
only when the new model beats the current champion on the compare metric."""

from dataclasses import asdict, dataclass
from pathlib import Path

from reprotune.models import read_card
from reprotune.tracking import TAG_PREFIX, StageRun

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Decision:
    alias: str
    reason: str


@dataclass(frozen=True)
class Standing:
    """A registered version's claim: which metric it was judged on and its score."""

    version: str
    metric: str
    score: float


def decide(current: Standing | None, metric: str, score: float, higher_is_better: bool) -> Decision:
    if current is None:
        return Decision(CHAMPION, "no champion yet")
    if current.metric != metric:
        return Decision(
            CHAMPION, f"the compare metric changed ({current.metric} -> {metric}); not comparable"
        )
    better = score > current.score if higher_is_better else score < current.score
    relation = "beats" if better else "does not beat"
    return Decision(
        CHAMPION if better else CHALLENGER,
        f"{metric} {score:.4f} {relation} the champion's {current.score:.4f} "
        f"(version {current.version})",
    )


def _current_champion(client, name: str) -> Standing | None:
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    tags = version.tags
    try:
        return Standing(
            str(version.version), tags[f"{TAG_PREFIX}metric"], float(tags[f"{TAG_PREFIX}score"])
        )
    except (KeyError, ValueError):
        return None  # registered by hand, without a score: nothing to compare against


def _ensure_registered_model(client, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Champions of the reprotune compare stage, with their scores."
        )


def _logged_model_id(run: StageRun, candidate: str, candidate_dir: Path) -> str:
    """The champion's logged model from its train run; logged again from this run when it is
    not in this tracking store (trained against another store, or tracking was off)."""
    from mlflow.exceptions import MlflowException

    model_id = read_card(candidate_dir).get("mlflow", {}).get("model_id")
    if model_id:
        try:
            if run.client.get_logged_model(model_id).status == "READY":
                return model_id
        except MlflowException:
            pass
    return run.log_model(candidate, candidate_dir, {f"{TAG_PREFIX}candidate": candidate})


def _version_of(client, name: str, model_id: str, source_run_id: str, tags: dict) -> str:
    for version in client.search_model_versions(f"name = '{name}'"):
        if version.tags.get(f"{TAG_PREFIX}model_id") == model_id:
            return str(version.version)
    created = client.create_model_version(
        name,
        source=f"models:/{model_id}",
        run_id=source_run_id,
        tags={**tags, f"{TAG_PREFIX}model_id": model_id},
        model_id=model_id,
    )
    return str(created.version)


def register_champion(
    run: StageRun,
    name: str,
    candidate: str,
    candidate_dir: Path,
    metric: str,
    score: float,
    higher_is_better: bool,
) -> dict:
    """Register the champion candidate's model under `name`, alias it, record why."""
    client = run.client
    _ensure_registered_model(client, name)
    model_id = _logged_model_id(run, candidate, candidate_dir)
    source_run_id = client.get_logged_model(model_id).source_run_id or run.run_id
    current = _current_champion(client, name)
    version = _version_of(
        client,
        name,
        model_id,
        source_run_id,
        {
            f"{TAG_PREFIX}candidate": candidate,
            f"{TAG_PREFIX}metric": metric,
            f"{TAG_PREFIX}score": f"{score:.6f}",
            f"{TAG_PREFIX}compare_run": run.run_id,
        },
    )
    if current is not None and current.version == version:
        decision = Decision(CHAMPION, "already the champion")
    else:
        decision = decide(current, metric, score, higher_is_better)
    client.set_registered_model_alias(name, decision.alias, version)
    record = {
        "registered_model": name,
        "version": version,
        "model_id": model_id,
        **asdict(decision),
        "score": score,
        "previous_champion_version": current.version if current else "",
        "previous_champion_score": current.score if current else "",
    }
    for key in ("alias", "reason", "previous_champion_version", "previous_champion_score"):
        client.set_model_version_tag(name, version, f"{TAG_PREFIX}{key}", str(record[key]))
    run.set_tags({f"{TAG_PREFIX}registry.{key}": value for key, value in record.items()})
    return record
