"""End to end: the real `dvc` CLI runs the real pipeline on a copy of the project."""

import csv
import io
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from commands import ALWAYS_RUNS, COLD, git_commit_all, run, stages_run, stale_stages
from corpus import ag_news_data_params, make_rows, write_ag_news_csv
from mlflow.tracking import MlflowClient
from servers import (
    CHROMIUM,
    chromium_dom,
    free_port,
    mlflow_cli,
    popen_server,
    stop,
    wait_for_http,
)
from tiny_bert import build_tiny_bert

from reprotune.io import EMPTY_NOTE
from reprotune.workspace import copy_pipeline

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[1]


CANDIDATES = ("baseline", "mlp", "logreg_tuned", "transformer")
ENSEMBLE = "ensemble"  # soft voting of mlp and transformer
RANKED = (*CANDIDATES, ENSEMBLE)
TUNE_TRIALS = 8


def write_params(project: Path, train: Path, test: Path, checkpoint: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(ag_news_data_params(train, test, train_size=None))
    params.update(lr=3e-3, epochs=8, batch_size=8, checkpoint=str(checkpoint))
    params["train"]["candidates"]["mlp"].update(epochs=6, hidden_units=[32])
    params["train"]["candidates"]["transformer"].update(patience=8)
    params["evaluate"]["latency_repeats"] = 5
    params["tune"]["n_trials"] = TUNE_TRIALS
    params["explain"] = {"examples": 1, "lime_samples": 100}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


FIRST_CONSOLE: list[str] = []  # what the fixture's `dvc repro` printed


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("project"))
    corpus = tmp_path_factory.mktemp("corpus")
    texts = [f"{title} {body}" for _, title, body in make_rows(80, seed=11)]
    write_params(
        project,
        write_ag_news_csv(corpus / "train.csv", n_per_class=80, seed=11),
        write_ag_news_csv(corpus / "test.csv", n_per_class=30, seed=12),
        build_tiny_bert(corpus / "tiny-bert", texts),
    )
    git_commit_all(project)
    done = run(["dvc", "repro"], project)
    FIRST_CONSOLE.append(done.stdout + done.stderr)
    return project


def mlflow_runs(project: Path):
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("reprotune")
    return client.search_runs([experiment.experiment_id], max_results=500)


def test_repro_writes_every_output(project):
    for path in [
        "data/raw/manifest.json",
        "data/raw/train.parquet",
        "data/processed/val.parquet",
        "data/processed/labels.json",
        "models/baseline/model.joblib",
        "models/mlp/model.keras",
        "models/transformer/model.safetensors",
        "models/transformer/tokenizer.json",
        "metrics/preprocess.json",
        "metrics/compare.md",
        "dvc.lock",
        "configs/transformer.json",
    ]:
        assert (project / path).is_file(), path
    for candidate in CANDIDATES:
        evaluation = yaml.safe_load((project / f"metrics/evaluate/{candidate}.json").read_text())
        assert evaluation["accuracy"] > 0.6, candidate  # chance is 0.25
        assert evaluation["n_test"] == 80
        assert set(evaluation["per_class"]) == {"World", "Sports", "Business", "Sci/Tech"}
        assert evaluation["efficiency"]["latency_ms"] > 0
        for name in [
            "confusion.json",
            "confusion.png",
            "per_class.json",
            "per_class_f1.png",
            "final_metrics.json",
            "final_metrics.png",
        ]:
            assert (project / f"plots/evaluate/{candidate}" / name).is_file(), name
        charts = {p.name for p in (project / f"plots/train/{candidate}").iterdir()}
        if candidate in ("mlp", "transformer"):
            for name in ["loss", "accuracy", "f1", "all_metrics"]:
                assert f"{name}.png" in charts and f"{name}.json" in charts, name
        else:
            assert charts == {EMPTY_NOTE}, candidate  # one fit, no epochs: just the note
    history = yaml.safe_load((project / "plots/train/transformer/f1.json").read_text())
    assert {row["series"] for row in history} == {"train", "val"}
    assert max(row["epoch"] for row in history) >= 2
    compare = yaml.safe_load((project / "metrics/compare.json").read_text())
    assert set(compare["ranking"]) == set(RANKED) and compare["metric"] == "macro_f1"
    baseline = yaml.safe_load((project / "metrics/explain/baseline.json").read_text())
    assert set(baseline["top_ngrams"]) == {"World", "Sports", "Business", "Sci/Tech"}
    for name in RANKED:  # every text model, the transformer and the ensemble included
        summary = yaml.safe_load((project / f"metrics/explain/{name}.json").read_text())
        assert summary["top_tokens"] and summary["notes"] == [], name
        assert (project / f"explanations/{name}/examples/index.html").is_file(), name
    for name in [
        "metrics.json",
        "metrics.png",
        "quality_cost.json",
        "quality_vs_latency.png",
        "quality_vs_train_time.png",
    ]:
        assert (project / "plots/compare" / name).is_file(), name


