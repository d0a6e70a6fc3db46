"""ensemble.candidates and tune.cv_folds: bad settings stop params loading with the fix."""

import numpy as np
import pytest
from test_config import base, problem

from reprotune.config import parse_params
from reprotune.data.folds import check_fold_count
from reprotune.errors import DataError


def with_ensemble(**settings) -> dict:
    raw = base()
    raw["ensemble"]["candidates"]["stack"] = {"members": ["baseline", "mlp"], **settings}
    return raw


def test_project_ensemble_is_valid():
    params = parse_params(base())
    assert params.ranked_candidates[-1] == "ensemble"
    assert params.ensemble.candidates["ensemble"].members == ["mlp", "transformer"]
    assert "ensemble" in params.compare.phases["ensembled"]


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        (["baseline", "nope"], "lists 'nope', which is not a candidate; fix: use train candidates"),
        (["baseline", "stack"], "lists the ensemble itself; fix"),
        (["baseline", "baseline"], "lists baseline twice"),
        (["baseline"], "at least 2 items"),
    ],
)
def test_bad_members_are_rejected(members, expected):
    message = problem(with_ensemble(members=members))
    assert "ensemble.candidates.stack" in message and expected in message


def test_an_ensemble_of_ensembles_is_rejected_with_its_members():
    raw = with_ensemble()
    raw["ensemble"]["candidates"]["outer"] = {"members": ["stack", "transformer"]}
    message = problem(raw)
    assert "lists 'stack', another ensemble" in message
    assert "list 'stack''s members instead (baseline, mlp)" in message


def test_an_ensemble_named_like_a_candidate_is_rejected():
    raw = base()
    raw["ensemble"]["candidates"]["baseline"] = {"members": ["mlp", "transformer"]}
    assert "also a train candidate" in problem(raw)


def test_out_of_fold_needs_members_that_train_in_seconds():
    message = problem(with_ensemble(fit_on="oof"))
    assert "mlp train(s) in minutes" in message and "fix: use fit_on: val" in message
    raw = with_ensemble(fit_on="oof", members=["baseline", "logreg_tuned"])
    assert parse_params(raw).ensemble.candidates["stack"].fit_on == "oof"


def test_settings_of_the_other_method_are_rejected():
    assert "applies to method: voting" in problem(
        with_ensemble(method="stacking", weights="fitted")
    )
    assert "passthrough is true" in problem(with_ensemble(passthrough=True))
    assert "cv_folds = 1" in problem(with_ensemble(cv_folds=1))


@pytest.mark.parametrize("folds", [1, 21])
def test_tune_cv_folds_out_of_range(folds):
    raw = base()
    raw["tune"]["cv_folds"] = folds
    assert "tune.cv_folds" in problem(raw)


def test_cv_folds_apply_to_quick_families_unless_a_study_asks():
    raw = base()
    raw["tune"]["candidates"]["mlp"] = {"space": {"lr": {"low": 1e-4, "high": 1e-2}}}
    tune = parse_params(raw).tune
    assert tune.cv_folds_for("logreg_tuned", quick=True) == 5
    assert tune.cv_folds_for("mlp", quick=False) is None
    raw["tune"]["candidates"]["mlp"]["cv_folds"] = 3
    assert parse_params(raw).tune.cv_folds_for("mlp", quick=False) == 3
    raw["tune"]["cv_folds"] = None
    assert parse_params(raw).tune.cv_folds_for("logreg_tuned", quick=True) is None


def test_more_folds_than_the_smallest_class_allows_is_rejected():
    labels = np.array([0] * 20 + [1] * 3)
    with pytest.raises(DataError, match=r"smallest class has only 3 row\(s\).*at most 3"):
        check_fold_count(labels, 5, "tune.cv_folds")
    check_fold_count(labels, 3, "tune.cv_folds")
    with pytest.raises(DataError, match="only 2 groups"):
        check_fold_count(labels, 3, "tune.cv_folds", groups=["a", "b"] * 11 + ["a"])
