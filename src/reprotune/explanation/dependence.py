"""Partial dependence with ICE lines (scikit-learn's `partial_dependence`, brute force, on raw
columns): the model's average answer, and each sampled row's, as one column moves over a grid
while the others keep their values."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from reprotune.models.tabular import tabular_inputs


class SklearnView(ClassifierMixin, BaseEstimator):
    """A fitted candidate as scikit-learn's inspection tools expect a classifier."""

    def __init__(self, model=None):
        self.model = model

    def fit(self, X, y=None):
        return self

    def predict_proba(self, X):
        return self.model.predict_proba(X)

    def __sklearn_is_fitted__(self) -> bool:
        return True


def grid(values: pd.Series, kind: str, points: int) -> list:
    """Numbers: distinct quantiles from the 5th to the 95th percentile; other types: the most
    frequent levels (missing values are never a grid point)."""
    present = values.dropna()
    if kind == "number":
        quantiles = np.nanquantile(present.to_numpy(dtype=float), np.linspace(0.05, 0.95, points))
        return sorted({round(float(q), 6) for q in quantiles})
    counts = present.astype(str).value_counts()
    top = counts.sort_index().sort_values(ascending=False, kind="stable").head(points)
    return sorted(top.index.tolist())


def partial_dependence_of(
    model, frame: pd.DataFrame, column: str, points: int, ice_rows: int, seed: int
) -> dict:
    """{column, kind, grid, average, ice, class}: binary tasks follow P(positive) with ICE lines
    for `ice_rows` seeded rows; multiclass tasks one average line per class."""
    from sklearn.inspection import partial_dependence

    kind = model.features[column]
    if kind == "image":
        return {}  # no axis to vary a photo along; its importance and SHAP values still count
    frame = tabular_inputs(frame, model.features).reset_index(drop=True)
    values = grid(frame[column], kind, points)
    if len(values) < 2:
        return {}
    rows = np.random.RandomState(seed).permutation(len(frame))[: min(ice_rows, len(frame))]
    sample = frame.iloc[np.sort(rows)].reset_index(drop=True)
    view = SklearnView(model)
    view.classes_ = np.arange(len(model.label_names))
    categorical = [column] if kind != "number" else None
    result = partial_dependence(
        view,
        sample,
        [column],
        categorical_features=categorical,
        custom_values={column: values},
        kind="both",
        response_method="predict_proba",
    )
    average = np.asarray(result["average"])
    individual = np.asarray(result["individual"])
    binary = len(model.label_names) == 2
    out = {"column": column, "kind": kind, "grid": values}
    if binary:
        out["class"] = model.label_names[1]
        out["average"] = _rounded(average[0])
        out["ice"] = [_rounded(line) for line in individual[0]]
    else:
        out["class"] = None
        out["average_by_class"] = {
            name: _rounded(average[i]) for i, name in enumerate(model.label_names)
        }
    return out


def _rounded(values) -> list[float]:
    return [round(float(v), 6) for v in values]
