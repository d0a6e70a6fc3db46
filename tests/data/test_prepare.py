import pandas as pd
import pytest

from reprotune.data.prepare import (
    class_counts,
    clean_text,
    load_raw,
    prepare,
    write_splits,
)
from reprotune.data.settings import DataParams, PreprocessParams
from reprotune.data.sources import fetch
from reprotune.errors import DataError


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a deal on a  #36;120 bond", "a deal on a $120 bond"),
        ("There #39;s nothing else", "There's nothing else"),
        ("he said,  quot;I am an expert, quot;", 'he said, "I am an expert,"'),
        ('Google &lt;A HREF="http://x"&gt;GOOG.O&lt;/A&gt; up', "Google GOOG.O up"),
        ("\\FOAF/LOAF  and bloom\\filters", "FOAF/LOAF and bloom filters"),
        ("  many   spaces\n\there ", "many spaces here"),
        ("Fish &amp; chips", "Fish & chips"),
    ],
)
def test_clean_text_undoes_ag_news_artefacts(raw, clean):
    assert clean_text(raw) == clean


@pytest.fixture
def raw(data_params, tmp_path):
    fetch(DataParams(**data_params), 0, tmp_path / "raw")
    return load_raw(tmp_path / "raw")


def run_prepare(raw, data_params, seed=42, **overrides):
    frames, manifest = raw
    data = DataParams(**{**data_params, **overrides})
    return prepare(frames, manifest, data, PreprocessParams(), seed)


def test_splits_are_stratified_sized_and_named(raw, data_params):
    splits = run_prepare(raw, data_params)
    assert len(splits.train) + len(splits.val) == 160
    assert len(splits.val) == 32 and len(splits.test) == 80
    assert splits.label_names == ["World", "Sports", "Business", "Sci/Tech"]
    counts = class_counts(splits)
    assert counts["train"]["classes"] == {name: 32 for name in splits.label_names}
    assert counts["test"]["classes"] == {name: 20 for name in splits.label_names}
    first = splits.train.iloc[0]
    assert first["label_name"] == splits.label_names[first["label"]]
    assert "#36;" not in first["text"] and "quot;" not in first["text"]
    assert "\\" not in " ".join(splits.train["text"])


def test_splits_do_not_overlap(raw, data_params):
    splits = run_prepare(raw, data_params)
    assert not set(splits.train["text"]) & set(splits.val["text"])


def test_seed_changes_the_sample_and_rerun_is_byte_identical(raw, data_params, tmp_path):
    write_splits(run_prepare(raw, data_params), tmp_path / "a")
    write_splits(run_prepare(raw, data_params), tmp_path / "b")
    write_splits(run_prepare(raw, data_params, seed=7), tmp_path / "c")
    for name in ("train.parquet", "val.parquet", "test.parquet", "labels.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "train.parquet").read_bytes() != (
        tmp_path / "c" / "train.parquet"
    ).read_bytes()


def test_null_sizes_keep_every_row(raw, data_params):
    splits = run_prepare(raw, data_params, train_size=None, test_size=None)
    assert len(splits.train) + len(splits.val) == 240 and len(splits.test) == 120


def test_train_size_larger_than_data(raw, data_params):
    with pytest.raises(DataError, match=r"data.train_size = 5000 .* only 240 rows.*at most 240"):
        run_prepare(raw, data_params, train_size=5000)


def test_missing_text_column(raw, data_params):
    with pytest.raises(DataError, match=r"data.text_columns: column 'body' .*\['label', 'title'"):
        run_prepare(raw, data_params, text_columns=["title", "body"])


def test_missing_label_column(raw, data_params):
    with pytest.raises(DataError, match=r"data.label_column: column 'topic'"):
        run_prepare(raw, data_params, label_column="topic")


def test_labels_outside_the_names(raw, data_params):
    with pytest.raises(DataError, match=r"data.label_base = 0: .* label 4, outside 0..3"):
        run_prepare(raw, data_params, label_base=0)


def test_class_too_small_to_stratify(data_params, tmp_path):
    frame = pd.read_csv(data_params["files"]["train"], header=None)
    lonely = frame[frame[0] == 4].head(1)
    frame = pd.concat([frame[frame[0] != 4], lonely])
    frame.to_csv(tmp_path / "skewed.csv", header=False, index=False)
    data_params["files"]["train"] = str(tmp_path / "skewed.csv")
    fetch(DataParams(**data_params), 0, tmp_path / "raw")
    with pytest.raises(DataError, match=r"data.train_size: class id 3 has only 1 row"):
        run_prepare(load_raw(tmp_path / "raw"), data_params)


