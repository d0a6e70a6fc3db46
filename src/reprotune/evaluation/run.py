"""The evaluate stage's work on one saved model: test-split quality and efficiency metrics,
plots for DVC and MLflow; for binary tasks also ROC-AUC, PR-AUC, calibration, and every
threshold metric at 0.5 and at the model's tuned threshold, with its expected cost when
evaluate.costs is set. Ensembles are evaluated by the same code."""

from pathlib import Path

from reprotune import models, paths, plots
from reprotune.data.prepare import driver_sample, load_split
from reprotune.evaluation import confusion, latency_ms, predict_timed, quality_metrics
from reprotune.io import dir_size_bytes, note_if_empty, staged_dir, write_json
from reprotune.stage import say
from reprotune.tracking import stage_run

CURVES_DIR = "curves"


def evaluate_model(candidate: str, model_folder: Path, params) -> dict:
    """Test-split metrics, charts and an MLflow `evaluate` run for the model saved in
    `model_folder`; writes metrics/evaluate/<candidate>.json and plots/evaluate/<candidate>/."""
    model, card = models.load(model_folder)
    on_spark = card["params"].get("engine") == "spark"
    # engine: spark: the executors score the test split; the driver holds a sample of it
    # (the dataset entry, the timing of this process's predictions) and the scores.
    test = driver_sample("test", params.seed) if on_spark else load_split("test")
    inputs, y_true = model.select_inputs(test), test["label"].to_numpy()
    one_example = inputs[:1] if isinstance(inputs, list) else inputs.iloc[:1]
    tags = {
        "reprotune.family": card["family"],
        # The run that trained this model (DVC may have restored it from an earlier execution).
        "reprotune.train_run": card.get("mlflow", {}).get("run_id", ""),
    }
    # A transformer served from its ONNX export is scored (and timed) as exported.
    inference = card["params"].get("inference")
    if inference:
        tags["reprotune.inference"] = inference
    costs = params.evaluate.costs.model_dump() if params.evaluate.costs else None
    with stage_run("evaluate", params.tracking, candidate, tags=tags) as run:
        run.log_dataset(test, "test")
        proba, samples_per_s = predict_timed(
            model.predict_proba, inputs, params.evaluate.throughput_batch_size
        )
        if on_spark:
            y_true, proba = model.score_split_on_spark(paths.processed_split("test"))
        y_pred = models.decide(proba, model.threshold)
        metrics = quality_metrics(y_true, proba, card["label_names"], y_pred)
        if len(card["label_names"]) == 2:
            from reprotune.evaluation.binary import binary_metrics

            metrics.update(binary_metrics(y_true, proba, model.threshold, costs))
        metrics["efficiency"] = {
            "train_seconds": card["train"]["train_seconds"],
            "throughput_samples_per_s": samples_per_s,
            "latency_ms": latency_ms(
                model.predict_proba, one_example, params.evaluate.latency_repeats
            ),
            "size_mb": round(dir_size_bytes(model_folder) / 1e6, 3),
            "n_parameters": card["train"]["n_parameters"],
            **({"inference": inference} if inference else {}),
        }
        metrics["n_test"] = len(y_true)
        with staged_dir(paths.stage_plots("evaluate", candidate)) as folder:
            files = [
                *plots.confusion_plot(
                    folder,
                    y_true,
                    y_pred,
                    confusion(y_true, y_pred, len(card["label_names"])),
                    card["label_names"],
                ),
                *plots.per_class_plot(folder, metrics["per_class"]),
                *plots.final_metrics_plot(folder, metrics),
            ]
            (folder / CURVES_DIR).mkdir()
            if len(card["label_names"]) == 2 and metrics["roc_auc"] is not None:
                files += binary_charts(folder / CURVES_DIR, y_true, proba, metrics, costs)
            note_if_empty(folder / CURVES_DIR)  # multiclass: no binary curves
            names = [f.relative_to(folder) for f in files]
        write_json(paths.stage_metrics("evaluate", candidate), metrics)
        write_predictions(paths.predictions_file(candidate), y_true, proba, y_pred)
        run.log_params(params.evaluate.model_dump())
        run.log_metrics(metrics)
        plot_dir = paths.stage_plots("evaluate", candidate)
        run.log_artifacts([plot_dir / n for n in names if n.parent.name != CURVES_DIR], "plots")
        run.log_artifacts(
            [plot_dir / n for n in names if n.parent.name == CURVES_DIR], f"plots/{CURVES_DIR}"
        )
        run.log_artifacts([paths.stage_metrics("evaluate", candidate)])
    say(f"{candidate}: {headline(metrics)}")
    return metrics


def write_predictions(path: Path, y_true, proba, y_pred) -> None:
    """The test predictions compare's paired bootstrap draws from, written atomically."""
    from reprotune.evaluation.bootstrap import predictions_frame

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    predictions_frame(y_true, proba, y_pred).to_parquet(partial, index=False)
    partial.replace(path)


def binary_charts(folder, y_true, proba, metrics: dict, costs: dict | None):
    from reprotune.evaluation.binary import curves
    from reprotune.evaluation.thresholds import threshold_curve

    return plots.binary_plots(
        folder,
        curves(y_true, proba[:, 1]),
        threshold_curve(y_true, proba[:, 1], costs),
        metrics["threshold"],
    )


def headline(metrics: dict) -> str:
    keys = ("roc_auc", "pr_auc", "f1", "expected_cost") if "roc_auc" in metrics else ()
    shown = {k: metrics[k] for k in ("accuracy", "macro_f1", *keys) if metrics.get(k) is not None}
    return ", ".join(f"{k} {v:.4f}" for k, v in shown.items())
