"""`set`: a list of levels per row (Ludwig's set feature), e.g. `['Escultura', 'Pintura']`.

Read from Python- or JSON-style lists (`['a', 'b']`, `["a","b"]`), comma-separated text
(`a, b`) or real lists; stored as a canonical JSON list of the distinct levels, sorted. Encoded
multi-hot: one 0/1 column per level seen in the training split (unseen levels are ignored)."""

import ast
import json

import numpy as np
import pandas as pd

from reprotune.errors import DataError
from reprotune.features.base import LevelsFeature, is_missing


def parse_levels(value) -> list[str] | None:
    """A row's levels (sorted, distinct), or None for a missing value."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (list, tuple, set, np.ndarray)):
        items = list(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        items = _literal_list(text) if text.startswith("[") else text.split(",")
    levels = {str(item).strip() for item in items if item is not None}
    return sorted(level for level in levels if level)


def _literal_list(text: str) -> list:
    for parse in (json.loads, ast.literal_eval):
        try:
            parsed = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(parsed, (list, tuple)):
            return list(parsed)
    raise ValueError(text)


def as_set_strings(series: pd.Series) -> pd.Series:
    """Canonical JSON lists (`["a", "b"]`), NaN for missing; raises ValueError on a list
    that does not parse."""

    def canonical(value):
        levels = parse_levels(value)
        return np.nan if levels is None else json.dumps(levels, ensure_ascii=False)

    return series.astype(object).map(canonical).astype(object)


def is_missing_value(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value == ""


def split_levels(stored: str) -> list[str]:
    """The encoder's analyzer: a stored JSON list back to its levels (module level, so the
    fitted encoder pickles)."""
    return json.loads(stored) if stored else []


class SetFeature(LevelsFeature):
    name = "set"

    def request_type(self):
        return list[str] | str  # a list of levels, or the stored JSON-list string

    def levels_of(self, stored: pd.Series) -> list[str]:
        """Every element of every row (a set's levels are profiled one by one)."""
        present = [value for value in stored if not is_missing_value(value)]
        return [level for value in present for level in split_levels(value)]

    def contract_checks(self, stored: pd.Series) -> list:
        import pandera.pandas as pa

        vocabulary = sorted(set(self.levels_of(stored)))
        if not vocabulary or len(vocabulary) > self.MAX_CONTRACT_LEVELS:
            return []
        register_contract_checks()
        return [pa.Check.set_levels_in(allowed=vocabulary)]

    one_column_encoder = True

    def looks_like(self, series: pd.Series) -> bool:
        present = series[~is_missing(series)]
        if present.empty:
            return False
        if present.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).all():
            return True
        text = present.astype(str).str.strip()
        if not (text.str.startswith("[") & text.str.endswith("]")).all():
            return False
        try:
            text.map(_literal_list)
        except ValueError:
            return False
        return True

    def cast(self, series: pd.Series, column: str, split: str) -> pd.Series:
        try:
            return as_set_strings(series)
        except ValueError as exc:
            row = next(i for i, v in series.items() if _unparsable(v))
            raise DataError(
                f"data.features.{column} is declared `set` but row {row} of the {split} split "
                f"holds {str(exc)[:80]!r}, which is not a list; fix: write lists as ['a', 'b'] "
                "or a, b — or declare the column `category` or `text`"
            ) from None

    def inputs(self, series: pd.Series) -> pd.Series:
        """Lenient, for predictions: a value that is not a list is one level."""

        def levels(value):
            try:
                return parse_levels(value)
            except ValueError:
                return [str(value).strip()]

        return series.astype(object).map(lambda v: json.dumps(levels(v) or [], ensure_ascii=False))

    def sklearn_encoder(self):
        from sklearn.feature_extraction.text import CountVectorizer

        return CountVectorizer(analyzer=split_levels, binary=True, lowercase=False)


def _unparsable(value) -> bool:
    try:
        parse_levels(value)
    except ValueError:
        return True
    return False


def register_contract_checks() -> None:
    """`set_levels_in`, a pandera check that serializes with its vocabulary (contract YAML);
    registered once per process, before a contract that uses it is read or built."""
    import pandera.extensions as extensions
    import pandera.pandas as pa

    if hasattr(pa.Check, "set_levels_in"):
        return

    @extensions.register_check_method(statistics=["allowed"])
    def set_levels_in(series, *, allowed):
        vocabulary = set(allowed)
        return series.map(lambda v: is_missing_value(v) or set(split_levels(v)) <= vocabulary)
