import numpy as np

from reprotune import plots
from reprotune.io import read_json

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_candidate_plots_write_dvc_data_and_images(tmp_path):
    names = ["x", "y"]
    y_true, y_pred = np.array([0, 1, 1]), np.array([0, 1, 0])
    files = plots.confusion_plot(tmp_path, y_true, y_pred, np.array([[1, 0], [1, 1]]), names)
    assert read_json(tmp_path / "confusion.json") == [
        {"actual": "x", "predicted": "x"},
        {"actual": "y", "predicted": "y"},
        {"actual": "y", "predicted": "x"},
    ]
    per_class = {
        "x": {"precision": 0.5, "recall": 1.0, "f1": 0.67, "support": 1},
        "y": {"precision": 1.0, "recall": 0.5, "f1": 0.67, "support": 2},
    }
    files += plots.per_class_plot(tmp_path, per_class)
    assert read_json(tmp_path / "per_class.json")[0] == {
        "class": "x",
        "precision": 0.5,
        "recall": 1.0,
        "f1": 0.67,
    }
    final = dict.fromkeys(plots.FINAL_METRICS, 0.5)
    files += plots.final_metrics_plot(tmp_path, final)
    for file in files:
        if file.suffix == ".png":
            assert file.read_bytes().startswith(PNG_MAGIC) and file.stat().st_size > 2000


def test_png_bytes_are_reproducible(tmp_path):
    final = dict.fromkeys(plots.FINAL_METRICS, 0.7)
    plots.final_metrics_plot(tmp_path / "a", final)
    plots.final_metrics_plot(tmp_path / "b", final)
    assert (tmp_path / "a/final_metrics.png").read_bytes() == (
        tmp_path / "b/final_metrics.png"
    ).read_bytes()


def test_compare_plots(tmp_path):
    rows = [
        {
            "candidate": c,
            **dict.fromkeys(plots.FINAL_METRICS, v),
            "latency_ms": lat,
            "train_seconds": t,
        }
        for c, v, lat, t in (("a", 0.8, 2.0, 1.0), ("b", 0.9, 20.0, 60.0))
    ]
    files = plots.candidate_metrics_plot(tmp_path, rows) + plots.quality_cost_plot(
        tmp_path, rows, "macro_f1"
    )
    assert {f.name for f in files} == {
        "metrics.json",
        "metrics.png",
        "quality_cost.json",
        "quality_vs_latency.png",
        "quality_vs_train_time.png",
    }
    assert len(read_json(tmp_path / "metrics.json")) == 2 * len(plots.FINAL_METRICS)
    assert read_json(tmp_path / "quality_cost.json")[1] == {
        "candidate": "b",
        "metric": "macro_f1",
        "score": 0.9,
        "latency_ms": 20.0,
        "train_seconds": 60.0,
    }
