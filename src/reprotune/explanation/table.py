"""Typed columns as one float matrix and back: what SHAP's maskers and LIME sample over.

Numbers stay numbers; every other column becomes the code of its level (levels sorted, so the
codes do not depend on row order), with one more code for a missing value."""

import numpy as np
import pandas as pd

from reprotune.models.tabular import tabular_inputs


class CodedTable:
    def __init__(self, features: dict[str, str], *frames: pd.DataFrame):
        self.features = dict(features)
        self.columns = list(features)
        self.levels: dict[str, list[str]] = {}
        for column, kind in self.features.items():
            if kind == "number":
                continue
            values = set()
            for frame in frames:
                values.update(tabular_inputs(frame, self.features)[column].dropna().tolist())
            self.levels[column] = sorted(values)

    @property
    def categorical(self) -> list[int]:
        """Indices of the coded (non-number) columns."""
        return [i for i, column in enumerate(self.columns) if column in self.levels]

    def level_names(self) -> dict[int, list[str]]:
        """Code -> level name for each coded column (the last code: missing)."""
        return {
            i: [*(_level_name(v, code) for code, v in enumerate(self.levels[column])), "(missing)"]
            for i, column in enumerate(self.columns)
            if column in self.levels
        }

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        typed = tabular_inputs(frame, self.features)
        matrix = np.empty((len(typed), len(self.columns)), dtype=float)
        for i, column in enumerate(self.columns):
            values = typed[column]
            if column not in self.levels:
                matrix[:, i] = values.to_numpy(dtype=float)
                continue
            levels = self.levels[column]
            codes = pd.Categorical(values, categories=levels).codes.astype(float)
            # Missing values, and levels never seen when the table was built, share the
            # missing code: the model sees them as missing too.
            codes[codes < 0] = len(levels)
            matrix[:, i] = codes
        return matrix

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        columns = {}
        for i, column in enumerate(self.columns):
            values = np.asarray(matrix[:, i], dtype=float)
            if column not in self.levels:
                columns[column] = values
                continue
            levels = np.array([*self.levels[column], None], dtype=object)
            codes = np.clip(np.rint(values), 0, len(levels) - 1).astype(int)
            columns[column] = pd.Series(levels[codes], dtype=object)
        return tabular_inputs(pd.DataFrame(columns), self.features)

    def describe(self, matrix_row: np.ndarray) -> dict[str, object]:
        """One coded row as the user's values (for reports)."""
        row = self.decode(matrix_row.reshape(1, -1)).iloc[0]
        return {c: _readable(v) for c, v in row.items()}


def _level_name(value, code: int) -> str:
    return f"image #{code}" if isinstance(value, bytes) else str(value)


def _readable(value):
    if isinstance(value, bytes):
        return f"(an image, {len(value)} bytes)"
    return None if pd.isna(value) else value
