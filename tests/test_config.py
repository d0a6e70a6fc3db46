from pathlib import Path

import pytest
import yaml

from reprotune.config import check_tracked_keys, load_params, parse_params, tracked_keys
from reprotune.errors import ParamsError

PROJECT_PARAMS = Path(__file__).parents[1] / "params.yaml"


def base() -> dict:
    return yaml.safe_load(PROJECT_PARAMS.read_text())


def problem(raw: dict) -> str:
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    return str(caught.value)


def test_project_params_are_valid():
    params = load_params(PROJECT_PARAMS)
    assert params.data.source == "hf"
    assert params.data.name == "fancyzhx/ag_news"
    assert "baseline" in params.train.candidates
    assert params.candidate("baseline").family == "tfidf_logreg"


def test_unknown_key_is_named():
    raw = base()
    raw["data"]["trian_size"] = 10
    message = problem(raw)
    assert "data.trian_size" in message and "unknown key" in message and "fix:" in message


def test_unknown_top_level_key_is_named():
    raw = base()
    raw["lerning_rate"] = 0.1
    assert "lerning_rate: unknown key" in problem(raw)


def test_unknown_model_family_lists_known_ones():
    raw = base()
    raw["train"]["candidates"]["baseline"]["family"] = "catboost"
    message = problem(raw)
    assert "train.candidates.baseline.family = 'catboost'" in message
    assert "tfidf_logreg" in message and "keras_tabular" in message


@pytest.mark.parametrize("lr", [0, -0.001])
def test_non_positive_learning_rate_is_rejected(lr):
    raw = base()
    raw["lr"] = lr
    message = problem(raw)
    assert f"lr = {lr}" in message and "greater than 0" in message and "fix:" in message


@pytest.mark.parametrize("decay", [0, -0.5, 1.5])
def test_layer_lr_decay_outside_0_to_1_is_rejected(decay):
    raw = base()
    raw["train"]["candidates"]["transformer"]["layer_lr_decay"] = decay
    assert f"train.candidates.transformer.layer_lr_decay = {decay}" in problem(raw)


def test_negative_regularisation_names_the_candidate_key():
    raw = base()
    raw["train"]["candidates"]["baseline"]["C"] = -1
    assert "train.candidates.baseline.C = -1" in problem(raw)


def test_file_source_needs_files():
    raw = base()
    raw["data"]["source"] = "csv"
    message = problem(raw)
    assert "data.files.train is not set" in message and "fix:" in message


def test_headerless_csv_needs_column_names():
    raw = base()
    raw["data"].update(source="csv", files={"train": "a.csv", "test": "b.csv"})
    raw["data"]["csv"] = {"header": False, "columns": None}
    assert "data.csv.columns is not set" in problem(raw)


def test_unknown_sklearn_dataset():
    raw = base()
    raw["data"].update(source="sklearn", name="titanic")
    assert "'titanic' is not a scikit-learn dataset" in problem(raw)


def test_unknown_source_lists_choices():
    raw = base()
    raw["data"]["source"] = "s3"
    message = problem(raw)
    assert "data.source = 's3'" in message and "'csv'" in message


def test_candidate_name_must_be_a_safe_identifier():
    raw = base()
    raw["train"]["candidates"]["Bad Name!"] = raw["train"]["candidates"]["baseline"]
    assert "'Bad Name!'" in problem(raw)


def test_no_candidates_is_rejected():
    raw = base()
    raw["train"]["candidates"] = {}
    assert "train.candidates" in problem(raw)


def test_zero_train_size_is_rejected():
    raw = base()
    raw["data"]["train_size"] = 0
    assert "data.train_size = 0" in problem(raw)


def test_unknown_compare_metric():
    raw = base()
    raw["compare"]["metric"] = "f2"
    message = problem(raw)
    assert "compare.metric = 'f2'" in message and "macro_f1" in message


def test_unknown_candidate_on_the_command_line():
    params = load_params(PROJECT_PARAMS)
    with pytest.raises(ParamsError, match=r"no candidate 'nope'.*baseline"):
        params.candidate("nope")


