"""End to end: the real `dvc` CLI runs the real pipeline on a copy of the project."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from corpus import ag_news_data_params, make_rows, write_ag_news_csv
from mlflow.tracking import MlflowClient
from tiny_bert import build_tiny_bert

from reprotune.workspace import copy_pipeline

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[1]


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


CANDIDATES = ("baseline", "mlp", "transformer")


def write_params(project: Path, train: Path, test: Path, checkpoint: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(ag_news_data_params(train, test, train_size=None))
    params.update(lr=3e-3, epochs=8, batch_size=8, checkpoint=str(checkpoint))
    params["train"]["candidates"]["mlp"].update(epochs=6, hidden_units=[32])
    params["train"]["candidates"]["transformer"].update(patience=8)
    params["evaluate"]["latency_repeats"] = 5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


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
    run(["git", "init", "-q"], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], project)
    run(["dvc", "repro"], project)
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
        for name in ["loss", "accuracy", "f1", "all_metrics"]:
            assert (project / f"plots/train/{candidate}/{name}.png").is_file(), name
    history = yaml.safe_load((project / "plots/train/transformer/f1.json").read_text())
    assert {row["series"] for row in history} == {"train", "val"}
    assert max(row["epoch"] for row in history) >= 2
    compare = yaml.safe_load((project / "metrics/compare.json").read_text())
    assert set(compare["ranking"]) == set(CANDIDATES) and compare["metric"] == "macro_f1"
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
        "compare",
        *(f"{stage}@{c}" for stage in ("train", "evaluate") for c in CANDIDATES),
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


def test_second_repro_does_nothing(project):
    done = run(["dvc", "repro"], project)
    assert "Data and pipelines are up to date." in done.stdout
    assert "Running stage" not in done.stdout


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_exp_run_lr_reruns_only_the_transformer(project):
    done = run(["dvc", "exp", "run", "-n", "lower-lr", "-S", "lr=0.002"], project)
    assert stages_run(done.stdout) == {
        "configure",
        "train@transformer",
        "evaluate@transformer",
        "compare",
    }


def test_exp_run_reruns_only_what_depends_on_the_change(project):
    done = run(
        ["dvc", "exp", "run", "-n", "lower-c", "-S", "train.candidates.baseline.C=1.0"], project
    )
    assert stages_run(done.stdout) == {
        "configure",
        "train@baseline",
        "evaluate@baseline",
        "compare",
    }
    names = {
        r.info.run_name
        for r in mlflow_runs(project)
        if r.data.tags.get("reprotune.kind") == "pipeline"
    }
    assert "lower-c" in names
    shown = run(["dvc", "exp", "show", "--md"], project).stdout
    assert "lower-c" in shown and "macro_f1" in shown


def test_metrics_and_plots_commands(project):
    assert "accuracy" in run(["dvc", "metrics", "show"], project).stdout
    out = project / "plots_html"
    run(["dvc", "plots", "show", "-o", str(out)], project)
    page = (out / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "https://cdn" not in page
    assert "vegaEmbed" in page and "/* vega-lite-5" in page
    assert page.count("vegaEmbed('#") >= 5


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_plots_page_renders_offline_in_headless_chromium(project, tmp_path):
    out = tmp_path / "html"
    run(["dvc", "plots", "show", "-o", str(out)], project)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        # Any request leaving the machine fails: the page must not need one.
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", (out / "index.html").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    vega_specs = (out / "index.html").read_text().count("vegaEmbed('#")
    assert vega_specs >= 5
    # vega-embed replaces each spec's div content by a canvas and marks the div "vega-embed".
    assert dom.count('class="vega-embed') == vega_specs
    assert dom.count("<canvas") == vega_specs


@pytest.mark.parametrize(
    "stage",
    ["fetch", "preprocess", "configure", "train baseline", "evaluate baseline", "compare"],
)
def test_stages_without_neural_candidates_import_neither_framework(project, stage):
    script, *args = stage.split()
    done = run(["python", "-X", "importtime", f"stages/{script}.py", *args], project)
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
    assert stages_run(done.stdout) == {"configure"}
