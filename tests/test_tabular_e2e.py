"""End to end: the Bank Marketing example's params through the real `dvc` CLI and a real
MLflow store, on generated data: same dvc.yaml and stages as the text default."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from commands import ALWAYS_RUNS, COLD, git_commit_all, run, stages_run
from mlflow.tracking import MlflowClient
from tabular_data import make_bank_like, write_bank_like_csv

from reprotune.io import EMPTY_NOTE, read_yaml
from reprotune.workspace import copy_pipeline, keep_only

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[1]
CANDIDATES = (
    "logreg",
    "random_forest",
    "xgboost",
    "mlp_embeddings",
    "xgboost_tuned",
)
ENSEMBLE = "stack"
RANKED = (*CANDIDATES, ENSEMBLE)
MODEL_NAME = "reprotune-bank-marketing"


def shrink(params_file: Path) -> None:
    """The example's params, made quick for tiny data (every phase and family kept)."""
    params = yaml.safe_load(params_file.read_text())
    # Less mlp_one_hot (mlp_embeddings with one-hot inputs: tests/families): CI time.
    keep_only(params, [*CANDIDATES, ENSEMBLE])
    candidates = params["train"]["candidates"]
    candidates["random_forest"]["n_estimators"] = 60
    candidates["mlp_embeddings"].update(epochs=6, patience=3, hidden_units=[16])
    params["tune"].update(n_trials=4, cv_folds=3)
    params["ensemble"]["candidates"][ENSEMBLE]["cv_folds"] = 3
    params["evaluate"]["latency_repeats"] = 3
    params["explain"] = {
        **{"rows": 100, "repeats": 2, "shap_rows": 10, "background_rows": 10},
        **{"grid_points": 5, "ice_rows": 10, "examples": 1, "lime_samples": 100},
    }
    # The example's drop list plus the generated data's identifier column.
    params["data"]["drop_columns"] = ["call_id"]
    params["data"]["features"] = {
        k: v
        for k, v in params["data"]["features"].items()
        if k in ("age", "balance", "campaign", "job", "month", "housing", "loan")
    }
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("tabular"))
    data = write_bank_like_csv(tmp_path_factory.mktemp("data") / "bank.csv", n=900, seed=7)
    # What `make pipeline EXAMPLE=bank-marketing DATA=...` does.
    shutil.copy(project / "examples/bank-marketing/params.yaml", project / "params.yaml")
    shrink(project / "params.yaml")
    git_commit_all(project)
    run(["dvc", "exp", "run", "-S", f"data.files.train={data}"], project)
    return project


def read(project: Path, path: str):
    return json.loads((project / path).read_text())


def test_every_candidate_reports_binary_metrics_at_both_thresholds(project):
    schema = read(project, "data/processed/features.json")
    assert schema["features"]["job"] == "category" and schema["positive_label"] == "yes"
    counts = read(project, "metrics/preprocess.json")["features"]
    assert counts == {"binary": 2, "category": 2, "number": 3, "inferred": 0}
    for candidate in CANDIDATES:
        metrics = read(project, f"metrics/evaluate/{candidate}.json")
        for key in ("roc_auc", "pr_auc", "brier", "f1", "mcc", "balanced_accuracy", "tp"):
            assert key in metrics, (candidate, key)
        assert metrics["pr_auc"] > metrics["positive_rate"] + 0.15, candidate  # skill
        assert metrics["at_0.5"]["threshold"] == 0.5
        assert metrics["expected_cost"] >= 0 and "expected_cost" in metrics["at_0.5"]
        card = read(project, f"models/{candidate}/candidate.json")
        assert card["decision"]["objective"] == "cost"
        assert card["decision"]["threshold"] == metrics["threshold"]
    compare = read(project, "metrics/compare.json")
    assert compare["metric"] == "pr_auc" and set(compare["ranking"]) == set(RANKED)
    assert set(compare["phases"]) == {"baseline", "optimized", "tuned", "ensembled"}
    assert "| expected_cost |" in (project / "metrics/compare.md").read_text()


def test_charts_overlay_every_candidate_and_skip_epoch_charts_without_epochs(project):
    for kind in ("roc", "pr", "calibration", "threshold"):
        rows = read(project, f"plots/compare/curves/{kind}.json")
        assert {r["series"] for r in rows} == set(RANKED), kind
    for kind in ("roc", "pr", "calibration", "threshold"):
        assert (project / f"plots/evaluate/xgboost/curves/{kind}.png").is_file()
    for one_fit in ("logreg", "random_forest"):
        charts = [p.name for p in (project / f"plots/train/{one_fit}").iterdir()]
        assert charts == [EMPTY_NOTE], one_fit
    rounds = read(project, "plots/train/xgboost/loss.json")
    assert {r["series"] for r in rounds} == {"train", "val"} and len(rounds) > 10
    assert (project / "plots/train/mlp_embeddings/f1.png").is_file()
    assert "accuracy.json" not in {p.name for p in (project / "plots/train/xgboost").iterdir()}


