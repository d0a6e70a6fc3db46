"""A derived target: a numeric expression over columns (pandas `eval`, e.g. engagement from
likes, dislikes and bookmarks), binned into classes at the training split's median or
quantiles. The columns it reads are never features (the leak guard)."""

import ast
import difflib

import numpy as np
import pandas as pd

from reprotune.errors import DataError

KEY = "data.target.expression"


def referenced_columns(expression: str) -> list[str]:
    """The column names an expression reads, in order of first use."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ValueError(
            f"{KEY} = {expression!r} is not an expression ({exc.msg}); fix: write it as "
            "pandas eval would read it, e.g. Likes - Dislikes + Bookmarks (backquote names "
            "with spaces: `my column`)"
        ) from None
    found = sorted(
        (node.col_offset, node.id) for node in ast.walk(tree) if isinstance(node, ast.Name)
    )
    return list(dict.fromkeys(name for _, name in found))


def _backquoted(expression: str) -> list[str]:
    """Names inside backquotes (`my column`): pandas eval's way to name odd columns."""
    parts = expression.split("`")
    return [parts[i] for i in range(1, len(parts), 2)]


def columns_of(expression: str) -> list[str]:
    quoted = _backquoted(expression)
    stripped = "".join(p if i % 2 == 0 else "_q" for i, p in enumerate(expression.split("`")))
    return [*quoted, *(n for n in referenced_columns(stripped) if n != "_q")]


def score(frame: pd.DataFrame, expression: str, split: str) -> pd.Series:
    """The expression's value on every row of `frame` (float); DataError on an unknown column
    or a result that is not numeric."""
    available = [str(c) for c in frame.columns]
    for column in columns_of(expression):
        if column not in available:
            close = difflib.get_close_matches(column, available, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise DataError(
                f"{KEY} = {expression!r} reads column {column!r}, which is not in the {split} "
                f"split; {hint}fix: use columns of the data ({available})"
            )
    sources = columns_of(expression)
    numeric = frame.copy()
    for column in sources:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            rows = list(bad[bad].index[:5])
            raise DataError(
                f"{KEY} = {expression!r} reads column {column!r}, whose {split} split holds "
                f"non-numeric values {[frame[column][r] for r in rows]} (rows {rows}); fix: "
                "derive the target from numeric columns only"
            )
        numeric[column] = values
    try:
        result = numeric.eval(expression, engine="python")
    except Exception as exc:
        raise DataError(f"{KEY} = {expression!r} could not be evaluated: {exc}") from None
    if np.isscalar(result) or not pd.api.types.is_numeric_dtype(result):
        raise DataError(
            f"{KEY} = {expression!r} does not give one number per row (got {type(result)}); "
            "fix: write an arithmetic expression over numeric columns"
        )
    return pd.Series(result, index=frame.index, dtype="float64")


def edges(train_scores: pd.Series, bins: str, quantiles: int) -> list[float]:
    """Inner bin edges from the training split's scores: its median, or its quantiles."""
    present = train_scores.dropna()
    if present.empty:
        raise DataError(f"{KEY}: the training split has no rows with a value")
    count = 2 if bins == "median" else quantiles
    cuts = np.quantile(present.to_numpy(), np.linspace(0, 1, count + 1)[1:-1])
    return [float(c) for c in cuts]


def binned(scores: pd.Series, cuts: list[float], names: list[str], split: str) -> pd.Series:
    """Class names: a row above the i-th edge (and not the next) gets names[i + 1]."""
    codes = np.searchsorted(np.asarray(cuts), scores.to_numpy(), side="right")
    labels = pd.Series(np.asarray(names, dtype=object)[codes], index=scores.index)
    labels[scores.isna()] = None
    present = labels.dropna().unique()
    if len(present) < 2:
        raise DataError(
            f"{KEY}: binning at {cuts} puts every row of the {split} split in one class "
            f"({present[0] if len(present) else 'none'!r}): many rows share the edge value; "
            "fix: use data.target.bins: quantiles with other data.target.quantiles, or "
            "another expression"
        )
    return labels