def test_every_stage_logged_to_mlflow_under_one_parent(project):
    runs = mlflow_runs(project)
    parents = [r for r in runs if r.data.tags.get("reprotune.kind") == "pipeline"]
    assert len(parents) == 1
    children = {
        r.info.run_name: r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id
    }
    assert set(children) == {
        "configure",
        "fetch",
        "preprocess",
        "drift",
        "compare",
        "tune@logreg_tuned",  # candidates without a study have no tune@ stage
        *(f"{stage}@{c}" for stage in ("train", "evaluate") for c in CANDIDATES),
        f"ensemble@{ENSEMBLE}",
        f"evaluate@{ENSEMBLE}",
        # explain_ensemble@<name> runs the explain script: its MLflow run is explain@<name>.
        *(f"explain@{c}" for c in RANKED),
    }
    evaluate = children["evaluate@baseline"]
    assert evaluate.data.metrics["accuracy"] > 0.6
    assert evaluate.data.tags["reprotune.candidate"] == "baseline"
    assert children["train@baseline"].data.params["C"] == "10.0"
    assert children["train@transformer"].data.params["lr"] == "0.003"
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    val_f1 = client.get_metric_history(children["train@transformer"].info.run_id, "val_macro_f1")
    assert [m.step for m in val_f1] == list(range(1, len(val_f1) + 1)) and len(val_f1) >= 2
    artifacts = client.list_artifacts(evaluate.info.run_id, "plots")
    assert {Path(a.path).name for a in artifacts} >= {"confusion.png", "per_class_f1.png"}
    artifacts = client.list_artifacts(children["train@mlp"].info.run_id, "plots")
    assert {Path(a.path).name for a in artifacts} == {
        "loss.png",
        "accuracy.png",
        "f1.png",
        "all_metrics.png",
    }


def test_runs_carry_lineage_tags_and_params_artifacts(project):
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    for mlflow_run in mlflow_runs(project):
        tags = mlflow_run.data.tags
        assert len(tags["mlflow.source.git.commit"]) == 40
        assert tags["git.dirty"] in ("true", "false")
        assert tags["python.version"].startswith("3.")
        assert tags["package.mlflow"] and tags["package.dvc"]
        if tags.get("reprotune.kind") == "pipeline":
            continue
        stage = tags["dvc.stage"]
        assert tags["data.source"] == "csv", stage
        recorded = {d["path"]: d["md5"] for d in lock[stage]["deps"]}
        inputs = {
            k.removeprefix("reprotune.input."): v
            for k, v in tags.items()
            if k.startswith("reprotune.input.")
        }
        assert inputs == recorded, stage
        names = {a.path for a in client.list_artifacts(mlflow_run.info.run_id)}
        # A tuning trial logs its own params; its stage run has params.yaml.
        logged = "resolved_params.json" if "reprotune.trial" in tags else "params.yaml"
        assert logged in names, stage
    compare = next(r for r in mlflow_runs(project) if r.info.run_name == "compare")
    lineage = {a.path for a in client.list_artifacts(compare.info.run_id, "lineage")}
    assert lineage == {"lineage/dvc.lock", "lineage/constraints.txt"}
    train = next(r for r in mlflow_runs(project) if r.info.run_name == "train@baseline")
    path = client.download_artifacts(train.info.run_id, "resolved_params.json", str(project))
    assert yaml.safe_load(Path(path).read_text())["C"] == 10.0
    assert any(key.startswith("system/cpu") for key in train.data.metrics)
    assert any(key.startswith("system/system_memory") for key in train.data.metrics)


