"""params.yaml checks for typed (tabular) tasks: the Bank Marketing example's params, and the
bad inputs that stop at load time with the key, the value and the fix."""

from pathlib import Path

import pytest
import yaml

from reprotune.config import parse_params, resolved_config
from reprotune.errors import ParamsError

EXAMPLE = Path(__file__).parents[1] / "examples" / "bank-marketing" / "params.yaml"


def example() -> dict:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["data"]["files"]["train"] = "bank.csv"
    return raw


def problem(raw: dict) -> str:
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    return str(caught.value)


def test_example_params_are_valid_and_resolve_the_decision():
    params = parse_params(example())
    assert params.data.tabular and params.data.positive_label == "yes"
    assert params.candidate("mlp_embeddings").categorical == "embedding"
    assert params.candidate("mlp_one_hot").categorical == "one_hot"
    config = resolved_config(params, "xgboost")
    assert config["decision"] == {
        "threshold": "cost",
        "costs": {"false_positive": 1.0, "false_negative": 10.0},
    }
    assert params.compare.registered_model == "reprotune-bank-marketing"


def test_example_needs_its_data_file():
    raw = example()
    raw["data"]["files"]["train"] = None
    assert "data.files.train is not set" in problem(raw)


def test_a_text_family_cannot_read_typed_features():
    raw = example()
    raw["train"]["candidates"]["text"] = {"family": "tfidf_logreg"}
    message = problem(raw)
    assert "train.candidates.text" in message and "'tfidf_logreg' cannot read" in message
    assert "binary, category, number" in message and "fix: use one of" in message
    assert "logreg" in message.split("fix:")[1]


def test_a_tabular_family_that_cannot_read_text():
    raw = example()
    raw["data"]["features"]["notes"] = "text"
    message = problem(raw)
    assert "train.candidates.mlp_embeddings" in message and "cannot read text" in message


def test_a_tabular_family_on_the_text_task_is_rejected():
    raw = yaml.safe_load((EXAMPLE.parents[2] / "params.yaml").read_text())
    raw["train"]["candidates"]["tab"] = {"family": "keras_tabular"}
    message = problem(raw)
    assert "train.candidates.tab" in message and "joined text" in message


@pytest.mark.parametrize("cost", [0, -1])
def test_costs_must_be_positive(cost):
    raw = example()
    raw["evaluate"]["costs"]["false_negative"] = cost
    message = problem(raw)
    assert f"evaluate.costs.false_negative = {cost}" in message and "greater than 0" in message
    assert "fix:" in message


def test_cost_threshold_needs_costs():
    raw = example()
    raw["evaluate"]["costs"] = None
    message = problem(raw)
    assert "evaluate.threshold is 'cost'" in message and "evaluate.costs:" in message


def test_unknown_feature_type():
    raw = example()
    raw["data"]["features"]["age"] = "numeric"
    message = problem(raw)
    assert "data.features" in message and "'numeric'" in message


def test_target_listed_as_a_feature():
    raw = example()
    raw["data"]["features"]["y"] = "binary"
    assert "data.label_column 'y' is also listed in data.features" in problem(raw)


def test_binary_metric_on_the_text_task():
    raw = yaml.safe_load((EXAMPLE.parents[2] / "params.yaml").read_text())
    raw["compare"]["metric"] = "pr_auc"
    assert "needs a binary task" in problem(raw)


def test_unknown_resampling_method():
    raw = example()
    raw["train"]["candidates"]["logreg"]["resample"] = "adasyn"
    message = problem(raw)
    assert "train.candidates.logreg.resample = 'adasyn'" in message
