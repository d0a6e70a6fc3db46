"""`/invocations` as `mlflow models serve` speaks it, so its clients switch without a change.

The request formats are MLflow's own, parsed by MLflow's own scoring-server functions against
the model's signature: JSON with `dataframe_split`, `dataframe_records`, `instances` or `inputs`
(and optional `params`), or a `text/csv` body. The answer is what the python_function model
returns there, `{"predictions": [...]}`, a record per row: `label` (after the binary decision
threshold), `probability` (of that label), and for binary models `positive_probability` and
`threshold`. Errors are MLflow's shape, `{"error_code": "BAD_REQUEST", "message": ...}` with
status 400, or 415 for a content type it does not read. The rows then take the same road as
/predict: the request model's validation, the data contract, micro-batching, /metrics.
"""

import json
from io import StringIO

import numpy as np
import pandas as pd
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from reprotune.serving import INPUT_COLUMN, signature

JSON, CSV = "application/json", "text/csv"


class InvocationError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status

    def response(self) -> Response:
        if self.status == 415:  # MLflow answers an unknown content type in plain text
            return Response(str(self), status_code=415, media_type="text/plain")
        return JSONResponse(
            {"error_code": "BAD_REQUEST", "message": str(self)}, status_code=self.status
        )


def input_schema(card: dict):
    return signature(card).inputs


def parse(body: bytes, content_type: str, schema):
    """The request's rows as MLflow's scoring server parses them (a DataFrame, a dict of
    columns or a list)."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    mime, _, parameters = (content_type or JSON).partition(";")
    mime = mime.strip().lower()
    charset = parameters.partition("charset=")[2].strip().lower() or "utf-8"
    if charset != "utf-8":
        raise InvocationError("The scoring server only supports UTF-8", 415)
    try:
        if mime == CSV:
            return scoring_server.parse_csv_input(StringIO(body.decode("utf-8")), schema=schema)
        if mime == JSON:
            data, _params = scoring_server._split_data_and_params(body.decode("utf-8"))
            return scoring_server.infer_and_parse_data(data, schema)
    except MlflowException as exc:
        raise InvocationError(exc.message) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvocationError(f"the request body could not be read: {exc}") from None
    raise InvocationError(
        f"This predictor only supports the following content types: Types: {[CSV, JSON]}. "
        f"Got '{content_type}'.",
        415,
    )


def direct_records(body: bytes, content_type: str, typed: bool) -> list[dict] | None:
    """`dataframe_records` / `dataframe_split` JSON read straight into records (MLflow's parser
    builds a DataFrame per request, most of the cost; the request model then checks and casts
    each field as MLflow's schema enforcement would); None for any other request, which
    MLflow's parser reads."""
    if (content_type or JSON).partition(";")[0].strip().lower() != JSON:
        return None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or len(set(data) - {"params"}) != 1:
        return None
    if isinstance(data.get("dataframe_records"), list):
        rows = data["dataframe_records"]
    elif isinstance(split := data.get("dataframe_split"), dict) and isinstance(
        split.get("columns"), list
    ):
        rows = [dict(zip(split["columns"], row, strict=False)) for row in split.get("data", [])]
    else:
        return None
    if not all(isinstance(row, dict) for row in rows):
        return None
    if not typed and not all(set(row) == {INPUT_COLUMN} for row in rows):
        return None  # another column name: MLflow's parser takes the first column
    return rows


def records_of(parsed, typed: bool, features: dict | None) -> list[dict]:
    """The parsed rows as /predict's records: one `text` field, or one field per feature
    (a column the request left out is missing, as MLflow's optional columns are)."""
    if isinstance(parsed, list) and all(isinstance(r, dict) for r in parsed) and typed:
        return [{c: _plain(r.get(c)) for c in features} | _extra(r, features) for r in parsed]
    if isinstance(parsed, dict):
        parsed = pd.DataFrame({k: np.atleast_1d(v) for k, v in parsed.items()})
    if not typed:
        if isinstance(parsed, pd.DataFrame):
            column = INPUT_COLUMN if INPUT_COLUMN in parsed else parsed.columns[0]
            texts = parsed[column].tolist()
        else:
            texts = list(np.atleast_1d(parsed))
        return [{"text": None if _missing(t) else str(t)} for t in texts]
    if not isinstance(parsed, pd.DataFrame):
        parsed = pd.DataFrame(list(parsed))
    records = []
    for row in parsed.to_dict("records"):
        records.append({c: _plain(row.get(c)) for c in features} | _extra(row, features))
    return records


def _extra(row: dict, features: dict) -> dict:
    return {k: v for k, v in row.items() if k not in features}  # the request model refuses them


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _plain(value):
    if _missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def validated(records: list[dict], record_model) -> list[dict]:
    """Each record through /predict's request model; the first problems, one message."""
    rows, problems = [], []
    for index, record in enumerate(records):
        try:
            rows.append(record_model.model_validate(record).model_dump())
        except ValidationError as exc:
            for error in exc.errors()[:3]:
                field = ".".join(map(str, error["loc"]))
                problems.append(
                    f"row {index}, {field}: {error['msg']} (got {error.get('input')!r})"
                )
    if problems:
        raise InvocationError("invalid input: " + "; ".join(problems[:10]))
    if not rows:
        raise InvocationError("invalid input: no rows to score")
    return rows


def predictions(candidate, proba: np.ndarray) -> list[dict]:
    """What the python_function model returns (serving.Classifier.predict), as records."""
    from reprotune.models import decide

    best = decide(proba, candidate.threshold)
    rows = []
    for index, label in enumerate(best):
        row = {
            "label": candidate.label_names[int(label)],
            "probability": float(proba[index, int(label)]),
        }
        if candidate.threshold is not None:
            row["positive_probability"] = float(proba[index, 1])
            row["threshold"] = float(candidate.threshold)
        rows.append(row)
    return rows


def answer(rows: list[dict], version: str) -> Response:
    return Response(
        json.dumps({"predictions": rows}),
        media_type=JSON,
        headers={"X-Model-Version": version},
    )
