"""evaluate <candidate>: test-split quality and efficiency metrics, plots for DVC and MLflow;
for binary tasks also ROC-AUC, PR-AUC, calibration, and every threshold metric at 0.5 and
at the candidate's tuned threshold, with its expected cost when evaluate.costs is set."""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

import sys

from reprotune import paths
from reprotune.config import load_params
from reprotune.evaluation.run import evaluate_model
from reprotune.stage import run_stage, single_argument


def main(candidate: str) -> None:
    params = load_params()
    params.candidate(candidate)
    evaluate_model(candidate, paths.model_dir(candidate), params)


if __name__ == "__main__":
    run_stage("evaluate", main, single_argument("evaluate", sys.argv[1:], "candidate"))
