"""`engine: spark` on local[2]: XGBoost trained by the executors from Parquet splits gives the
local path's quality (within the distributed histogram's difference), the family's usual saved
model, and a one-line stop for a master that does not answer, no Java, or executors without
the package."""

import os
import shutil
import socket
import time

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import average_precision_score
from tabular_data import FEATURES, make_bank_like

from reprotune import models, registry
from reprotune.data import prepare
from reprotune.errors import DataError
from reprotune.families.xgboost import XgboostParams
from reprotune.registry import register_champion
from reprotune.tracking import TrackingParams, stage_run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("java") is None, reason="Spark needs Java (.ci/run installs it)"
    ),
]
LABELS = ["no", "yes"]


def frame(n: int, seed: int):
    table = make_bank_like(n, seed)
    table["label"] = (table.pop("y") == "yes").astype(int)
    return table


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("splits")
    train, val, test = frame(6000, 1), frame(2000, 2), frame(3000, 3)
    files = {s: folder / f"{s}.parquet" for s in ("train", "val", "test")}
    train.to_parquet(files["train"])
    val.to_parquet(files["val"])
    # Small row groups: the executors read the test split in several partitions.
    test.to_parquet(files["test"], row_group_size=500)
    return files, train, val, test


def settings(**changes) -> XgboostParams:
    base = dict(n_estimators=300, learning_rate=0.1, early_stopping_rounds=20)
    return XgboostParams(family="xgboost", scale_pos_weight="auto", **{**base, **changes})


def pr_auc(model, test) -> float:
    return average_precision_score(
        test["label"], model.predict_proba(model.select_inputs(test))[:, 1]
    )


def test_spark_training_matches_the_local_path_and_saves_the_usual_model(
    splits, tmp_path, in_tmp, monkeypatch
):
    files, train, val, test = splits
    on_spark = models.create(settings(engine="spark"), LABELS, 0, FEATURES)
    history, labels, proba = on_spark.fit_on_spark({s: files[s] for s in ("train", "val")})
    local = models.create(settings(), LABELS, 0, FEATURES)
    fit_args = (local.select_inputs(train), train["label"].to_numpy(),
                local.select_inputs(val), val["label"].to_numpy())  # fmt: skip
    local.fit(*fit_args)
    local.refit_with_validation(*fit_args)

    # Validation probabilities scored on the executors, for the threshold: every row, once.
    assert sorted(labels) == sorted(val["label"]) and proba.shape == (len(val), 2)
    assert history and "val_pr_auc" in history[0] and 1 <= on_spark.best_epoch <= 300
    assert on_spark.refitted
    # XGBoost's distributed histogram (2 workers' quantile sketches merged) places a few
    # split points elsewhere: the same quality, not the same trees.
    assert abs(pr_auc(on_spark, test) - pr_auc(local, test)) < 0.03
    assert pr_auc(on_spark, test) > 0.6  # far above the 15 % base rate

    folder = tmp_path / "xgb"
    folder.mkdir()
    on_spark.save(folder, extra={"train": {}})
    loaded, card = models.load(folder)
    assert card["params"]["engine"] == "spark"
    np.testing.assert_allclose(
        loaded.predict_proba(loaded.select_inputs(test)),
        on_spark.predict_proba(on_spark.select_inputs(test)),
    )

    # evaluate's path: the test split scored on the executors, every row in the file's order.
    scored_labels, scored = loaded.score_split_on_spark(files["test"])
    np.testing.assert_array_equal(scored_labels, test["label"].to_numpy())
    np.testing.assert_allclose(scored, loaded.predict_proba(loaded.select_inputs(test)), rtol=1e-6)

    # compare's path: the registered version is re-scored on the executors as well; the
    # driver never reads the split (a read here would fail).
    with stage_run("compare", TrackingParams(experiment="unit")) as run:
        register_champion(run, "spark-model", "xgb", folder, "pr_auc", 0.5, True)
    monkeypatch.setattr(prepare, "load_split", refuse_to_read)
    client = MlflowClient(f"sqlite:///{in_tmp / 'mlflow.db'}")
    again = registry.score_version(client, "spark-model", "1", files["test"], LABELS)
    np.testing.assert_array_equal(again["label"], test["label"].to_numpy())
    np.testing.assert_allclose(again[["proba_0", "proba_1"]], scored, rtol=1e-6)


def refuse_to_read(*args, **kwargs):
    raise AssertionError("the driver read the split")


def test_the_plans_share_of_training_rows_is_kept_on_spark(splits):
    """A budget's plan that trains on fewer rows: Spark samples the same share of each class
    (Bernoulli, seeded), validation whole; the same seed, the same rows."""
    files, train, _, test = splits
    training = {s: files[s] for s in ("train", "val")}
    model = models.create(settings(engine="spark", n_estimators=50), LABELS, 0, FEATURES)
    model.fit_on_spark(training, train_share=0.5)
    assert abs(model.trained_rows - len(train) / 2) < 0.05 * len(train)
    again = models.create(settings(engine="spark", n_estimators=50), LABELS, 0, FEATURES)
    again.fit_on_spark(training, train_share=0.5)
    assert again.trained_rows == model.trained_rows
    np.testing.assert_allclose(
        again.predict_proba(again.select_inputs(test)),
        model.predict_proba(model.select_inputs(test)),
    )
    assert pr_auc(model, test) > 0.5  # far above the 15 % base rate on half the rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_master_that_does_not_answer_stops_in_seconds(splits):
    files = splits[0]
    master = f"spark://127.0.0.1:{free_port()}"
    model = models.create(settings(engine="spark", spark={"master": master}), LABELS, 0, FEATURES)
    start = time.monotonic()
    with pytest.raises(DataError, match="cannot be reached") as caught:
        model.fit_on_spark(files)
    assert time.monotonic() - start < 15
    assert master in str(caught.value) and "fix:" in str(caught.value)