def test_missing_or_broken_params_file(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "params.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(broken)


@pytest.mark.parametrize("name", ["my model", "a/b", "models:/x", "", "-x", "x" * 101])
def test_registered_model_name_must_be_registry_safe(name):
    raw = base()
    raw["compare"]["registered_model"] = name
    assert "compare.registered_model" in problem(raw)


# -- phases and search spaces -------------------------------------------------------------


def with_space(**space) -> dict:
    raw = base()
    raw["tune"]["candidates"] = {"logreg_tuned": {"space": space}}
    return raw


def test_project_tunes_a_candidate_and_groups_phases():
    params = load_params(PROJECT_PARAMS)
    assert set(params.tune.candidates) <= set(params.train.candidates)
    assert params.compare.phases["baseline"] == ["baseline"]
    assert params.tune.study_name("logreg_tuned") == "reprotune-logreg_tuned"


def test_inverted_range_says_swap():
    message = problem(with_space(C={"low": 10.0, "high": 1.0}))
    assert "tune.candidates.logreg_tuned.space.C" in message
    assert "inverted range" in message and "fix: swap" in message


def test_empty_range_is_rejected():
    message = problem(with_space(ngram_max={"low": 2, "high": 2}))
    assert "empty range" in message and "fix:" in message


def test_empty_choices_are_rejected():
    message = problem(with_space(sublinear_tf={"choices": []}))
    assert "space.sublinear_tf" in message


def test_log_range_needs_positive_low():
    assert "log range needs low > 0" in problem(with_space(C={"low": 0, "high": 1, "log": True}))


def test_unknown_sampler_lists_the_known_ones():
    raw = base()
    raw["tune"]["sampler"] = "cmaes"
    message = problem(raw)
    assert "tune.sampler = 'cmaes'" in message and "'tpe'" in message and "'grid'" in message


def test_heartbeat_must_be_positive():
    raw = base()
    raw["tune"]["heartbeat_s"] = 0
    assert "tune.heartbeat_s = 0" in problem(raw)


def test_parameter_missing_on_the_candidate_is_named():
    message = problem(with_space(dropout={"low": 0.1, "high": 0.5}))
    assert "space.dropout" in message and "tfidf_logreg candidates have no parameter" in message
    assert "C" in message  # the fix lists what can be tuned


def test_range_outside_what_the_candidate_accepts():
    message = problem(with_space(ngram_max={"low": 1, "high": 9}))
    assert "space.ngram_max" in message and "value 9" in message and "fix:" in message


def test_tuning_an_unknown_candidate():
    raw = base()
    raw["tune"]["candidates"] = {"nope": {"space": {"C": {"low": 1.0, "high": 2.0}}}}
    assert "tune.candidates.nope: no such candidate" in problem(raw)


def test_grid_needs_enumerable_ranges():
    raw = with_space(C={"low": 0.1, "high": 10.0, "log": True})
    raw["tune"]["sampler"] = "grid"
    message = problem(raw)
    assert "space.C is a continuous range" in message and "step or choices" in message


def test_grid_enumerates_steps_and_choices():
    raw = with_space(C={"low": 1.0, "high": 2.0, "step": 0.5}, ngram_max={"low": 1, "high": 3})
    raw["tune"]["sampler"] = "grid"
    space = parse_params(raw).tune.study("logreg_tuned").space
    assert space["C"].grid() == [1.0, 1.5, 2.0]
    assert space["ngram_max"].grid() == [1, 2, 3]


def test_storage_must_be_a_database_url():
    raw = base()
    raw["tune"]["storage"] = "optuna.db"
    assert "tune.storage" in problem(raw) and "postgresql://" in problem(raw)


def test_phases_need_a_baseline_and_real_candidates():
    raw = base()
    raw["compare"]["phases"] = {"tuned": ["logreg_tuned"]}
    assert "need a `baseline` phase" in problem(raw)
    raw["compare"]["phases"] = {"baseline": ["baseline"], "tuned": ["ghost"]}
    assert "compare.phases.tuned lists 'ghost'" in problem(raw)
    raw["compare"]["phases"] = {"baseline": ["baseline"], "tuned": ["baseline"]}
    assert "more than one phase" in problem(raw)
    raw["compare"]["phases"] = {"baseline": ["baseline"], "finetuned": ["mlp"]}
    assert "compare.phases.finetuned" in problem(raw)


@pytest.mark.parametrize(
    "where, misspelt, meant",
    [
        ((), "lerning_rate", None),  # nothing close among the top-level keys: no guess
        ((), "sede", "seed"),
        (("data",), "trian_size", "train_size"),
        (("train", "candidates", "transformer"), "inferense", "inference"),  # a family's key
        (("train", "candidates", "baseline"), "ngram_mx", "ngram_max"),
        (("explain",), "exampels", "examples"),
    ],
)
def test_unknown_key_suggests_the_closest_key_allowed_there(where, misspelt, meant):
    raw = base()
    section = raw
    for key in where:
        section = section[key]
    section[misspelt] = 1
    message = problem(raw)
    assert f"{'.'.join((*where, misspelt))}: unknown key" in message
    if meant:
        assert f"did you mean {meant!r}?" in message, message
    else:
        assert "did you mean" not in message


def test_misspelt_family_candidate_and_member_names_get_the_closest_match():
    raw = base()
    raw["train"]["candidates"]["baseline"]["family"] = "tfidf_logrge"
    assert "did you mean 'tfidf_logreg'?" in problem(raw)
    raw = base()
    raw["explain"]["skip"] = ["transfomer"]
    assert "did you mean 'transformer'?" in problem(raw)
    raw = base()
    raw["compare"]["phases"]["baseline"] = ["baselin"]
    assert "did you mean 'baseline'?" in problem(raw)
    with pytest.raises(ParamsError, match="did you mean 'mlp'"):
        load_params(PROJECT_PARAMS).candidate("mpl")


def test_a_misspelt_key_stops_every_repro_at_its_first_stage(tmp_path):
    """`sources` runs on every `dvc repro`: it validates the whole file, so a typo in a key
    no re-running stage reads still stops the run with its fix."""
    from commands import run

    from reprotune.workspace import copy_pipeline

    project = copy_pipeline(Path(__file__).resolve().parent.parent, tmp_path / "project")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("val_fraction:", "val_fracton:", 1))
    done = run(["python", "stages/sources.py"], project, check=False)
    assert done.returncode != 0
    assert "data.val_fracton: unknown key; did you mean 'val_fraction'?" in done.stderr