def test_split_without_text(data_params, tmp_path):
    frame = pd.read_csv(data_params["files"]["test"], header=None)
    frame[1] = ""
    frame[2] = ""
    frame.to_csv(tmp_path / "blank.csv", header=False, index=False)
    data_params["files"]["test"] = str(tmp_path / "blank.csv")
    fetch(DataParams(**data_params), 0, tmp_path / "raw")
    with pytest.raises(DataError, match="the test split has no rows with text"):
        run_prepare(load_raw(tmp_path / "raw"), data_params)


def test_string_labels_become_sorted_names(tmp_path):
    frame = pd.DataFrame(
        {
            "text": [f"doc {i} {'spam' if i % 2 else 'ham'}" for i in range(40)],
            "label": ["spam" if i % 2 else "ham" for i in range(40)],
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = {
        "source": "csv",
        "files": {"train": str(tmp_path / "t.csv"), "test": str(tmp_path / "t.csv")},
        "train_size": None,
        "test_size": None,
    }
    fetch(DataParams(**data), 0, tmp_path / "raw")
    splits = run_prepare(load_raw(tmp_path / "raw"), data)
    assert splits.label_names == ["ham", "spam"]
    assert set(splits.test["label_name"]) == {"ham", "spam"}
    # A text task honours data.positive_label: it becomes class 1, what F1 and costs are about.
    flipped = run_prepare(load_raw(tmp_path / "raw"), {**data, "positive_label": "ham"})
    assert flipped.label_names == ["spam", "ham"]
    for split in (flipped.train, flipped.test):
        assert (split["label"] == (split["label_name"] == "ham")).all()
    with pytest.raises(DataError, match=r"data.positive_label = 'hams'.*did you mean 'ham'"):
        run_prepare(load_raw(tmp_path / "raw"), {**data, "positive_label": "hams"})


def test_positive_label_on_integer_coded_classes_reorders_the_codes(tmp_path):
    frame = pd.DataFrame(
        {"text": [f"review {i} {'good' if i % 2 else 'bad'}" for i in range(40)],
         "label": [i % 2 for i in range(40)]}
    )  # fmt: skip
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = {
        "source": "csv",
        "files": {"train": str(tmp_path / "t.csv"), "test": str(tmp_path / "t.csv")},
        "label_names": ["pos", "neg"],  # code 0 is "pos"
        "positive_label": "pos",
        "train_size": None,
        "test_size": None,
    }
    fetch(DataParams(**data), 0, tmp_path / "raw")
    splits = run_prepare(load_raw(tmp_path / "raw"), data)
    assert splits.label_names == ["neg", "pos"]
    test = splits.test
    assert (test["label_name"] == "pos").equals(test["text"].str.endswith("bad"))
    assert (test["label"] == 1).equals(test["label_name"] == "pos")


def test_missing_raw_data_says_to_fetch(tmp_path):
    with pytest.raises(DataError, match="run the fetch stage first"):
        load_raw(tmp_path / "raw")


def test_a_stage_reads_a_split_whole_or_under_spark_a_seeded_sample(tmp_path, monkeypatch):
    from reprotune import paths
    from reprotune.data import prepare

    monkeypatch.chdir(tmp_path)
    paths.PROCESSED_DIR.mkdir(parents=True)
    frame = pd.DataFrame({"x": range(20_000), "label": [0, 1] * 10_000})
    # Several files' worth of row groups: the sample is drawn across all of them.
    frame.to_parquet(paths.processed_split("train"), row_group_size=1_000)
    whole = prepare.driver_rows("train", "local", 0)
    assert len(whole) == 20_000
    monkeypatch.setattr(prepare, "SPARK_DRIVER_ROWS", 2_000)
    sample = prepare.driver_rows("train", "spark", 0)
    assert 1_700 < len(sample) < 2_300 and sample["x"].max() > 15_000
    assert sample.equals(prepare.driver_rows("train", "spark", 0))
    assert not sample.equals(prepare.driver_rows("train", "spark", 1))
