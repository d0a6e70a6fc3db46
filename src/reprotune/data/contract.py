"""The data contract: what each feature's values may be, as a pandera schema.

preprocess infers it from the training split (each feature's type, nullability, numeric range,
levels, set vocabulary, text length) and writes it to data/processed/contract.yaml, which every
model saves beside itself. A `contract.yaml` committed beside params.yaml wins: preprocess
checks every split against it, lazily (every failure, not the first), and stops before any
training with a table of column, check, failing rows and examples (`data.contract: warn`
prints the table and goes on). Edit the committed file to tighten it (e.g. `age` in 18..100).
"""

from pathlib import Path

import pandas as pd

from reprotune import paths
from reprotune.errors import DataError
from reprotune.features import FEATURE_TYPES

COMMITTED = paths.COMMITTED_CONTRACT  # beside params.yaml; wins over the inferred one
EXAMPLES = 3


def _pandera():
    import warnings

    # pandera imports pyspark.pandas when pyspark is installed, which warns about pandas 3.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support")
    import pandera.pandas as pa

    from reprotune.features import set as set_feature
    from reprotune.features import text as text_feature

    set_feature.register_contract_checks()
    text_feature.register_contract_checks()
    return pa


def infer(table: pd.DataFrame, features: dict[str, str]):
    """The contract the training split's stored values satisfy."""
    pa = _pandera()
    columns = {}
    for column, kind in features.items():
        feature = FEATURE_TYPES[kind]
        values = table[column]
        columns[column] = pa.Column(
            feature.contract_dtype(),
            feature.contract_checks(values),
            nullable=bool(values.isna().any()),
            description=f"{kind} feature",
        )
    return pa.DataFrameSchema(columns, strict=False, name="reprotune data contract")


TRAINING_SPLIT = (
    "Inferred from the training split; edit to tighten (e.g. an in_range), commit as\n"
    "# contract.yaml beside params.yaml to check new data against it."
)


def to_yaml(schema, origin: str = TRAINING_SPLIT) -> str:
    header = (
        "# reprotune data contract: what each feature's values may be (pandera schema).\n"
        f"# {origin}\n"
    )
    return header + schema.to_yaml()


def read(path: Path):
    """A contract file; DataError naming the file and the fix when it cannot be read."""
    pa = _pandera()
    try:
        return pa.DataFrameSchema.from_yaml(Path(path))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no contract there; fix: run preprocess (dvc repro)") from exc
    except Exception as exc:  # a YAML or schema error: say which file and why
        raise DataError(
            f"{path} is not a readable data contract ({type(exc).__name__}: {exc}); fix: "
            "correct it, or delete it to check nothing (preprocess infers a new one)"
        ) from None


