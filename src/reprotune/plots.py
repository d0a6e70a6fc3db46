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


HISTORY_CHARTS = {  # file stem: (metric, title)
    "loss": ("loss", "Loss per epoch"),
    "accuracy": ("accuracy", "Accuracy per epoch"),
    "f1": ("macro_f1", "Macro F1 per epoch"),
}


def history_plots(folder: Path, history: list[dict]) -> list[Path]:
    """Per-epoch charts: loss, accuracy, F1 (train vs validation) and all metrics together."""
    written = []
    for stem, (metric, title) in HISTORY_CHARTS.items():
        rows = [
            {"epoch": row["epoch"], "series": split, metric: row[f"{split}_{metric}"]}
            for row in history
            for split in ("train", "val")
            if f"{split}_{metric}" in row
        ]
        data_file = folder / f"{stem}.json"
        write_json(data_file, rows)
        png = folder / f"{stem}.png"
        _line_chart(rows, metric, title, png)
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


def _line_chart(rows: list[dict], y: str, title: str, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for series in dict.fromkeys(r["series"] for r in rows):
        points = [(r["epoch"], r[y]) for r in rows if r["series"] == series]
        ax.plot(*zip(*points, strict=True), marker="o", label=series)
    ax.set_xlabel("epoch")
    ax.set_ylabel(y)
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
