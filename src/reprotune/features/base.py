"""What every feature type offers: inference, validation and casting of a raw column, and the
scikit-learn encoder that learns its preprocessing on the training split."""

import abc
from typing import ClassVar

import numpy as np
import pandas as pd

MISSING_CATEGORY = "__missing__"


def is_missing(series: pd.Series) -> pd.Series:
    """None, NaN and blank strings (CSV files are read without NA parsing)."""
    blank = series.astype(str).str.strip() == "" if series.dtype == object else False
    return series.isna() | blank


def as_strings(series: pd.Series) -> pd.Series:
    """Strings with missing values as NaN: what the encoders and the saved splits hold."""
    text = series.astype(object).where(~is_missing(series), np.nan)
    return text.map(lambda v: v if isinstance(v, float) else str(v).strip()).astype(object)


class FeatureType(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    def looks_like(self, series: pd.Series) -> bool:
        """Whether inference should give a column like this one this type."""

    @abc.abstractmethod
    def cast(self, series: pd.Series, column: str, split: str) -> pd.Series:
        """The column in this type's storage form; DataError on values it cannot hold."""

    @abc.abstractmethod
    def sklearn_encoder(self):
        """A transformer fitted on the training split (kept inside the saved model)."""
