import numpy as np
import pytest

from reprotune.evaluation import confusion, latency_ms, predict_timed, quality_metrics

NAMES = ["a", "b", "c"]


def one_hot(predictions, n=3, confidence=0.8):
    proba = np.full((len(predictions), n), (1 - confidence) / (n - 1))
    proba[np.arange(len(predictions)), predictions] = confidence
    return proba


def test_metrics_match_hand_computation():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    metrics = quality_metrics(y_true, one_hot(y_pred), NAMES)
    assert metrics["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    # per class: a P=1/2 R=1/2, b P=2/3 R=1, c P=1 R=1/2
    assert metrics["per_class"]["b"] == {
        "precision": pytest.approx(2 / 3, abs=1e-6),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "support": 2,
    }
    expected_macro_f1 = (0.5 + 0.8 + 2 / 3) / 3
    assert metrics["macro_f1"] == pytest.approx(expected_macro_f1, abs=1e-6)
    assert metrics["macro_recall"] == pytest.approx((0.5 + 1 + 0.5) / 3, abs=1e-6)
    assert metrics["log_loss"] > 0 and 0.5 < metrics["roc_auc_ovr"] <= 1


def test_perfect_predictions():
    y = np.array([0, 1, 2, 0])
    metrics = quality_metrics(y, one_hot(y, confidence=1.0), NAMES)
    assert metrics["accuracy"] == metrics["macro_f1"] == metrics["roc_auc_ovr"] == 1.0


def test_roc_auc_is_none_when_a_class_is_absent_from_test():
    y = np.array([0, 1, 0, 1])
    assert quality_metrics(y, one_hot(y), NAMES)["roc_auc_ovr"] is None


def test_binary_roc_auc():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert quality_metrics(y, proba, ["neg", "pos"])["roc_auc_ovr"] == pytest.approx(
        0.75
    )  # 3 of 4 pairs ordered


def test_confusion_has_every_class():
    matrix = confusion(np.array([0, 0]), np.array([0, 1]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]


def test_timed_prediction_returns_every_row_and_counts_real_calls():
    calls = []

    def predict(batch):
        calls.append(len(batch))
        return np.array([[len(text), 0.0] for text in batch])

    proba, rate = predict_timed(predict, ["a", "bb", "ccc", "d", "e"], batch_size=2)
    assert calls == [2, 2, 2, 1] and rate > 0  # one warm-up batch, then the timed pass
    assert proba[:, 0].tolist() == [1, 2, 3, 1, 1]
    calls.clear()
    assert latency_ms(predict, "x", repeats=5) >= 0
    assert calls == [1] * 6
