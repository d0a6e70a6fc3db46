"""ensemble <name>: combine trained candidates (ensemble.candidates.<name>.members) by soft
voting or stacking, save the bundle under ensembles/<name>, and evaluate it on the test split
like any candidate (metrics/evaluate/<name>.json), so compare ranks it beside its members."""

import sys

from reprotune import paths
from reprotune.config import load_params
from reprotune.data.folds import check_fold_count
from reprotune.data.prepare import load_features, load_label_names, load_split
from reprotune.errors import DataError
from reprotune.evaluation.run import evaluate_model
from reprotune.io import staged_dir, write_json
from reprotune.models.base import input_example
from reprotune.stage import run_stage, single_argument
from reprotune.tracking import stage_run


def main(name: str) -> None:
    params = load_params()
    if name not in params.ensemble.candidates:
        raise DataError(
            f"ensemble.candidates has no ensemble {name!r}; fix: use one of "
            f"{', '.join(params.ensemble.candidates) or '(none defined)'}"
        )
    settings = params.ensemble.candidates[name]
    from reprotune.models.ensemble import Ensemble

    label_names = load_label_names()
    loaded = {m: load_member(m, label_names) for m in settings.members}
    members = {m: member for m, (member, _) in loaded.items()}
    train, val = load_split("train"), load_split("val")
    check_folds(settings, name, train, val, members)
    ensemble = Ensemble(
        settings,
        label_names,
        params.seed,
        load_features(),
        members,
        {m: paths.model_dir(m) for m in settings.members},
    )
    ensemble.group_column = params.data.group_column
    tags = {"reprotune.candidate": name, "reprotune.family": "ensemble"}
    with stage_run("ensemble", params.tracking, name, tags=tags) as run:
        run.log_params({**settings.model_dump(mode="json"), "seed": params.seed})
        ensemble.fit(*fit_inputs(ensemble, train, val))
        ensemble.decision = decision(ensemble, params)
        summary = cost_summary(ensemble, {m: card for m, (_, card) in loaded.items()}, train, val)
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
        write_json(paths.stage_metrics("ensemble", name), summary)
        run.log_metrics({k: v for k, v in summary.items() if isinstance(v, int | float)})
        run.log_artifacts([paths.stage_metrics("ensemble", name)])
        run.upload_model(model_id, paths.ensemble_dir(name))
    members_shown = ", ".join(settings.members)
    print(f"[ensemble] {name}: {settings.method} of {members_shown}: {combination(ensemble)}")
    evaluate_model(name, paths.ensemble_dir(name), params)


def load_member(name: str, label_names: list[str]):
    from reprotune import models

    folder = paths.model_dir(name)
    if not (folder / models.base.CARD).is_file():
        raise DataError(f"{folder} holds no trained model; fix: run `dvc repro train@{name}`")
    member, card = models.load(folder)
    if card["label_names"] != label_names:
        raise DataError(
            f"member {name!r} predicts {card['label_names']}, but the task's classes are "
            f"{label_names}; fix: re-train it on this data (`dvc repro train@{name}`)"
        )
    return member, card


def check_folds(settings, name: str, train, val, members) -> None:
    key = f"ensemble.candidates.{name}.cv_folds"
    if settings.fit_on == "oof":
        check_fold_count(list(train["label"]) + list(val["label"]), settings.cv_folds, key)
    elif any(m.trains_on_validation for m in members.values()):
        check_fold_count(val["label"].to_numpy(), settings.cv_folds, key)


def fit_inputs(ensemble, train, val) -> tuple:
    return (
        ensemble.select_inputs(train),
        train["label"].to_numpy(),
        ensemble.select_inputs(val),
        val["label"].to_numpy(),
    )


def decision(ensemble, params) -> dict:
    """A binary ensemble's threshold, tuned on its own held-out predictions."""
    if len(ensemble.label_names) != 2:
        return {}
    from reprotune.config import decision_settings
    from reprotune.evaluation.thresholds import tune_threshold

    settings = decision_settings(params.evaluate)
    proba, labels = ensemble.held_out
    return {
        "threshold": tune_threshold(labels, proba[:, 1], settings["threshold"], settings["costs"]),
        "objective": settings["threshold"],
        "costs": settings["costs"],
        "positive_label": ensemble.label_names[1],
    }


def cost_summary(ensemble, cards: dict[str, dict], train, val) -> dict:
    """What the ensemble costs to make: its members' training plus its own fitting."""
    member_seconds = {name: card["train"]["train_seconds"] for name, card in cards.items()}
    return {
        "train_seconds": round(sum(member_seconds.values()) + ensemble.fit_seconds, 3),
        "combine_seconds": round(ensemble.fit_seconds, 3),
        "member_train_seconds": member_seconds,
        "n_parameters": ensemble.n_parameters(),
        "n_train": len(train),
        "n_val": len(val),
        "n_members": len(ensemble.members),
        **combination(ensemble),
        **({"threshold": ensemble.threshold} if ensemble.decision else {}),
    }


def combination(ensemble) -> dict:
    if "weights" in ensemble.combiner:
        weights = [round(w, 4) for w in ensemble.combiner["weights"]]
        return {"weights": dict(zip(ensemble.members, weights, strict=True))}
    return {"meta_model": "logistic_regression"}


if __name__ == "__main__":
    run_stage("ensemble", main, single_argument("ensemble", sys.argv[1:], "name"))
