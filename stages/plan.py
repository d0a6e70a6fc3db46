"""plan: turn budget_s into the counts every later stage runs (plan.json, plans/<name>.json).

Measures each candidate's cost on a sample once, allots the budget, and writes the plan; with
the same data, candidates and budget it replays the plan it wrote before (plan.mode: frozen
never measures). With budget_s: null it writes plans that change nothing.
"""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

from reprotune import paths, planning
from reprotune.config import load_params
from reprotune.io import staged_dir, write_json
from reprotune.progress import Progress
from reprotune.stage import run_stage, say
from reprotune.tracking import stage_run


def main() -> None:
    params = load_params()
    total = len(params.train.candidates)
    with Progress("plan", total, "candidates measured") as progress:
        plan, how = planning.make_plan(params, progress)
    files = planning.candidate_files(plan, params)
    write_json(paths.PLAN_FILE, plan)
    with staged_dir(paths.PLANS_DIR) as folder:
        for name, content in files.items():
            write_json(folder / f"{name}.json", content)
    if params.budget_s is not None:  # no budget, no plan to log (as an untuned tune@)
        with stage_run("plan", params.tracking) as run:
            run.log_params({"budget_s": params.budget_s, "plan.mode": params.plan.mode})
            run.log_metrics({"estimate_s": plan["estimate_s"], "measure_s": plan["measure_s"]})
            run.log_artifacts([paths.PLAN_FILE])
    lines = planning.describe(plan)
    say(f"{lines[0]} ({how})")
    for line in lines[1:]:
        say(line)


if __name__ == "__main__":
    run_stage("plan", main)
