"""The model service as a user runs it: `reprotune serve` (a real uvicorn process on a free
loopback port) in front of models registered in a real MLflow store."""

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from corpus import LABEL_NAMES, texts_and_labels
from servers import free_port, popen_server, stop, wait_for_http
from tabular_data import FEATURES, make_bank_like

from reprotune import models
from reprotune.config import PARAMS_CLASSES
from reprotune.data import reference
from reprotune.families.tfidf_logreg import TfidfLogregParams
from reprotune.features import FEATURE_TYPES
from reprotune.models.background import save_background
from reprotune.registry import register_champion
from reprotune.tracking import TrackingParams, stage_run

pytestmark = pytest.mark.e2e  # a real server, pipeline or browser: `make test-e2e`

TEXT_MODEL = "svc-text"
TABULAR_MODEL = "svc-bank"
TRACKING = TrackingParams(experiment="svc")


def train_and_register(
    folder: Path, model, name: str, score: float, extra=None, background=None
) -> str:
    folder.mkdir(parents=True)
    with stage_run("train", TRACKING, candidate="c") as run:
        model_id = run.create_model("c", {})
        model.save(folder, extra={"train": {}, "mlflow": {"model_id": model_id}, **(extra or {})})
        if background is not None:
            save_background(folder, background, model.features, seed=0)
            stored = {c: FEATURE_TYPES[k].cast(background[c], c, "t") for c, k in FEATURES.items()}
            reference.write(folder, pd.DataFrame(stored), model.features)
        run.upload_model(model_id, folder)
    with stage_run("compare", TRACKING) as run:
        return register_champion(run, name, "c", folder, "macro_f1", score, True)["version"]


def text_model(C: float):
    model = models.create(TfidfLogregParams(family="tfidf_logreg", C=C), LABEL_NAMES, seed=0)
    model.fit(*texts_and_labels(30, 1), *texts_and_labels(5, 2))
    return model


def tabular_model():
    frame = make_bank_like(400, seed=1)
    X, y = frame[list(FEATURES)], (frame["y"] == "yes").astype(int).to_numpy()
    params = PARAMS_CLASSES["logreg"](family="logreg", class_weight="balanced")
    model = models.create(params, ["no", "yes"], seed=0, features=FEATURES)
    model.fit(X, y, X.head(0), y[:0])
    model.decision = {"threshold": 0.4, "objective": "f1", "costs": None}
    example = X.head(2).astype(object)
    return model, example.where(example.notna(), None).to_dict("records"), X


