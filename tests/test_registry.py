from pathlib import Path

import pytest
from corpus import LABEL_NAMES, texts_and_labels

from reprotune import models
from reprotune.families.tfidf_logreg import TfidfLogregParams
from reprotune.registry import Standing, decide, register_champion
from reprotune.tracking import TrackingParams, stage_run

NAME = "unit-model"


def test_first_model_becomes_champion():
    assert decide(None, "macro_f1", 0.5, True).alias == "champion"


@pytest.mark.parametrize(
    ("score", "higher_is_better", "alias"),
    [
        (0.81, True, "champion"),
        (0.80, True, "challenger"),
        (0.79, True, "challenger"),
        (0.79, False, "champion"),
        (0.81, False, "challenger"),
    ],
)
def test_alias_moves_only_when_strictly_better(score, higher_is_better, alias):
    current = Standing("3", "macro_f1", 0.80)
    decision = decide(current, "macro_f1", score, higher_is_better)
    assert decision.alias == alias
    assert "version 3" in decision.reason


def test_changed_metric_is_not_compared():
    decision = decide(Standing("1", "accuracy", 0.99), "macro_f1", 0.5, True)
    assert decision.alias == "champion" and "changed" in decision.reason


def _saved_baseline(folder, C, learned_nothing: bool = False):
    """Train and save like the train stage: the card names the logged model. With
    `learned_nothing`, it trains on shuffled labels (a model no better than chance)."""
    import numpy as np

    model = models.create(TfidfLogregParams(family="tfidf_logreg", C=C), LABEL_NAMES, seed=0)
    texts, labels = texts_and_labels(20, 1)
    if learned_nothing:
        labels = np.random.default_rng(0).permutation(labels)
    model.fit(texts, labels, *texts_and_labels(5, 2))
    folder.mkdir(parents=True)
    with stage_run("train", TrackingParams(experiment="unit"), candidate="baseline") as run:
        model_id = run.create_model("baseline", {})
        model.save(folder, extra={"train": {}, "mlflow": {"model_id": model_id}})
        run.upload_model(model_id, folder)
    return folder


def _register(folder, score):
    with stage_run("compare", TrackingParams(experiment="unit")) as run:
        return register_champion(run, NAME, "baseline", folder, "macro_f1", score, True)


def test_registry_keeps_the_best_as_champion(in_tmp):
    from mlflow.tracking import MlflowClient

    first = _register(_saved_baseline(in_tmp / "m1", C=1.0), 0.80)
    worse = _register(_saved_baseline(in_tmp / "m2", C=0.1), 0.70)
    again = _register(in_tmp / "m2", 0.70)
    better = _register(_saved_baseline(in_tmp / "m3", C=10.0), 0.90)

    assert (first["alias"], first["version"]) == ("champion", "1")
    assert (worse["alias"], worse["version"]) == ("challenger", "2")
    assert worse["previous_champion_version"] == "1" and worse["previous_champion_score"] == 0.80
    assert again["version"] == "2"  # the same model is not registered twice
    assert (better["alias"], better["version"]) == ("champion", "3")

    client = MlflowClient(f"sqlite:///{in_tmp / 'mlflow.db'}")
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "3"
    assert str(client.get_model_version_by_alias(NAME, "challenger").version) == "2"
    version = client.get_model_version(NAME, "3")
    assert version.tags["reprotune.score"] == "0.900000"
    assert "beats" in version.tags["reprotune.reason"]
    assert version.run_id  # lineage back to the run that logged the model


# -- champion vs challenger on the same rows ------------------------------------------------


def _frame_of(folder, texts, labels):
    from reprotune.evaluation.bootstrap import predictions_frame

    model, _ = models.load(folder)
    proba = model.predict_proba(texts)
    return predictions_frame(labels, proba, proba.argmax(axis=1))


def _test_split(n_per_class: int, seed: int):
    import pandas as pd

    texts, labels = texts_and_labels(n_per_class, seed)
    path = Path(f"test-{n_per_class}-{seed}.parquet")  # in the test's folder
    pd.DataFrame({"text": texts, "label": labels}).to_parquet(path)
    return path, texts, labels


