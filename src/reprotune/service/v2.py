"""The Open Inference Protocol (V2, KServe / Triton / MLServer): health, model metadata and
`infer`, so platforms that route and monitor through it serve our models as they are.

Inputs are columnar, one tensor per feature (`BYTES` for strings, `FP64` / `INT64` / `BOOL`
numbers, shape [rows] or [rows, 1]); a text model takes one `text` tensor. MLServer's
`content_type` parameter is read as MLServer reads it (`str` on a BYTES input; `pd` on the
request: the inputs are the columns of one table), and nothing else is needed. Outputs: `label`
(BYTES, after the binary decision threshold) and `probabilities` (FP64, [rows, classes], in the
order the metadata's `parameters.labels` lists). Errors are V2's shape, `{"error": "..."}`,
with 400 (or 404 for another model's name)."""

import numpy as np
from fastapi.responses import JSONResponse

from reprotune.features import FEATURE_TYPES

NUMERIC = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16",
           "UINT32", "UINT64", "BOOL"}  # fmt: skip


class V2Error(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status

    def response(self) -> JSONResponse:
        return JSONResponse({"error": str(self)}, status_code=self.status)


def input_specs(card: dict, typed: bool) -> list[dict]:
    """The metadata's inputs: a name, datatype and shape per feature (-1: any number of rows)."""
    if not typed:
        return [{"name": "text", "datatype": "BYTES", "shape": [-1],
                 "parameters": {"content_type": "str"}}]  # fmt: skip
    specs = []
    for column, kind in card["features"].items():
        datatype = "FP64" if FEATURE_TYPES[kind].signature_type == "double" else "BYTES"
        parameters = {"content_type": "np" if datatype == "FP64" else "str", "feature": kind}
        specs.append(
            {"name": column, "datatype": datatype, "shape": [-1], "parameters": parameters}
        )
    return specs


def metadata(name: str, version: str, card: dict, typed: bool, labels: list[str]) -> dict:
    return {
        "name": name,
        "versions": [version],
        "platform": "reprotune",
        "inputs": input_specs(card, typed),
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(labels)]},
        ],
        "parameters": {"labels": list(labels), "content_type": "pd"},
    }


BINARY_HEADER = "inference-header-content-length"  # the binary tensor data extension
NUMPY_TYPES = {"FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "INT8": "<i1", "INT16": "<i2",
               "INT32": "<i4", "INT64": "<i8", "UINT8": "<u1", "UINT16": "<u2",
               "UINT32": "<u4", "UINT64": "<u8", "BOOL": "|b1"}  # fmt: skip


def request_of(body: bytes, header_length: str | None) -> dict:
    """The JSON request, with the binary tensor data extension's buffers (what tritonclient
    sends by default: a JSON header, then each input's raw bytes) read into each input's
    `data`."""
    import json

    try:
        if header_length is None:
            return _object(json.loads(body))
        split = int(header_length)
        request = _object(json.loads(body[:split]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise V2Error(f"the request body is not JSON: {exc}") from None
    buffer, offset = body[split:], 0
    for tensor in request.get("inputs") or []:
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is None:
            continue
        chunk = buffer[offset : offset + int(size)]
        offset += int(size)
        if len(chunk) != int(size):
            raise V2Error(f"input {tensor.get('name')!r}: the binary data is cut short")
        tensor["data"] = _from_binary(chunk, str(tensor.get("datatype", "")).upper(), tensor)
    return request


def _object(found) -> dict:
    if not isinstance(found, dict):
        raise V2Error("the request must be a JSON object with `inputs`")
    return found


def _from_binary(chunk: bytes, datatype: str, tensor: dict) -> list:
    if datatype == "BYTES":  # each element: a 4-byte little-endian length, then its bytes
        values, offset = [], 0
        while offset + 4 <= len(chunk):
            length = int.from_bytes(chunk[offset : offset + 4], "little")
            values.append(chunk[offset + 4 : offset + 4 + length].decode("utf-8", "replace"))
            offset += 4 + length
        return values
    if datatype not in NUMPY_TYPES:
        raise V2Error(f"input {tensor.get('name')!r}: datatype {datatype!r} is not one of V2's")
    return np.frombuffer(chunk, dtype=NUMPY_TYPES[datatype]).tolist()


def records(request: dict, card: dict, typed: bool) -> list[dict]:
    """/predict's records from a V2 request's columnar inputs."""
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise V2Error("the request needs `inputs`: a list of tensors, one per feature")
    wanted = list(card["features"]) if typed else ["text"]
    columns, rows = {}, None
    for tensor in inputs:
        if not isinstance(tensor, dict) or "name" not in tensor or "data" not in tensor:
            raise V2Error("each input needs a `name`, a `datatype`, a `shape` and `data`")
        name = tensor["name"]
        if name not in wanted:
            raise V2Error(f"input {name!r} is not a feature of this model; expected {wanted}")
        values = _values(tensor)
        if rows is not None and len(values) != rows:
            raise V2Error(f"input {name!r} has {len(values)} rows, the others {rows}")
        rows = len(values)
        columns[name] = values
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise V2Error(f"inputs {missing} are missing; send one tensor per feature: {wanted}")
    return [{c: columns[c][i] for c in wanted} for i in range(rows or 0)]


def _values(tensor: dict) -> list:
    datatype = str(tensor.get("datatype", "")).upper()
    shape = tensor.get("shape") or []
    data = tensor["data"]
    if isinstance(data, list) and data and isinstance(data[0], list):  # row-major nesting
        data = [v for row in data for v in row]
    if not isinstance(data, list):
        raise V2Error(f"input {tensor['name']!r}: data must be a list")
    if shape and int(np.prod(shape)) != len(data):
        raise V2Error(f"input {tensor['name']!r}: shape {shape} does not hold {len(data)} values")
    if len(shape) > 1 and int(np.prod(shape[1:])) != 1:
        raise V2Error(f"input {tensor['name']!r}: one value a row, shape [rows] or [rows, 1]")
    if datatype == "BYTES":
        return [_text(v) for v in data]
    if datatype in NUMERIC:
        return [None if v is None else (bool(v) if datatype == "BOOL" else v) for v in data]
    raise V2Error(f"input {tensor['name']!r}: datatype {datatype!r} is not one of V2's")


def _text(value):
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # bytes sent as a list of byte values
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def outputs(candidate, proba: np.ndarray, request: dict) -> list[dict]:
    from reprotune.models import decide

    labels = [candidate.label_names[int(i)] for i in decide(proba, candidate.threshold)]
    found = [
        {"name": "label", "datatype": "BYTES", "shape": [len(labels), 1], "data": labels,
         "parameters": {"content_type": "str"}},
        {"name": "probabilities", "datatype": "FP64", "shape": list(proba.shape),
         "data": [float(v) for v in proba.ravel()]},
    ]  # fmt: skip
    wanted = [o.get("name") for o in request.get("outputs") or []]
    return [o for o in found if not wanted or o["name"] in wanted]