@contextlib.contextmanager
def in_project(root: Path):
    """Stages' tracking code run from `root`, a project folder with its own MLflow store."""
    (root / "dvc.yaml").write_text("stages: {}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for var in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_EXP_NAME"):
            patch.delenv(var, raising=False)
        yield root


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A project folder with an MLflow store: the text model (v1) and the tabular model."""
    with in_project(tmp_path_factory.mktemp("svc")) as root:
        train_and_register(root / "text-v1", text_model(1.0), TEXT_MODEL, 0.5)
        model, example, rows = tabular_model()
        train_and_register(
            root / "bank",
            model,
            TABULAR_MODEL,
            0.5,
            extra={"input_example": example},
            background=rows,
        )
    return root


def serve(store: Path, model: str, *extra: str, env: dict | None = None):
    port = free_port()
    process = popen_server(
        [
            str(Path(sys.executable).parent / "reprotune"),
            "serve",
            "--model",
            model,
            "--port",
            str(port),
            "--tracking-uri",
            f"sqlite:///{store / 'mlflow.db'}",
            *extra,
        ],
        cwd=store,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/ready", process)
    return process, url


def call(url: str, body=None, headers: dict | None = None, raw: bytes | None = None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), error.headers


@pytest.fixture(scope="module")
def text_server(store):
    process, url = serve(
        store,
        f"models:/{TEXT_MODEL}@champion",
        "--poll-seconds",
        "0.5",
        "--max-batch",
        "8",
        "--max-body-bytes",
        "4000",
        "--max-text-chars",
        "300",
    )
    yield url, process
    stop(process)


TEXTS = ["shares profit market rally", "goal coach match striker", "election minister treaty"]


def test_predict_one_and_a_batch_match_the_pyfunc_model(store, text_server):
    import mlflow.pyfunc
    import pandas as pd

    url, _ = text_server
    status, one, headers = call(f"{url}/predict", {"text": TEXTS[0]})
    assert status == 200 and one["model_version"] == headers["X-Model-Version"]
    status, batch, _ = call(f"{url}/predict", {"records": [{"text": t} for t in TEXTS]})
    assert status == 200 and len(batch["predictions"]) == 3
    assert batch["predictions"][0] == one["predictions"][0]
    version = one["model_version"]
    pyfunc = mlflow.pyfunc.load_model(f"models:/{TEXT_MODEL}/{version}")
    expected = pyfunc.predict(pd.DataFrame({"text": TEXTS}))
    for got, (_, row) in zip(batch["predictions"], expected.iterrows(), strict=True):
        assert got["label"] == row["label"]
        assert set(got["probabilities"]) == set(LABEL_NAMES)
        np.testing.assert_allclose(max(got["probabilities"].values()), row["probability"])
        assert sum(got["probabilities"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({}, 422, "text"),  # missing field
        ({"text": 3}, 422, "text"),  # mistyped
        ({"records": []}, 422, "records"),  # empty batch
        ({"records": [{"text": "a"}] * 9}, 413, "limit of 8"),  # batch over --max-batch
        ({"text": "x" * 301}, 422, "300"),  # text over --max-text-chars
        ({"text": "ok", "extra": 1}, 422, "extra"),  # unknown field
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field_or_limit(text_server, body, status, needle):
    url, process = text_server
    got, detail, _ = call(f"{url}/predict", body)
    assert got == status, detail
    assert needle in json.dumps(detail)
    assert process.poll() is None  # never a crash


def test_body_over_the_size_limit_is_413(text_server):
    url, _ = text_server
    status, detail, _ = call(f"{url}/predict", raw=b'{"text": "' + b"a" * 5000 + b'"}')
    assert status == 413 and "4000 bytes" in detail["detail"]
    status, _, _ = call(f"{url}/predict", raw=b"{not json")
    assert status == 422


def test_explain_returns_the_prediction_and_the_words_behind_it(text_server):
    url, _ = text_server
    status, body, headers = call(f"{url}/explain", {"text": "election minister treaty talks"})
    assert status == 200, body
    assert body["model_version"] == headers["X-Model-Version"]
    assert body["prediction"]["label"] == body["explanation"]["explained_class"] == "World"
    words = [a["feature"] for a in body["explanation"]["attributions"]]
    assert set(words[:3]) == {"election", "minister", "treaty"}
    assert body["explanation"]["attributions"][0]["value"] > 0
    _, again, _ = call(f"{url}/explain", {"text": "election minister treaty talks"})
    assert again["explanation"] == body["explanation"]  # seeded: the same answer twice
    status, detail, _ = call(f"{url}/explain", {"records": [{"text": "a"}]})
    assert status == 422 and "text" in json.dumps(detail)


def test_version_names_what_mlflow_registered(store, text_server):
    from mlflow.tracking import MlflowClient

    url, _ = text_server
    _, info, _ = call(f"{url}/version")
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    registered = client.get_model_version_by_alias(TEXT_MODEL, "champion")
    assert info["name"] == TEXT_MODEL and info["alias"] == "champion"
    assert info["version"] == str(registered.version) and info["run_id"] == registered.run_id
    assert "git_commit" in info and isinstance(info["test_metrics"], dict)


def test_metrics_count_requests_by_status_and_version(text_server):
    url, _ = text_server
    call(f"{url}/predict", {"text": TEXTS[1]})
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        page = response.read().decode()
    assert 'reprotune_requests_total{model_version="' in page and 'status="200"' in page
    assert "reprotune_request_seconds_bucket" in page and "reprotune_batch_size_count" in page
    assert "reprotune_model_info" in page


def test_docs_are_served_without_a_cdn(text_server):
    url, _ = text_server
    with urllib.request.urlopen(f"{url}/docs", timeout=10) as response:
        page = response.read().decode()
    assert "/static/swagger/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    with urllib.request.urlopen(f"{url}/static/swagger/swagger-ui-bundle.js", timeout=10) as r:
        assert len(r.read()) > 100_000
    _, schema, _ = call(f"{url}/openapi.json")
    record = schema["components"]["schemas"]["Record"]
    assert record["properties"]["text"]["maxLength"] == 300


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_swagger_page_renders_offline_in_headless_chromium(text_server, tmp_path):
    url, _ = text_server
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=15000",
        # Host names resolve to nothing: only the service on 127.0.0.1 can answer.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]
    done = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", f"{url}/docs"], capture_output=True, text=True, timeout=120
    )
    assert "opblock-summary-path" in done.stdout, done.stderr[-2000:]  # operations rendered
    assert "/predict" in done.stdout


def test_a_moved_alias_is_served_without_a_failed_request(store, text_server):
    url, _ = text_server
    failures, versions, stop_loop = [], [], threading.Event()

    def client_loop():
        while not stop_loop.is_set():
            status, body, _ = call(f"{url}/predict", {"text": TEXTS[2]})
            if status != 200:
                failures.append((status, body))
            else:
                versions.append(body["model_version"])

    threads = [threading.Thread(target=client_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        with in_project(store):
            new = train_and_register(store / "text-v2", text_model(10.0), TEXT_MODEL, 0.9)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not versions or versions[-1] != new):
            time.sleep(0.2)
        time.sleep(1)
    finally:
        stop_loop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert versions[0] == "1" and versions[-1] == new
    assert versions.index(new) > 0  # served v1 first, then switched
    _, info, _ = call(f"{url}/version")
    assert info["version"] == new


def test_tabular_model_takes_typed_fields_and_an_api_key(store):
    process, url = serve(
        store,
        f"models:/{TABULAR_MODEL}@champion",
        "--api-key-env",
        "SVC_KEY",
        env={"SVC_KEY": "s3cret"},
    )
    try:
        row = make_bank_like(3, seed=5)[list(FEATURES)].astype(object).to_dict("records")[0]
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        status, _, _ = call(f"{url}/predict", row)
        assert status == 401
        key = {"X-API-Key": "s3cret"}
        status, body, _ = call(f"{url}/predict", row, headers=key)
        assert status == 200, body
        prediction = body["predictions"][0]
        assert prediction["threshold"] == 0.4 and set(prediction["probabilities"]) == {"no", "yes"}
        assert (prediction["probabilities"]["yes"] >= 0.4) == (prediction["label"] == "yes")
        status, detail, _ = call(f"{url}/predict", {**row, "age": "old"}, headers=key)
        assert status == 422 and "age" in json.dumps(detail)
        status, _, _ = call(f"{url}/predict", {**row, "balance": None}, headers=key)
        assert status == 200  # a missing value is allowed and imputed
        _, schema, _ = call(f"{url}/openapi.json")
        fields = schema["components"]["schemas"]["Record"]["properties"]
        assert any(branch.get("type") == "number" for branch in fields["age"]["anyOf"])
        assert {"type": "string"} in fields["job"]["anyOf"]
        assert schema["components"]["schemas"]["Record"]["examples"][0]["job"]
        status, _, _ = call(f"{url}/explain", row)
        assert status == 401
        status, body, _ = call(f"{url}/explain", row, headers=key)
        assert status == 200, body
        explanation = body["explanation"]
        assert {a["feature"] for a in explanation["attributions"]} == set(FEATURES)
        assert explanation["explained_class"] == "yes" and explanation["units"] == "log-odds"
        total = explanation["base_value"] + sum(a["value"] for a in explanation["attributions"])
        p_yes = body["prediction"]["probabilities"]["yes"]
        assert 1 / (1 + math.exp(-total)) == pytest.approx(p_yes, abs=1e-4)  # logreg: linear
        status, detail, _ = call(f"{url}/explain", {**row, "job": 7}, headers=key)
        assert status == 422 and "job" in json.dumps(detail)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def tabular_server(store):
    process, url = serve(
        store,
        f"models:/{TABULAR_MODEL}@champion",
        "--poll-seconds",
        "0",
        "--max-body-bytes",
        "3000000",
    )
    yield url, process
    stop(process)


def bank_row() -> dict:
    row = make_bank_like(3, seed=5)[list(FEATURES)].astype(object).to_dict("records")[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def raw_body(record: dict, field: str, literal: str) -> bytes:
    """The record as JSON with `field`'s value written as `literal` (Infinity, NaN, 1e300:
    what a JSON library of another language may send)."""
    return json.dumps({**record, field: "@@"}).replace('"@@"', literal).encode()


@pytest.mark.parametrize("literal", ["1e300", "-1e39", "Infinity", "-Infinity", "NaN"])
def test_a_number_the_model_cannot_take_is_a_422_naming_the_field(tabular_server, literal):
    url, process = tabular_server
    status, detail, _ = call(f"{url}/predict", raw=raw_body(bank_row(), "balance", literal))
    assert status == 422, detail
    location = detail["detail"][0]["loc"]
    assert location[0] == "body" and location[-1] == "balance"
    status, _, _ = call(f"{url}/explain", raw=raw_body(bank_row(), "balance", literal))
    assert status == 422
    assert process.poll() is None


@pytest.mark.parametrize(
    ("field", "literal"), [("job", "NaN"), ("job", "Infinity"), ("unknown", "NaN")]
)
def test_non_finite_values_in_a_mistyped_or_extra_field_are_a_422(tabular_server, field, literal):
    url, _ = tabular_server
    status, detail, _ = call(f"{url}/predict", raw=raw_body(bank_row(), field, literal))
    assert status == 422, detail
    assert any(error["loc"][-1] == field for error in detail["detail"])


def test_a_422_says_where_with_a_short_excerpt_not_the_whole_input(tabular_server):
    url, _ = tabular_server
    records = [{**bank_row(), "age": "x" * 100_000} for _ in range(20)]
    request = json.dumps({"records": records}).encode()
    data = urllib.request.Request(
        f"{url}/predict", data=request, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(data, timeout=60)
    reply = answer.value.read()
    assert answer.value.code == 422 and len(reply) < 10_000 < len(request)
    errors = json.loads(reply)["detail"]
    assert ["records", "0", "age"] in [error["loc"][-3:] for error in errors]
    assert all("Record" not in error["loc"] for error in errors)  # not the single-record branch
    assert all(len(error["input"] or "") <= 200 for error in errors)


@pytest.mark.parametrize("text", ["", " ", "!!!"])
def test_explain_on_a_text_without_words_is_a_422_naming_it(text_server, text):
    url, _ = text_server
    status, detail, _ = call(f"{url}/explain", {"text": text})
    assert status == 422, detail
    assert (
        detail["detail"][0]["loc"] == ["body", "text"] and "no words" in detail["detail"][0]["msg"]
    )


def test_metrics_count_every_status_the_service_answers(text_server):
    url, _ = text_server
    call(f"{url}/predict", {"text": TEXTS[0]})  # 200
    call(f"{url}/predict", {"text": 3})  # 422
    call(f"{url}/predict", {"records": [{"text": "a"}] * 9})  # 413: over --max-batch
    call(f"{url}/predict", raw=b'{"text": "' + b"a" * 5000 + b'"}')  # 413: over the body limit
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        page = response.read().decode()
    counts = {}
    for line in page.splitlines():
        if line.startswith("reprotune_requests_total{") and 'path="/predict"' in line:
            status = line.split('status="')[1].split('"')[0]
            counts[status] = counts.get(status, 0) + float(line.split()[-1])
    assert counts.get("200", 0) >= 1 and counts.get("422", 0) >= 1
    assert counts.get("413", 0) >= 2  # both kinds


def test_openapi_declares_an_api_key_only_when_one_is_configured(text_server):
    url, _ = text_server
    _, schema, _ = call(f"{url}/openapi.json")
    assert "securitySchemes" not in schema.get("components", {})
    assert all("security" not in op for path in schema["paths"].values() for op in path.values())


def test_the_swagger_example_of_a_column_limited_candidate_fits_its_schema():
    from reprotune.service.schemas import record_model

    card = {
        "features": {"age": "number", "job": "category"},
        "input_example": [{"age": 41.0, "job": "admin.", "balance": 10.0}],  # all columns
    }
    Record = record_model(card, typed=True, max_text_chars=100)
    example = Record.model_json_schema()["examples"][0]
    assert example == {"age": 41.0, "job": "admin."}
    Record(**example)  # accepted by its own schema


def test_sigterm_finishes_the_request_in_flight_and_exits_0(store):
    process, url = serve(store, f"models:/{TEXT_MODEL}/1", "--poll-seconds", "0")
    results = []
    batch = {"records": [{"text": " ".join(TEXTS * 30)}] * 200}
    worker = threading.Thread(target=lambda: results.append(call(f"{url}/predict", batch)))
    worker.start()
    time.sleep(0.05)
    os.killpg(process.pid, signal.SIGTERM)
    worker.join(timeout=60)
    assert process.wait(timeout=60) == 0
    assert results and results[0][0] == 200


def forward_passes(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        page = response.read().decode()
    line = next(x for x in page.splitlines() if x.startswith("reprotune_forward_pass_rows_count"))
    return float(line.split()[-1])


def test_micro_batching_joins_requests_and_answers_each_with_its_own_rows(store):
    process, url = serve(
        store, f"models:/{TEXT_MODEL}/1", "--poll-seconds", "0", "--batch-wait-ms", "300"
    )
    try:
        bodies = [
            {"records": [{"text": f"{TEXTS[i % 3]} {'market ' * j}"} for j in range(1 + i % 4)]}
            for i in range(10)
        ]
        alone = [call(f"{url}/predict", body)[1] for body in bodies]  # one pass each
        before = forward_passes(url)
        together: list = [None] * len(bodies)

        def send(i):
            together[i] = call(f"{url}/predict", bodies[i])[1]

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        passes = forward_passes(url) - before
        assert passes < len(bodies)  # requests were joined
        for single, joined in zip(alone, together, strict=True):
            assert len(joined["predictions"]) == len(single["predictions"])
            for a, b in zip(single["predictions"], joined["predictions"], strict=True):
                assert a["label"] == b["label"]
                for name in LABEL_NAMES:
                    assert a["probabilities"][name] == pytest.approx(b["probabilities"][name])
    finally:
        stop(process)


def test_records_breaking_the_contract_are_refused_with_enforce(store):
    """The model carries its data contract: --contract enforce refuses a value outside it with
    422 naming the record, field and check."""
    process, url = serve(store, f"models:/{TABULAR_MODEL}@champion", "--contract", "enforce")
    try:
        odd = {**bank_row(), "age": 200.0, "job": "astronaut"}
        status, answer, _ = call(f"{url}/predict", odd)
        assert status == 422
        problems = {(p["loc"][-1], p["msg"].split(": ")[1].split("(")[0]) for p in answer["detail"]}
        assert problems == {("age", "in_range"), ("job", "isin")}
        assert {p["input"] for p in answer["detail"]} == {200.0, "astronaut"}
        status, answer, _ = call(f"{url}/predict", {"records": [bank_row(), odd]})
        assert status == 422 and answer["detail"][0]["loc"][:3] == ["body", "records", 1]
        assert call(f"{url}/predict", bank_row())[0] == 200
    finally:
        stop(process)


def test_contract_violations_are_counted_and_drift_gauged_in_metrics(tabular_server):
    """By default a value outside the contract is scored and counted; /metrics gauges the
    drift of the last records scored against the model's training rows."""
    url, _ = tabular_server
    assert call(f"{url}/predict", {**bank_row(), "age": 200.0})[0] == 200
    moved = make_bank_like(300, seed=8)[list(FEATURES)]
    moved["campaign"] = moved["campaign"] * 3
    records = moved.astype(object).where(moved.notna(), None).to_dict("records")
    for start in (0, 150):
        assert call(f"{url}/predict", {"records": records[start : start + 150]})[0] == 200
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        text = response.read().decode()
    violations = r'reprotune_contract_violations_total\{check="in_range\(.*\)",feature="age"\} 1'
    assert re.search(violations, text)
    window = float(re.search(r"^reprotune_drift_window_records (\S+)$", text, re.M).group(1))
    assert window >= 300
    assert 'reprotune_feature_drifted{feature="campaign"} 1.0' in text
    assert 'reprotune_feature_drifted{feature="job"} 0.0' in text


