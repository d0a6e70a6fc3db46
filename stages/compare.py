"""compare: leaderboard of all candidates, the champion, comparison charts."""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

import sys

from reprotune import paths, planning, plots
from reprotune.config import load_params
from reprotune.data.prepare import load_label_names
from reprotune.explanation import read_summary, top_features_markdown
from reprotune.io import read_json, staged_dir, write_json, write_text
from reprotune.leaderboard import (
    bootstrap_intervals,
    build_leaderboard,
    choose_champion,
    console_lines,
    load_candidate_metrics,
    load_predictions,
    phase_summary,
    phase_warnings,
    summary,
    to_markdown,
    with_intervals,
)
from reprotune.registry import Rows, register_champion
from reprotune.runtime import verbose
from reprotune.stage import run_stage, say
from reprotune.tracking import stage_run

CURVES_DIR = "curves"
CURVE_KINDS = ("roc", "pr", "calibration", "threshold")


def candidate_curves(rows: list[dict]) -> dict[str, dict[str, list]]:
    """Each candidate's binary curves as evaluate wrote them (none for multiclass tasks)."""
    found = {}
    for row in rows:
        folder = paths.stage_plots("evaluate", row["candidate"]) / CURVES_DIR
        if (folder / "roc.json").is_file():
            found[row["candidate"]] = {k: read_json(folder / f"{k}.json") for k in CURVE_KINDS}
    return found


def interval_metrics(intervals: dict, metric: str) -> dict[str, float]:
    """Each candidate's 95 % interval and each phase's lift interval, as MLflow metrics."""
    found = {}
    for name, span in intervals["scores"].items():
        if span:
            found.update(
                {f"{name}.{metric}.ci95_low": span[0], f"{name}.{metric}.ci95_high": span[1]}
            )
    for phase, span in intervals["lifts"].items():
        if span:
            found.update(
                {f"phase.{phase}.lift.ci95_low": span[0], f"phase.{phase}.lift.ci95_high": span[1]}
            )
    return found


def saved_model(params, name: str):
    return paths.ensemble_dir(name) if name in params.ensemble.candidates else paths.model_dir(name)


def main() -> None:
    params = load_params()
    metric = params.compare.metric
    rows = build_leaderboard(load_candidate_metrics(params.ranked_candidates), metric)
    with stage_run("compare", params.tracking) as run:
        phases = phase_summary(rows, params.compare.phases, metric)
        costs = params.evaluate.costs.model_dump() if params.evaluate.costs else None
        predictions = load_predictions(params.ranked_candidates)
        intervals = bootstrap_intervals(rows, phases, metric, predictions, params.seed, costs)
        phases = with_intervals(phases, intervals)
        champion = choose_champion(rows, intervals, params.compare.phases, metric)
        result = {
            **summary(rows, metric, champion[0]),
            **({"champion_reason": champion[1]} if champion[1] else {}),
            **({"phases": phases} if phases else {}),
            "intervals": intervals,
        }
        for line in console_lines(rows, metric, phases, intervals, champion):
            say(line)
        plot_dir = paths.stage_plots("compare")
        with staged_dir(plot_dir) as folder:
            names = [
                f.name
                for f in (
                    *plots.candidate_metrics_plot(folder, rows),
                    *plots.quality_cost_plot(folder, rows, metric),
                )
            ]
        with staged_dir(plot_dir / CURVES_DIR) as folder:
            curve_files = plots.overlay_curve_plots(folder, candidate_curves(rows))
        markdown = to_markdown(rows, metric, phases, intervals, champion)
        top = top_features_markdown(result["champion"], read_summary(result["champion"]))
        if top:
            markdown += f"\n{top}\n"
        plan = planning.read_plan()
        if plan is not None:
            markdown += f"\n{planning.markdown(plan)}"
        write_text(paths.METRICS_DIR / "compare.md", markdown)
        write_json(paths.stage_metrics("compare"), result)
        run.log_params(params.compare.model_dump())
        run.set_tags({"reprotune.champion": result["champion"]})
        run.log_metrics(
            {
                "champion_score": result["champion_score"],
                **{f"{r['candidate']}.{metric}": r[metric] for r in rows},
                **{f"phase.{p}.{metric}": v[metric] for p, v in phases.items()},
                **{f"phase.{p}.lift": v["lift"] for p, v in phases.items()},
                **interval_metrics(intervals, metric),
            }
        )
        run.set_tags({f"reprotune.phase.{p}": v["best"] for p, v in phases.items()})
        run.log_artifacts([plot_dir / n for n in names], "plots")
        curve_dir = plot_dir / CURVES_DIR
        run.log_artifacts([curve_dir / f.name for f in curve_files], f"plots/{CURVES_DIR}")
        run.log_artifacts([paths.stage_metrics("compare"), paths.METRICS_DIR / "compare.md"])
        run.log_artifacts([paths.DVC_LOCK, paths.LOCK_FILE], "lineage")
        if run.enabled:
            champion = result["champion"]
            rows = Rows(
                paths.processed_split("test"),
                predictions[champion],
                load_label_names(),
                params.seed,
                costs,
            )
            decision = register_champion(
                run,
                params.compare.registered_model,
                champion,
                saved_model(params, champion),
                metric,
                result["champion_score"],
                params.compare.higher_is_better,
                rows,
            )
            say(
                f"registry: {decision['registered_model']} version {decision['version']} "
                f"({champion}) -> @{decision['alias']}: {decision['reason']}"
            )
            result["registry"] = {k: v for k, v in decision.items() if k != "model_id"}
            write_json(paths.stage_metrics("compare"), result)
    say(f"leaderboard: {paths.METRICS_DIR / 'compare.md'}")
    if verbose():
        print(markdown)
    for line in phase_warnings(phases, metric):
        print(f"[compare] warning: {line}", file=sys.stderr)


if __name__ == "__main__":
    run_stage("compare", main)
