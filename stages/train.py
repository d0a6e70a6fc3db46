"""train <candidate>: fit one candidate on the train split and save it under models/."""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

import subprocess
import sys
import time

from reprotune import models, paths, planning, plots, runtime, summaries
from reprotune.config import load_params, read_decision_settings, read_resolved_config
from reprotune.data.folds import stratified_rows
from reprotune.data.prepare import load_features, load_label_names, load_split
from reprotune.data.reference import save_with_model
from reprotune.io import staged_dir, write_json
from reprotune.models.background import save_background
from reprotune.models.base import fit_inputs, input_example
from reprotune.progress import Progress
from reprotune.stage import run_stage, say, single_argument
from reprotune.tracking import stage_run
from reprotune.tuning_settings import apply_tuned, read_tuned_params


def main(candidate: str) -> None:
    params = load_params()
    params.candidate(candidate)
    plan = planning.read_candidate_plan(candidate, params)  # a stale or broken plan stops here
    candidate_params, seed = read_resolved_config(paths.candidate_config(candidate))
    candidate_params = apply_tuned(candidate_params, candidate)
    processes = getattr(candidate_params, "num_processes", 1)
    if processes > 1 and runtime.world_size() == 1:
        raise SystemExit(relaunch_with_torchrun(candidate, processes))
    on_spark = getattr(candidate_params, "engine", "local") == "spark"
    if on_spark:  # the executors read the splits; the driver, samples of them
        train, val, counts = spark_samples(seed)
    else:
        train, val = load_split("train"), load_split("val")
        counts = {"train": len(train), "val": len(val)}
    whole = counts["train"]
    planned = plan.train_rows if plan is not None and plan.train_rows else whole
    if not on_spark and planned < whole:
        kept = stratified_rows(train["label"].to_numpy(), planned, seed)
        train = train.iloc[kept].reset_index(drop=True)
        counts["train"] = len(train)
    features = load_features()
    models.check_reads(candidate, candidate_params, features)
    model = models.create(candidate_params, load_label_names(), seed, features)
    if not runtime.is_main_process():
        # Another torchrun process: it trains its share; the first one logs and saves.
        model.fit(*fit_inputs(model, train, val))
        return
    tags = {
        "reprotune.candidate": candidate,
        "reprotune.family": candidate_params.family,
        "reprotune.tuned": str(bool(read_tuned_params(candidate))).lower(),
    }
    with stage_run(
        "train",
        params.tracking,
        candidate,
        tags=tags,
        system_metrics=params.tracking.system_metrics,
    ) as run:
        run.log_params(
            {
                **candidate_params.model_dump(mode="json"),
                "seed": seed,
                "n_train": counts["train"],
                "n_val": counts["val"],
            }
        )
        run.log_dataset(train, "train")
        run.log_dataset(val, "val")
        start = time.perf_counter()
        settings = read_decision_settings(candidate)
        if on_spark:
            history, labels, proba = model.fit_on_spark(split_files(), min(planned / whole, 1))
            counts["train"] = model.trained_rows
            model.decision = decision_of(model, labels, proba, settings)
            refitted = model.refitted
        else:
            with Progress(f"train@{candidate}", 0, "epochs" if model.iterative else "fits") as bar:
                history = model.fit(
                    *fit_inputs(model, train, val),
                    on_epoch=lambda row: bar.advance(detail=epoch_text(row)),
                )
            model.decision = decision(model, val, settings)
            refitted = model.refit_with_validation(*fit_inputs(model, train, val))
        passes = len(history) if model.iterative else 1  # epochs or boosting rounds
        seconds = time.perf_counter() - start
        summary = {
            "train_seconds": round(seconds, 3),
            "train_samples_per_s": round(counts["train"] * passes / seconds, 2),
            "epochs_run": len(history),
            "best_epoch": getattr(model, "best_epoch", len(history)),
            "n_train": counts["train"],
            "n_val": counts["val"],
            **({"planned_rows_of": whole} if counts["train"] < whole else {}),
            **({"engine": "spark"} if on_spark else {}),
            "refit_on_train_and_val": refitted,
            "n_parameters": model.n_parameters(),
            "processes": getattr(model, "processes", 1),
            **({"threshold": model.threshold} if model.decision else {}),
        }
        chosen = model.device_settings()
        if chosen:  # printed by the family as it starts; kept here for `dvc exp show`
            summary["device_settings"] = chosen
            run.set_tags({f"reprotune.device.{k}": str(v) for k, v in chosen.items()})
        model_id = run.create_model(candidate, tags)
        lineage = {"mlflow": {"run_id": run.run_id, "model_id": model_id}} if run.enabled else {}
        example = {"input_example": input_example(val, features)} if model.features else {}
        with staged_dir(paths.model_dir(candidate)) as folder:
            model.save(folder, extra={"train": summary, "history": history, **example, **lineage})
            save_with_model(folder)
            if model.typed_inputs:
                save_background(folder, train, model.features, seed)
        with staged_dir(paths.stage_plots("train", candidate)) as folder:
            # Families without epochs get no per-epoch charts (one dot each says nothing).
            charts = plots.history_plots(folder, history) if model.iterative else []
            names = [f.name for f in charts]
        write_json(paths.stage_metrics("train", candidate), summary)
        run.log_history(history)
        run.log_metrics(summary)
        plot_dir = paths.stage_plots("train", candidate)
        run.log_artifacts([plot_dir / n for n in names if n.endswith(".png")], "plots")
        run.log_artifacts([paths.candidate_config(candidate), paths.best_params_file(candidate)])
        run.upload_model(model_id, paths.model_dir(candidate))
    say(summaries.trained(candidate, model, summary, history, params.compare.metric))


def epoch_text(row: dict) -> str:
    shown = [
        f"{k} {v:.4f}" for k, v in row.items() if k.startswith("val_") and isinstance(v, float)
    ]
    return ", ".join(shown[:2])


def decision(model, val, settings: dict) -> dict:
    """A binary model's decision threshold, tuned on the validation split; {} otherwise."""
    if len(model.label_names) != 2:
        return {}
    proba = model.predict_proba(model.select_inputs(val))
    return decision_of(model, val["label"].to_numpy(), proba, settings)


def decision_of(model, labels, proba, settings: dict) -> dict:
    """The threshold from the validation rows' labels and probabilities."""
    if len(model.label_names) != 2:
        return {}
    from reprotune.evaluation.thresholds import decision as tuned_decision

    return tuned_decision(model.label_names, labels, proba[:, 1], settings)


def split_files() -> dict:
    return {split: paths.processed_split(split) for split in ("train", "val")}


def spark_samples(seed: int):
    """Samples of the splits for what the driver needs of them (the MLflow dataset entries,
    the explainers' background rows, the input example) and the splits' row counts."""
    import pyarrow.parquet as pq

    from reprotune.data.prepare import driver_sample

    files = split_files()
    counts = {s: pq.ParquetFile(f).metadata.num_rows for s, f in files.items()}
    train, val = (driver_sample(s, seed) for s in ("train", "val"))
    return train, val, counts


def relaunch_with_torchrun(candidate: str, processes: int) -> int:
    """This stage again as `processes` data-parallel processes on this machine (one per GPU,
    or gloo processes on the CPU); several machines launch torchrun themselves."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        __file__,
        candidate,
    ]
    print(f"[train] launching: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    return subprocess.run(command).returncode


if __name__ == "__main__":
    run_stage("train", main, single_argument("train", sys.argv[1:], "candidate"))
