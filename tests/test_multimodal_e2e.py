"""End to end: the POI engagement example's params (photo + metadata, derived target, grouped
split) through the real `dvc` CLI and a real MLflow store, on generated POIs and images."""

import base64
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from commands import ALWAYS_RUNS, git_commit_all, run, stages_run
from image_data import write_poi_like
from mlflow.tracking import MlflowClient

from reprotune.io import EMPTY_NOTE
from reprotune.workspace import copy_pipeline

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[1]
MODEL_NAME = "reprotune-poi-engagement"
# The example's candidates less xgboost and fused_one_hot (the same families with other
# settings, tested elsewhere): CI time.
CANDIDATES = ("logreg", "image_only", "fused_embeddings", "fused_tuned")
METADATA = ["tier", "category", "tags"]


def shrink(params_file: Path) -> None:
    """The example's params on the generated columns, made quick (the structure is kept)."""
    params = yaml.safe_load(params_file.read_text())
    data = params["data"]
    data["features"] = {"tier": "number", "category": "category", "tags": "set", "photo": "image"}
    data["drop_columns"] = ["name"]
    data["images"]["size"] = 24
    candidates = params["train"]["candidates"]
    for name in ("xgboost", "fused_one_hot"):
        del candidates[name]
    params["compare"]["phases"]["optimized"] = ["image_only", "fused_embeddings"]
    candidates["logreg"]["columns"] = METADATA
    candidates["image_only"]["columns"] = ["photo"]
    for name in ("image_only", "fused_embeddings", "fused_tuned"):
        candidates[name].update(epochs=6, patience=3, image={"blocks": 2, "filters": 8})
    params["tune"]["n_trials"] = 2
    params["tune"]["candidates"]["fused_tuned"]["space"]["epochs"] = {
        "low": 4,
        "high": 8,
        "step": 4,
    }
    params["evaluate"]["latency_repeats"] = 2
    params["explain"].update(rows=80, shap_rows=8, background_rows=8, lime_samples=100)
    params["explain"]["skip"] = ["image_only", "fused_tuned"]
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("multimodal"))
    data = write_poi_like(tmp_path_factory.mktemp("data"), n=260, seed=3, repeats=20)
    # What `make pipeline EXAMPLE=poi-engagement DATA=...` does.
    shutil.copy(project / "examples/poi-engagement/params.yaml", project / "params.yaml")
    shrink(project / "params.yaml")
    git_commit_all(project)
    run(["dvc", "exp", "run", "-S", f"data.files.train={data}"], project)
    return project


def read(project: Path, path: str):
    return json.loads((project / path).read_text())


def test_target_is_derived_split_grouped_and_images_stored(project):
    schema = read(project, "data/processed/features.json")
    derived = schema["derived_target"]
    assert derived["from_columns"] == ["Likes", "Bookmarks", "Dislikes"]
    assert derived["classes"] == ["low", "high"] and len(derived["edges"]) == 1
    assert not {"Likes", "Bookmarks", "Dislikes"} & set(schema["features"])
    splits = {
        s: pd.read_parquet(project / f"data/processed/{s}.parquet")
        for s in ("train", "val", "test")
    }
    ids = {s: set(f["id"]) for s, f in splits.items()}
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["val"]
    assert not ids["val"] & ids["test"]
    photo = splits["train"]["photo"].iloc[0]
    assert photo.startswith(b"\x89PNG")
    manifest = read(project, "data/raw/manifest.json")
    assert manifest["images"]["photo"]["copied"] == 280
    assert (project / "data/raw/images/img/0/main.png").is_file()
    counts = read(project, "metrics/preprocess.json")
    assert counts["features"] == {"category": 1, "image": 1, "number": 1, "set": 1, "inferred": 0}


def test_every_candidate_is_compared_and_the_champion_registered(project):
    compare = read(project, "metrics/compare.json")
    assert set(compare["ranking"]) == set(CANDIDATES)
    assert set(compare["phases"]) == {"baseline", "optimized", "tuned"}
    for name in CANDIDATES:
        metrics = read(project, f"metrics/evaluate/{name}.json")
        assert metrics["roc_auc"] > 0.6, name
    card = read(project, "models/image_only/candidate.json")
    assert card["features"] == {"photo": "image"}
    metadata = {"tier": "number", "category": "category", "tags": "set"}
    assert read(project, "models/logreg/candidate.json")["features"] == metadata
    assert (project / "plots/train/fused_embeddings/loss.png").is_file()
    assert set(p.name for p in (project / "plots/tune/fused_tuned").iterdir()) - {EMPTY_NOTE}
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    assert client.get_model_version_by_alias(MODEL_NAME, "champion")


def test_the_pyfunc_model_takes_raw_columns_and_an_image_as_path_or_base64(project, tmp_path):
    import mlflow.pyfunc

    from reprotune.serving import build_model_dir

    folder = build_model_dir(project / "models/fused_embeddings", tmp_path / "mlflow-model")
    loaded = mlflow.pyfunc.load_model(str(folder))
    assert "photo" in loaded.metadata.get_input_schema().input_names()
    test = pd.read_parquet(project / "data/processed/test.parquet").head(4)
    path = project / "data/raw/images/img/0/main.png"
    rows = test[METADATA].copy()
    encoded = base64.b64encode(path.read_bytes()).decode()
    by_path = loaded.predict(rows.assign(photo=[str(path)] * 4))
    by_base64 = loaded.predict(rows.assign(photo=[encoded] * 4))
    pd.testing.assert_frame_equal(by_path, by_base64)
    assert set(by_path["label"]) <= {"low", "high"}


def test_the_service_takes_the_photo_as_base64(project):
    import sys
    import urllib.error
    import urllib.request

    from servers import free_port, popen_server, stop, wait_for_http

    port = free_port()
    cli = str(Path(sys.executable).parent / "reprotune")
    model = str(project / "models/fused_embeddings")
    server = popen_server([cli, "serve", "--model", model, "--port", str(port)], cwd=project)
    url = f"http://127.0.0.1:{port}"
    photo = base64.b64encode((project / "data/raw/images/img/1/main.jpg").read_bytes()).decode()
    record = {"tier": 2.0, "category": "museo", "tags": ["Escultura"], "photo": photo}

    def post(path: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(
            url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    try:
        wait_for_http(f"{url}/ready", server)
        status, answer = post("/predict", record)
        assert status == 200 and answer["predictions"][0]["label"] in ("low", "high")
        status, answer = post("/explain", record)
        assert status == 200
        assert {a["feature"] for a in answer["explanation"]["attributions"]} == set(record)
        status, answer = post("/predict", {**record, "photo": "not base64!"})
        assert status == 422 and "photo" in json.dumps(answer)
    finally:
        stop(server)


def test_explanations_cover_the_image_column(project):
    summary = read(project, "metrics/explain/fused_embeddings.json")
    assert set(summary["importance"]) == {"tier", "category", "tags", "photo"}
    assert (project / "explanations/fused_embeddings/examples/index.html").is_file()


def test_second_repro_does_nothing(project):
    done = run(["dvc", "repro"], project)
    assert stages_run(done.stdout) == {ALWAYS_RUNS}