def _register_on_rows(folder, test, texts, labels, score=0.5):
    from reprotune.registry import Rows

    rows = Rows(test, _frame_of(folder, texts, labels), LABEL_NAMES, seed=0)
    with stage_run("compare", TrackingParams(experiment="unit")) as run:
        return register_champion(run, NAME, "baseline", folder, "macro_f1", score, True, rows)


def test_a_challenger_level_on_the_same_rows_leaves_the_champion_where_it_was(in_tmp):
    """The AG News scenario: a new best-of-its-execution that the current champion matches on
    the same test rows (its stored score says nothing here) gets @challenger, with the paired
    gap and its interval; the current champion is re-scored, not trusted by its tag."""
    from mlflow.tracking import MlflowClient

    test, texts, labels = _test_split(40, 3)
    first = _register_on_rows(_saved_baseline(in_tmp / "m1", C=1.0), test, texts, labels)
    level = _register_on_rows(_saved_baseline(in_tmp / "m2", C=1.01), test, texts, labels, 0.99)
    assert first["alias"] == "champion" and first["reason"] == "no champion yet"
    assert level["alias"] == "challenger", level["reason"]
    assert level["reason"].startswith("not told apart: macro_f1 gap")
    assert f"on the same {len(labels)} test rows" in level["reason"]
    low, high = level["gap_interval"]
    assert low <= 0 <= high and level["rows"] == len(labels)
    client = MlflowClient(f"sqlite:///{in_tmp / 'mlflow.db'}")
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"
    tags = client.get_model_version(NAME, "2").tags
    assert tags["reprotune.gap_interval"] == str(level["gap_interval"])
    assert tags["reprotune.rows"] == str(len(labels))


def test_a_model_told_apart_on_the_same_rows_moves_the_alias(in_tmp):
    test, texts, labels = _test_split(40, 3)
    chance = _saved_baseline(in_tmp / "m1", C=1.0, learned_nothing=True)
    weak = _register_on_rows(chance, test, texts, labels, 0.9)
    strong = _register_on_rows(_saved_baseline(in_tmp / "m2", C=10.0), test, texts, labels, 0.1)
    assert weak["alias"] == "champion"
    assert strong["alias"] == "champion" and strong["reason"].startswith("told apart")
    assert strong["gap_interval"][0] > 0 and strong["previous_champion_version"] == "1"
    # and the weak one back again is worse on the same rows: it stays challenger
    again = _register_on_rows(
        _saved_baseline(in_tmp / "m3", C=2.0, learned_nothing=True), test, texts, labels, 0.99
    )
    assert again["alias"] == "challenger" and again["reason"].startswith("worse")


def test_a_changed_data_file_re_scores_the_champion_on_the_new_rows(in_tmp):
    old_test, old_texts, old_labels = _test_split(40, 3)
    _register_on_rows(_saved_baseline(in_tmp / "m1", C=1.0), old_test, old_texts, old_labels)
    new_test, new_texts, new_labels = _test_split(25, 8)  # another data version: other rows
    decided = _register_on_rows(
        _saved_baseline(in_tmp / "m2", C=1.01), new_test, new_texts, new_labels
    )
    assert decided["rows"] == len(new_labels) != len(old_labels)
    assert f"on the same {len(new_labels)} test rows" in decided["reason"]


def test_a_champion_that_cannot_score_these_rows_is_not_comparable(in_tmp):
    """A champion of another task (other classes): said so, and the new version takes over."""
    import pandas as pd

    from reprotune.registry import Rows

    _register(_saved_baseline(in_tmp / "m1", C=1.0), 0.9)
    texts, labels = texts_and_labels(20, 4)
    test = in_tmp / "test.parquet"
    pd.DataFrame({"text": texts, "label": labels}).to_parquet(test)
    folder = _saved_baseline(in_tmp / "m2", C=1.0)
    other_task = ["A", "B", "C", "D"]
    rows = Rows(test, _frame_of(folder, texts, labels), other_task, seed=0)
    with stage_run("compare", TrackingParams(experiment="unit")) as run:
        decided = register_champion(run, NAME, "baseline", folder, "macro_f1", 0.1, True, rows)
    assert decided["alias"] == "champion"
    assert decided["reason"].startswith("not comparable: version 1 predicts")
