"""Drift against a model's training rows: each injected shift found in its own column, no
clean column flagged; a random split of the same rows is not drift; a large table is measured
on a uniform sample; `reprotune drift` and `reprotune predict` report it from the model folder."""

import json

import numpy as np
import pandas as pd
import pytest
from tabular_data import FEATURES, make_bank_like

from reprotune import cli, drift, models
from reprotune.config import PARAMS_CLASSES
from reprotune.data import reference
from reprotune.features import FEATURE_TYPES

TYPED = {**FEATURES, "tags": "set", "note": "text"}
WORDS = ["call", "client", "offer", "deposit", "rate", "bank", "again", "later", "no", "yes"]


def table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = make_bank_like(n, seed)
    frame["tags"] = [json.dumps(sorted(set(rng.choice(["a", "b", "c"], 2)))) for _ in range(n)]
    frame["note"] = [" ".join(rng.choice(WORDS, rng.integers(3, 9))) for _ in range(n)]
    return frame


def stored_as(frame: pd.DataFrame, features: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: FEATURE_TYPES[k].cast(frame[c], c, "t") for c, k in features.items()})


def stored(frame: pd.DataFrame) -> pd.DataFrame:
    return stored_as(frame, TYPED)


def shifted(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Five shifts, each in one column; the other five columns are left as drawn."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out["balance"] = out["balance"] / 30  # a unit change
    out["age"] = out["age"] + 12  # an older population
    out["job"] = out["job"].replace({"technician": "tech"})  # a renamed level
    out["tags"] = [
        json.dumps(sorted({"a", "z"} if rng.random() < 0.5 else {"b"})) for _ in out.index
    ]
    out["note"] = out["note"] + " " + out["note"] + " " + out["note"]  # texts three times longer
    return out


@pytest.fixture(scope="module")
def profile():
    return drift.build_profile(stored(table(3000, 1)), TYPED)


def test_each_injected_shift_is_found_and_no_clean_column_flagged(profile):
    report = drift.compare(profile, stored(shifted(table(1500, 2), 3)))
    assert set(report["drifted_features"]) == {"balance", "age", "job", "tags", "note"}
    assert report["dataset_drift"] and report["drifted_share"] == pytest.approx(5 / 9, abs=1e-4)
    job = report["features"]["job"]
    assert job["test"] == "chi_square" and "tech" in job["current"]["unseen_levels"]
    assert (
        report["features"]["balance"]["test"] == "ks" and report["features"]["balance"]["psi"] > 1
    )
    assert json.dumps(report)  # plain JSON


@pytest.mark.parametrize("seed", [2, 3, 4, 5])
def test_new_rows_from_the_same_source_are_not_drift(profile, seed):
    report = drift.compare(profile, stored(table(1500, seed)))
    assert report["drifted_features"] == [] and not report["dataset_drift"]


def test_a_large_table_is_measured_on_a_uniform_sample(profile):
    sample = drift.Sample(profile, size=1000, seed=0)
    rows = table(4000, 9)
    for start in range(0, len(rows), 700):
        sample.add(rows.iloc[start : start + 700])
    report = sample.report()
    assert report["rows"] == 4000 and report["sampled_rows"] == 1000
    assert report["drifted_features"] == []
    kept_ages = sample.kept["age"]
    assert abs(kept_ages.mean() - rows["age"].mean()) < 2  # not just the first chunks


def test_markdown_lists_every_feature_most_moved_first(profile):
    text = drift.markdown(drift.compare(profile, stored(shifted(table(800, 4), 5))))
    assert text.startswith("**Drift against the training rows: drifted**")
    body = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(body) == len(TYPED) and "**yes**" in body[0]


def test_the_drift_stage_reports_each_held_out_split_per_feature(profile):
    tables = {"val": stored(table(800, 6)), "test": stored(shifted(table(800, 7), 8))}
    reports = drift.split_reports(profile, tables, share=0.3)
    metrics = drift.stage_metrics(reports)
    assert metrics["val"]["dataset_drift"] is False and metrics["val"]["drifted_features"] == 0
    assert metrics["test"]["dataset_drift"] is True and metrics["test"]["drifted_features"] == 5
    assert metrics["test"]["psi"]["balance"] > 1 > metrics["val"]["psi"]["balance"]
    bars = drift.plot_rows(reports["test"], "test")
    assert {bar["feature"] for bar in bars} == set(TYPED) and bars[0]["split"] == "test"
    text = drift.splits_markdown(reports)
    assert text.index("## validation split") < text.index("## test split")
    assert "**Drift against the training rows: drifted** — 5 of 9" in text


@pytest.fixture(scope="module")
def candidate_folder(tmp_path_factory):
    train = make_bank_like(600, seed=1)
    params = PARAMS_CLASSES["logreg"](family="logreg")
    model = models.create(params, ["no", "yes"], seed=0, features=FEATURES)
    labels = (train["y"] == "yes").astype(int).to_numpy()
    model.fit(train[list(FEATURES)], labels, train[list(FEATURES)].head(0), labels[:0])
    folder = tmp_path_factory.mktemp("model") / "logreg"
    folder.mkdir()
    model.save(folder, extra={"train": {}, "input_example": None})
    frame = pd.DataFrame(
        {c: FEATURE_TYPES[k].cast(train[c], c, "train") for c, k in FEATURES.items()}
    )
    reference.write(folder, frame, FEATURES)
    return folder


def test_drift_command_reads_the_model_folder_and_writes_json(candidate_folder, tmp_path, capsys):
    moved = make_bank_like(900, seed=5).drop(columns=["y"])
    moved["campaign"] = moved["campaign"] * 3
    moved.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "drift.json"
    argv = ["drift", "--model", str(candidate_folder), "--data", str(tmp_path / "new.csv")]
    assert cli.main([*argv, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["drifted_features"] == ["campaign"] and not report["dataset_drift"]
    assert "| campaign | number | ks |" in capsys.readouterr().out
    assert cli.main([*argv, "--share", "0.1", "--fail-on-drift"]) == 1


def test_drift_command_names_a_missing_feature_and_an_empty_file(
    candidate_folder, tmp_path, capsys
):
    make_bank_like(50, seed=5).drop(columns=["y", "age"]).to_csv(tmp_path / "a.csv", index=False)
    assert (
        cli.main(["drift", "--model", str(candidate_folder), "--data", str(tmp_path / "a.csv")])
        == 2
    )
    assert "lacks the feature column(s) ['age']" in capsys.readouterr().err


BAD_FILES = {
    "empty.csv": b"",
    "truncated.csv": b"age,balance,campaign\n30,100,2\n41",
    "readme.csv": b"# A title\nSome prose, with a comma, and more words\nand a line without\n",
    "broken.parquet": b"PAR1 not really parquet",
    "truncated.json": b'{"age": 30, "balance": [',
}


@pytest.mark.parametrize("command", ["predict", "drift"])
@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_an_empty_truncated_or_non_table_file_gets_one_line_and_no_output(
    candidate_folder, tmp_path, capsys, command, name
):
    data = tmp_path / name
    data.write_bytes(BAD_FILES[name])
    out = tmp_path / "out.parquet"
    argv = [command, "--model", str(candidate_folder), "--data", str(data), "--out", str(out)]
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(data) in lines[0] and "fix:" in lines[0], lines
    assert not out.exists() and list(tmp_path.iterdir()) == [data]


def test_predict_reports_drift_as_it_scores(candidate_folder, tmp_path, capsys):
    make_bank_like(700, seed=6).drop(columns=["y"]).to_parquet(tmp_path / "new.parquet")
    argv = ["predict", "--model", str(candidate_folder), "--data", str(tmp_path / "new.parquet")]
    argv += ["--out", str(tmp_path / "scored.parquet"), "--drift", str(tmp_path / "d.json")]
    assert cli.main(argv) == 0
    assert "drift vs the model's training rows: no data set drift" in capsys.readouterr().err
    assert json.loads((tmp_path / "d.json").read_text())["rows"] == 700


def test_predict_checks_every_row_against_the_models_contract(
    candidate_folder, tmp_path, capsys, monkeypatch
):
    from reprotune.data import contract

    monkeypatch.setattr(contract.Tally, "BLOCK_ROWS", 250)  # each 300-row chunk its own block
    rows = make_bank_like(700, seed=6).drop(columns=["y"])
    rows.loc[[5, 420, 690], "age"] = 150  # out of the training range, in three blocks
    rows.loc[[7], "job"] = "astronaut"  # a level training never saw
    rows.to_parquet(tmp_path / "new.parquet")
    argv = ["predict", "--model", str(candidate_folder), "--data", str(tmp_path / "new.parquet")]
    argv += ["--out", str(tmp_path / "scored.parquet"), "--chunk-rows", "300"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "contract: 2 check(s) failed (the rows were scored" in err
    age = next(line for line in err.splitlines() if line.startswith("| input | age |"))
    assert "| 3 | 150.0, 150.0, 150.0 | 5, 420, 690 |" in age
    assert "| input | job | isin(" in err and "'astronaut'" in err
    assert len(pd.read_parquet(tmp_path / "scored.parquet")) == 700

    (tmp_path / "scored.parquet").unlink()
    assert cli.main([*argv, "--contract", "enforce"]) == 2
    err = capsys.readouterr().err
    assert "break the model's data contract (--contract enforce" in err and "| age |" in err
    assert not (tmp_path / "scored.parquet").exists()

    clean = make_bank_like(300, seed=8).drop(columns=["y"])
    clean["age"] = clean["age"].clip(30, 50)  # inside any training range
    clean.to_parquet(tmp_path / "clean.parquet")
    argv[argv.index(str(tmp_path / "new.parquet"))] = str(tmp_path / "clean.parquet")
    assert cli.main(argv) == 0
    assert "contract: every row meets the model's data contract" in capsys.readouterr().err


def photos(n: int, seed: int, shift: int = 0) -> pd.Series:
    """PNG bytes of noisy photos whose brightness varies around 130 (+ shift)."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    values = []
    for level in np.clip(rng.normal(130 + shift, 20, n), 0, 255):
        pixels = np.clip(rng.normal(level, 25, (24, 24, 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        values.append(buffer.getvalue())
    return pd.Series(values, dtype=object)


def test_darker_photos_drift_and_a_sample_keeps_their_brightness_not_their_bytes():
    features = {"photo": "image"}
    profile = drift.build_profile(pd.DataFrame({"photo": photos(300, 1)}), features)
    assert profile["features"]["photo"]["of"] == "mean brightness (0-255)"
    same = drift.compare(profile, pd.DataFrame({"photo": photos(200, 2)}))
    darker = drift.compare(profile, pd.DataFrame({"photo": photos(200, 3, shift=-50)}))
    assert same["drifted_features"] == [] and darker["drifted_features"] == ["photo"]
    sample = drift.Sample(profile, size=200)  # deciles need 180 rows to tell (min_rows)
    sample.add(pd.DataFrame({"photo": photos(250, 4, shift=-50)}))
    assert sample.kept["photo"].dtype == float and sample.report()["drifted_features"] == ["photo"]


def test_texts_in_new_words_drift_though_their_length_did_not():
    rng = np.random.default_rng(0)
    other = ["zorg", "quen", "blat", "myrr", "tosk", "vahl", "drin", "pelo", "skaw", "ombu"]

    def notes(n: int, words: list[str]) -> pd.DataFrame:
        texts = [" ".join(rng.choice(words, rng.integers(3, 9))) for _ in range(n)]
        return pd.DataFrame({"note": texts})

    profile = drift.build_profile(notes(1000, WORDS), {"note": "text"})
    assert set(profile["features"]["note"]["vocabulary"]) == set(WORDS)
    assert drift.compare(profile, notes(500, WORDS))["drifted_features"] == []
    found = drift.compare(profile, notes(500, WORDS[:5] + other))["features"]["note"]
    assert found["drifted"] and found["of"] == "share of words outside the training vocabulary"


def zipf_texts(n: int, rng: np.random.Generator) -> list[str]:
    """Texts drawn from a long-tailed vocabulary (5,000 words, Zipf): most words are rare, so
    a vocabulary built on some rows misses many words of the others, as in real text."""
    weights = 1 / np.arange(1, 5001)
    words = np.array([f"w{i}" for i in range(5000)])
    return [
        " ".join(rng.choice(words, rng.integers(8, 30), p=weights / weights.sum()))
        for _ in range(n)
    ]


def every_type(n: int, seed: int) -> tuple[pd.DataFrame, dict[str, str]]:
    rng = np.random.default_rng(seed)
    frame = table(n, seed)
    frame["note"] = zipf_texts(n, rng)
    cities = np.array([f"city{i}" for i in range(120)])  # more levels than a profile names
    weights = 1 / np.arange(1, 121)
    frame["city"] = rng.choice(cities, n, p=weights / weights.sum())
    features = {**TYPED, "city": "category"}
    return stored_as(frame, features), features


def test_random_splits_of_the_training_rows_are_never_flagged():
    """The false-alarm check (docs/benchmarks.md runs 100 splits per example): a random part of
    the training rows is the same population, on every feature type."""
    rows, features = every_type(1200, 7)
    for seed in range(12):
        order = np.random.default_rng(seed).permutation(len(rows))
        reference, held = rows.iloc[order[:900]], rows.iloc[order[900:]]
        report = drift.compare(drift.build_profile(reference, features), held)
        assert report["drifted_features"] == [], (seed, report["drifted_features"])
        assert not report["dataset_drift"] and report["profile_version"] == 2
        assert set(report["features"]) == {c for c in features if c != "call_id"} - {"city"}
        # ~40 of its levels seen: 20 x (levels - 1) rows, more than the 300 held out
        assert list(report["too_few_rows"]) == ["city"] and report["too_few_rows"]["city"] > 300


def test_a_text_profile_measures_its_vocabulary_out_of_sample():
    rows, _ = every_type(1200, 8)
    text = FEATURE_TYPES["text"]
    profile = text.profile(rows["note"])
    from reprotune.features.stats import numeric_profile
    from reprotune.features.text import _unseen_share

    # The same measure on every row, half of which built the vocabulary: smaller, biased.
    built = numeric_profile(_unseen_share(rows["note"], set(profile["vocabulary"])))
    assert profile["out_of_sample"]
    assert profile["unseen_words"]["mean"] > built["mean"]


def test_a_profile_saved_before_version_2_says_why_its_vocabulary_share_is_left_out():
    rows, _ = every_type(600, 9)
    profile = FEATURE_TYPES["text"].profile(rows["note"])
    profile.pop("out_of_sample")
    found = FEATURE_TYPES["text"].drift(profile, rows["note"])
    assert found["of"] == "words per text" and "profile version 1" in found["note"]


def test_five_rows_cannot_tell_and_the_report_says_so(profile):
    report = drift.compare(profile, stored(table(5, 2)))
    assert report["features"] == {} and not report["dataset_drift"]
    assert report["verdict"].startswith("too few rows to tell: 5 rows")
    assert "too few rows to tell" in drift.summary_line(report)
    assert "too few rows to tell" in drift.markdown(report)
    assert drift.min_rows(profile) == 20  # a binary column: 2 levels, 20 x (2 - 1) rows
