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


def _saved_baseline(folder, C):
    """Train and save like the train stage: the card names the logged model."""
    model = models.create(TfidfLogregParams(family="tfidf_logreg", C=C), LABEL_NAMES, seed=0)
    model.fit(*texts_and_labels(20, 1), *texts_and_labels(5, 2))
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
