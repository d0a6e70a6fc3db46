"""evaluate <candidate>: test-split quality and efficiency metrics, plots for DVC and MLflow."""

import sys

from reprotune import models, paths, plots
from reprotune.config import load_params
from reprotune.data.prepare import load_split
from reprotune.evaluation import confusion, latency_ms, predict_timed, quality_metrics
from reprotune.io import dir_size_bytes, staged_dir, write_json
from reprotune.stage import run_stage, single_argument
from reprotune.tracking import stage_run


def main(candidate: str) -> None:
    params = load_params()
    params.candidate(candidate)
    test = load_split("test")
    model, card = models.load(paths.model_dir(candidate))
    texts, y_true = test["text"].tolist(), test["label"].to_numpy()
    tags = {
        "reprotune.family": card["family"],
        # The run that trained this model (DVC may have restored it from an earlier execution).
        "reprotune.train_run": card.get("mlflow", {}).get("run_id", ""),
    }
    with stage_run("evaluate", params.tracking, candidate, tags=tags) as run:
        proba, samples_per_s = predict_timed(
            model.predict_proba, texts, params.evaluate.throughput_batch_size
        )
        metrics = quality_metrics(y_true, proba, card["label_names"])
        metrics["efficiency"] = {
            "train_seconds": card["train"]["train_seconds"],
            "throughput_samples_per_s": samples_per_s,
            "latency_ms": latency_ms(
                model.predict_proba, texts[0], params.evaluate.latency_repeats
            ),
            "size_mb": round(dir_size_bytes(paths.model_dir(candidate)) / 1e6, 3),
            "n_parameters": card["train"]["n_parameters"],
        }
        metrics["n_test"] = len(test)
        y_pred = proba.argmax(axis=1)
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
            names = [f.name for f in files]
        write_json(paths.stage_metrics("evaluate", candidate), metrics)
        run.log_params(params.evaluate.model_dump())
        run.log_metrics(metrics)
        plot_dir = paths.stage_plots("evaluate", candidate)
        run.log_artifacts([plot_dir / name for name in names], "plots")
        run.log_artifacts([paths.stage_metrics("evaluate", candidate)])


if __name__ == "__main__":
    run_stage("evaluate", main, single_argument("evaluate", sys.argv[1:], "candidate"))
