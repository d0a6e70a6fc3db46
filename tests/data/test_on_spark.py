"""`data.engine: spark` on local[2]: fetch and preprocess by Spark's executors write the splits
the local path writes (the same columns, types, labels and files), drawn by hash: disjoint,
in the asked shares, stratified in expectation, and the same bytes on a second run."""

import hashlib
import shutil

import pandas as pd
import pytest
from pydantic import ValidationError
from tabular_data import make_bank_like, tabular_data_params, write_bank_like_csv

from reprotune.data import on_spark
from reprotune.data.prepare import load_raw, write_splits
from reprotune.data.settings import DataParams
from reprotune.data.sources import fetch
from reprotune.data.tabular import prepare_tabular
from reprotune.errors import DataError

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("java") is None, reason="Spark needs Java (.ci/run installs it)"
    ),
]
ROWS = 6000


def params(table, **overrides) -> DataParams:
    return DataParams(**tabular_data_params(table, engine="spark", **overrides))


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark-data")
    table = write_bank_like_csv(folder / "bank.csv", ROWS, seed=4)
    data = params(table)
    runs = []
    for run in ("first", "second"):
        raw, processed = folder / run / "raw", folder / run / "processed"
        manifest = fetch(data, 42, raw)
        done = on_spark.preprocess(data, 42, raw_dir=raw, out_dir=processed)
        runs.append((manifest, done, raw, processed))
    return table, data, runs


def split(processed, name) -> pd.DataFrame:
    return pd.read_parquet(processed / f"{name}.parquet")


def test_the_splits_have_the_local_paths_columns_types_and_labels(prepared, tmp_path):
    table, _, runs = prepared
    manifest, done, raw, processed = runs[0]
    assert (
        manifest["engine"] == "spark"
        and manifest["rows"]["train"] + manifest["rows"]["test"] == ROWS
    )
    local = prepare_tabular(*[load_raw(raw)[0]], DataParams(**tabular_data_params(table)), 42)
    assert done["label_names"] == local.label_names == ["no", "yes"]
    assert done["schema"]["features"] == local.schema["features"]
    write_splits(local, tmp_path)
    for name in ("train", "val", "test"):
        written, expected = split(processed, name), split(tmp_path, name)
        assert list(written.columns) == list(expected.columns)
        assert dict(written.dtypes.astype(str)) == dict(expected.dtypes.astype(str)), name
        assert set(written["label_name"]) == {"no", "yes"}
        assert (written["label_name"] == written["label"].map({0: "no", 1: "yes"})).all()
    # Missing balances stay missing (3 % of rows), categories stay strings.
    train = split(processed, "train")
    assert 0.01 < train["balance"].isna().mean() < 0.06
    assert set(train["job"].dropna()) <= set(make_bank_like(200, 0)["job"]) | set(train["job"])
    assert (processed / "contract.yaml").is_file() and (processed / "profile.json").is_file()


def test_the_splits_are_disjoint_in_the_asked_shares_and_stratified(prepared):
    _, data, runs = prepared
    _, done, _, processed = runs[0]
    frames = {name: split(processed, name) for name in ("train", "val", "test")}
    rows = {name: len(frame) for name, frame in frames.items()}
    assert sum(rows.values()) == ROWS
    assert abs(rows["test"] / ROWS - data.test_fraction) < 0.03
    pool = rows["train"] + rows["val"]
    assert abs(rows["val"] / pool - data.val_fraction) < 0.03
    # call_id (a dropped column) is not in the splits: rows are told apart by their values.
    keys = {name: set(map(tuple, f.drop(columns="label_name").astype(str).values))
            for name, f in frames.items()}  # fmt: skip
    assert not keys["train"] & keys["val"] and not keys["train"] & keys["test"]
    positive = {name: f["label"].mean() for name, f in frames.items()}
    assert all(abs(share - 0.15) < 0.03 for share in positive.values()), positive
    assert done["counts"]["val"]["rows"] == rows["val"]
    assert done["counts"]["train"]["classes"]["yes"] == int(frames["train"]["label"].sum())


def test_the_same_data_and_seed_give_the_same_files(prepared):
    _, _, runs = prepared
    (_, _, raw_a, processed_a), (_, _, raw_b, processed_b) = runs
    for name in ("train.parquet", "test.parquet"):
        assert digest(raw_a / name) == digest(raw_b / name)
    for name in ("train.parquet", "val.parquet", "test.parquet", "labels.json", "features.json"):
        assert digest(processed_a / name) == digest(processed_b / name), name


def test_a_group_never_straddles_two_splits(tmp_path):
    frame = make_bank_like(3000, 5)
    frame["customer"] = frame["call_id"] // 3
    path = tmp_path / "grouped.csv"
    frame.to_csv(path, sep=";", index=False)
    data = params(path, group_column="customer")
    fetch(data, 1, tmp_path / "raw")
    on_spark.preprocess(data, 1, raw_dir=tmp_path / "raw", out_dir=tmp_path / "processed")
    groups = {
        name: set(split(tmp_path / "processed", name)["customer"])
        for name in ("train", "val", "test")
    }
    assert groups["train"] and groups["val"] and groups["test"]
    assert not groups["train"] & groups["val"] and not groups["train"] & groups["test"]
    assert not groups["val"] & groups["test"]


def test_bad_input_stops_with_the_key_and_the_fix(tmp_path):
    table = write_bank_like_csv(tmp_path / "bank.csv", 200, seed=1)
    with pytest.raises(ValidationError, match=r"data\.files\.train.*URLs"):
        params(table, files={"train": "https://example.org/bank.csv", "test": None})
    with pytest.raises(ValidationError, match="image features"):
        params(table, features={"age": "number", "photo": "image"})
    with pytest.raises(ValidationError, match="text task"):
        DataParams(source="csv", files={"train": str(table)}, engine="spark")
    missing = params(tmp_path / "nowhere.csv")
    with pytest.raises(DataError, match=r"data\.files\.train.*no such file"):
        fetch(missing, 1, tmp_path / "raw")
    wrong = params(table, label_column="outcome")
    with pytest.raises(DataError, match=r"data\.label_column 'outcome'"):
        fetch(wrong, 1, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()  # nothing half-written


def test_an_unreachable_master_or_no_java_stops_fetch_in_seconds_naming_the_key(
    tmp_path, monkeypatch
):
    import socket
    import time

    table = write_bank_like_csv(tmp_path / "bank.csv", 200, seed=1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    master = f"spark://127.0.0.1:{port}"
    start = time.monotonic()
    with pytest.raises(DataError, match=r"data\.spark\.master = 'spark://127") as caught:
        fetch(params(table, spark={"master": master}), 1, tmp_path / "raw")
    assert time.monotonic() - start < 15 and "fix:" in str(caught.value)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(DataError, match="needs a Java runtime") as caught:
        on_spark.preprocess(params(table), 1, raw_dir=tmp_path / "raw", out_dir=tmp_path / "p")
    assert "default-jre-headless" in str(caught.value)
    assert not (tmp_path / "raw").exists() and not (tmp_path / "p").exists()
