"""explain <candidate or ensemble>: permutation importance, partial dependence with ICE, SHAP
and LIME (tabular tasks), or the heaviest n-grams and LIME word weights (text tasks), for one
saved model; bounded by explain.time_budget_s and the sample sizes in params.yaml."""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

import sys

from reprotune import paths
from reprotune.config import load_params
from reprotune.explanation import explain_candidate
from reprotune.planning import read_candidate_plan
from reprotune.stage import run_stage, single_argument


def main(name: str) -> None:
    params = load_params()
    if name in params.ensemble.candidates:
        folder = paths.ensemble_dir(name)
    else:
        params.candidate(name)  # an unknown name stops here, with the fix
        folder = paths.model_dir(name)
    explain_candidate(name, folder, planned(name, params))


def planned(name: str, params):
    """params with explain.time_budget_s at what the budget's plan gives this model (never
    more than params.yaml's)."""
    plan = read_candidate_plan(name, params, ensemble=name in params.ensemble.candidates)
    if plan is None or plan.explain_s is None:
        return params
    seconds = min(plan.explain_s, params.explain.time_budget_s)
    explain = params.explain.model_copy(update={"time_budget_s": seconds})
    return params.model_copy(update={"explain": explain})


if __name__ == "__main__":
    run_stage("explain", main, single_argument("explain", sys.argv[1:], "candidate"))
