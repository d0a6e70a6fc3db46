"""The MLflow Model Registry: compare registers its champion and moves the `champion` alias
only when the new model is told apart from the current champion on the same rows.

The current @champion version is loaded from the registry (as `serve` loads it) and scored on
this execution's test split, the rows the new champion was scored on; the paired bootstrap
compare already uses (the same seeded resamples for both) gives the gap's 95 % interval. The
alias moves when the interval is above zero; otherwise the new version gets @challenger, with
the gap and its interval in the reason. A champion that cannot score these rows (it reads other
features, predicts other classes, no longer loads) is "not comparable": the new version becomes
champion and the reason says why. Stored scores from other rows are never compared."""

import os
import tempfile
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
    gap: float | None = None  # new minus current champion on the same rows (better > 0)
    gap_interval: list[float] | None = None  # its paired bootstrap 95 % interval
    rows: int | None = None  # the test rows both were scored on


class NotComparable(Exception):
    """The current champion cannot score this execution's rows (the message says why)."""


def decide_on_same_rows(
    current_version: str,
    metric: str,
    higher_is_better: bool,
    new,
    old,
    seed: int,
    costs: dict | None = None,
) -> Decision:
    """The alias for the new champion, from both models' predictions of the same test rows
    (predictions frames: label, predicted, proba_*)."""
    import numpy as np

    from reprotune.evaluation.bootstrap import interval, replicate_scores, resamples

    if len(new) != len(old):
        raise NotComparable(f"it scored {len(old)} rows, the new one {len(new)}")
    sign = 1 if higher_is_better else -1
    indices = resamples(len(new), seed)
    every = np.arange(len(new))[None, :]
    gaps = sign * (
        replicate_scores(metric, new, indices, costs)
        - replicate_scores(metric, old, indices, costs)
    )
    point = float(
        sign
        * (
            replicate_scores(metric, new, every, costs)[0]
            - replicate_scores(metric, old, every, costs)[0]
        )
    )
    span = interval(gaps)
    if span is None:
        raise NotComparable(f"{metric} cannot be computed on these {len(new)} rows")
    measured = (
        f"{metric} gap {point:+.4f} (95% CI [{span[0]:+.4f}, {span[1]:+.4f}]) against the "
        f"champion (version {current_version}) on the same {len(new):,} test rows"
    )
    facts = {"gap": round(point, 6), "gap_interval": span, "rows": len(new)}
    if span[0] > 0:
        return Decision(CHAMPION, f"told apart: {measured}", **facts)
    if span[1] < 0:
        return Decision(CHALLENGER, f"worse: {measured}", **facts)
    return Decision(CHALLENGER, f"not told apart: {measured}; @champion stays", **facts)


def download_version(client, name: str, version: str, into: Path) -> Path:
    """A registered version's candidate folder (its python_function data), downloaded from the
    version's own artifact location (a models:/ URI would resolve against the default
    registry, not `client`'s)."""
    import mlflow.artifacts
    import yaml
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    source = client.get_model_version_download_uri(name, version)
    shown = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.get()
    os.environ[MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name] = "false"  # a bar a file: noise
    try:
        model_dir = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(into), tracking_uri=client.tracking_uri
            )
        )
    finally:
        os.environ[MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name] = str(shown).lower()
    flavors = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]
    return model_dir / flavors["python_function"]["data"]


def score_version(client, name: str, version: str, test: Path, label_names: list[str]):
    """The registered version's predictions of the processed split at `test` (features and
    `label`), as evaluate writes them; NotComparable when it cannot score them."""
    from reprotune import models
    from reprotune.evaluation.bootstrap import predictions_frame

    with tempfile.TemporaryDirectory(prefix=f"champion-v{version}-") as folder:
        try:
            candidate, card = models.load(download_version(client, name, version, Path(folder)))
        except Exception as exc:  # an artifact gone, a family this code no longer has
            why = f"version {version} does not load ({type(exc).__name__}: {exc})"
            raise NotComparable(why) from None
    if list(card["label_names"]) != list(label_names):
        raise NotComparable(
            f"version {version} predicts {card['label_names']}, this task's classes are "
            f"{label_names}"
        )
    try:
        labels, proba = _scored(candidate, card, test)
    except Exception as exc:  # other features or inputs than this data has
        raise NotComparable(f"version {version} cannot read these rows ({exc})") from None
    return predictions_frame(labels, proba, models.decide(proba, candidate.threshold))


def _scored(candidate, card: dict, test: Path):
    """Labels and probabilities; a version trained with `engine: spark` is scored on the
    executors, as its evaluate@ scored it, so the driver never holds the split's features."""
    from reprotune.data.prepare import load_split

    if card["params"].get("engine") == "spark":
        return candidate.score_split_on_spark(test)
    frame = load_split(test.stem, test.parent)
    return frame["label"].to_numpy(), candidate.predict_proba(candidate.select_inputs(frame))


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


@dataclass(frozen=True)
class Rows:
    """What the current champion is re-scored on: this execution's test split, the new
    champion's predictions of it, and the bootstrap's seed and costs."""

    test: Path  # the processed test split (features and `label`)
    predictions: object  # the new champion's predictions frame
    label_names: list[str]
    seed: int
    costs: dict | None = None


def register_champion(
    run: StageRun,
    name: str,
    candidate: str,
    candidate_dir: Path,
    metric: str,
    score: float,
    higher_is_better: bool,
    rows: Rows | None = None,
) -> dict:
    """Register the champion candidate's model under `name`, alias it, record why: on the
    same rows when `rows` is given (the compare stage), else on the stored scores."""
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
    current_version = _champion_version(client, name)
    if current_version is not None and current_version == version:
        decision = Decision(CHAMPION, "already the champion")
    elif rows is not None and current_version is not None:
        decision = _on_same_rows(client, name, current_version, metric, higher_is_better, rows)
    else:
        decision = decide(current, metric, score, higher_is_better)
    client.set_registered_model_alias(name, decision.alias, version)
    record = {
        "registered_model": name,
        "version": version,
        "model_id": model_id,
        **asdict(decision),
        "score": score,
        "previous_champion_version": current_version or "",
        "previous_champion_score": current.score if current else "",
    }
    kept = ("alias", "reason", "previous_champion_version", "previous_champion_score", "gap",
            "gap_interval", "rows")  # fmt: skip
    for key in kept:
        if record[key] is not None:
            client.set_model_version_tag(name, version, f"{TAG_PREFIX}{key}", str(record[key]))
    run.set_tags({f"{TAG_PREFIX}registry.{k}": v for k, v in record.items() if v is not None})
    return record


def _champion_version(client, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def _on_same_rows(client, name: str, current: str, metric: str, higher: bool, rows: Rows):
    try:
        old = score_version(client, name, current, rows.test, rows.label_names)
        return decide_on_same_rows(
            current, metric, higher, rows.predictions, old, rows.seed, rows.costs
        )
    except NotComparable as exc:
        return Decision(CHAMPION, f"not comparable: {exc}; the new version becomes champion")