def test_each_candidate_is_a_servable_mlflow_model(project):
    import mlflow.pyfunc
    import pandas as pd

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    texts = pd.DataFrame(
        {"text": ["Shares of the bank rose on strong profit", "The coach praised the goalkeeper"]}
    )
    labels = set(yaml.safe_load((project / "data/processed/labels.json").read_text())["names"])
    for candidate in CANDIDATES:
        card = yaml.safe_load((project / f"models/{candidate}/candidate.json").read_text())
        model = client.get_logged_model(card["mlflow"]["model_id"])
        assert model.status == "READY" and model.source_run_id == card["mlflow"]["run_id"]
        predicted = mlflow.pyfunc.load_model(f"models:/{model.model_id}").predict(texts)
        assert set(predicted["label"]) <= labels


def test_champion_is_registered_with_its_alias(project):
    import mlflow.pyfunc
    import pandas as pd

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    champion = yaml.safe_load((project / "metrics/compare.json").read_text())
    version = client.get_model_version_by_alias("reprotune-ag-news", "champion")
    assert version.tags["reprotune.metric"] == "macro_f1"
    assert float(version.tags["reprotune.score"]) >= champion["champion_score"] - 1e-6
    best = max(
        float(v.tags["reprotune.score"])
        for v in client.search_model_versions("name = 'reprotune-ag-news'")
    )
    assert float(version.tags["reprotune.score"]) == best
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    loaded = mlflow.pyfunc.load_model("models:/reprotune-ag-news@champion")
    assert len(loaded.predict(pd.DataFrame({"text": ["Stocks fell as oil prices rose"]}))) == 1