def test_runs_record_their_datasets(project):
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("reprotune-bank-marketing")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    contexts = {
        name: {
            next(t.value for t in d.tags if t.key == "mlflow.data.context")
            for d in runs[name].inputs.dataset_inputs
        }
        for name in ("preprocess", "train@xgboost", "evaluate@xgboost")
    }
    assert contexts["preprocess"] == {"training", "validation", "test"}
    assert contexts["train@xgboost"] == {"training", "validation"}
    assert contexts["evaluate@xgboost"] == {"test"}
    dataset = runs["evaluate@xgboost"].inputs.dataset_inputs[0].dataset
    assert dataset.name == "bank-test" and dataset.digest and "label" in dataset.schema
    trials = [r for r in runs.values() if r.data.tags.get("reprotune.trial")]
    assert len(trials) >= 4


def test_champion_is_registered_under_the_example_name_and_takes_raw_columns(project):
    import mlflow.pyfunc

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    version = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert version.tags["reprotune.metric"] == "pr_auc"
    assert not client.search_registered_models("name = 'reprotune-ag-news'")
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    loaded = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    names = loaded.metadata.get_input_schema().input_names()
    assert "job" in names and "duration" not in names and "call_id" not in names
    rows = make_bank_like(5, seed=99)[names]
    rows[["age", "balance", "campaign"]] = rows[["age", "balance", "campaign"]].astype(float)
    out = loaded.predict(rows)
    assert set(out["label"]) <= {"yes", "no"}
    assert ((out["positive_probability"] >= out["threshold"]) == (out["label"] == "yes")).all()


def test_runs_command_ranks_by_a_binary_metric(project):
    out = run(["reprotune", "runs", "--metric", "expected_cost", "--format", "json"], project)
    rows = json.loads(out.stdout)
    assert {r["candidate"] for r in rows} == set(RANKED)
    costs = [r["expected_cost"] for r in rows]
    assert costs == sorted(costs) and all(r["pr_auc"] is not None for r in rows)


def test_drift_stage_measures_the_held_out_splits_and_keeps_the_profile_in_git(project):
    found = read(project, "metrics/drift.json")
    features = {"age", "balance", "campaign", "job", "month", "housing", "loan"}
    for split in ("val", "test"):  # a seeded random split of one file: nothing moved
        judged, unjudged = set(found[split]["psi"]), set(found[split].get("too_few_rows", {}))
        assert found[split]["dataset_drift"] is False and judged | unjudged == features
        assert judged >= {"age", "balance", "housing", "loan"}  # enough rows for these
        assert {r["feature"] for r in read(project, f"plots/drift/{split}.json")} == judged
    assert read(project, "data/profile.json") == read(project, "data/processed/profile.json")
    assert "## test split" in (project / "metrics/drift.md").read_text()
    ignored = run(["git", "check-ignore", "data/profile.json"], project, check=False)
    assert ignored.returncode == 1  # committed with the metrics, for the next report


def test_plots_show_draws_the_overlaid_curves(project):
    out = project / "plots_html"
    run(["dvc", "plots", "show", "-o", str(out)], project)
    page = (out / "index.html").read_text()
    for kind in ("roc", "pr", "calibration", "threshold"):
        assert f"plots/compare/curves/{kind}.json" in page, kind
    assert "plots/train/xgboost/loss.json" in page
    drawn = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)
    assert {"plots/drift/val.json", "plots/drift/test.json"} <= set(drawn.get("data", drawn))


def test_second_repro_does_nothing(project):
    done = run(["dvc", "repro"], project)
    assert stages_run(done.stdout) == {ALWAYS_RUNS}


def test_tabular_stages_without_keras_import_neither_framework(project):
    for stage in (["train", "xgboost"], ["evaluate", "logreg"], ["explain", "logreg"], ["compare"]):
        command = ["python", "-X", "importtime", f"stages/{stage[0]}.py", *stage[1:]]
        done = run(command, project, env=COLD)  # its own process: what the stage imports
        imported = {
            line.split("|")[-1].strip()
            for line in done.stderr.splitlines()
            if line.startswith("import time:")
        }
        assert not {m for m in imported if m.split(".")[0] in ("torch", "tensorflow", "keras")}


