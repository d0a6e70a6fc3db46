"""The FastAPI app: /predict (one record or a batch, typed from the served model), /health,
/ready, /version, /metrics, offline Swagger UI at /docs; hot reload when the alias moves."""

import asyncio
import collections
import contextlib
import hmac
import importlib
import json
import logging
import os
import reprlib
import time

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reprotune.models import decide
from reprotune.service.batching import MicroBatcher, forward
from reprotune.service.metrics import ServiceMetrics
from reprotune.service.model import ModelHolder, ModelRef
from reprotune.service.schemas import (
    ExplainResponse,
    PredictResponse,
    VersionResponse,
    batch_model,
    record_model,
)
from reprotune.service.settings import ServiceSettings

log = logging.getLogger("reprotune.service")
SWAGGER_STATIC = "/static/swagger"
DEFAULT_BATCH_WAIT_MS = 5.0
API_KEY_HEADER = "X-API-Key"
MAX_ERRORS = 10  # problems listed in a 422
EXCERPT_CHARS = 60


class BodyLimit:
    """Answer 413 to a request body over `limit` bytes, before the app parses it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._too_large(send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                return await self._too_large(send)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:  # then wait for the disconnect as the server would say it
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    async def _too_large(self, send):
        detail = json.dumps(
            {"detail": f"request body over the limit of {self.limit} bytes (--max-body-bytes)"}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": detail.encode()})


class Measure:
    """Counts every answer by path, status and model version, and times it. Plain ASGI: a
    `@app.middleware("http")` function costs about a millisecond a request in plumbing."""

    def __init__(self, app, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, path, answer = time.perf_counter(), known_path(scope["path"]), {}

        async def noting(message):
            if message["type"] == "http.response.start":
                answer["status"] = str(message["status"])
                headers = dict(message.get("headers") or [])
                answer["version"] = headers.get(b"x-model-version", b"").decode()
            await send(message)

        try:
            await self.app(scope, receive, noting)
        except Exception:  # answered 500 by the server-error middleware: counted here
            self.metrics.requests.labels(path, "500", "").inc()
            raise
        status, version = answer.get("status", "500"), answer.get("version", "")
        self.metrics.requests.labels(path, status, version).inc()
        self.metrics.latency.labels(path).observe(time.perf_counter() - start)


def api_key_check(settings: ServiceSettings):
    """A dependency: the X-API-Key header must equal the key in settings.api_key_env."""
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)
    expected = os.environ.get(settings.api_key_env) if settings.api_key_env else None
    if settings.api_key_env and not expected:
        raise RuntimeError(f"--api-key-env {settings.api_key_env}: that variable is empty")

    def check(key: str | None = Depends(header)) -> None:
        if expected is None:
            return
        if key is None or not hmac.compare_digest(key.encode(), expected.encode()):
            raise HTTPException(401, f"missing or wrong {API_KEY_HEADER} header")

    return check


def create_app(settings: ServiceSettings) -> FastAPI:
    holder = ModelHolder(ModelRef.parse(settings.model), settings.tracking_uri)
    served = holder.load()  # before the port opens: /ready is true once it answers
    metrics = ServiceMetrics()
    metrics.serving(served.info.get("name") or settings.model, served.version)
    wait_ms = settings.batch_wait_ms
    if wait_ms is None:
        wait_ms = DEFAULT_BATCH_WAIT_MS if served.candidate.gains_from_batches else 0
    batcher = MicroBatcher(holder, wait_ms / 1000, settings.max_batch, metrics.forward_rows.observe)
    # The last records scored, whose drift /metrics reports.
    window: collections.deque = collections.deque(maxlen=max(settings.drift_window, 1))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        tasks = [asyncio.create_task(poll_registry())] if settings.poll_s > 0 else []
        tasks.append(asyncio.create_task(warm_explain()))
        if settings.drift_window and served.profile is not None:
            # scipy.stats takes seconds to import: paid now, not by the first /metrics scrape.
            warm_stats = asyncio.to_thread(importlib.import_module, "scipy.stats")
            tasks.append(asyncio.create_task(warm_stats))
        tasks.append(asyncio.create_task(batcher.run()))
        yield
        for task in tasks:
            task.cancel()

    async def warm_explain():
        """SHAP's numba kernels compile on their first use (about 10 s on 2 cores): that is
        paid here, in the background after start, rather than by the first /explain."""
        model = holder.current
        record = model.warm_record()
        if record is None:
            return
        try:
            await asyncio.to_thread(explain_one, model, record, settings)
        except Exception as exc:  # /explain then answers (or fails) as it would have
            log.warning("could not warm up /explain: %s", exc)

    async def poll_registry():
        while True:
            await asyncio.sleep(settings.poll_s)
            previous = holder.current.version
            try:
                if await asyncio.to_thread(holder.reload_if_moved):
                    name = holder.current.info.get("name") or settings.model
                    metrics.serving(name, holder.current.version, previous)
            except Exception as exc:  # the registry is down: keep serving what we have
                log.warning("could not look up %s: %s", settings.model, exc)

    app = FastAPI(
        title=f"reprotune: {served.info.get('name') or settings.model}",
        description="Predictions of the served model; see /version for what it is.",
        version=served.version,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.mount(SWAGGER_STATIC, StaticFiles(directory=swagger_assets()), name="swagger")
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"]
        )

    # The last added is the outermost: Measure sees every answer, BodyLimit's 413s included.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Measure, metrics=metrics)
    app.add_exception_handler(RequestValidationError, invalid_request)
    secured = [Depends(api_key_check(settings))] if settings.api_key_env else []

    Record = record_model(served.card, served.candidate.typed_inputs, settings.max_text_chars)
    Batch = batch_model(Record)

    @app.post(
        "/predict",
        response_model=PredictResponse,
        dependencies=secured,
        summary="Score one record, or a batch under `records`",
        responses={401: {}, 413: {}, 422: {}},
    )
    async def predict(body: Record | Batch) -> JSONResponse:  # type: ignore[valid-type]
        records = body.records if isinstance(body, Batch) else [body]
        if len(records) > settings.max_batch:
            raise HTTPException(
                413,
                f"records: a batch of {len(records)} is over the limit of {settings.max_batch} "
                "(--max-batch)",
            )
        metrics.batch_size.observe(len(records))
        rows = [r.model_dump() for r in records]
        check_contract(holder.current, rows, settings.contract, metrics, isinstance(body, Batch))
        count_unknown_texts(holder.current, rows, metrics)
        window.extend(rows)
        model, proba = await batcher.score(rows)
        candidate = model.candidate
        labels = decide(proba, candidate.threshold)
        # Built here rather than validated against PredictResponse (declared above for the
        # OpenAPI spec): the fields are ours, and validating them again costs per request.
        content = {
            "model_version": model.version,
            "predictions": [
                {
                    "label": candidate.label_names[int(label)],
                    "probabilities": dict(zip(candidate.label_names, map(float, row), strict=True)),
                    "threshold": candidate.threshold,
                }
                for label, row in zip(labels, proba, strict=True)
            ],
        }
        return JSONResponse(content, headers={"X-Model-Version": model.version})

    @app.post(
        "/explain",
        response_model=ExplainResponse,
        dependencies=secured,
        summary="Score one record and say why: per-column (tabular) or per-word (text) weights",
        responses={401: {}, 409: {}, 413: {}, 422: {}},
    )
    async def explain(body: Record, response: Response) -> ExplainResponse:  # type: ignore[valid-type]
        from reprotune.errors import FieldError, ReprotuneError

        model = holder.current  # one version for the prediction and its explanation
        record = body.model_dump()
        try:
            proba, explanation = await asyncio.to_thread(explain_one, model, record, settings)
        except FieldError as exc:
            raise HTTPException(422, [field_error(exc.field, str(exc))]) from None
        except ReprotuneError as exc:
            raise HTTPException(409, str(exc)) from None
        candidate = model.candidate
        label = int(decide(proba, candidate.threshold)[0])
        response.headers["X-Model-Version"] = model.version
        return ExplainResponse(
            model_version=model.version,
            prediction={
                "label": candidate.label_names[label],
                "probabilities": dict(
                    zip(candidate.label_names, map(float, proba[0]), strict=True)
                ),
                "threshold": candidate.threshold,
            },
            explanation=explanation,
        )

    from reprotune.service import invocations, v2

    schema = invocations.input_schema(served.card)
    typed = served.candidate.typed_inputs
    features = served.card.get("features")
    served_name = served.info.get("name") or "model"

    async def score_records(rows: list[dict], batch: bool):
        """/predict's road after parsing: the contract, the drift window, micro-batching."""
        check_contract(holder.current, rows, settings.contract, metrics, batch)
        count_unknown_texts(holder.current, rows, metrics)
        window.extend(rows)
        return await batcher.score(rows)

    def too_many(rows: list[dict]) -> str | None:
        if len(rows) > settings.max_batch:
            return f"a batch of {len(rows)} is over the limit of {settings.max_batch} (--max-batch)"
        metrics.batch_size.observe(len(rows))
        return None

    @app.get("/ping", summary="MLflow's health check: 200 once a model is loaded and warmed")
    def ping() -> Response:
        return Response("\n", status_code=200 if holder.ready else 503, media_type="text/plain")

    @app.post(
        "/invocations",
        dependencies=secured,
        summary="Score rows as `mlflow models serve` does (dataframe_split / dataframe_records "
        '/ instances / inputs JSON, or text/csv): {"predictions": [...]}',
        responses={400: {}, 401: {}, 413: {}, 415: {}},
        openapi_extra={"requestBody": invocations_body(served.card, typed)},
    )
    async def invocations_route(request: Request) -> Response:
        body, content_type = await request.body(), request.headers.get("content-type", "")
        try:
            parsed = invocations.direct_records(body, content_type, typed)
            if parsed is None:
                parsed = invocations.parse(body, content_type, schema)
            rows = invocations.validated(invocations.records_of(parsed, typed, features), Record)
            if problem := too_many(rows):
                raise invocations.InvocationError(problem, 413)
            model, proba = await score_records(rows, batch=True)
        except invocations.InvocationError as exc:
            return exc.response()
        except HTTPException as exc:  # the contract refused rows (--contract enforce)
            return invocations.InvocationError(f"invalid input: {exc.detail}").response()
        rows_out = invocations.predictions(model.candidate, proba)
        return invocations.answer(rows_out, model.version)

    @app.get("/v2/health/live", summary="Open Inference Protocol: the server is live")
    def v2_live() -> dict:
        return {"live": True}

    @app.get("/v2/health/ready", summary="Open Inference Protocol: the server is ready")
    def v2_ready(response: Response) -> dict:
        response.status_code = 200 if holder.ready else 503
        return {"ready": holder.ready}

    def v2_model(name: str) -> None:
        if name != served_name:
            raise v2.V2Error(f"no model {name!r} here; this server serves {served_name!r}", 404)

    @app.get("/v2/models/{name}", summary="Open Inference Protocol: the model's metadata")
    def v2_metadata(name: str) -> Response:
        try:
            v2_model(name)
        except v2.V2Error as exc:
            return exc.response()
        model = holder.current
        found = v2.metadata(name, model.version, model.card, typed, model.candidate.label_names)
        return JSONResponse(found)

    @app.get("/v2/models/{name}/ready", summary="Open Inference Protocol: the model is ready")
    def v2_model_ready(name: str, response: Response) -> Response:
        try:
            v2_model(name)
        except v2.V2Error as exc:
            return exc.response()
        return JSONResponse({"name": name, "ready": holder.ready}, 200 if holder.ready else 503)

    @app.post(
        "/v2/models/{name}/infer",
        dependencies=secured,
        summary="Open Inference Protocol: score columnar inputs (one tensor per feature)",
        responses={400: {}, 401: {}, 404: {}, 413: {}},
    )
    async def v2_infer(name: str, request: Request) -> Response:
        try:
            v2_model(name)
            body = v2.request_of(await request.body(), request.headers.get(v2.BINARY_HEADER))
            rows = invocations.validated(v2.records(body, served.card, typed), Record)
            if problem := too_many(rows):
                raise v2.V2Error(problem, 413)
            model, proba = await score_records(rows, batch=True)
        except (v2.V2Error, invocations.InvocationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=getattr(exc, "status", 400))
        except HTTPException as exc:  # the contract refused rows (--contract enforce)
            return JSONResponse({"error": f"invalid input: {exc.detail}"}, status_code=400)
        answer = {
            "model_name": name,
            "model_version": model.version,
            "outputs": v2.outputs(model.candidate, proba, body),
        }
        if "id" in body:
            answer["id"] = body["id"]
        return JSONResponse(answer, headers={"X-Model-Version": model.version})

    @app.get("/health", summary="The process is alive")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", summary="A model is loaded and warmed")
    def ready(response: Response) -> dict:
        if not holder.ready:
            response.status_code = 503
            return {"ready": False}
        response.headers["X-Model-Version"] = holder.current.version
        return {"ready": True, "model_version": holder.current.version}

    @app.get("/version", response_model=VersionResponse, summary="What is being served")
    def version(response: Response) -> dict:
        response.headers["X-Model-Version"] = holder.current.version
        return holder.current.info

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        if settings.drift_window and holder.current.profile is not None:
            metrics.report_drift(window_drift(holder.current.profile, list(window)), len(window))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{SWAGGER_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_STATIC}/favicon.png",
        )

    app.state.holder = holder
    return app


