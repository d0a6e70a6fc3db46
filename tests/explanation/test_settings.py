"""The explain section of params.yaml: bad settings stop params loading with the fix."""

import pytest
from test_config import base, problem

from reprotune.config import parse_params


def with_explain(**settings) -> dict:
    raw = base()
    raw["explain"] = {**raw.get("explain", {}), **settings}
    return raw


def test_project_explain_settings_are_valid():
    params = parse_params(base())
    assert params.explain.skip == [] and params.explain.time_budget_s > 0


def test_skip_may_name_candidates_and_ensembles():
    assert parse_params(with_explain(skip=["transformer", "ensemble"])).explain.skip


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"skip": ["nope"]},
            "explain.skip lists 'nope', which is not a candidate; fix: use one of",
        ),
        ({"repeats": 1}, "explain.repeats"),
        ({"time_budget_s": 0}, "explain.time_budget_s"),
        ({"lime_samples": 10}, "explain.lime_samples"),
        ({"shap": True}, "explain.shap"),
    ],
)
def test_bad_settings_name_the_key(settings, expected):
    assert expected in problem(with_explain(**settings))
