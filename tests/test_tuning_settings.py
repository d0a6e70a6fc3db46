"""The empty best params that stand in for a study where tune.candidates has none."""

import json
from pathlib import Path

import yaml

from reprotune.config import parse_params
from reprotune.tuning_settings import TuneParams, read_tuned_params, write_untuned_params

ROOT = Path(__file__).parents[1]

ROOT_PARAMS = {
    "train": {
        "candidates": {
            "baseline": {"family": "tfidf_logreg"},
            "tuned": {"family": "tfidf_logreg"},
        }
    },
    "tune": {"candidates": {"tuned": {"space": {"C": {"low": 0.1, "high": 10.0}}}}},
}


def params(**tune_candidates):
    raw = json.loads(json.dumps(ROOT_PARAMS))
    if tune_candidates:
        raw["tune"]["candidates"] = tune_candidates
    return parse_params(raw)


def test_a_candidate_without_a_study_gets_empty_best_params_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = params()
    assert write_untuned_params(p.train.candidates, p.tune) == ["baseline"]
    assert read_tuned_params("baseline") == {}
    assert not (tmp_path / "tune/tuned").exists()  # tune@tuned writes its own
    written = (tmp_path / "tune/baseline/best_params.json").stat().st_mtime_ns
    assert write_untuned_params(p.train.candidates, p.tune) == []  # DVC sees the same file
    assert (tmp_path / "tune/baseline/best_params.json").stat().st_mtime_ns == written


def test_a_candidate_whose_study_is_removed_loses_the_old_study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = tmp_path / "tune/tuned"
    old.mkdir(parents=True)
    (old / "best_params.json").write_text('{"candidate": "tuned", "params": {"C": 3.0}}')
    (old / "study.db").write_text("trials")
    p = params(baseline={"space": {"C": {"low": 0.1, "high": 10.0}}})
    assert write_untuned_params(p.train.candidates, p.tune) == ["tuned"]
    assert read_tuned_params("tuned") == {}
    assert [f.name for f in old.iterdir()] == ["best_params.json"]
    assert not (tmp_path / "tune/baseline").exists()


def test_a_study_stage_lists_its_own_study_and_every_shared_setting():
    """Another candidate's study is not a dependency; every shared setting is, in every
    params.yaml shipped (DVC stops on a listed key the file lacks)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    listed = set(stages["tune"]["do"]["params"]) - {"data.engine"}
    shared = {f"tune.{key}" for key in TuneParams.model_fields if key != "candidates"}
    assert listed == shared | {"tune.candidates.${key}"}
    for params_file in [ROOT / "params.yaml", *ROOT.glob("examples/*/params.yaml")]:
        tune = yaml.safe_load(params_file.read_text())["tune"]
        assert {f"tune.{key}" for key in tune} >= shared, params_file