def field_error(field: str, message: str) -> dict:
    return {"loc": ["body", field], "msg": message, "type": "value_error", "input": None}


def excerpt(value) -> str | None:
    """A short text of an invalid value: the location says where it is, this what it was."""
    if value is None:
        return None
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = EXCERPT_CHARS
    shortener.maxlist = shortener.maxdict = 4
    shortener.maxlevel = 2
    return shortener.repr(value)


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with each problem's location, message and a short excerpt of its value, once.
    FastAPI's own answer repeats the whole input once per schema branch (a record, or a
    batch: a 10 MB request got a 30 MB answer), and cannot encode Infinity or NaN (500)."""
    seen, errors = set(), []
    for error in _errors_of_the_intended_shape(exc):
        location = [str(part) for part in error.get("loc", ())]
        key = (tuple(location), error.get("msg"))
        if key in seen:
            continue
        seen.add(key)
        errors.append(
            {
                "loc": location,
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
                "input": excerpt(error.get("input")),
            }
        )
        if len(errors) == MAX_ERRORS:
            break
    return JSONResponse(status_code=422, content={"detail": errors})


def _errors_of_the_intended_shape(exc: RequestValidationError) -> list[dict]:
    """/predict takes a record or a batch: a body with `records` meant a batch, so the record
    branch's complaints (every field missing) are noise, and the other way round."""
    errors = list(exc.errors())
    body = getattr(exc, "body", None)
    intended = "Batch" if isinstance(body, dict) and "records" in body else "Record"
    branches = {str(e.get("loc", ("", ""))[1]) for e in errors if len(e.get("loc", ())) > 1}
    if branches <= {"Record", "Batch"} and len(branches) == 2:
        return [e for e in errors if str(e["loc"][1]) == intended]
    return errors


