"""Charts: data files for `dvc plots` (templates declared in dvc.yaml) and PNG images."""

from pathlib import Path

import numpy as np

from reprotune.io import write_json

FINAL_METRICS = ("accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No software stamp: PNG bytes then depend on the data alone.
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)


def confusion_plot(
    folder: Path, y_true: np.ndarray, y_pred: np.ndarray, matrix: np.ndarray, label_names: list[str]
) -> list[Path]:
    rows = [
        {"actual": label_names[t], "predicted": label_names[p]}
        for t, p in zip(y_true, y_pred, strict=True)
    ]
    data_file = folder / "confusion.json"
    write_json(data_file, rows)

    plt = _pyplot()
    size = max(4.0, 0.9 * len(label_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(label_names)), label_names, rotation=30, ha="right")
    ax.set_yticks(range(len(label_names)), label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(count),
            ha="center",
            va="center",
            color="white" if count > threshold else "black",
        )
    fig.colorbar(image, ax=ax)
    ax.set_title("Confusion matrix (test)")
    png = folder / "confusion.png"
    _save(fig, png)
    return [data_file, png]


def per_class_plot(folder: Path, per_class: dict[str, dict]) -> list[Path]:
    rows = [
        {"class": name, **{k: v for k, v in scores.items() if k != "support"}}
        for name, scores in per_class.items()
    ]
    data_file = folder / "per_class.json"
    write_json(data_file, rows)
    png = folder / "per_class_f1.png"
    _bar_chart(
        [r["class"] for r in rows], [r["f1"] for r in rows], "F1 per class (test)", "F1", png
    )
    return [data_file, png]


def final_metrics_plot(folder: Path, metrics: dict) -> list[Path]:
    rows = [{"metric": name, "value": metrics[name]} for name in FINAL_METRICS]
    data_file = folder / "final_metrics.json"
    write_json(data_file, rows)
    png = folder / "final_metrics.png"
    _bar_chart(
        [r["metric"] for r in rows],
        [r["value"] for r in rows],
        "Final metrics (test)",
        "score",
        png,
    )
    return [data_file, png]


def _bar_chart(labels: list[str], values: list[float], title: str, xlabel: str, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(labels) + 1.2))
    bars = ax.barh(labels, values, color="#4c78a8")
    ax.bar_label(bars, fmt="%.3f", padding=3)
    ax.set_xlim(0, max(1.0, max(values, default=0) * 1.15))
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    _save(fig, path)


def candidate_metrics_plot(folder: Path, leaderboard: list[dict]) -> list[Path]:
    """Grouped bars: each final metric, one bar per candidate."""
    rows = [
        {"candidate": row["candidate"], "metric": name, "value": row[name]}
        for row in leaderboard
        for name in FINAL_METRICS
    ]
    data_file = folder / "metrics.json"
    write_json(data_file, rows)

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(1, len(leaderboard))
    positions = np.arange(len(FINAL_METRICS))
    for i, row in enumerate(leaderboard):
        ax.bar(
            positions + i * width, [row[m] for m in FINAL_METRICS], width, label=row["candidate"]
        )
    ax.set_xticks(positions + width * (len(leaderboard) - 1) / 2, FINAL_METRICS, rotation=15)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (test)")
    ax.set_title("Metrics per candidate")
    ax.legend(loc="lower right")
    png = folder / "metrics.png"
    _save(fig, png)
    return [data_file, png]


def quality_cost_plot(folder: Path, leaderboard: list[dict], metric: str) -> list[Path]:
    """The compare metric against single-example latency and against training time."""
    rows = [
        {
            "candidate": row["candidate"],
            "metric": metric,
            "score": row[metric],
            "latency_ms": row["latency_ms"],
            "train_seconds": row["train_seconds"],
        }
        for row in leaderboard
    ]
    data_file = folder / "quality_cost.json"
    write_json(data_file, rows)
    written = [data_file]
    for cost, label, name in (
        ("latency_ms", "latency per example (ms, median)", "quality_vs_latency.png"),
        ("train_seconds", "training time (s)", "quality_vs_train_time.png"),
    ):
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter([r[cost] for r in rows], [r["score"] for r in rows], s=60, color="#f58518")
        for r in rows:
            ax.annotate(
                r["candidate"], (r[cost], r["score"]), textcoords="offset points", xytext=(5, 5)
            )
        ax.set_xscale("log")
        ax.set_xlabel(label + " — log scale")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} vs {cost}")
        png = folder / name
        _save(fig, png)
        written.append(png)
    return written


CURVES = {  # kind: (x label, y label, title)
    "roc": ("false positive rate", "true positive rate", "ROC curve (test)"),
    "pr": ("recall", "precision", "Precision-recall curve (test)"),
    "calibration": ("mean predicted probability", "observed positive rate", "Calibration (test)"),
}


