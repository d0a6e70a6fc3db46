import numpy as np
import pytest

from reprotune.evaluation.binary import at_threshold, binary_metrics
from reprotune.evaluation.thresholds import cost_per_1000, threshold_curve, tune_threshold

# Hand-checked: positives score 0.3-0.9, negatives 0.1-0.4.
Y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
P = np.array([0.1, 0.1, 0.2, 0.2, 0.35, 0.4, 0.3, 0.6, 0.8, 0.9])


def test_f1_threshold_separates_what_can_be_separated():
    threshold = tune_threshold(Y, P, "f1", None)
    # Any cut in (0.4, 0.6] keeps the three clear positives and drops every negative: F1 6/7.
    assert 0.4 < threshold <= 0.6
    assert at_threshold(Y, P, threshold, None)["f1"] == pytest.approx(6 / 7, abs=1e-6)


def test_costly_misses_lower_the_threshold_to_catch_every_positive():
    threshold = tune_threshold(Y, P, "cost", {"false_positive": 1, "false_negative": 10})
    # Catching the 0.3 positive costs 2 false positives (0.35, 0.4): 2 < 10.
    assert 0.2 < threshold <= 0.3
    counts = at_threshold(Y, P, threshold, {"false_positive": 1, "false_negative": 10})
    assert (counts["fn"], counts["fp"]) == (0, 2)
    assert counts["expected_cost"] == pytest.approx(1000 * 2 / 10)


def test_cheap_misses_raise_it():
    threshold = tune_threshold(Y, P, "cost", {"false_positive": 10, "false_negative": 1})
    assert threshold > 0.4  # no false positive is worth one miss


def test_none_keeps_one_half():
    assert tune_threshold(Y, P, "none", None) == 0.5


def test_expected_cost_per_thousand():
    y_pred = np.array([0, 1, 0, 0, 0, 0, 0, 1, 1, 1])  # one FP, one FN
    assert cost_per_1000(Y, y_pred, {"false_positive": 1, "false_negative": 10}) == 1100.0


def test_binary_metrics_report_both_thresholds():
    proba = np.column_stack([1 - P, P])
    metrics = binary_metrics(Y, proba, 0.3, {"false_positive": 1, "false_negative": 10})
    assert metrics["threshold"] == 0.3 and metrics["at_0.5"]["threshold"] == 0.5
    assert metrics["recall"] == 1.0 and metrics["at_0.5"]["recall"] == 0.75
    assert 0.9 < metrics["roc_auc"] <= 1.0
    assert metrics["tp"] + metrics["fn"] == 4


def test_threshold_curve_spans_zero_to_one_with_costs():
    rows = threshold_curve(Y, P, {"false_positive": 1, "false_negative": 10}, points=11)
    assert rows[0]["threshold"] == 0 and rows[-1]["threshold"] == 1
    assert rows[0]["f1"] == pytest.approx(2 * 4 / (4 + 10))  # everything predicted positive
    assert rows[-1]["expected_cost"] == 4000.0  # every positive missed at 1.0
