"""Typed (tabular) preprocessing on generated data: what it decides, and every bad input it
stops at, each with the column or key, the value and the fix."""

import numpy as np
import pandas as pd
import pytest
from tabular_data import make_bank_like, tabular_data_params, write_bank_like_csv

from reprotune.data.prepare import load_raw, write_splits
from reprotune.data.settings import DataParams
from reprotune.data.sources import fetch
from reprotune.data.tabular import prepare_tabular
from reprotune.errors import DataError


@pytest.fixture
def csv_file(tmp_path):
    return write_bank_like_csv(tmp_path / "src" / "bank.csv", n=400, seed=5)


def fetch_and_prepare(tmp_path, csv_file, seed=0, **overrides):
    data = DataParams(**tabular_data_params(csv_file, **overrides))
    fetch(data, seed, tmp_path / "raw")
    frames, _ = load_raw(tmp_path / "raw")
    return prepare_tabular(frames, data, seed)


def test_semicolon_file_one_file_split_and_positive_label_last(tmp_path, csv_file):
    splits = fetch_and_prepare(tmp_path, csv_file)
    assert splits.label_names == ["no", "yes"]  # the positive label is class 1
    assert len(splits.test) == 80 and len(splits.train) + len(splits.val) == 320
    assert splits.schema["features"]["age"] == "number"
    assert splits.schema["positive_label"] == "yes"
    assert "call_id" not in splits.train.columns  # dropped
    assert splits.train["balance"].dtype == "float64" and splits.train["balance"].isna().any()
    positives = [frame["label"].mean() for _, frame in splits.items()]
    assert all(0.1 < share < 0.2 for share in positives)  # stratified


def test_inferred_types_are_written_out_and_declarations_win(tmp_path, csv_file):
    features = {"age": "category", "balance": "auto", "job": "auto", "housing": "auto"}
    splits = fetch_and_prepare(tmp_path, csv_file, features=features)
    assert splits.schema["features"] == {
        "age": "category",  # declared: kept although the values are numbers
        "balance": "number",
        "job": "category",
        "housing": "binary",
    }
    assert splits.schema["inferred"] == {
        "balance": "number",
        "job": "category",
        "housing": "binary",
    }
    write_splits(splits, tmp_path / "processed")
    assert '"inferred"' in (tmp_path / "processed" / "features.json").read_text()


def test_features_auto_takes_every_other_column(tmp_path, csv_file):
    splits = fetch_and_prepare(tmp_path, csv_file, features="auto")
    assert set(splits.schema["features"]) == {
        "age",
        "balance",
        "campaign",
        "job",
        "month",
        "housing",
        "loan",
    }


def test_same_seed_same_splits(tmp_path, csv_file):
    first = fetch_and_prepare(tmp_path / "a", csv_file)
    second = fetch_and_prepare(tmp_path / "b", csv_file)
    pd.testing.assert_frame_equal(first.val, second.val)


def test_grouped_splits_never_share_a_group(tmp_path):
    frame = make_bank_like(600, seed=3)
    frame["client"] = np.arange(600) // 4  # four rows per client
    path = tmp_path / "grouped.csv"
    frame.to_csv(path, sep=";", index=False)
    splits = fetch_and_prepare(tmp_path, path, group_column="client")
    groups = [set(f["client"]) for _, f in splits.items()]
    assert not groups[0] & groups[1] and not groups[0] & groups[2] and not groups[1] & groups[2]
    assert "client" not in splits.schema["features"]


def expect_error(tmp_path, csv_file, *needles, **overrides):
    with pytest.raises(DataError) as err:
        fetch_and_prepare(tmp_path, csv_file, **overrides)
    message = str(err.value)
    for needle in (*needles, "fix:"):
        assert needle in message, message
    return message


def test_unknown_feature_column_suggests_the_closest(tmp_path, csv_file):
    message = expect_error(
        tmp_path,
        csv_file,
        "data.features.balanse",
        "did you mean 'balance'",
        features={"age": "number", "balanse": "number"},
    )
    assert "'balanse'" in message


def test_unknown_target_column(tmp_path, csv_file):
    with pytest.raises(DataError, match=r"data.label_column 'target'.*fix:"):
        fetch_and_prepare(tmp_path, csv_file, label_column="target")


def test_positive_label_not_among_the_values(tmp_path, csv_file):
    expect_error(
        tmp_path,
        csv_file,
        "data.positive_label = 'Yes'",
        "did you mean 'yes'",
        positive_label="Yes",
    )


def test_number_column_with_text_names_values_and_rows(tmp_path):
    frame = make_bank_like(300, seed=1)
    frame["age"] = frame["age"].astype(object)
    frame.loc[[7, 11], "age"] = ["forty", "?"]
    path = tmp_path / "dirty.csv"
    frame.to_csv(path, sep=";", index=False)
    message = expect_error(tmp_path, path, "data.features.age", "rows [", "declare age")
    assert "'forty'" in message or "'?'" in message


def test_all_empty_column(tmp_path):
    frame = make_bank_like(300, seed=1)
    frame["balance"] = ""
    path = tmp_path / "empty.csv"
    frame.to_csv(path, sep=";", index=False)
    expect_error(tmp_path, path, "data.features.balance", "empty")


def test_a_split_with_a_single_class(tmp_path):
    frame = make_bank_like(300, seed=1)
    frame["y"] = "no"
    frame.loc[:1, "y"] = "yes"  # two positives: the validation split cannot get one
    path = tmp_path / "one_class.csv"
    frame.to_csv(path, sep=";", index=False)
    with pytest.raises(DataError, match=r"(single class|too few).*fix:"):
        fetch_and_prepare(tmp_path, path)


def test_missing_group_column(tmp_path, csv_file):
    expect_error(tmp_path, csv_file, "data.group_column", "'client'", group_column="client")


def test_a_semicolon_file_read_with_commas_says_which_separator(tmp_path, csv_file):
    params = tabular_data_params(csv_file)
    params["csv"]["sep"] = ","
    with pytest.raises(DataError, match=r"data.csv.sep to ';'"):
        fetch(DataParams(**params), 0, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()  # nothing half-written


def test_rows_without_a_target_are_counted_and_too_many_stop(tmp_path):
    frame = make_bank_like(400, seed=1)
    frame.loc[:9, "y"] = ""  # 10 of 400: a few gaps
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, sep=";", index=False)
    splits = fetch_and_prepare(tmp_path, path)
    assert sum(splits.schema["dropped_without_target"].values()) == 10
    assert sum(len(f) for _, f in splits.items()) == 390
    frame.loc[:119, "y"] = ""  # 120 of 400: not gaps
    frame.to_csv(path, sep=";", index=False)
    with pytest.raises(DataError, match=r"120 of 400 rows \(30%\) have no value in the target"):
        fetch_and_prepare(tmp_path / "again", path)
