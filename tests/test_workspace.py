from pathlib import Path

import pytest
import yaml

from reprotune.config import load_params
from reprotune.workspace import copy_pipeline, keep_only

ROOT = Path(__file__).parents[1]


def test_copy_holds_the_pipeline_and_nothing_else(tmp_path):
    copy_pipeline(ROOT, tmp_path)
    assert (tmp_path / "dvc.yaml").read_text() == (ROOT / "dvc.yaml").read_text()
    assert (tmp_path / "stages/train.py").is_file()
    assert (tmp_path / ".dvc/plots/offline.html").is_file()
    assert not list(tmp_path.rglob("__pycache__"))
    for absent in ("data", "models", "metrics", "mlflow.db", "tests"):
        assert not (tmp_path / absent).exists()


def _bank_params() -> dict:
    return yaml.safe_load((ROOT / "examples/bank-marketing/params.yaml").read_text())


def test_keep_only_leaves_a_valid_example_of_just_those_candidates(tmp_path):
    params = _bank_params()
    params["explain"]["skip"] = ["mlp_one_hot", "stack"]
    keep_only(params, ["logreg", "random_forest", "xgboost_tuned", "stack"])
    assert list(params["train"]["candidates"]) == ["logreg", "random_forest", "xgboost_tuned"]
    assert list(params["ensemble"]["candidates"]) == ["stack"]
    assert list(params["tune"]["candidates"]) == ["xgboost_tuned"]
    assert params["compare"]["phases"] == {
        "baseline": ["logreg"],
        "optimized": ["random_forest"],
        "tuned": ["xgboost_tuned"],
        "ensembled": ["stack"],
    }
    assert params["explain"]["skip"] == ["stack"]
    params["data"]["files"]["train"] = "bank.csv"  # what `make pipeline DATA=...` sets
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert load_params(tmp_path / "params.yaml").ranked_candidates[-1] == "stack"


def test_keep_only_names_what_it_cannot_keep():
    with pytest.raises(ValueError, match=r"no candidate or ensemble \['xgb'\].*fix: use some"):
        keep_only(_bank_params(), ["logreg", "xgb"])
    with pytest.raises(ValueError, match=r"'stack' needs its members \['random_forest'.*keep"):
        keep_only(_bank_params(), ["logreg", "xgboost_tuned", "stack"])
