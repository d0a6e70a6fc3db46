"""`category`: a column of discrete levels. One-hot encoded on the training split's levels;
levels rarer than `MIN_FREQUENCY` rows and levels never seen in training share one
"infrequent" bucket, so an unseen value at predict time never fails."""

import numpy as np
import pandas as pd

from reprotune.features.base import (
    MISSING_CATEGORY,
    LevelsFeature,
    as_strings,
    is_missing,
    string_array,
)

MIN_FREQUENCY = 5  # rows a level needs in the training split to get a column of its own


class CategoryFeature(LevelsFeature):
    name = "category"

    def looks_like(self, series: pd.Series) -> bool:
        return True  # the fallback: inference tries it last

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
            OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                min_frequency=MIN_FREQUENCY,
                sparse_output=False,
            ),
        )


def levels(series: pd.Series) -> list[str]:
    return sorted(series[~is_missing(series)].astype(str).unique())
