"""`reprotune predict`: a table scored in chunks into Parquet, equal to the model's own
predictions; bad rows named or set aside; nothing half-written on failure."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from tabular_data import FEATURES, make_bank_like

from reprotune import models
from reprotune.config import PARAMS_CLASSES
from reprotune.errors import DataError
from reprotune.scoring import score_table
from reprotune.service.model import ModelRef, load

LABELS = ["no", "yes"]


@pytest.fixture(scope="module")
def candidate_folder(tmp_path_factory) -> Path:
    train = make_bank_like(600, seed=1)
    params = PARAMS_CLASSES["logreg"](family="logreg", class_weight="balanced")
    model = models.create(params, LABELS, seed=0, features=FEATURES)
    labels = (train["y"] == "yes").astype(int).to_numpy()
    model.fit(train[list(FEATURES)], labels, train[list(FEATURES)].head(0), labels[:0])
    model.decision = {"threshold": 0.4, "objective": "f1", "costs": None}
    folder = tmp_path_factory.mktemp("model") / "logreg"
    folder.mkdir()
    model.save(folder, extra={"train": {}, "input_example": None})
    return folder


@pytest.fixture(scope="module")
def served(candidate_folder, tmp_path_factory):
    return load(ModelRef.parse(str(candidate_folder)), None, tmp_path_factory.mktemp("dl"))


def new_rows(n: int, seed: int = 7) -> pd.DataFrame:
    return make_bank_like(n, seed).drop(columns=["y"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_every_row_scored_in_chunks_as_the_model_scores_it(served, tmp_path, suffix):
    frame = new_rows(1_234)
    source = tmp_path / f"customers{suffix}"
    if suffix == ".csv":
        frame.to_csv(source, sep=";", index=False)
    elif suffix == ".parquet":
        frame.to_parquet(source)
    else:
        frame.to_json(source, orient="records", lines=True)
    out = tmp_path / "scored.parquet"
    report = score_table(served, str(source), out, chunk_rows=500)
    scored = pd.read_parquet(out)
    assert report.rows == report.scored == len(frame) and report.rejected == 0
    assert scored["row"].tolist() == list(range(len(frame)))
    expected = served.candidate.predict_proba(frame[list(FEATURES)])
    np.testing.assert_allclose(scored["probability_yes"], expected[:, 1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(scored["probability_no"], expected[:, 0], rtol=0, atol=1e-9)
    decided = np.where(expected[:, 1] >= 0.4, "yes", "no")
    assert (scored["prediction"] == decided).all()
    assert (scored["threshold"] == 0.4).all() and (scored["model_version"] == "local").all()
    # Columns that are not features (the id) come along, so the output joins back.
    assert scored["call_id"].astype(int).tolist() == frame["call_id"].tolist()
    assert not list(tmp_path.glob(".scored.parquet*"))  # no temporary file left


def test_a_bad_value_stops_naming_row_column_and_value_and_writes_nothing(served, tmp_path):
    frame = new_rows(300).astype({"balance": object, "age": float})
    frame.loc[123, "balance"] = "lots"
    frame.loc[250, "age"] = 1e300  # finite, but beyond what float32 models can take
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "out.parquet"
    with pytest.raises(DataError) as err:
        score_table(served, str(source), out, chunk_rows=100)
    message = str(err.value)
    assert "row 123: balance='lots' (number)" in message
    assert "--on-error skip" in message
    assert not out.exists() and not list(tmp_path.glob(".out.parquet*"))


def test_skip_writes_bad_rows_to_rejects_and_scores_the_rest(served, tmp_path):
    frame = new_rows(300).astype({"balance": object, "age": float})
    frame.loc[[5, 205], "balance"] = "n/a?"
    frame.loc[206, "age"] = 1e300
    source = tmp_path / "in.parquet"
    frame.astype({"balance": str}).to_parquet(source)
    out = tmp_path / "out.parquet"
    report = score_table(served, str(source), out, on_error="skip", chunk_rows=100)
    assert (report.scored, report.rejected) == (297, 3)
    rejects = pd.read_parquet(report.rejects)
    assert rejects["row"].tolist() == [5, 205, 206]
    assert rejects["error"].tolist()[2] == "age=1e+300 (number)"
    assert sorted(pd.read_parquet(out)["row"]) == sorted(set(range(300)) - {5, 205, 206})


def test_a_missing_feature_column_or_kept_column_is_named(served, tmp_path):
    source = tmp_path / "in.csv"
    new_rows(10).drop(columns=["month"]).to_csv(source, index=False)
    with pytest.raises(DataError, match=r"lacks the model's input column\(s\) \['month'\]"):
        score_table(served, str(source), tmp_path / "out.parquet")
    new_rows(10).to_csv(source, index=False)
    with pytest.raises(DataError, match=r"--keep \['customer'\]: not columns"):
        score_table(served, str(source), tmp_path / "out.parquet", keep=["customer"])
    assert not (tmp_path / "out.parquet").exists()


def test_the_command_scores_a_file_and_a_killed_run_leaves_no_output(candidate_folder, tmp_path):
    source = tmp_path / "big.csv"
    new_rows(2_000).to_csv(source, sep=";", index=False)
    out = tmp_path / "scored.parquet"
    command = [sys.executable, "-m", "reprotune.cli", "predict", "--model", str(candidate_folder)]
    done = subprocess.run(
        [*command, "--data", str(source), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "scored 2,000 of 2,000 rows" in done.stderr
    assert pq.read_metadata(out).num_rows == 2_000

    # A run stopped mid-way (SIGTERM after its first chunk) leaves neither the output nor a
    # temporary file behind.
    slow = subprocess.Popen(
        [
            *command,
            "--data",
            str(source),
            "--out",
            str(tmp_path / "stopped.parquet"),
            "--chunk-rows",
            "1",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".stopped.parquet.*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(slow.pid, signal.SIGTERM)
    slow.wait(timeout=60)
    assert slow.returncode != 0
    assert not (tmp_path / "stopped.parquet").exists()
    assert not list(tmp_path.glob(".stopped.parquet.*"))


JAVA = shutil.which("java")


@pytest.mark.e2e
@pytest.mark.skipif(JAVA is None, reason="needs a Java runtime (.ci/run installs one)")
def test_spark_local_2_scores_what_the_local_path_scores(candidate_folder, tmp_path):
    """`--engine spark` on local[2]: mlflow.pyfunc.spark_udf over the same model gives the
    same decisions and probabilities as the local path."""
    frame = new_rows(3_000, seed=11)
    source = tmp_path / "customers.csv"
    frame.to_csv(source, sep=";", index=False)
    command = [sys.executable, "-m", "reprotune.cli", "predict", "--model", str(candidate_folder)]
    local, spark = tmp_path / "local.parquet", tmp_path / "spark"
    for out, engine in ((local, []), (spark, ["--engine", "spark", "--spark-master", "local[2]"])):
        done = subprocess.run(
            [*command, "--data", str(source), "--out", str(out), *engine],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    expected = pd.read_parquet(local).set_index("call_id").sort_index()
    got = pd.read_parquet(spark).set_index("call_id").sort_index()
    assert len(got) == len(frame) and (got.index == expected.index).all()
    assert (got["prediction"] == expected["prediction"]).all()
    np.testing.assert_allclose(got["probability_yes"], expected["probability_yes"], atol=1e-9)
    assert (tmp_path / "spark" / "_SUCCESS").exists()
