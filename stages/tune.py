"""tune <candidate>: an Optuna study over the candidate's search space (tune.candidates).

Writes the best params to tune/<candidate>/best_params.json, which train@<candidate> applies.
dvc.yaml has this stage only for the candidates in tune.candidates; `sources` writes the empty
best params of the others. A study the budget's plan skips leaves the empty file too.
"""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

import os
import sys

from reprotune import paths, planning, summaries
from reprotune.config import load_params, read_resolved_config
from reprotune.errors import ParamsError
from reprotune.io import staged_dir, write_json
from reprotune.stage import run_stage, say, single_argument
from reprotune.tracking import stage_run
from reprotune.tuning_settings import untuned_params


def main(candidate: str) -> None:
    params = load_params()
    params.candidate(candidate)
    base, _ = read_resolved_config(paths.candidate_config(candidate))  # configure ran
    if candidate not in params.tune.candidates:
        raise ParamsError(
            f"params.yaml: tune.candidates has no study for {candidate!r}; fix: add "
            f"tune.candidates.{candidate}.space, or train it without one "
            f"(`dvc repro train@{candidate}`)"
        )
    plan = planning.read_candidate_plan(candidate, params)
    if plan is not None and plan.study_skipped:
        write_untuned(candidate, plan.study_skipped)
        say(f"{candidate}: no study, the budget's plan skipped it: {plan.study_skipped}")
        return
    from reprotune import tuning

    with (
        stage_run("tune", params.tracking, candidate, tags=study_tags(params, candidate)) as run,
        staged_dir(paths.tune_dir(candidate)) as folder,
        staged_dir(paths.stage_plots("tune", candidate)) as plot_folder,
    ):
        storage = tuning.storage_url(params.tune, folder)
        run.set_tags({"reprotune.storage": shown_storage(tuning, storage, folder, candidate)})
        study_plan = plan.study if plan is not None else None
        run.log_params(settings(params, candidate, tuning, study_plan))
        study, ran = tuning.tune(
            params, candidate, run, storage, sampler_seed=params.seed, plan=study_plan
        )
        tuning.check_can_report(study, candidate)
        cv_folds = params.tune.cv_folds_for(candidate, type(base).quick)
        if study_plan is not None:
            cv_folds = study_plan.cv_folds
        result = tuning.summary(
            study, params.tune.study(candidate).space, candidate, params.tune.metric, cv_folds
        )
        importances = tuning.importances(study)
        write_json(folder / "best_params.json", result)
        write_json(folder / "importances.json", importances)
        write_json(folder / "trials.json", tuning.trials_table(study))
        files = tuning_plot_files(plot_folder, study, importances)
        metrics = {
            f"best_{result['metric']}": result["best_value"],
            "best_trial": result["best_trial"],
            **tuning.trial_counts(study),
            **({"study_rows": study_plan.rows} if study_plan is not None else {}),
        }
        run.log_params({f"best.{k}": v for k, v in result["params"].items()})
        run.log_metrics({**metrics, "trials_run_here": ran})
        run.log_artifacts([folder / n for n in ("best_params.json", "importances.json")])
        run.log_artifacts([folder / "trials.json"])
        run.log_artifacts([plot_folder / f.name for f in files], "plots")
    write_json(paths.stage_metrics("tune", candidate), metrics)
    say(summaries.tuned(candidate, result, metrics["n_trials"], ran))


def write_untuned(candidate: str, skipped: str) -> None:
    with staged_dir(paths.tune_dir(candidate)) as folder:
        write_json(folder / "best_params.json", untuned_params(candidate, skipped))
    with staged_dir(paths.stage_plots("tune", candidate)):
        pass
    write_json(paths.stage_metrics("tune", candidate), {"tuned": False, "skipped": skipped})


def tuning_plot_files(folder, study, importances):
    from reprotune import plots, tuning

    return plots.tuning_plots(folder, study, tuning.history_rows(study), importances)


def study_tags(params, candidate: str) -> dict[str, str]:
    return {
        "reprotune.study": params.tune.study_name(candidate),
        "reprotune.sampler": params.tune.sampler,
    }


def settings(params, candidate: str, tuning, study_plan=None) -> dict:
    tune = params.tune
    planned = study_plan.model_dump() if study_plan is not None else None
    return {
        "sampler": tune.sampler,
        "n_trials": study_plan.trials if study_plan else tune.n_trials_for(candidate),
        "budget_s": params.budget_s,
        "plan": planned,
        "metric": f"val_{tune.metric}",
        "pruner": tune.pruner,
        "study": tune.study_name(candidate),
        "space": tuning.space_as_dict(tune.study(candidate).space),
    }


def shown_storage(tuning, storage: str, folder, candidate: str) -> str:
    if storage.endswith(f"{os.sep}{tuning.STUDY_FILE}") and str(folder) in storage:
        return f"sqlite:///{paths.tune_dir(candidate) / tuning.STUDY_FILE}"
    return tuning.shown_url(storage)


if __name__ == "__main__":
    run_stage("tune", main, single_argument("tune", sys.argv[1:], "candidate"))
