import functools
import http.server
import threading
from pathlib import Path

import pandas as pd
import pytest

from reprotune.data.settings import DataParams
from reprotune.data.sources import fetch
from reprotune.errors import DataError
from reprotune.io import read_json, sha256_file


def test_original_ag_news_csv_loads_by_params_alone(data_params, tmp_path):
    out = tmp_path / "raw"
    manifest = fetch(DataParams(**data_params), seed=0, out_dir=out)
    train = pd.read_parquet(out / "train.parquet")
    assert list(train.columns) == ["label", "title", "description"]
    assert sorted(train["label"].unique()) == [1, 2, 3, 4]
    assert manifest["rows"] == {"train": 240, "test": 120}
    assert manifest["label_names"] == ["World", "Sports", "Business", "Sci/Tech"]
    assert manifest["sha256"]["train.parquet"] == sha256_file(out / "train.parquet")
    assert read_json(out / "manifest.json") == manifest


def test_fetch_is_byte_identical_on_rerun(data_params, tmp_path):
    fetch(DataParams(**data_params), 0, tmp_path / "a")
    fetch(DataParams(**data_params), 0, tmp_path / "b")
    for name in ("train.parquet", "test.parquet", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_missing_file_names_the_key_and_leaves_nothing(data_params, tmp_path):
    data_params["files"]["test"] = str(tmp_path / "nowhere.csv")
    out = tmp_path / "raw"
    with pytest.raises(DataError, match=r"data\.files\.test = .*nowhere\.csv.*no such file"):
        fetch(DataParams(**data_params), 0, out)
    assert not out.exists()
    assert not list(tmp_path.glob(".raw.*"))


def test_failed_fetch_keeps_the_previous_output(data_params, tmp_path):
    out = tmp_path / "raw"
    fetch(DataParams(**data_params), 0, out)
    before = (out / "train.parquet").read_bytes()
    data_params["files"]["train"] = str(tmp_path / "gone.csv")
    with pytest.raises(DataError):
        fetch(DataParams(**data_params), 0, out)
    assert (out / "train.parquet").read_bytes() == before


def test_wrong_column_count_is_explained(data_params, tmp_path):
    data_params["csv"]["columns"] = ["label", "text"]
    with pytest.raises(DataError, match=r"has 3 columns but data\.csv\.columns names 2"):
        fetch(DataParams(**data_params), 0, tmp_path / "raw")


def test_unreadable_file_is_explained(data_params, tmp_path):
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"\x00not parquet at all")
    data_params.update(source="parquet", files={"train": str(garbage), "test": str(garbage)})
    with pytest.raises(DataError, match="could not be read as parquet"):
        fetch(DataParams(**data_params), 0, tmp_path / "raw")