def explain_one(model, record: dict, settings: ServiceSettings):
    """(class probabilities, explanation) of one record, by one model version."""
    from reprotune.explanation.record import explain_record

    proba = forward(model, [record])
    explanation = explain_record(
        model.candidate,
        record,
        model.background,
        settings.explain_samples,
        settings.explain_permutations,
        settings.explain_top_k,
    )
    return proba, explanation


KNOWN_PATHS = ("/predict", "/explain", "/health", "/ready", "/version", "/metrics", "/docs",
               "/invocations", "/ping", "/v2/health/live", "/v2/health/ready")  # fmt: skip
V2_MODEL_PATHS = {"": "/v2/models/{name}", "ready": "/v2/models/{name}/ready",
                  "infer": "/v2/models/{name}/infer"}  # fmt: skip


def known_path(path: str) -> str:
    """The path as a metrics label: one of the service's (a V2 model path with its name left
    out), or "other" (bounded cardinality)."""
    if path in KNOWN_PATHS:
        return path
    parts = path.split("/")
    if len(parts) in (4, 5) and parts[:3] == ["", "v2", "models"]:
        return V2_MODEL_PATHS.get(parts[4] if len(parts) == 5 else "", "other")
    return "other"


def invocations_body(card: dict, typed: bool) -> dict:
    """/invocations' request body in the OpenAPI spec: MLflow's formats, with this model's
    input example in each."""
    example = (card.get("input_example") or [{}])[:1] if typed else [{"text": "Stocks rallied."}]
    columns = list(example[0]) if example else []
    split = {"columns": columns, "data": [[row.get(c) for c in columns] for row in example]}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object"},
                "examples": {
                    "dataframe_split": {"value": {"dataframe_split": split}},
                    "dataframe_records": {"value": {"dataframe_records": example}},
                    "inputs": {
                        "value": {"inputs": {c: [r.get(c) for r in example] for c in columns}}
                    },
                },
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    }


