"""What every feature type offers: inference, validation and casting of a raw column, and the
scikit-learn encoder that learns its preprocessing on the training split."""

import abc
from typing import ClassVar

import numpy as np
import pandas as pd

MISSING_CATEGORY = "__missing__"


def is_missing(series: pd.Series) -> pd.Series:
    """None, NaN and blank strings (CSV files are read without NA parsing)."""
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        return series.isna() | (series.astype(str).str.strip() == "")
    return series.isna()


def as_strings(series: pd.Series) -> pd.Series:
    """Strings with missing values as NaN: what the encoders and the saved splits hold."""
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        # Already strings (every prediction of an explainer, hundreds a stage): one plain
        # loop over an object array, 5x faster than pandas' string methods on such columns.
        values = series.to_numpy(dtype=object)
        missing = pd.isna(values)
        stored = np.empty(len(values), dtype=object)
        for i, (value, absent) in enumerate(zip(values, missing, strict=True)):
            stored[i] = np.nan if absent else (value.strip() or np.nan)
        return pd.Series(stored, index=series.index, name=series.name, dtype=object)
    text = series.astype(object).where(~is_missing(series), np.nan)
    return text.map(_as_string).astype(object)


def string_array(values: np.ndarray) -> np.ndarray:
    """`as_strings` on a bare array of str/None/NaN, without pandas (a request's column:
    pandas costs ~0.1 ms per column whatever the rows); anything else takes as_strings."""
    try:  # all text (a CSV's columns): two comprehensions, the common case
        stripped = [value.strip() for value in values]
    except AttributeError:
        return _string_array_mixed(values)
    stored = np.empty(len(stripped), dtype=object)
    stored[:] = [text or np.nan for text in stripped]
    return stored


def _string_array_mixed(values: np.ndarray) -> np.ndarray:
    stored = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        if isinstance(value, str):
            stored[i] = value.strip() or np.nan
        elif value is None or (isinstance(value, float) and np.isnan(value)):
            stored[i] = np.nan
        else:
            return as_strings(pd.Series(values, dtype=object)).to_numpy()
    return stored


def _as_string(value):
    if isinstance(value, float):
        if np.isnan(value):
            return np.nan
        if value.is_integer():  # a code read as float because of a missing value: 3.0 -> "3"
            return str(int(value))
    return str(value).strip()


class FeatureType(abc.ABC):
    name: ClassVar[str]
    # The encoder reads one column as a 1-D array (text, set); else all the type's columns.
    one_column_encoder: ClassVar[bool] = False
    # The column's type in an MLflow model signature.
    signature_type: ClassVar[str] = "string"

    def request_type(self):
        """The type of one value in a request to the service (null aside)."""
        return str

    def profile(self, stored: pd.Series) -> dict | None:
        """A compact summary of the column's values (features/stats.py), drift's reference;
        None: this type is not profiled."""
        return None

    def drift(self, profile: dict, stored: pd.Series) -> dict | None:
        """How far `stored` moved from `profile` (test, statistic, p-value, PSI, drifted)."""
        return None

    def sampled(self, values: pd.Series) -> pd.Series:
        """What a drift sample keeps of the stored values (all of them, unless a type keeps a
        measure of large values instead: an image's brightness)."""
        return values

    def contract_checks(self, stored: pd.Series) -> list:
        """pandera checks the training split's values pass (range, levels, length...)."""
        return []

    def contract_dtype(self) -> str | None:
        return None  # strings: stored as object or pandas' str dtype, both fine

    @abc.abstractmethod
    def looks_like(self, series: pd.Series) -> bool:
        """Whether inference should give a column like this one this type."""

    @abc.abstractmethod
    def cast(self, series: pd.Series, column: str, split: str) -> pd.Series:
        """The column in this type's storage form; DataError on values it cannot hold."""

    def inputs(self, series: pd.Series) -> pd.Series:
        """A model's input column from raw values (a split's, or a request's): what `cast`
        stores, without the checks; strings with NaN for missing unless a type says else."""
        return as_strings(series)

    def input_array(self, values: np.ndarray) -> np.ndarray:
        """`inputs` on a bare object array (the predict path: no pandas per column)."""
        return self.inputs(pd.Series(values, dtype=object)).to_numpy()

    def arrow_inputs(self, values) -> tuple[np.ndarray, np.ndarray] | None:
        """(model inputs, invalid mask) of a pyarrow column in one vectorized pass, for batch
        scoring; None: this type has no such pass (`inputs` and `invalid` are used)."""
        return None

    def invalid(self, series: pd.Series) -> pd.Series:
        """Per row: a value a model cannot take (a request's or a scored file's), which
        `inputs` would otherwise turn into a missing value. Missing values are valid."""
        return pd.Series(False, index=series.index)

    @abc.abstractmethod
    def sklearn_encoder(self):
        """A transformer fitted on the training split (kept inside the saved model)."""


class LevelsFeature(FeatureType):
    """A feature whose values are levels (categories, binary columns; a set's elements):
    profiled by level frequencies, contracted to the training split's levels."""

    MAX_CONTRACT_LEVELS = 500  # more levels than this: no `isin` check (an identifier-like column)

    def levels_of(self, stored: pd.Series) -> list[str]:
        from reprotune.features.stats import MISSING

        return stored.astype(object).where(~is_missing(stored), MISSING).astype(str).tolist()

    def profile(self, stored: pd.Series) -> dict:
        """Level frequencies. With more levels than the profile names (TOP_LEVELS), the named
        ones are chosen on one half of the rows and counted on the other, as new rows will be
        (chosen and counted on the same rows, the pooled rest would look smaller than it is)."""
        from reprotune.features.stats import TOP_LEVELS, level_profile, random_halves

        levels = self.levels_of(stored)
        if len(set(levels)) <= TOP_LEVELS:
            return level_profile(levels, len(stored))
        chosen, counted = random_halves(len(levels))
        named = level_profile([levels[i] for i in chosen], len(chosen))["counts"]
        return level_profile([levels[i] for i in counted], len(counted), named=list(named))

    def drift(self, profile: dict, stored: pd.Series) -> dict:
        from reprotune.features.stats import level_drift

        return level_drift(profile, self.levels_of(stored), len(stored))

    def contract_checks(self, stored: pd.Series) -> list:
        import pandera.pandas as pa

        levels = sorted(stored[~is_missing(stored)].astype(str).unique())
        if not levels or len(levels) > self.MAX_CONTRACT_LEVELS:
            return []
        return [pa.Check.isin(levels)]
