"""`reprotune exp show`: the changed params and the champion, not every column."""

from reprotune.experiments import curated, flat_keys


def test_params_flatten_as_dvc_names_them():
    params = {"seed": 42, "train": {"candidates": {"a": {"C": 1.0, "units": [8, 4]}}}, "e": {}}
    assert flat_keys(params) == ["seed", "train.candidates.a.C", "train.candidates.a.units", "e"]


def test_only_changed_params_and_the_champion_are_kept():
    rows = [
        {"Experiment": None, "rev": "workspace", "Created": None, "seed": 42, "lr": 0.1,
         "champion": "a", "champion_score": 0.8, "a.macro_f1": 0.8, "units": [8]},
        {"Experiment": "low", "rev": "abc1234", "Created": "10:00", "seed": 42,
         "params.yaml:lr": 0.01, "metrics/compare.json:champion": "b",
         "metrics/compare.json:champion_score": 0.85, "a.macro_f1": 0.7, "units": [8]},
    ]  # fmt: skip
    shown = curated(rows, ["seed", "lr", "units"])
    assert list(shown[0]) == ["Experiment", "rev", "Created", "lr", "champion", "champion_score"]
    assert shown[1] == {"Experiment": "low", "rev": "abc1234", "Created": "10:00", "lr": 0.01,
                        "champion": "b", "champion_score": 0.85}  # fmt: skip