def test_champion_serves_over_http(project):
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    server = popen_server(
        [
            *mlflow_cli(),
            "models",
            "serve",
            "-m",
            "models:/reprotune-ag-news@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=project,
        env=env,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"dataframe_records": [{"text": "Stocks fell as oil rose"}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
    finally:
        stop(server)
    labels = yaml.safe_load((project / "data/processed/labels.json").read_text())["names"]
    assert len(predictions) == 1 and predictions[0]["label"] in labels


def test_mlflow_ui_shows_the_runs_and_per_epoch_charts(project, tmp_path):
    runs = mlflow_runs(project)
    parent = next(r for r in runs if r.data.tags.get("reprotune.kind") == "pipeline")
    train = next(r for r in runs if r.info.run_name == "train@transformer")
    snapshot = [sys.executable, str(ROOT / "tools/mlflow_ui_snapshot.py"), "--store"]
    store = f"sqlite:///{project / 'mlflow.db'}"
    run(
        [
            *snapshot,
            store,
            "--page",
            "/runs",
            "--dom",
            str(tmp_path / "runs.html"),
            "--screenshot",
            str(tmp_path / "runs.png"),
            *("--also", f"/runs/{train.info.run_id}/model-metrics", str(tmp_path / "run.html")),
        ],
        project,
    )
    assert parent.info.run_name in (tmp_path / "runs.html").read_text()
    assert (tmp_path / "runs.png").stat().st_size > 20_000
    dom = (tmp_path / "run.html").read_text()
    assert "train@transformer" in dom and "Model metrics" in dom


def test_study_tunes_the_candidate_and_train_applies_its_best_params(project):
    best = json.loads((project / "tune/logreg_tuned/best_params.json").read_text())
    # A quick family's trials are scored by 5-fold cross-validation, and named so.
    assert best["metric"] == "cv_mean_macro_f1" and 0 <= best["best_trial"] < TUNE_TRIALS
    assert best["scored_on"] == "mean of 5-fold cross-validation"
    assert set(best["params"]) == {"analyzer", "C", "ngram_max", "sublinear_tf"}
    assert 0.1 <= best["params"]["C"] <= 100
    card = json.loads((project / "models/logreg_tuned/candidate.json").read_text())
    assert {k: card["params"][k] for k in best["params"]} == best["params"]
    assert card["params"]["fit_on_val"] is True  # trials never fit on val; the final model may
    untuned = json.loads((project / "tune/baseline/best_params.json").read_text())
    assert untuned["params"] == {}
    tune_metrics = json.loads((project / "metrics/tune/logreg_tuned.json").read_text())
    assert tune_metrics["n_trials"] == TUNE_TRIALS
    assert tune_metrics["n_complete"] + tune_metrics["n_pruned"] == TUNE_TRIALS
    for name in ["history.json", "history.png", "parallel_coordinates.png", "importances.png"]:
        assert (project / "plots/tune/logreg_tuned" / name).is_file(), name

    runs = mlflow_runs(project)
    (tune_run,) = [r for r in runs if r.info.run_name == "tune@logreg_tuned"]
    assert tune_run.data.params["best.C"] == str(best["params"]["C"])
    assert tune_run.data.tags["reprotune.storage"] == "sqlite:///tune/logreg_tuned/study.db"
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == tune_run.info.run_id]
    assert sorted(int(r.data.tags["reprotune.trial"]) for r in trials) == list(range(TUNE_TRIALS))
    assert all("objective" in r.data.metrics for r in trials if r.data.tags[
        "reprotune.trial_state"] == "COMPLETE")  # fmt: skip
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    images = {Path(a.path).name for a in client.list_artifacts(tune_run.info.run_id, "plots")}
    assert {"parallel_coordinates.png", "importances.png", "history.png"} <= images

    compare = json.loads((project / "metrics/compare.json").read_text())
    assert list(compare["phases"]) == ["baseline", "optimized", "tuned", "ensembled"]
    assert compare["phases"]["tuned"]["best"] == "logreg_tuned"
    assert compare["phases"]["baseline"]["lift"] == 0
    assert "lift over the baseline phase" in (project / "metrics/compare.md").read_text()
    shown = run(["dvc", "plots", "show", "--json"], project).stdout
    assert "plots/tune/logreg_tuned/history.json" in shown
    (console,) = FIRST_CONSOLE
    said = rf"\[tune\] logreg_tuned: best cv_mean_macro_f1 {best['best_value']:.4f} \(mean of "
    said += r"5-fold cross-validation\) at trial "
    said += rf"{best['best_trial']} of {TUNE_TRIALS} \({TUNE_TRIALS} run here\): analyzer="
    assert re.search(said, console), console
    assert re.search(r"\[compare\]   phases: baseline baseline .* -> tuned logreg_tuned", console)


def test_study_is_deterministic(project):
    best_file = project / "tune/logreg_tuned/best_params.json"
    before = best_file.read_text()
    run(["dvc", "repro", "--force", "--single-item", "tune@logreg_tuned"], project)
    assert best_file.read_text() == before
    status = run(["dvc", "status", "train@logreg_tuned"], project).stdout
    assert "up to date" in status  # its input, the best params, did not change


def test_second_repro_does_nothing(project):
    done = run(["dvc", "repro"], project)
    assert stages_run(done.stdout) == {ALWAYS_RUNS}
    assert "(unchanged)" in done.stdout  # the data sources' fingerprint
    assert stale_stages(project) == set()


def test_exp_run_reruns_only_what_depends_on_its_changes(project):
    """One experiment for several questions (CI time): a transformer change (lr) and a
    baseline change (C) re-run only their own stages and what joins them, never mlp's or
    logreg_tuned's; num_processes=2 trains the transformer under torchrun; inference=onnx_int8
    exports it, evaluate scoring the export; the parent run is named after the experiment."""
    done = run(
        [
            *("dvc", "exp", "run", "-n", "tweaks", "-S", "lr=0.002"),
            *("-S", "train.candidates.baseline.C=1.0"),
            *("-S", "train.candidates.transformer.num_processes=2"),
            *("-S", "train.candidates.transformer.inference=onnx_int8"),
        ],
        project,
        env={"REPROTUNE_NUM_THREADS": "1"},
    )
    assert stages_run(done.stdout) == {
        ALWAYS_RUNS,
        "configure",
        "plan",  # it depends on every config; with no budget its files stay the same
        "train@transformer",
        "evaluate@transformer",
        "explain@transformer",
        "train@baseline",
        "evaluate@baseline",
        "explain@baseline",
        f"ensemble@{ENSEMBLE}",  # the transformer is one of its members (and ensembles
        # depend on models/ as a whole)
        f"explain_ensemble@{ENSEMBLE}",  # its bundle's card names the new MLflow runs
        "compare",
    }
    assert "torch.distributed.run --standalone --nproc_per_node=2" in done.stderr
    assert "rank 0/2" in done.stdout and "rank 1/2" in done.stdout
    summary = json.loads((project / "metrics/train/transformer.json").read_text())
    assert summary["processes"] == 2
    evaluation = json.loads((project / "metrics/evaluate/transformer.json").read_text())
    assert evaluation["accuracy"] > 0.6  # chance is 0.25
    assert evaluation["efficiency"]["inference"] == "onnx_int8"
    assert (project / "models/transformer/onnx/model.onnx").is_file()
    runs = mlflow_runs(project)
    train_runs = [
        r
        for r in runs
        if r.info.run_name == "train@transformer" and r.data.tags.get("dvc.exp_name") == "tweaks"
    ]
    assert len(train_runs) == 1  # only the first process logs
    assert train_runs[0].data.metrics["processes"] == 2
    names = {r.info.run_name for r in runs if r.data.tags.get("reprotune.kind") == "pipeline"}
    # Parent runs read `<experiment>@<commit>` in the MLflow UI, the plain run `<branch>@...`.
    assert any(re.fullmatch(r"tweaks@[0-9a-f]{7}", name) for name in names), names
    assert any(re.fullmatch(r"(?!tweaks@)[\w./-]+@[0-9a-f]{7}", name) for name in names), names
    shown = run(["dvc", "exp", "show", "--md"], project).stdout
    assert "tweaks" in shown and "macro_f1" in shown


def test_runs_command_ranks_every_evaluation_across_executions(project):
    reprotune = str(Path(sys.executable).parent / "reprotune")
    out = run([reprotune, "runs", "--format", "csv"], project).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    experiments = {"tweaks"}  # the `dvc exp run -n` test above
    assert experiments <= {r["execution"] for r in rows}
    assert {r["candidate"] for r in rows} == set(RANKED)
    first = [r for r in rows if r["execution"] not in experiments]
    assert len(first) == len(RANKED) and sum(r["champion"] == "yes" for r in first) == 1
    scores = [float(r["macro_f1"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert {"param.lr", "param.C"} <= set(rows[0])
    by_execution = {(r["execution"], r["candidate"]): r for r in rows}
    assert by_execution["tweaks", "baseline"]["param.C"] == "1.0"
    assert by_execution["tweaks", "transformer"]["param.lr"] == "0.002"
    markdown = run([reprotune, "runs", "--metric", "accuracy"], project).stdout
    assert markdown.startswith("| rank | execution |")


def test_metrics_and_plots_commands(project):
    assert "accuracy" in run(["dvc", "metrics", "show"], project).stdout
    out = project / "plots_html"
    run(["dvc", "plots", "show", "-o", str(out)], project)
    page = (out / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "https://cdn" not in page
    assert "vegaEmbed" in page and "/* vega-lite-5" in page
    assert page.count("vegaEmbed('#") >= 5


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_plots_page_renders_offline_in_headless_chromium(project, tmp_path):
    out = tmp_path / "html"
    run(["dvc", "plots", "show", "-o", str(out)], project)
    dom = chromium_dom((out / "index.html").as_uri(), tmp_path / "profile")
    vega_specs = (out / "index.html").read_text().count("vegaEmbed('#")
    assert vega_specs >= 5
    # vega-embed replaces each spec's div content by a canvas and marks the div "vega-embed".
    assert dom.count('class="vega-embed') == vega_specs
    assert dom.count("<canvas") == vega_specs


@pytest.mark.parametrize(
    "stage",
    [
        "fetch",
        "preprocess",
        "drift",
        "configure",
        "plan",
        "tune logreg_tuned",
        "train baseline",
        "evaluate baseline",
        "explain baseline",
        "compare",
    ],
)
def test_stages_without_neural_candidates_import_neither_framework(project, stage):
    script, *args = stage.split()
    # In its own process (not the warm launcher's fork): what the stage itself imports.
    done = run(["python", "-X", "importtime", f"stages/{script}.py", *args], project, env=COLD)
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "reprotune.config" in imported
    assert not {m for m in imported if m.split(".")[0] in ("torch", "tensorflow", "keras")}


def repro_with(project: Path, **changes) -> subprocess.CompletedProcess:
    """`dvc repro` with params.yaml edited (dotted keys), then the file put back."""
    params_file = project / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    for key, value in changes.items():
        *parents, leaf = key.split("__")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = value
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        return run(["dvc", "repro"], project, check=False)
    finally:
        params_file.write_text(original)


def test_bad_params_stop_the_stage_and_leave_no_output(project):
    done = repro_with(project, data__train_size=100000)
    assert done.returncode != 0
    assert "data.train_size = 100000" in done.stderr and "fix:" in done.stderr
    assert not (project / "data/processed").exists()


def test_missing_checkpoint_folder_stops_at_configure(project):
    done = repro_with(project, checkpoint="./no-such-model")
    assert done.returncode != 0
    assert "checkpoint = './no-such-model': no model folder" in done.stderr
    assert stages_run(done.stdout) == {ALWAYS_RUNS, "configure"}


def changed_by(project: Path, prefix: str) -> set[str]:
    """Stages whose DVC deps under `prefix` changed (earlier tests in this module re-ran
    stage scripts by hand, so outputs may differ from dvc.lock: only deps are looked at)."""
    status = json.loads(run(["dvc", "status", "--json"], project).stdout or "{}")
    return {
        stage
        for stage, changes in status.items()
        for change in changes
        if isinstance(change, dict)
        for dep in change.get("changed deps", {})
        if dep.startswith(prefix)
    }


def test_editing_a_module_or_the_data_makes_exactly_its_stages_stale(project):
    """Last in this module: it edits the project's code and data. A helper module only the
    transformer family runs re-trains the transformer (and what combines it), not the others;
    rows deleted from the data file re-run fetch and then what depends on its outputs."""
    helper = project / "src/reprotune/families/hf_transformer/token_cache.py"
    helper.write_text(helper.read_text() + "\n# edited\n")
    # The always-run sources stage rewrites the code digests (any repro runs it first).
    done = run(["dvc", "repro", "--single-item", "sources"], project)
    assert "code changed: configure" in done.stdout
    assert changed_by(project, "code/") == {"configure"}  # it digests every family's modules
    done = run(["dvc", "repro", "configure"], project)
    assert stages_run(done.stdout) == {ALWAYS_RUNS, "configure"}
    assert changed_by(project, "configs") == {
        "plan",
        *(f"{stage}@transformer" for stage in ("train", "evaluate", "explain")),
        f"ensemble@{ENSEMBLE}",
        f"explain_ensemble@{ENSEMBLE}",
    }

    params = yaml.safe_load((project / "params.yaml").read_text())
    train_csv = Path(params["data"]["files"]["train"])
    lines = train_csv.read_text().splitlines(keepends=True)
    train_csv.write_text("".join(lines[:-20]))
    # `dvc status` does not run stages, so it cannot see it; any repro runs `sources` first.
    assert changed_by(project, "data/sources.json") == set()
    done = run(["dvc", "repro", "fetch"], project)
    assert stages_run(done.stdout) == {ALWAYS_RUNS, "fetch"}
    manifest = json.loads((project / "data/raw/manifest.json").read_text())
    assert manifest["rows"]["train"] == len(lines) - 20  # headerless, one row a line
    assert "preprocess" in changed_by(project, "data/raw")