def test_empty_split_is_rejected(data_params, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("label,title,description\n")
    data_params["files"]["test"] = str(empty)
    data_params["csv"] = {"header": True}
    with pytest.raises(DataError, match=r"test split .* has no rows"):
        fetch(DataParams(**data_params), 0, tmp_path / "raw")


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_parquet_and_json_sources(fmt, ag_news_files, tmp_path):
    files = {}
    for split, source in zip(("train", "test"), ag_news_files, strict=True):
        frame = pd.read_csv(source, header=None, names=["label", "title", "description"])
        target = tmp_path / f"{split}.{fmt}"
        frame.to_parquet(target) if fmt == "parquet" else frame.to_json(target, orient="records")
        files[split] = str(target)
    manifest = fetch(DataParams(source=fmt, files=files), 0, tmp_path / "raw")
    assert manifest["rows"] == {"train": 240, "test": 120}
    assert manifest["columns"] == ["label", "title", "description"]


def test_sklearn_source_makes_a_stratified_test_split(tmp_path):
    manifest = fetch(
        DataParams(source="sklearn", name="breast_cancer", label_column="target"),
        seed=3,
        out_dir=tmp_path / "raw",
    )
    assert manifest["rows"]["train"] + manifest["rows"]["test"] == 569
    assert manifest["label_names"] == ["malignant", "benign"]
    test = pd.read_parquet(tmp_path / "raw" / "test.parquet")
    assert abs(test["target"].mean() - 357 / 569) < 0.02


def test_hub_source_offline_says_how_to_use_local_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(DataError) as caught:
        fetch(DataParams(source="hf", name="fancyzhx/ag_news"), 0, tmp_path / "raw")
    message = str(caught.value)
    assert "fancyzhx/ag_news" in message
    assert "data.source: csv" in message and "data.files.train" in message
    assert not (tmp_path / "raw").exists()


@pytest.fixture
def file_server(ag_news_files):
    folder = ag_news_files[0].parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_files_download_with_progress(file_server, data_params, tmp_path, capsys):
    data_params["files"] = {"train": f"{file_server}/train.csv", "test": f"{file_server}/test.csv"}
    manifest = fetch(DataParams(**data_params), 0, tmp_path / "raw")
    assert manifest["rows"] == {"train": 240, "test": 120}
    assert manifest["files"]["train"].endswith("/train.csv")
    assert "download train.csv" in capsys.readouterr().err


def test_http_failure_names_the_key_and_the_fix(file_server, data_params, tmp_path):
    data_params["files"]["test"] = f"{file_server}/missing.csv"
    with pytest.raises(
        DataError, match=r"(?s)data\.files\.test = .*download failed.*404.*local path"
    ):
        fetch(DataParams(**data_params), 0, Path(tmp_path / "raw"))


def test_hub_loader_reads_class_names_from_dataset_features(tmp_path):
    """The same `load_dataset(name)` call that fetches from the Hub, on a local dataset folder."""
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    folder = tmp_path / "local_dataset"
    for split, n in (("train", 20), ("test", 8)):
        rows = {"text": [f"{split} row {i}" for i in range(n)], "label": [i % 2 for i in range(n)]}
        datasets.Dataset.from_dict(rows, features=features).to_parquet(folder / f"{split}.parquet")
    manifest = fetch(DataParams(source="hf", name=str(folder)), 0, tmp_path / "raw")
    assert manifest["rows"] == {"train": 20, "test": 8}
    assert manifest["label_names"] == ["neg", "pos"]
    assert manifest["revision"] == "main"
    assert pd.read_parquet(tmp_path / "raw" / "test.parquet")["label"].tolist()[:4] == [0, 1, 0, 1]


def test_relative_paths_start_at_the_project_root(
    data_params, ag_news_files, tmp_path, monkeypatch
):
    """Queued experiments run in a temporary copy; DVC_ROOT names the original repository."""
    root = ag_news_files[0].parent.parent
    data_params["files"] = {"train": "src/train.csv", "test": "src/test.csv"}
    elsewhere = tmp_path / "executor-copy"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("DVC_ROOT", str(root))
    manifest = fetch(DataParams(**data_params), 0, elsewhere / "raw")
    assert manifest["rows"] == {"train": 240, "test": 120}


def test_openml_by_name_renames_the_target_and_splits_by_class(monkeypatch, tmp_path):
    """The loading code on a generated table (fetch_openml itself needs the network)."""
    import sklearn.datasets
    from sklearn.utils import Bunch
    from tabular_data import make_bank_like

    from reprotune.data.sources import load_openml_dataset

    frame = make_bank_like(200, seed=4).rename(columns={"y": "Class"})
    calls = {}

    def fake_fetch_openml(**kwargs):
        calls.update(kwargs)
        return Bunch(frame=frame, target_names=["Class"], details={"version": "1"})

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch_openml)
    data = DataParams(source="openml", name="bank-marketing", label_column="y")
    raw = load_openml_dataset(data, seed=0, cache=tmp_path)
    assert calls["name"] == "bank-marketing" and calls["data_id"] is None
    assert calls["data_home"] == str(tmp_path) and calls["version"] == "active"
    assert len(raw.splits["test"]) == 40 and "y" in raw.splits["train"].columns
    assert raw.revision == "1"
    by_id = DataParams(source="openml", name="1461", revision="2", label_column="y")
    load_openml_dataset(by_id, seed=0, cache=tmp_path)
    assert calls["data_id"] == 1461 and calls["name"] is None and calls["version"] == 2


def test_openml_offline_fails_at_once_with_the_fix(tmp_path):
    import time

    from reprotune.data.sources import load_openml_dataset

    data = DataParams(source="openml", name="reprotune-no-such-dataset", label_column="y")
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"(?s)could not load OpenML dataset.*fix:"):
        load_openml_dataset(data, seed=0, cache=tmp_path)
    assert time.perf_counter() - start < 60
