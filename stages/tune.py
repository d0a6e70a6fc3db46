"""tune <candidate>: an Optuna study over the candidate's search space (tune.candidates).

Writes the best params to tune/<candidate>/best_params.json, which train@<candidate> applies.
A candidate without a search space gets an empty file and nothing else, at once.
"""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

import os
import sys

from reprotune import paths, summaries
from reprotune.config import load_params, read_resolved_config
from reprotune.io import staged_dir, write_json
from reprotune.stage import run_stage, say, single_argument
from reprotune.tracking import stage_run


def main(candidate: str) -> None:
    params = load_params()
    params.candidate(candidate)
    base, _ = read_resolved_config(paths.candidate_config(candidate))  # configure ran
    if candidate not in params.tune.candidates:
        write_untuned(candidate)
        say(f"{candidate}: no study (not in tune.candidates)")
        return
    from reprotune import tuning

    with (
        stage_run("tune", params.tracking, candidate, tags=study_tags(params, candidate)) as run,
        staged_dir(paths.tune_dir(candidate)) as folder,
        staged_dir(paths.stage_plots("tune", candidate)) as plot_folder,
    ):
        storage = tuning.storage_url(params.tune, folder)
        run.set_tags({"reprotune.storage": shown_storage(tuning, storage, folder, candidate)})
        run.log_params(settings(params, candidate, tuning))
        study, ran = tuning.tune(params, candidate, run, storage, sampler_seed=params.seed)
        tuning.check_can_report(study, candidate)
        cv_folds = params.tune.cv_folds_for(candidate, type(base).quick)
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
        }
        run.log_params({f"best.{k}": v for k, v in result["params"].items()})
        run.log_metrics({**metrics, "trials_run_here": ran})
        run.log_artifacts([folder / n for n in ("best_params.json", "importances.json")])
        run.log_artifacts([folder / "trials.json"])
        run.log_artifacts([plot_folder / f.name for f in files], "plots")
    write_json(paths.stage_metrics("tune", candidate), metrics)
    say(summaries.tuned(candidate, result, metrics["n_trials"], ran))


def write_untuned(candidate: str) -> None:
    with staged_dir(paths.tune_dir(candidate)) as folder:
        write_json(folder / "best_params.json", {"candidate": candidate, "params": {}})
    with staged_dir(paths.stage_plots("tune", candidate)):
        pass
    write_json(paths.stage_metrics("tune", candidate), {"tuned": False})


def tuning_plot_files(folder, study, importances):
    from reprotune import plots, tuning

    return plots.tuning_plots(folder, study, tuning.history_rows(study), importances)


def study_tags(params, candidate: str) -> dict[str, str]:
    return {
        "reprotune.study": params.tune.study_name(candidate),
        "reprotune.sampler": params.tune.sampler,
    }


def settings(params, candidate: str, tuning) -> dict:
    tune = params.tune
    return {
        "sampler": tune.sampler,
        "n_trials": tune.n_trials_for(candidate),
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