def violations(schema, table: pd.DataFrame, split: str) -> list[dict]:
    """Every way `table` breaks the contract: one entry per column and check."""
    pa = _pandera()
    missing = [c for c in schema.columns if c not in table.columns]
    found = [
        {"split": split, "column": c, "check": "column present", "failing": len(table),
         "examples": [], "rows": []}
        for c in missing
    ]  # fmt: skip
    present = schema.remove_columns(missing) if missing else schema
    try:
        present.validate(table, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
            found.append(
                {
                    "split": split,
                    "column": str(column),
                    "check": str(check),
                    "failing": len(group),
                    "examples": [_plain(v) for v in group["failure_case"].head(EXAMPLES)],
                    "rows": [_plain(i) for i in group["index"].head(EXAMPLES)],
                }
            )
    return found


def _plain(value):
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    value = value.item() if hasattr(value, "item") else value
    return value if not isinstance(value, str) or len(value) <= 60 else value[:57] + "..."


def render(found: list[dict]) -> str:
    lines = ["| split | column | check | failing rows | examples | rows |", "| --- " * 6 + "|"]
    for v in found:
        examples = ", ".join(repr(e) for e in v["examples"])
        rows = ", ".join(str(r) for r in v["rows"])
        lines.append(
            f"| {v['split']} | {v['column']} | {v['check']} | {v['failing']:,} | "
            f"{examples} | {rows} |"
        )
    return "\n".join(lines)


def check_tables(schema, tables: dict[str, pd.DataFrame]) -> list[dict]:
    """All violations of `tables` (split -> table) against the contract."""
    return [v for split, table in tables.items() for v in violations(schema, table, split)]


def enforce(found: list[dict], mode: str, source: str) -> str | None:
    """Stop (mode fail) or return the warning to print (mode warn); None when all passed."""
    if not found:
        return None
    message = (
        f"the data breaks the contract in {source} ({len(found)} check(s) failed):\n"
        f"{render(found)}\n"
    )
    if mode == "fail":
        raise DataError(
            message + f"fix: correct the data, or loosen {source} if the change is expected "
            "(or set data.contract: warn to go on with a warning)"
        )
    return message + f"(data.contract: warn: going on; loosen {source} to silence this)"


class Tally:
    """A table checked in blocks (batch scoring): chunks are gathered into blocks of
    BLOCK_ROWS rows, since each pandera validation costs ~0.2 s however few rows it sees; the
    violations, with input row numbers, are summed per column and check."""

    BLOCK_ROWS = 500_000

    def __init__(self, schema, source: str):
        self.schema = schema
        self.source = source
        self.found: dict[tuple[str, str], dict] = {}
        self.pending: list[pd.DataFrame] = []

    def add(self, stored: pd.DataFrame, offset: int) -> list[dict]:
        """Gather a chunk (rows numbered from `offset`); the violations of the block it
        completes, if it completes one."""
        self.pending.append(stored.set_axis(range(offset, offset + len(stored))))
        if sum(len(chunk) for chunk in self.pending) < self.BLOCK_ROWS:
            return []
        return self.flush()

    def flush(self) -> list[dict]:
        """Check what is gathered; its violations, also added to the tally. Only the columns
        the rows hold are checked: scoring names missing ones itself."""
        if not self.pending:
            return []
        rows = pd.concat(self.pending) if len(self.pending) > 1 else self.pending[0]
        self.pending = []
        absent = [c for c in self.schema.columns if c not in rows.columns]
        schema = self.schema.remove_columns(absent) if absent else self.schema
        found = violations(schema, rows, "input")
        for v in found:
            kept = self.found.get((v["column"], v["check"]))
            if kept is None:
                self.found[(v["column"], v["check"])] = dict(v)
                continue
            kept["failing"] += v["failing"]
            kept["examples"] = (kept["examples"] + v["examples"])[:EXAMPLES]
            kept["rows"] = (kept["rows"] + v["rows"])[:EXAMPLES]
        return found

    def violations(self) -> list[dict]:
        self.flush()
        return list(self.found.values())


class RequestChecks:
    """The contract compiled for requests: plain predicates per field, read from the YAML
    without pandera (whose import costs seconds), fast enough for every request. Knows the
    checks the inferred contract writes and the common hand-written ones (ge/le/gt/lt); pandera
    itself checks any other at preprocess."""

    def __init__(self, spec: dict):
        self.path: Path | None = None
        self.checks: list[tuple[str, str, object]] = []  # field, check name, test
        for column, settings in (spec.get("columns") or {}).items():
            settings = settings or {}
            nullable = bool(settings.get("nullable", False))  # pandera's default
            if not nullable:
                self.checks.append((column, "not_nullable", None))
            for name, argument in _checks_of(settings):
                test = _request_test(name, argument)
                if test is not None:
                    self.checks.append((column, _label(name, argument), test))

    @classmethod
    def read(cls, path: Path) -> "RequestChecks":
        from ruamel.yaml import YAML

        checks = cls(YAML(typ="safe", pure=True).load(Path(path).read_text(encoding="utf-8")) or {})
        checks.path = Path(path)  # where batch scoring reads the whole contract (pandera)
        return checks

    def violations(self, records: list[dict]) -> list[dict]:
        found = []
        for index, record in enumerate(records):
            for column, name, test in self.checks:
                if column not in record:
                    continue
                value = record[column]
                if _is_null(value):
                    if name == "not_nullable":
                        found.append(_violation(index, column, name, value))
                    continue
                if test is not None and not _passes(test, value):
                    found.append(_violation(index, column, name, value))
        return found


def _checks_of(settings: dict) -> list[tuple[str, object]]:
    """A column's checks as (name, argument), from either of pandera's YAML layouts: a
    mapping of name -> argument, or (with a registered custom check among them) a `checks`
    list whose entries carry their name in options.check_name."""
    checks = settings.get("checks") or settings
    if isinstance(checks, dict):
        return list(checks.items())
    found = []
    for entry in checks:
        entry = dict(entry)
        name = (entry.pop("options", None) or {}).get("check_name")
        if name:
            found.append((name, entry))
    return found


def _violation(index: int, column: str, check: str, value) -> dict:
    shown = value if not isinstance(value, (str, bytes)) or len(value) <= 60 else value[:57]
    return {"record": index, "field": column, "check": check, "value": _plain_json(shown)}


def _plain_json(value):
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def _is_null(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _passes(test, value) -> bool:
    try:
        return bool(test(value))
    except (TypeError, ValueError):
        return False


def _label(name: str, argument) -> str:
    if not argument:
        return name
    if isinstance(argument, dict):
        if "allowed" in argument:
            return f"{name}({len(argument['allowed'])} levels)"
        if "min_value" in argument:
            return f"{name}({argument['min_value']}, {argument['max_value']})"
        return f"{name}({argument.get('value')})"
    if isinstance(argument, list):
        return f"{name}({len(argument)} levels)"
    return f"{name}({argument})"


def _request_test(name: str, argument):
    """A predicate on one request value for a pandera check, or None when it is not one the
    service knows (pandera checks it at preprocess)."""
    import json

    if name == "in_range":
        low, high = argument["min_value"], argument["max_value"]
        inclusive = argument.get("include_min", True), argument.get("include_max", True)
        return lambda v: (
            (v >= low if inclusive[0] else v > low) and (v <= high if inclusive[1] else v < high)
        )
    bounds = {
        "greater_than_or_equal_to": lambda a: lambda v: v >= a,
        "less_than_or_equal_to": lambda a: lambda v: v <= a,
        "greater_than": lambda a: lambda v: v > a,
        "less_than": lambda a: lambda v: v < a,
    }
    if name in bounds:
        value = argument.get("value", argument) if isinstance(argument, dict) else argument
        return bounds[name](value)
    if name == "isin":
        allowed = frozenset(str(v) for v in argument)
        return lambda v: str(v).strip() in allowed
    if name == "str_length":
        low, high = argument.get("min_value"), argument.get("max_value")
        return lambda v: (
            (low is None or len(str(v)) >= low) and (high is None or len(str(v)) <= high)
        )
    if name == "text_has_words":
        from reprotune.features.text import has_words

        return has_words
    if name == "set_levels_in":
        allowed = frozenset(argument["allowed"])

        def levels_in(v) -> bool:
            levels = v if isinstance(v, list) else json.loads(v) if str(v).startswith("[") else [v]
            return {str(level).strip() for level in levels} <= allowed

        return levels_in
    return None