def binary_plots(
    folder: Path, curves: dict[str, list], threshold_rows: list[dict], threshold: float
) -> list[Path]:
    """One candidate's ROC, precision-recall, calibration and threshold charts (data + PNG)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, rows in curves.items():
        data_file = folder / f"{kind}.json"
        write_json(data_file, rows)
        png = folder / f"{kind}.png"
        _curve_chart({"": rows}, kind, png)
        written += [data_file, png]
    data_file = folder / "threshold.json"
    write_json(data_file, threshold_rows)
    png = folder / "threshold.png"
    _threshold_chart(threshold_rows, threshold, png)
    return [*written, data_file, png]


def _curve_chart(series: dict[str, list[dict]], kind: str, path: Path) -> None:
    xlabel, ylabel, title = CURVES[kind]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, rows in series.items():
        ax.plot([r["x"] for r in rows], [r["y"] for r in rows], label=name or None)
    if kind in ("roc", "calibration"):
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if any(series):
        ax.legend(fontsize="small")
    _save(fig, path)


def _threshold_chart(rows: list[dict], threshold: float, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    x = [r["threshold"] for r in rows]
    ax.plot(x, [r["f1"] for r in rows], color="#4c78a8", label="F1 (positive class)")
    ax.set_xlabel("decision threshold")
    ax.set_ylabel("F1")
    if rows and "expected_cost" in rows[0]:
        cost_axis = ax.twinx()
        cost_axis.plot(x, [r["expected_cost"] for r in rows], color="#e45756", label="cost")
        cost_axis.set_ylabel("expected cost per 1,000 cases", color="#e45756")
    ax.axvline(threshold, linestyle="--", color="black")
    ax.annotate(
        f"chosen {threshold:.3f}", (threshold, 0.02), xytext=(4, 0), textcoords="offset points"
    )
    ax.set_title("F1 and cost against the threshold (test)")
    _save(fig, path)


def overlay_curve_plots(folder: Path, per_candidate: dict[str, dict[str, list]]) -> list[Path]:
    """Every candidate's curves on one chart per kind: `series` is the candidate, so
    `dvc plots diff` compares them too."""
    written = []
    for kind in (*CURVES, "threshold"):
        if kind == "threshold":
            rows = [
                {"series": name, "x": r["threshold"], "y": r["f1"]}
                for name, kinds in per_candidate.items()
                for r in kinds.get(kind, [])
            ]
        else:
            rows = [
                {"series": name, **r}
                for name, kinds in per_candidate.items()
                for r in kinds.get(kind, [])
            ]
        if not rows:
            continue
        data_file = folder / f"{kind}.json"
        write_json(data_file, rows)
        written.append(data_file)
        if kind != "threshold":
            png = folder / f"{kind}.png"
            _curve_chart({n: k[kind] for n, k in per_candidate.items() if kind in k}, kind, png)
            written.append(png)
    return written


HISTORY_CHARTS = {  # file stem: (metric, title)
    "loss": ("loss", "Loss per epoch"),
    "accuracy": ("accuracy", "Accuracy per epoch"),
    "f1": ("macro_f1", "Macro F1 per epoch"),
}


def history_plots(folder: Path, history: list[dict]) -> list[Path]:
    """Per-epoch charts: loss, accuracy, F1 (train vs validation) and all metrics together."""
    written = []
    for stem, (metric, title) in HISTORY_CHARTS.items():
        # Every chart's y field is `value`: one plot definition draws the whole folder.
        rows = [
            {"epoch": row["epoch"], "series": split, "value": row[f"{split}_{metric}"]}
            for row in history
            for split in ("train", "val")
            if f"{split}_{metric}" in row
        ]
        if not rows:  # e.g. boosting rounds have no accuracy
            continue
        data_file = folder / f"{stem}.json"
        write_json(data_file, rows)
        png = folder / f"{stem}.png"
        _line_chart(rows, "value", title, png, ylabel=metric)
        written += [data_file, png]
    rows = [
        {"epoch": row["epoch"], "series": key, "value": value}
        for row in history
        for key, value in row.items()
        if key != "epoch"
    ]
    data_file = folder / "all_metrics.json"
    write_json(data_file, rows)
    png = folder / "all_metrics.png"
    _line_chart(rows, "value", "All metrics per epoch", png)
    return [*written, data_file, png]


def _line_chart(rows: list[dict], y: str, title: str, path: Path, ylabel: str = "") -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for series in dict.fromkeys(r["series"] for r in rows):
        points = [(r["epoch"], r[y]) for r in rows if r["series"] == series]
        ax.plot(*zip(*points, strict=True), marker="o", label=series)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or y)
    ax.set_title(title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if rows:
        ax.legend(fontsize="small", ncol=2)
    _save(fig, path)


def tuning_plots(
    folder: Path, study, history: list[dict], importances: dict[str, float]
) -> list[Path]:
    """A study's history (data for `dvc plots` and PNG), parameter importances and
    parallel coordinates (PNG)."""
    import warnings

    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    plt = _pyplot()
    data_file = folder / "history.json"
    write_json(data_file, history)
    files = [data_file]
    with warnings.catch_warnings():
        # Optuna marks its matplotlib backend experimental.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for name, draw in (
            ("history.png", optuna_plots.plot_optimization_history),
            ("parallel_coordinates.png", optuna_plots.plot_parallel_coordinate),
        ):
            axes = draw(study)
            axes.figure.set_size_inches(9, 5)
            _save(axes.figure, folder / name)
            files.append(folder / name)
    importance_png = folder / "importances.png"
    if importances:
        names = list(importances)  # most important first
        _bar_chart(
            names,
            [importances[n] for n in names],
            "Parameter importance (fANOVA)",
            "share of the score's variance",
            importance_png,
        )
    else:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "needs two completed trials with different values", ha="center")
        _save(fig, importance_png)
    return [*files, importance_png]
