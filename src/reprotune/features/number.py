"""`number`: a numeric column. Missing values are imputed with the training median, then
scaled; text that is not a number stops preprocess with the column, values and rows."""

import numpy as np
import pandas as pd

from reprotune.errors import DataError
from reprotune.features.base import FeatureType, is_missing

FLOAT32_MAX = float(np.finfo(np.float32).max)


class NumberFeature(FeatureType):
    name = "number"
    signature_type = "double"

    def profile(self, stored: pd.Series) -> dict:
        from reprotune.features.stats import numeric_profile

        return numeric_profile(stored.to_numpy(float))

    def drift(self, profile: dict, stored: pd.Series) -> dict:
        from reprotune.features.stats import numeric_drift

        return numeric_drift(profile, stored.to_numpy(float))

    def contract_checks(self, stored: pd.Series) -> list:
        import pandera.pandas as pa

        present = stored.dropna()
        if present.empty:
            return []
        return [pa.Check.in_range(float(present.min()), float(present.max()))]

    def contract_dtype(self) -> str:
        return "float64"

    def request_type(self):
        from typing import Annotated

        from pydantic import Field

        # Finite, and within float32: the tree families compute in float32 (1e300 is infinite).
        return Annotated[float, Field(allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]

    def looks_like(self, series: pd.Series) -> bool:
        present = series[~is_missing(series)]
        if pd.api.types.is_bool_dtype(present):
            return False
        return bool(pd.to_numeric(present, errors="coerce").notna().all())

    def cast(self, series: pd.Series, column: str, split: str) -> pd.Series:
        missing = is_missing(series)
        numbers = pd.to_numeric(series.where(~missing), errors="coerce")
        bad = numbers.isna() & ~missing
        if bad.any():
            rows = list(bad[bad].index[:5])
            values = [series[r] for r in rows]
            raise DataError(
                f"data.features.{column} is declared `number` but the {split} split holds "
                f"non-numeric values {values} (rows {rows} of data/raw/{split}.parquet, from "
                f"0); fix: clean those values, or "
                f"declare {column} as `category`"
            )
        return numbers.astype("float64")

    def inputs(self, series: pd.Series) -> pd.Series:
        return pd.to_numeric(series, errors="coerce").astype("float64")

    def input_array(self, values: np.ndarray) -> np.ndarray:
        try:  # numbers, numeric strings and None (NaN) in one conversion
            return np.asarray(values, dtype="float64")
        except (TypeError, ValueError):
            return self.inputs(pd.Series(values, dtype=object)).to_numpy(dtype="float64")

    def arrow_inputs(self, values) -> tuple[np.ndarray, np.ndarray] | None:
        """Arrow's parse of a text column (trimmed; blank is missing), or its numbers as they
        are; invalid as `invalid` says. None when Arrow cannot parse a value (then pandas'
        rules decide, row by row)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        present = pc.is_valid(values)
        text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
        if text:
            trimmed = pc.utf8_trim_whitespace(values)
            present = pc.fill_null(pc.and_kleene(present, pc.not_equal(trimmed, "")), False)
            kept = pc.if_else(present, trimmed, pa.scalar(None, values.type))
            try:
                values = pc.cast(kept, pa.float64())
            except pa.ArrowInvalid:
                return None
        elif not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
            return None
        numbers = values.to_numpy(zero_copy_only=False).astype("float64")
        present = present.to_numpy(zero_copy_only=False)
        spelled_nan = present & np.isnan(numbers) if text else np.zeros(len(numbers), bool)
        with np.errstate(invalid="ignore"):
            invalid = spelled_nan | (np.abs(numbers) > FLOAT32_MAX)
        return numbers, invalid

    def invalid(self, series: pd.Series) -> pd.Series:
        """Text that is not a number, infinities, and magnitudes beyond float32 (the tree
        families compute in float32: 1e300 would become infinity there)."""
        missing = is_missing(series)
        numbers = pd.to_numeric(series.where(~missing), errors="coerce")
        not_numbers = numbers.isna() & ~missing
        return not_numbers | (numbers.abs() > FLOAT32_MAX)

    def sklearn_encoder(self):
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