def test_no_java_stops_with_the_fix(splits, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    model = models.create(settings(engine="spark"), LABELS, 0, FEATURES)
    with pytest.raises(DataError, match="needs a Java runtime") as caught:
        model.fit_on_spark(splits[0])
    assert "default-jre-headless" in str(caught.value)


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs a Python without us")
def test_executors_without_the_package_stop_with_the_fix(splits, monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", "/usr/bin/python3")  # the system's: no reprotune
    model = models.create(settings(engine="spark"), LABELS, 0, FEATURES)
    with pytest.raises(DataError, match="executors") as caught:
        model.fit_on_spark(splits[0])
    assert "PYSPARK_PYTHON" in str(caught.value)


def test_the_pipeline_trains_a_spark_candidate_beside_the_local_one(tmp_path):
    """`dvc repro` with the splits prepared on Spark and the same XGBoost settings on both
    engines: train@ on local[2] saves
    the usual model, evaluate, explain and compare take it, and its test scores are the local
    candidate's within the distributed histogram's difference."""
    import json
    from pathlib import Path

    import yaml
    from commands import git_commit_all, run
    from tabular_data import tabular_data_params, write_bank_like_csv

    from reprotune.workspace import copy_pipeline

    root = Path(__file__).parents[2]
    project = copy_pipeline(root, tmp_path / "project")
    table = write_bank_like_csv(tmp_path / "data" / "bank.csv", 4000, seed=6)
    raw = yaml.safe_load((root / "examples/bank-marketing/params.yaml").read_text())
    # The splits too are read, cast, drawn and written by Spark (data.engine: spark).
    raw["data"] = {**raw["data"], **tabular_data_params(table), "engine": "spark"}
    # Row and column subsampling draw differently in one process and in 2 workers; without
    # them what differs is the distributed histogram alone (the tolerance below).
    xgboost = {**raw["train"]["candidates"]["xgboost"], "subsample": 1.0, "colsample_bytree": 1.0}
    raw["train"]["candidates"] = {
        "logreg": raw["train"]["candidates"]["logreg"],
        "xgboost": xgboost,
        "xgboost_spark": {**xgboost, "engine": "spark", "spark": {"master": "local[2]"}},
    }
    raw["tune"]["candidates"] = {}
    raw["ensemble"]["candidates"] = {}
    raw["compare"]["phases"] = {"baseline": ["logreg"], "optimized": ["xgboost", "xgboost_spark"]}
    raw["evaluate"]["latency_repeats"] = 3
    raw["explain"]["skip"] = ["logreg", "xgboost"]
    raw["budget_s"] = 3000  # room for every count: the plan measures, cuts nothing
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    git_commit_all(project)
    done = run(["dvc", "repro"], project, env={"REPROTUNE_WARM": "0"})
    trained = json.loads((project / "metrics/train/xgboost_spark.json").read_text())
    assert trained["engine"] == "spark" and trained["n_train"] > 2000
    scores = {
        name: json.loads((project / f"metrics/evaluate/{name}.json").read_text())["pr_auc"]
        for name in ("xgboost", "xgboost_spark")
    }
    assert abs(scores["xgboost"] - scores["xgboost_spark"]) < 0.03, scores
    # evaluate scored the Spark candidate's test split on the executors: every row, in the
    # split's order (compare pairs candidates row by row).
    import pandas as pd

    local, spark = (pd.read_parquet(project / f"predictions/{n}.parquet") for n in scores)
    test_rows = len(pd.read_parquet(project / "data/processed/test.parquet"))
    assert len(spark) == len(local) == test_rows
    assert (spark["label"] == local["label"]).all()
    assert (project / "metrics/explain/xgboost_spark.json").is_file()
    assert "[compare] champion" in done.stdout
    assert "(on Spark)" in done.stdout  # preprocess
    # The plan measured the Spark candidate on Spark: its fits carry the session's start-up.
    measured = json.loads((project / "plan.json").read_text())["measured"]
    assert measured["xgboost_spark"]["fit_s"][0] > 5 * measured["xgboost"]["fit_s"][0], measured
    features = json.loads((project / "data/processed/features.json").read_text())
    assert features["engine"] == "spark" and features["features"] == FEATURES
    # What a user cannot act on stays out of the console: Spark's start-up log lines, PySpark's
    # note on pandas, XGBoost's per-round lines from the executors.
    console = done.stdout + done.stderr
    for noise in ("default log4j profile", "WARN Utils", "NativeCodeLoader", "FutureWarning",
                  "training-logloss", "validation-aucpr", "Setting default log level",
                  "sc.setLogLevel"):  # fmt: skip
        assert noise not in console, noise