def test_an_empty_or_blank_text_breaks_a_text_models_contract(tmp_path_factory):
    """Empty, blank and control-character-only texts are off-contract: counted by default,
    refused with 422 naming the field under --contract enforce."""
    with in_project(tmp_path_factory.mktemp("svc-text-contract")) as root:
        folder = root / "text-contract"
        texts, _ = texts_and_labels(30, 1)
        model = text_model(1.0)
        folder.mkdir()
        with stage_run("train", TRACKING, candidate="c") as run:
            model_id = run.create_model("c", {})
            model.save(folder, extra={"train": {}, "mlflow": {"model_id": model_id}})
            reference.write(folder, pd.DataFrame({"text": texts}), {"text": "text"})
            run.upload_model(model_id, folder)
        with stage_run("compare", TRACKING) as run:
            register_champion(run, "svc-text-contract", "c", folder, "macro_f1", 0.5, True)
    process, url = serve(root, "models:/svc-text-contract@champion", "--contract", "enforce")
    try:
        for blank in ("", "   ", "\x00\x07"):
            status, answer, _ = call(f"{url}/predict", {"text": blank})
            assert status == 422, (blank, answer)
            assert answer["detail"][0]["loc"][-1] == "text"
            assert "text_has_words" in answer["detail"][0]["msg"]
        assert call(f"{url}/predict", {"text": "stocks rally on bank earnings"})[0] == 200
    finally:
        stop(process)
    process, url = serve(root, "models:/svc-text-contract@champion")  # count, the default
    try:
        assert call(f"{url}/predict", {"text": "  "})[0] == 200
        assert call(f"{url}/predict", {"text": "zzyzx qwop blorft"})[0] == 200  # no known word
        with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
            text = response.read().decode()
        assert (
            'reprotune_contract_violations_total{check="text_has_words",feature="text"} 1' in text
        )
        assert 'reprotune_texts_without_known_words_total{feature="text"} 1.0' in text
    finally:
        stop(process)