@pytest.mark.e2e  # the real dvc CLI
def test_a_tracked_key_missing_stops_every_repro_at_its_first_stage(tmp_path):
    """A setting dvc.yaml tracks, removed to rely on its default: DVC itself would stop only
    at the stage that lists it, after the stages before it ran. (A stage script run by hand,
    outside DVC, needs only the keys it reads: tests/data/test_contract.py runs them so.)"""
    from commands import git_commit_all, run

    from reprotune.workspace import copy_pipeline

    project = copy_pipeline(Path(__file__).resolve().parent.parent, tmp_path / "project")
    params = project / "params.yaml"
    lines = params.read_text().splitlines(keepends=True)
    params.write_text("".join(line for line in lines if "heartbeat_s:" not in line))
    git_commit_all(project)
    done = run(["dvc", "repro"], project, check=False)
    assert done.returncode != 0
    assert "tune.heartbeat_s (tracked by the tune@ stages); default: 30" in done.stderr
    assert not (project / "tune").exists() and not (project / "data/sources.json").exists()


DVC_YAML = PROJECT_PARAMS.parent / "dvc.yaml"


@pytest.mark.parametrize("example", ["", "examples/bank-marketing/", "examples/poi-engagement/"])
def test_every_shipped_params_file_holds_every_key_dvc_yaml_tracks(example):
    raw = yaml.safe_load((PROJECT_PARAMS.parent / example / "params.yaml").read_text())
    check_tracked_keys(raw, DVC_YAML)


def test_a_tracked_key_left_to_its_default_stops_with_the_default_to_add():
    raw = base()
    del raw["tune"]["heartbeat_s"], raw["data"]["spark"], raw["seed"]
    parse_params(raw)  # valid: each has a default
    with pytest.raises(ParamsError) as caught:
        check_tracked_keys(raw, DVC_YAML)
    message = str(caught.value)
    assert "lacks 3 key(s)" in message
    assert "tune.heartbeat_s (tracked by the tune@ stages); default: 30" in message
    assert 'data.spark (tracked by fetch); default: {"master": "local[2]", "conf": {}}' in message
    assert "seed (tracked by fetch); default: 42" in message


def test_a_study_tracks_only_its_own_entry():
    raw = base()
    stage = yaml.safe_load(DVC_YAML.read_text())["stages"]["tune"]
    keys = tracked_keys(raw, stage)
    assert "tune.candidates.logreg_tuned" in keys
    assert not [k for k in keys if k.startswith("tune.candidates.") and "logreg_tuned" not in k]
    raw["tune"]["candidates"] = {}
    assert tracked_keys(raw, stage) == []  # no study, no tune@ stage
