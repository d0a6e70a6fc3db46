"""The compare stage's logic: rank candidates on one metric and pick the champion."""

from pathlib import Path

from reprotune import paths
from reprotune.config import PHASES, RANKABLE_METRICS
from reprotune.errors import DataError
from reprotune.io import read_json

BINARY_COLUMNS = ("roc_auc", "pr_auc", "f1", "threshold", "expected_cost")
COLUMNS = (
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "log_loss",
    "latency_ms",
    "throughput_samples_per_s",
    "train_seconds",
    "size_mb",
    "n_parameters",
)


def load_candidate_metrics(candidates: list[str], metrics_dir: Path = paths.METRICS_DIR) -> dict:
    found = {}
    for name in candidates:
        path = metrics_dir / "evaluate" / f"{name}.json"
        if not path.is_file():
            raise DataError(f"{path} is missing; fix: run `dvc repro evaluate@{name}` first")
        found[name] = read_json(path)
    return found


def build_leaderboard(metrics: dict[str, dict], metric: str) -> list[dict]:
    """Rows sorted best first by `metric`; ties go to the lower single-example latency."""
    rows = []
    for name, values in metrics.items():
        efficiency = values["efficiency"]
        row = {"candidate": name, **{k: values[k] for k in RANKABLE_METRICS if k in values}}
        row.update({k: values[k] for k in BINARY_COLUMNS if k in values})
        row.update({k: efficiency[k] for k in COLUMNS if k in efficiency})
        if row.get(metric) is None:
            raise DataError(
                f"compare.metric = {metric!r} is not available for {name!r}; "
                f"fix: choose another compare.metric"
            )
        rows.append(row)
    sign = -1 if RANKABLE_METRICS[metric] else 1
    rows.sort(key=lambda r: (sign * r[metric], r["latency_ms"], r["candidate"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def summary(rows: list[dict], metric: str) -> dict:
    champion = rows[0]
    return {
        "metric": metric,
        "champion": champion["candidate"],
        "champion_score": champion[metric],
        "ranking": {r["candidate"]: {"rank": r["rank"], metric: r[metric]} for r in rows},
    }


def phase_summary(rows: list[dict], phases: dict[str, list[str]], metric: str) -> dict:
    """Each phase's best candidate on `metric`, and its lift over the baseline phase's best
    (positive = better, whichever way the metric points)."""
    if not phases:
        return {}
    sign = 1 if RANKABLE_METRICS[metric] else -1
    best = {}
    for phase in (p for p in PHASES if p in phases):
        members = [r for r in rows if r["candidate"] in phases[phase]]
        best[phase] = min(members, key=lambda r: r["rank"])
    reference = best["baseline"][metric]
    summary = {}
    for phase, row in best.items():
        lift = sign * (row[metric] - reference)
        summary[phase] = {
            "best": row["candidate"],
            metric: row[metric],
            "lift": round(lift, 6),
            "lift_pct": round(100 * lift / abs(reference), 3) if reference else None,
            "verdict": verdict(phase, lift),
        }
    return summary


def verdict(phase: str, lift: float) -> str:
    """Said plainly: a phase that does not beat the baseline has not earned its cost."""
    if phase == "baseline":
        return "reference"
    return "beats the baseline" if lift > 0 else "does NOT beat the baseline"


def console_lines(rows: list[dict], metric: str, phases: dict) -> list[str]:
    """The leaderboard in a line or two: the champion, and each phase's best with its lift."""
    champion = rows[0]
    lines = [
        f"champion {champion['candidate']}: {metric} {champion[metric]:.4f} on the test split, "
        f"best of {len(rows)} candidate{'s' if len(rows) != 1 else ''}"
    ]
    if len(phases) > 1:
        steps = [
            f"{phase} {values['best']} {values[metric]:.4f}"
            + (
                f" ({values['lift_pct']:+.1f}%)"
                if phase != "baseline" and values["lift_pct"] is not None
                else ""
            )
            for phase, values in phases.items()
        ]
        lines.append("phases: " + " -> ".join(steps))
    return lines


def phase_warnings(phases: dict, metric: str) -> list[str]:
    return [
        f"phase {phase!r} ({values['best']}) does not beat the baseline on {metric} "
        f"(lift {values['lift']:+.4g}): keep the simpler model"
        for phase, values in phases.items()
        if values["verdict"].startswith("does NOT")
    ]


def phases_markdown(phases: dict, metric: str) -> str:
    if not phases:
        return ""
    rows = [
        {"phase": phase, **values, "lift_pct": _percent(values["lift_pct"])}
        for phase, values in phases.items()
    ]
    return (
        f"\nBest of each phase, and its lift over the baseline phase on **{metric}**:\n\n"
        + markdown_table(["phase", "best", metric, "lift", "lift_pct", "verdict"], rows)
        + "".join(f"\n**Warning:** {line}.\n" for line in phase_warnings(phases, metric))
    )


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{value:+.2f}%"


def to_markdown(rows: list[dict], metric: str, phases: dict | None = None) -> str:
    champion = rows[0]["candidate"]
    bold = [{**row, "candidate": f"**{champion}**"} if row["rank"] == 1 else row for row in rows]
    binary = [c for c in BINARY_COLUMNS if any(row.get(c) is not None for row in rows)]
    return (
        f"Ranked by **{metric}** (test split); champion: **{champion}**.\n\n"
        + markdown_table(["rank", "candidate", *binary, *COLUMNS], bold)
        + phases_markdown(phases or {}, metric)
    )


def markdown_table(columns: list[str], rows: list[dict]) -> str:
    lines = [
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
