"""Bootstrap intervals: the same scores as evaluate, the same draws for every candidate."""

import numpy as np
import pytest

from reprotune.config import BINARY_ONLY_METRICS, RANKABLE_METRICS
from reprotune.evaluation import quality_metrics
from reprotune.evaluation.binary import binary_metrics
from reprotune.evaluation.bootstrap import (
    interval,
    predictions_frame,
    replicate_scores,
    resample_indices,
    split_predictions,
)

COSTS = {"false_positive": 1.0, "false_negative": 10.0}
THRESHOLD = 0.4


def predictions(n: int, classes: int, skill: float, seed: int):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), y_true] += skill
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y_true, np.round(proba, 2)  # rounded: ties in the ranking scores


def decided(proba):
    binary = proba.shape[1] == 2
    return (proba[:, 1] >= THRESHOLD).astype(int) if binary else proba.argmax(axis=1)


def evaluated(y_true, proba) -> dict:
    """What the evaluate stage reports for these predictions."""
    classes = proba.shape[1]
    found = quality_metrics(y_true, proba, [str(c) for c in range(classes)], decided(proba))
    if classes == 2:
        found.update(binary_metrics(y_true, proba, THRESHOLD, COSTS))
    return found


def metrics_of(classes: int) -> list[str]:
    binary_only = (*BINARY_ONLY_METRICS, "balanced_accuracy", "mcc")
    return [m for m in RANKABLE_METRICS if classes == 2 or m not in binary_only]


@pytest.mark.parametrize("classes", [2, 3])
def test_every_resample_scores_as_evaluate_scores_those_rows(classes):
    y_true, proba = predictions(120, classes, 0.8, seed=10 + classes)
    frame = predictions_frame(y_true, proba, decided(proba))
    indices = resample_indices(len(y_true), 3, 12)
    expected = [evaluated(y_true[rows], proba[rows]) for rows in indices]
    for metric in metrics_of(classes):
        values = replicate_scores(metric, frame, indices, COSTS)
        for value, scores in zip(values, expected, strict=True):
            wanted = np.nan if scores[metric] is None else scores[metric]
            assert value == pytest.approx(wanted, abs=2e-6, nan_ok=True), metric


@pytest.mark.parametrize("classes", [2, 3])
def test_resamples_drawn_in_chunks_score_as_the_whole_draw(classes, monkeypatch):
    """A large test split's resamples are made and weighed a few at a time: the same
    draws from the same stream, the same scores as all at once."""
    from reprotune.evaluation import bootstrap

    y_true, proba = predictions(301, classes, 0.7, seed=20 + classes)
    frame = predictions_frame(y_true, proba, decided(proba))
    whole = resample_indices(len(y_true), 5, 40)
    monkeypatch.setattr(bootstrap, "CHUNK_DRAWS", 301 * 3)  # 3 resamples a chunk, 14 chunks
    chunked = bootstrap.resamples(len(y_true), 5, 40)
    assert [len(c) for c in chunked.chunks()] == [3] * 13 + [1]
    np.testing.assert_array_equal(np.concatenate(list(chunked.chunks())), whole)
    for metric in metrics_of(classes):
        np.testing.assert_allclose(  # a matrix product over fewer rows: last-bit differences
            replicate_scores(metric, frame, chunked, COSTS),
            replicate_scores(metric, frame, whole, COSTS),
            rtol=1e-12,
            err_msg=metric,
        )


def test_predictions_round_trip_through_the_saved_frame():
    y_true, proba = predictions(50, 3, 1.0, seed=0)
    frame = predictions_frame(y_true, proba, proba.argmax(axis=1))
    back = split_predictions(frame)
    np.testing.assert_array_equal(back[0], y_true)
    np.testing.assert_array_equal(back[1], proba)


def test_draws_are_seeded_and_shared():
    np.testing.assert_array_equal(resample_indices(40, 7, 5), resample_indices(40, 7, 5))
    assert not np.array_equal(resample_indices(40, 7, 5), resample_indices(40, 8, 5))


def test_the_interval_holds_the_score_and_narrows_with_more_rows():
    widths = []
    for n in (100, 2000):
        y_true, proba = predictions(n, 2, 1.0, seed=n)
        frame = predictions_frame(y_true, proba, decided(proba))
        low, high = interval(replicate_scores("accuracy", frame, resample_indices(n, 0, 300)))
        assert low <= evaluated(y_true, proba)["accuracy"] <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_an_undefined_score_is_skipped_not_averaged():
    assert interval(np.array([np.nan, np.nan])) is None
    assert interval(np.array([np.nan, 0.5, 0.5])) == [0.5, 0.5]
