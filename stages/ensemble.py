"""ensemble <name>: combine trained candidates (ensemble.candidates.<name>.members) by soft
voting or stacking, save the bundle under ensembles/<name>, and evaluate it on the test split
like any candidate (metrics/evaluate/<name>.json), so compare ranks it beside its members."""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

import sys

from reprotune import paths, planning
from reprotune.config import load_params
from reprotune.data.folds import stratified_rows
from reprotune.data.prepare import load_features, load_label_names, load_split
from reprotune.data.reference import save_with_model
from reprotune.errors import DataError
from reprotune.evaluation.run import evaluate_model
from reprotune.io import staged_dir, write_json
from reprotune.models.background import save_background
from reprotune.models.base import fit_inputs, input_example
from reprotune.stage import run_stage, say, single_argument
from reprotune.tracking import stage_run


def main(name: str) -> None:
    params = load_params()
    if name not in params.ensemble.candidates:
        raise DataError(
            f"ensemble.candidates has no ensemble {name!r}; fix: use one of "
            f"{', '.join(params.ensemble.candidates) or '(none defined)'}"
        )
    settings = params.ensemble.candidates[name]
    from reprotune.families.ensemble.model import Ensemble, check_fold_counts, load_members

    label_names = load_label_names()
    members, cards = load_members(settings.members, label_names)
    train, val = load_split("train"), load_split("val")
    check_fold_counts(settings, name, train["label"], val["label"], members)
    ensemble = Ensemble(
        settings,
        label_names,
        params.seed,
        load_features(),
        members,
        {m: paths.model_dir(m) for m in settings.members},
    )
    ensemble.group_column = params.data.group_column
    ensemble.member_digests = {m: member_digest(m) for m in settings.members}
    tags = {"reprotune.candidate": name, "reprotune.family": "ensemble"}
    with stage_run("ensemble", params.tracking, name, tags=tags) as run:
        run.log_params({**settings.model_dump(mode="json"), "seed": params.seed})
        ensemble.fit(*fit_inputs(ensemble, *planned_rows(name, params, train, val)))
        ensemble.decision = decision(ensemble, params)
        summary = ensemble.cost_summary(cards, len(train), len(val))
        model_id = run.create_model(name, tags)
        lineage = {"mlflow": {"run_id": run.run_id, "model_id": model_id}} if run.enabled else {}
        card = {
            "train": summary,
            "members": ensemble.member_summary(),
            "typed_inputs": ensemble.typed_inputs,
            **(
                {"input_example": input_example(val, ensemble.features)}
                if ensemble.features
                else {}
            ),
            **lineage,
        }
        with staged_dir(paths.ensemble_dir(name)) as folder:
            ensemble.save(folder, extra=card)
            save_with_model(folder)
            if ensemble.typed_inputs:
                save_background(folder, train, ensemble.features, params.seed)
        write_json(paths.stage_metrics("ensemble", name), summary)
        run.log_metrics({k: v for k, v in summary.items() if isinstance(v, int | float)})
        run.log_artifacts([paths.stage_metrics("ensemble", name)])
        run.upload_model(model_id, paths.ensemble_dir(name))
    members_shown = ", ".join(settings.members)
    say(f"{name}: {settings.method} of {members_shown}: {ensemble.combination()}")
    evaluate_model(name, paths.ensemble_dir(name), params)


def member_digest(member: str) -> str:
    """A member's resolved settings, seed and family code (configs/<member>.json): with its
    trained params (from its model), what its out-of-fold refits depend on besides the rows."""
    import hashlib

    return hashlib.sha256(paths.candidate_config(member).read_bytes()).hexdigest()


def planned_rows(name: str, params, train, val):
    """The rows the members' out-of-fold predictions are made on: all of them, or the
    budget's stratified share (train and validation alike)."""
    plan = planning.read_candidate_plan(name, params, ensemble=True)
    if plan is None or not plan.ensemble_rows or plan.ensemble_rows >= len(train) + len(val):
        return train, val
    share = plan.ensemble_rows / (len(train) + len(val))
    picked = []
    for frame in (train, val):
        kept = stratified_rows(
            frame["label"].to_numpy(), max(round(len(frame) * share), 2), params.seed
        )
        picked.append(frame.iloc[kept].reset_index(drop=True))
    return picked


def decision(ensemble, params) -> dict:
    """A binary ensemble's threshold, tuned on its own held-out predictions; {} otherwise."""
    from reprotune.config import decision_settings
    from reprotune.evaluation.thresholds import decision as tuned_decision

    if ensemble.held_out is None:  # equal-weight multiclass voting: argmax, nothing to tune
        return {}
    proba, labels = ensemble.held_out
    settings = decision_settings(params.evaluate)
    return tuned_decision(ensemble.label_names, labels, proba[:, -1], settings)


if __name__ == "__main__":
    run_stage("ensemble", main, single_argument("ensemble", sys.argv[1:], "name"))