def swagger_assets() -> str:
    """Swagger UI 5's files (OpenAPI 3.1) as the fastapi-offline package ships them: /docs
    needs no CDN."""
    from importlib.resources import files

    return str(files("fastapi_offline") / "static")


def app_from_env() -> FastAPI:
    """The factory every uvicorn worker calls (settings come in REPROTUNE_SERVE_SETTINGS)."""
    return create_app(ServiceSettings.from_env())


def window_drift(profile: dict, records: list[dict]) -> dict | None:
    """The last records scored against the training rows (on each /metrics scrape); None
    while the window holds fewer records than any feature needs to tell (drift.min_rows)."""
    import pandas as pd

    from reprotune.drift import Sample, min_rows

    if len(records) < max(min_rows(profile), 1):
        return None

    sample = Sample(profile, size=len(records))
    sample.add(pd.DataFrame.from_records(records))
    return sample.report()


def count_unknown_texts(model, records: list[dict], metrics) -> None:
    """Count texts that have words, none of them known to the training rows' vocabulary
    (another language, a broken encoding): scored, and worth a look."""
    for column, vocabulary in model.text_vocabularies.items():
        for record in records:
            words = str(record.get(column) or "").lower().split()
            if words and vocabulary.isdisjoint(words):
                metrics.unknown_texts.labels(feature=column).inc()


def check_contract(model, records: list[dict], mode: str, metrics, batch: bool) -> None:
    """Count the records' values that break the model's data contract; with `enforce`,
    refuse the request with 422 naming each record, field, check and value."""
    if mode == "off" or model.contract is None:
        return
    found = model.contract.violations(records)
    for violation in found:
        metrics.contract_violations.labels(violation["field"], violation["check"]).inc()
    if found and mode == "enforce":
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", *(["records", v["record"]] if batch else []), v["field"]],
                    "msg": f"breaks the model's data contract: {v['check']}",
                    "input": v["value"],
                }
                for v in found[:MAX_ERRORS]
            ],
        )
