"""The compare stage's logic: rank candidates on one metric and pick the champion."""

import math
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


def summary(rows: list[dict], metric: str, champion: str | None = None) -> dict:
    """The champion (the top-ranked row unless `champion` names another) and the ranking."""
    chosen = next(r for r in rows if r["candidate"] == (champion or rows[0]["candidate"]))
    return {
        "metric": metric,
        "champion": chosen["candidate"],
        "champion_score": chosen[metric],
        "ranking": {r["candidate"]: {"rank": r["rank"], metric: r[metric]} for r in rows},
    }


def choose_champion(
    rows: list[dict],
    intervals: dict | None,
    phases: dict[str, list[str]] | None = None,
    metric: str | None = None,
) -> tuple[str, str | None]:
    """The best-scoring candidate, unless candidates are not told apart from it (the paired
    interval of their gap reaches zero) and score within PRACTICAL_MARGIN of it: then the
    simplest of those is champion, deterministic for the same predictions: the earliest phase
    (baseline before optimized, tuned and ensembled), then the fastest to serve in steps of 2x
    (a closer latency is timing noise), then the score. Returns it and why, when it is not the
    top row."""
    best = rows[0]
    tied = set(not_told_apart(intervals)) if intervals else set()
    pool = [best, *(r for r in rows if r["candidate"] in tied and _close(r, best, metric))]
    fastest = max(min(r["latency_ms"] for r in pool), 1e-9)
    phase_of = _phase_index(phases or {})

    def simplicity(row: dict) -> tuple:
        speed_step = math.floor(math.log2(max(row["latency_ms"], fastest) / fastest))
        return (phase_of.get(row["candidate"], len(PHASES)), speed_step, row["rank"])

    chosen = min(pool, key=simplicity)
    if chosen is best:
        return best["candidate"], None
    gap = intervals["gap_to_champion"][chosen["candidate"]]
    simpler = (
        f"in an earlier phase ({PHASES[phase_of[chosen['candidate']]]})"
        if simplicity(chosen)[0] < simplicity(best)[0]
        else "faster"
    )
    reason = (
        f"not told apart from the best-scoring {best['candidate']} (paired 95% interval of "
        f"the gap [{gap[0]:.4g}, {gap[1]:.4g}] includes 0) and simpler: {simpler}, "
        f"{chosen['latency_ms']:.3g} ms vs {best['latency_ms']:.3g} ms per example"
    )
    return chosen["candidate"], reason


# A small test split tells few candidates apart: a simpler one 20 % behind on the point
# estimate is still "not told apart", yet the better bet is the best. Simpler wins only when
# it is also close (within 2 % of the best score), the case of a +0.7 % "lift".
PRACTICAL_MARGIN = 0.02


def _close(row: dict, best: dict, metric: str | None) -> bool:
    if metric is None or metric not in best or metric not in row:
        return True
    return abs(best[metric] - row[metric]) <= PRACTICAL_MARGIN * max(abs(best[metric]), 1e-12)


def _phase_index(phases: dict[str, list[str]]) -> dict[str, int]:
    """Each candidate's earliest phase, as its index in PHASES."""
    index = {}
    for position, phase in reversed(list(enumerate(PHASES))):
        for candidate in phases.get(phase, []):
            index[candidate] = position
    return index


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


def verdict(phase: str, lift: float, lift_interval: list[float] | None = None) -> str:
    """Said plainly: a phase that does not beat the baseline has not earned its cost. With a
    paired bootstrap interval of the lift, it beats the baseline only when the whole interval
    is above zero; an interval across zero is a level result, not a win."""
    if phase == "baseline":
        return "reference"
    if lift_interval is not None:
        low, high = lift_interval
        if low > 0:
            return "beats the baseline"
        return "does NOT beat the baseline" if high < 0 else "level with the baseline"
    return "beats the baseline" if lift > 0 else "does NOT beat the baseline"