def test_every_candidate_is_explained_on_the_users_columns(project):
    features = {"age", "balance", "campaign", "job", "month", "housing", "loan"}
    for name in RANKED:
        summary = read(project, f"metrics/explain/{name}.json")
        assert set(summary["importance"]) == features and summary["notes"] == [], name
        assert set(summary["shap_mean_abs"]) == features, name
        folder = project / "explanations" / name
        for chart in ("permutation_importance.png", "partial_dependence.png", "shap_beeswarm.png"):
            assert (folder / chart).is_file(), (name, chart)
        assert (folder / "examples/index.html").is_file(), name
        assert read(project, f"plots/explain/{name}/shap.json")[0]["feature"] in features
    methods = {
        n: read(project, f"explanations/{n}/explanation.json")["shap"]["method"] for n in RANKED
    }
    assert methods["xgboost"].startswith("tree") and methods[ENSEMBLE].startswith("permutation")
    champion = read(project, "metrics/compare.json")["champion"]
    assert f"**{champion}'s top features**" in (project / "metrics/compare.md").read_text()
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("reprotune-bank-marketing")
    (run_,) = client.search_runs(
        [experiment.experiment_id], "attributes.run_name = 'explain@stack'", max_results=1
    )
    logged = {a.path for a in client.list_artifacts(run_.info.run_id, "explain")}
    assert "explain/shap_beeswarm.png" in logged and "explain/examples" in logged


def test_a_forced_re_run_writes_byte_identical_explanations(project):
    stage = "explain@mlp_embeddings"  # a Keras model: model-agnostic SHAP, LIME, PDP

    metrics_file = "metrics/explain/mlp_embeddings.json"

    def output_hashes():
        lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"][stage]
        return {out["path"]: out["md5"] for out in lock["outs"] if out["path"] != metrics_file}

    def summary_without_timing():
        summary = json.loads((project / metrics_file).read_text())
        assert summary.pop("seconds") >= 0  # wall time: the one figure that may differ
        return summary

    before, summary_before = output_hashes(), summary_without_timing()
    run(["dvc", "repro", "--force", "--single-item", stage], project)
    assert output_hashes() == before and len(before) >= 2
    assert summary_without_timing() == summary_before


def test_bad_data_stops_preprocess_and_leaves_no_output(project, tmp_path):
    frame = make_bank_like(300, seed=1)
    frame["age"] = frame["age"].astype(object)
    frame.loc[3, "age"] = "unknown"
    frame.loc[200, "age"] = "unknown"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, sep=";", index=False)
    params_file = project / "params.yaml"
    original = params_file.read_text()
    params = read_yaml(original)  # as DVC wrote it: YAML 1.2 (`yes` is a string)
    params["data"]["files"]["train"] = str(bad)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        done = run(["dvc", "repro", "preprocess"], project, check=False)
        assert done.returncode != 0
        assert "data.features.age" in done.stderr and "'unknown'" in done.stderr
        assert "fix:" in done.stderr
        # DVC cleared the stage's outputs before it ran; the failed stage wrote none back.
        assert not (project / "data/processed").exists()
        assert not list((project / "data").glob(".processed.*"))
    finally:
        params_file.write_text(original)
        run(["dvc", "checkout", "-q", "--force"], project, check=False)


def test_the_ensemble_bundles_its_members_and_counts_their_cost(project):
    metrics = read(project, f"metrics/evaluate/{ENSEMBLE}.json")
    members = ("logreg", "random_forest", "xgboost_tuned")
    assert metrics["pr_auc"] > metrics["positive_rate"] + 0.15
    trained = [read(project, f"metrics/train/{m}.json")["train_seconds"] for m in members]
    assert metrics["efficiency"]["train_seconds"] > sum(trained)
    sizes = [read(project, f"metrics/evaluate/{m}.json")["efficiency"]["size_mb"] for m in members]
    assert metrics["efficiency"]["size_mb"] >= sum(sizes)
    card = read(project, f"ensembles/{ENSEMBLE}/candidate.json")
    assert card["members"] == {
        "logreg": "logreg",
        "random_forest": "random_forest",
        "xgboost_tuned": "xgboost",
    }
    assert card["decision"]["objective"] == "cost" and 0 < card["decision"]["threshold"] < 1


def test_a_member_change_re_runs_that_member_the_ensemble_and_compare_only(project):
    done = run(["dvc", "exp", "run", "-S", "train.candidates.logreg.C=0.5"], project)
    ran = {line.split("'")[1] for line in done.stdout.splitlines() if "Running stage" in line}
    assert {"train@logreg", "evaluate@logreg", f"ensemble@{ENSEMBLE}", "compare"} <= ran
    others = {s for s in ran if s.split("@")[0] in ("train", "evaluate", "tune")}
    assert others <= {"train@logreg", "evaluate@logreg"}, ran
