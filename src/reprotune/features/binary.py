"""`binary`: a column with two values (yes/no, 0/1, true/false): one 0/1 column."""

import numpy as np
import pandas as pd

from reprotune.features.base import (
    MISSING_CATEGORY,
    LevelsFeature,
    as_strings,
    is_missing,
    string_array,
)


class BinaryFeature(LevelsFeature):
    name = "binary"

    def looks_like(self, series: pd.Series) -> bool:
        return series[~is_missing(series)].astype(str).str.strip().nunique() == 2

    def cast(self, series: pd.Series, column: str, split: str) -> pd.Series:
        return as_strings(series)

    def input_array(self, values: np.ndarray) -> np.ndarray:
        return string_array(values)

    def sklearn_encoder(self):
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder

        return make_pipeline(
            SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY),
            OneHotEncoder(drop="if_binary", handle_unknown="ignore", sparse_output=False),
        )