def load_predictions(candidates: list[str], folder: Path = paths.PREDICTIONS_DIR) -> dict:
    import pandas as pd

    found = {}
    for name in candidates:
        path = folder / f"{name}.parquet"
        if not path.is_file():
            raise DataError(f"{path} is missing; fix: run `dvc repro evaluate@{name}` first")
        found[name] = pd.read_parquet(path)
    sizes = {name: len(frame) for name, frame in found.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(
            f"the candidates' test predictions differ in length ({sizes}): they were not "
            "scored on one test split; fix: `dvc repro` so that every evaluate re-runs"
        )
    return found


def bootstrap_intervals(
    rows: list[dict], phases: dict, metric: str, predictions: dict, seed: int, costs=None
) -> dict:
    """95 % intervals from one seeded paired bootstrap of the test rows: each candidate's
    score, each phase's lift over the baseline phase, and each candidate's gap to the
    champion (positive = the champion is better)."""
    from reprotune.evaluation.bootstrap import (
        RESAMPLES,
        interval,
        replicate_scores,
        resamples,
    )

    sign = 1 if RANKABLE_METRICS[metric] else -1
    indices = resamples(len(next(iter(predictions.values()))), seed)
    scores = {n: replicate_scores(metric, f, indices, costs) for n, f in predictions.items()}
    champion = rows[0]["candidate"]
    reference = phases.get("baseline", {}).get("best")
    return {
        "resamples": RESAMPLES,
        "level": 0.95,
        "scores": {name: interval(values) for name, values in scores.items()},
        "gap_to_champion": {
            name: interval(sign * (scores[champion] - values))
            for name, values in scores.items()
            if name != champion
        },
        "lifts": {
            phase: interval(sign * (scores[values["best"]] - scores[reference]))
            for phase, values in phases.items()
            if reference is not None and phase != "baseline"
        },
    }


def with_intervals(phases: dict, intervals: dict) -> dict:
    """The phase summary with each lift's interval and the verdict it supports."""
    updated = {}
    for phase, values in phases.items():
        lift_interval = intervals["lifts"].get(phase)
        updated[phase] = {
            **values,
            "lift_ci95": lift_interval,
            "verdict": verdict(phase, values["lift"], lift_interval),
        }
    return updated


def not_told_apart(intervals: dict) -> list[str]:
    """Candidates whose gap to the champion has an interval reaching zero or below."""
    return [
        name
        for name, gap in intervals["gap_to_champion"].items()
        if gap is not None and gap[0] <= 0
    ]


def console_lines(
    rows: list[dict],
    metric: str,
    phases: dict,
    intervals: dict | None = None,
    champion: tuple[str, str | None] | None = None,
) -> list[str]:
    """The leaderboard in a line or two: the champion with its interval (and why, when it is
    not the best score), and each phase's best with its lift."""
    name, reason = champion or (rows[0]["candidate"], None)
    row = next(r for r in rows if r["candidate"] == name)
    score = intervals and intervals["scores"].get(name)
    shown = f" (95% CI {score[0]:.4f}-{score[1]:.4f})" if score else ""
    plural = "s" if len(rows) != 1 else ""
    how = f"{reason}" if reason else f"best of {len(rows)} candidate{plural}"
    lines = [f"champion {name}: {metric} {row[metric]:.4f}{shown} on the test split, {how}"]
    if len(phases) > 1:
        steps = [
            f"{phase} {values['best']} {values[metric]:.4f}"
            + (
                f" ({values['lift_pct']:+.1f}%{_level(values)})"
                if phase != "baseline" and values["lift_pct"] is not None
                else ""
            )
            for phase, values in phases.items()
        ]
        lines.append("phases: " + " -> ".join(steps))
    return lines


def _level(values: dict) -> str:
    return ", level" if values.get("verdict", "").startswith("level") else ""


def phase_warnings(phases: dict, metric: str) -> list[str]:
    warnings = []
    for phase, values in phases.items():
        if values["verdict"].startswith("does NOT"):
            said = "does not beat the baseline"
        elif values["verdict"].startswith("level"):
            said = "is level with the baseline (its lift's 95% interval includes 0)"
        else:
            continue
        warnings.append(
            f"phase {phase!r} ({values['best']}) {said} on {metric} "
            f"(lift {values['lift']:+.4g}): keep the simpler model"
        )
    return warnings


def phases_markdown(phases: dict, metric: str) -> str:
    if not phases:
        return ""
    rows = [
        {
            "phase": phase,
            **values,
            "lift_pct": _percent(values["lift_pct"]),
            "lift_ci95": _span(values.get("lift_ci95")),
        }
        for phase, values in phases.items()
    ]
    columns = ["phase", "best", metric, "lift", "lift_pct", "verdict"]
    if any(values.get("lift_ci95") for values in phases.values()):
        columns.insert(5, "lift_ci95")
    return (
        f"\nBest of each phase, and its lift over the baseline phase on **{metric}**:\n\n"
        + markdown_table(columns, rows)
        + "".join(f"\n**Warning:** {line}.\n" for line in phase_warnings(phases, metric))
    )


def _span(interval: list[float] | None) -> str | None:
    return None if interval is None else f"[{interval[0]:.4g}, {interval[1]:.4g}]"


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{value:+.2f}%"


def to_markdown(
    rows: list[dict],
    metric: str,
    phases: dict | None = None,
    intervals: dict | None = None,
    champion: tuple[str, str | None] | None = None,
) -> str:
    champion, reason = champion or (rows[0]["candidate"], None)
    binary = [c for c in BINARY_COLUMNS if any(row.get(c) is not None for row in rows)]
    columns = ["rank", "candidate", *binary, *COLUMNS]
    if intervals:
        ci = f"{metric}_ci95"
        columns.insert(2, ci)
        rows = [{**row, ci: _span(intervals["scores"].get(row["candidate"]))} for row in rows]
    bold = [
        {**row, "candidate": f"**{champion}**"} if row["candidate"] == champion else row
        for row in rows
    ]
    text = f"Ranked by **{metric}** (test split); champion: **{champion}**"
    text += f": {reason}.\n\n" if reason else ".\n\n"
    if intervals:
        text += (
            f"Intervals: 95 % paired bootstrap of the {len(rows)} candidates' test "
            f"predictions ({intervals['resamples']} seeded resamples of the same rows).\n\n"
        )
        tied = not_told_apart(intervals)
        if tied:
            text += f"Not told apart from the champion: {', '.join(tied)}.\n\n"
    return text + markdown_table(columns, bold) + phases_markdown(phases or {}, metric)


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