# -- the protocols clients already speak ------------------------------------------------------


def bank_rows(n: int = 5) -> list[dict]:
    rows = make_bank_like(n, seed=9)[list(FEATURES)].astype(object)
    return [
        {
            k: (None if v is None or v != v else v.item() if hasattr(v, "item") else v)
            for k, v in r.items()
        }
        for r in rows.to_dict("records")
    ]


def mlflow_requests(rows: list[dict]) -> dict[str, tuple[bytes, str]]:
    """The same rows in every request format `mlflow models serve` reads."""
    from mlflow.pyfunc.scoring_server.client import dump_input_data

    frame = pd.DataFrame(rows)
    columns = list(frame.columns)
    split = {
        "columns": columns,
        "data": frame.astype(object).where(frame.notna(), None).values.tolist(),
    }
    json_type = "application/json"
    return {
        "dataframe_split": (json.dumps({"dataframe_split": split}).encode(), json_type),
        "dataframe_records": (json.dumps({"dataframe_records": rows}).encode(), json_type),
        "instances": (json.dumps({"instances": rows}).encode(), json_type),
        "inputs": (
            json.dumps({"inputs": {c: [r[c] for r in rows] for c in columns}}).encode(),
            json_type,
        ),
        "client": (dump_input_data(frame).encode(), json_type),  # what MLflow's own client sends
        "csv": (frame.to_csv(index=False).encode(), "text/csv"),
    }


