"""Image columns through fetch and preprocess, and derived targets: every bad input stops with
the row, the path (or key) and the fix; the grouped split never leaks a group."""

from pathlib import Path

import pandas as pd
import pytest
from image_data import FEATURES, TARGET, write_poi_like

from reprotune.data.prepare import load_raw
from reprotune.data.settings import DataParams
from reprotune.data.sources import fetch
from reprotune.data.tabular import prepare_tabular
from reprotune.data.target import binned, edges, score
from reprotune.errors import DataError


def poi_params(csv: Path, **changes) -> DataParams:
    values = {
        "source": "csv",
        "files": {"train": str(csv)},
        "features": FEATURES,
        "label_column": "engagement",
        "target": {"expression": TARGET},
        "group_column": "id",
        "positive_label": "high",
        "images": {"size": 16},
    }
    return DataParams(**{**values, **changes})


@pytest.fixture
def poi_csv(tmp_path) -> Path:
    return write_poi_like(tmp_path / "src", n=120, seed=5, repeats=15)


def prepared(data: DataParams, root: Path):
    fetch(data, 0, root / "raw")
    frames, _ = load_raw(root / "raw")
    return prepare_tabular(frames, data, 0, root / "raw")


def test_images_are_copied_then_stored_as_png_of_the_size_and_groups_never_straddle(
    poi_csv, tmp_path
):
    splits = prepared(poi_params(poi_csv), tmp_path)
    assert (tmp_path / "raw/images/img/0/main.png").is_file()
    ids = {name: set(frame["id"]) for name, frame in splits.items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"]
    assert not ids["val"] & ids["test"]
    from reprotune.features.image import open_image

    assert open_image(splits.train["photo"].iloc[0]).size == (16, 16)
    assert splits.label_names == ["low", "high"]
    assert "Likes" not in splits.train.columns and "Likes" not in splits.schema["features"]


def test_the_derived_target_is_binned_at_the_training_median():
    frame = pd.DataFrame({"a": [1, 2, 3, 4, 5, 6], "b": [0, 0, 0, 0, 0, 1]})
    values = score(frame, "a + b", "train")
    cuts = edges(values, "median", 3)
    assert cuts == [3.5]
    assert binned(values, cuts, ["low", "high"], "train").tolist() == ["low"] * 3 + ["high"] * 3
    assert len(edges(values, "quantiles", 3)) == 2


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("Likes - Dislikez", "'Dislikez'"), ("Likes + name", "non-numeric")],
)
def test_a_bad_target_expression_names_the_column(expression, expected, poi_csv, tmp_path):
    with pytest.raises(DataError) as err:
        prepared(poi_params(poi_csv, target={"expression": expression}), tmp_path)
    assert expected in str(err.value) and "data.target.expression" in str(err.value)
    assert "fix:" in str(err.value)


def test_bins_that_make_one_class_stop_with_the_fix():
    frame = pd.DataFrame({"a": [1, 1, 1, 1]})
    with pytest.raises(DataError, match=r"one class.*fix:"):
        binned(
            score(frame, "a", "train"),
            edges(score(frame, "a", "train"), "median", 2),
            ["low", "high"],
            "train",
        )


def test_a_missing_image_fails_naming_the_row_id_and_path_or_is_skipped(poi_csv, tmp_path):
    (poi_csv.parent / "img/4/main.jpg").unlink()
    with pytest.raises(DataError) as err:
        prepared(poi_params(poi_csv), tmp_path / "one")
    message = str(err.value)
    assert "row 4 (id 'poi4')" in message and "img/4/main.jpg" in message
    assert "data.images.missing: skip" in message
    assert not (tmp_path / "one/raw").exists()  # nothing half-written
    splits = prepared(poi_params(poi_csv, images={"size": 16, "missing": "skip"}), tmp_path / "two")
    manifest = pd.read_json(tmp_path / "two/raw/manifest.json", typ="series")
    assert manifest["images"]["photo"]["skipped_missing"] >= 1
    assert "poi4" not in set(pd.concat([f["id"] for _, f in splits.items()]))


def test_an_unreadable_image_names_the_row_and_path(poi_csv, tmp_path):
    (poi_csv.parent / "img/2/main.jpg").write_bytes(b"\xff\xd8\xff truncated")
    with pytest.raises(DataError) as err:
        prepared(poi_params(poi_csv), tmp_path)
    assert "img/2/main.jpg" in str(err.value) and "cannot be read" in str(err.value)


def test_a_path_that_leaves_the_data_folder_is_rejected(poi_csv, tmp_path):
    frame = pd.read_csv(poi_csv)
    frame.loc[3, "photo"] = "../../etc/passwd"
    frame.to_csv(poi_csv, index=False)
    with pytest.raises(DataError, match="leaves the data file's folder"):
        prepared(poi_params(poi_csv), tmp_path)


def test_an_empty_image_column_is_rejected(poi_csv, tmp_path):
    frame = pd.read_csv(poi_csv)
    frame["photo"] = ""
    frame.to_csv(poi_csv, index=False)
    with pytest.raises(DataError, match="declared `image` but the column is empty"):
        prepared(poi_params(poi_csv), tmp_path)


def test_a_target_column_may_not_be_declared_a_feature():
    with pytest.raises(ValueError, match="derives the target from"):
        DataParams(
            source="csv",
            files={"train": "x.csv"},
            features={"Likes": "number"},
            label_column="engagement",
            target={"expression": TARGET},
        )


@pytest.fixture
def image_server(poi_csv):
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(poi_csv.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_image_urls_are_downloaded_into_the_raw_data(poi_csv, image_server, tmp_path):
    """Absolute image URLs in a local CSV, and relative paths in a CSV read over http."""
    frame = pd.read_csv(poi_csv)
    frame["photo"] = image_server + "/" + frame["photo"]
    local = tmp_path / "urls.csv"
    frame.to_csv(local, index=False)
    splits = prepared(poi_params(local), tmp_path / "one")
    manifest = pd.read_json(tmp_path / "one/raw/manifest.json", typ="series")
    assert manifest["images"]["photo"]["downloaded"] == 120  # 15 rows repeat a POI's photo
    assert any((tmp_path / "one/raw/images/url").iterdir())
    assert splits.train["photo"].iloc[0].startswith(b"\x89PNG")
    remote = poi_params(image_server + "/poi.csv")
    prepared(remote, tmp_path / "two")
    manifest = pd.read_json(tmp_path / "two/raw/manifest.json", typ="series")
    assert manifest["images"]["photo"]["downloaded"] == 120


def test_a_missing_image_url_fails_naming_the_row_or_is_skipped(poi_csv, image_server, tmp_path):
    frame = pd.read_csv(poi_csv)
    frame["photo"] = image_server + "/" + frame["photo"]
    frame.loc[7, "photo"] = image_server + "/img/nope.jpg"
    local = tmp_path / "urls.csv"
    frame.to_csv(local, index=False)
    with pytest.raises(DataError, match=r"(?s)row 7 \(id 'poi7'\).*404.*missing: skip"):
        prepared(poi_params(local), tmp_path / "one")
    splits = prepared(poi_params(local, images={"size": 16, "missing": "skip"}), tmp_path / "two")
    assert "poi7" not in set(pd.concat([f["id"] for _, f in splits.items()]))