def post(url: str, body: bytes, content_type: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@contextlib.contextmanager
def mlflow_models_serve(store: Path, model_uri: str):
    """`mlflow models serve` on the same registered model, in this environment."""
    port = free_port()
    process = popen_server(
        [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", model_uri,
         "-p", str(port), "-h", "127.0.0.1", "--env-manager", "local"],
        cwd=store,
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # uvicorn
        },
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", process, timeout_s=180)
        yield port
    finally:
        stop(process)


def test_invocations_answer_as_mlflow_models_serve_does_on_the_same_model(store):
    """Every request format, through MLflow's own scoring client and by hand, to our
    /invocations and to `mlflow models serve` on the same registered model: the same answers,
    and the same status for a request neither can read."""
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    uri = f"models:/{TABULAR_MODEL}/1"
    rows = bank_rows()
    process, url = serve(store, uri)
    try:
        with mlflow_models_serve(store, uri) as mlflow_port:
            ours = ScoringServerClient("127.0.0.1", url.rsplit(":", 1)[1])
            theirs = ScoringServerClient("127.0.0.1", mlflow_port)
            ours.wait_server_ready(timeout=30)
            frame = pd.DataFrame(rows)
            from_ours = ours.invoke(frame).get_predictions()
            from_theirs = theirs.invoke(frame).get_predictions()
            pd.testing.assert_frame_equal(from_ours, from_theirs)
            assert list(from_ours.columns) == [
                "label",
                "probability",
                "positive_probability",
                "threshold",
            ]
            for name, (body, content_type) in mlflow_requests(rows).items():
                status, text = post(f"{url}/invocations", body, content_type)
                their_status, their_text = post(
                    f"http://127.0.0.1:{mlflow_port}/invocations", body, content_type
                )
                assert status == their_status == 200, (name, text, their_text)
                assert json.loads(text) == json.loads(their_text), name
            for body, content_type in (
                (b'{"nothing": []}', "application/json"),
                (b"not json", "application/json"),
                (
                    json.dumps({"dataframe_records": [{**rows[0], "age": "old"}]}).encode(),
                    "application/json",
                ),
            ):
                status, text = post(f"{url}/invocations", body, content_type)
                their_status, _ = post(
                    f"http://127.0.0.1:{mlflow_port}/invocations", body, content_type
                )
                assert status == their_status == 400, (body, text)
                assert json.loads(text)["error_code"] == "BAD_REQUEST"
            assert post(f"{url}/invocations", b"x", "text/plain")[0] == 415
        predicted = call(f"{url}/predict", {"records": rows})[1]["predictions"]
        assert [p["label"] for p in predicted] == from_ours["label"].tolist()
        with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
            assert 'path="/invocations",status="200"' in response.read().decode()
    finally:
        stop(process)


def test_the_open_inference_protocol_through_a_real_v2_client(store):
    """tritonclient (HTTP) against the service: health, metadata in V2's shapes, columnar
    infer with BYTES and FP64 tensors giving /predict's labels and probabilities; a bad
    request is a 4xx in V2's error shape."""
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    process, url = serve(store, f"models:/{TABULAR_MODEL}@champion")
    try:
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready(TABULAR_MODEL)
        meta = client.get_model_metadata(TABULAR_MODEL)
        assert meta["name"] == TABULAR_MODEL and meta["parameters"]["labels"] == ["no", "yes"]
        assert [i["name"] for i in meta["inputs"]] == list(FEATURES)
        for spec in meta["inputs"]:
            assert spec["datatype"] == ("FP64" if FEATURES[spec["name"]] == "number" else "BYTES")
            assert spec["shape"] == [-1]
        assert {o["name"] for o in meta["outputs"]} == {"label", "probabilities"}

        rows = bank_rows()
        inputs = []
        for spec in meta["inputs"]:
            values = [r[spec["name"]] for r in rows]
            tensor = triton.InferInput(spec["name"], [len(rows)], spec["datatype"])
            if spec["datatype"] == "FP64":
                tensor.set_data_from_numpy(np.array(values, dtype=np.float64))
            else:
                tensor.set_data_from_numpy(
                    np.array([str(v).encode() for v in values], dtype=object)
                )
            inputs.append(tensor)
        result = client.infer(TABULAR_MODEL, inputs)
        labels = [
            v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label").ravel()
        ]
        proba = result.as_numpy("probabilities")
        predicted = call(f"{url}/predict", {"records": rows})[1]["predictions"]
        assert labels == [p["label"] for p in predicted]
        for row, p in zip(proba, predicted, strict=True):
            assert row.tolist() == pytest.approx(
                [p["probabilities"]["no"], p["probabilities"]["yes"]]
            )

        with pytest.raises(InferenceServerException) as caught:
            client.infer(TABULAR_MODEL, inputs[:-1])  # a feature left out
        assert caught.value.status() == "400" and "missing" in caught.value.message()
        with pytest.raises(InferenceServerException) as caught:
            client.get_model_metadata("someone-else")
        assert caught.value.status() == "404"
    finally:
        stop(process)


def test_a_text_model_answers_the_same_through_every_route(store):
    process, url = serve(store, f"models:/{TEXT_MODEL}@champion")
    try:
        texts = ["Stocks rallied as oil prices fell.", "The striker scored twice in the final."]
        predicted = call(f"{url}/predict", {"records": [{"text": t} for t in texts]})[1]
        labels = [p["label"] for p in predicted["predictions"]]
        status, text = post(f"{url}/invocations", json.dumps({"instances": texts}).encode(),
                            "application/json")  # fmt: skip
        assert status == 200 and [p["label"] for p in json.loads(text)["predictions"]] == labels
        body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": texts}]}
        status, text = post(f"{url}/v2/models/{TEXT_MODEL}/infer", json.dumps(body).encode(),
                            "application/json")  # fmt: skip
        assert status == 200
        assert json.loads(text)["outputs"][0]["data"] == labels
    finally:
        stop(process)
