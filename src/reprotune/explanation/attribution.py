"""SHAP values on the user's columns.

Each family names its SHAP explainer (`Candidate.shap_explainer`). Tree families (random_forest,
xgboost): SHAP's TreeExplainer on the encoded matrix; linear ones (logreg): SHAP's exact
LinearExplainer on the encoded matrix against a background sample. The values of the columns
one raw column was encoded into (one-hot levels, TF-IDF terms) are then summed back to it —
SHAP values are additive, so the sum is that column's share. Every other model (ensembles
included): SHAP's permutation explainer over the raw columns (coded by CodedTable), each masked
column drawn from a seeded background sample; the model sees raw rows, so the values are per
column already. Binary tasks explain P(positive) (trees and linear models: their raw output,
log-odds for XGBoost and logistic regression); multiclass tasks each row's predicted class.

SHAP's numba kernels are cached on disk (`import_shap`): compiled in every process they took
about 10 s, most of a small explain stage."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reprotune.explanation.budget import Budget
from reprotune.explanation.table import CodedTable
from reprotune.models.base import decide
from reprotune.models.tabular import tabular_inputs

# What a family without its own `shap_explainer` gets (an ensemble, a network).
MODEL_AGNOSTIC = "permutation"
ROWS_PER_CHUNK = 10  # model-agnostic rows explained between two looks at the budget


@dataclass
class Attributions:
    columns: list[str]
    values: np.ndarray  # (rows, columns)
    base_values: np.ndarray  # (rows,)
    classes: np.ndarray  # (rows,): the class each row's values explain
    data: np.ndarray  # (rows, columns): the coded raw values, for colouring a beeswarm
    method: str
    units: str
    notes: list[str] = field(default_factory=list)

    def mean_abs(self) -> dict[str, float]:
        """{column: mean |SHAP|}, largest first (ties by name)."""
        means = (
            np.abs(self.values).mean(axis=0) if len(self.values) else np.zeros(len(self.columns))
        )
        pairs = [(c, round(float(m), 6)) for c, m in zip(self.columns, means, strict=True)]
        return dict(sorted(pairs, key=lambda item: (-item[1], item[0])))


def explained_classes(model, proba: np.ndarray) -> np.ndarray:
    if proba.shape[1] == 2:
        return np.ones(len(proba), dtype=int)
    return decide(proba, model.threshold)


def sum_to_columns(values: np.ndarray, output_slices: dict[str, slice], columns: list[str]):
    """Encoded-column values (rows, encoded) -> (rows, raw columns), summed per raw column."""
    return np.column_stack([values[:, output_slices[c]].sum(axis=1) for c in columns])


def _pick_class(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(rows, features[, classes]) -> (rows, features): each row's explained class."""
    if values.ndim == 2:  # one output (XGBoost binary): it is the positive class
        return values
    return values[np.arange(len(values)), :, classes]


def _pick_base(expected, classes: np.ndarray) -> np.ndarray:
    expected = np.atleast_1d(np.asarray(expected, dtype=float))
    if len(expected) == 1:
        return np.full(len(classes), expected[0])
    return expected[classes]


def import_shap():
    """shap, its numba kernels made to compile once per machine, not once per process (about
    10 s, most of a small explain stage): the masking kernels are cached on disk (next to
    SHAP's code, or in the user's cache folder where that is read-only); the two that take the
    link function as an argument, whose numba type differs in every process so that the cache
    never hits (and grows a file a run), run as plain Python — one short loop over the
    evaluated masks."""
    import shap
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher
    from shap import links
    from shap.maskers import _tabular
    from shap.utils import _masked_model

    for module in (_tabular, links):
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and isinstance(value._cache, NullCache):
                value.enable_caching()
    for name in ("_build_fixed_single_output", "_build_fixed_multi_output"):
        kernel = getattr(_masked_model, name, None)
        if isinstance(kernel, CPUDispatcher):
            setattr(_masked_model, name, kernel.py_func)
    return shap


def encoded_matrix(pre, raw: pd.DataFrame) -> np.ndarray:
    encoded = pre.transform(raw)
    return encoded.toarray() if hasattr(encoded, "toarray") else np.asarray(encoded)


def shap_explainer_of(model) -> str:
    return getattr(model, "shap_explainer", MODEL_AGNOSTIC)


class TreeUnsupported(Exception):
    """TreeExplainer cannot read this tree model."""


def tree_attributions(model, frame: pd.DataFrame, table: CodedTable) -> Attributions:
    """TreeExplainer for the families whose `shap_explainer` is "tree"."""
    shap = import_shap()

    pre = model.pipeline.named_steps["features"]
    classifier = model.pipeline.named_steps["model"]
    raw = tabular_inputs(frame, model.features)
    encoded = encoded_matrix(pre, raw)
    try:
        explainer = shap.TreeExplainer(classifier)
        values = np.asarray(explainer.shap_values(encoded, check_additivity=False))
    except Exception as exc:  # e.g. a split kind this SHAP version cannot parse
        raise TreeUnsupported(
            f"TreeExplainer could not read the {model.family} model ({exc}); used the "
            "model-agnostic explainer"
        ) from exc
    classes = explained_classes(model, model.predict_proba(raw))
    per_encoded = _pick_class(values, classes)
    columns = list(model.features)
    units = model.tree_output
    return Attributions(
        columns=columns,
        values=sum_to_columns(per_encoded, pre.output_indices_, columns),
        base_values=_pick_base(explainer.expected_value, classes),
        classes=classes,
        data=table.encode(raw),
        method="tree (TreeExplainer, encoded columns summed to raw columns)",
        units=units,
    )


def linear_attributions(
    model, frame: pd.DataFrame, background: pd.DataFrame, table: CodedTable
) -> Attributions:
    """SHAP's LinearExplainer (exact for a linear model, features independent) on the encoded
    matrix, against the encoded background rows; in log-odds (binary) or the class's score."""
    shap = import_shap()

    pre = model.pipeline.named_steps["features"]
    classifier = model.pipeline.named_steps["model"]
    raw = tabular_inputs(frame, model.features)
    reference = encoded_matrix(pre, tabular_inputs(background, model.features))
    masker = shap.maskers.Independent(reference, max_samples=len(reference))
    explainer = shap.LinearExplainer(classifier, masker)
    values = np.asarray(explainer.shap_values(encoded_matrix(pre, raw)))
    classes = explained_classes(model, model.predict_proba(raw))
    columns = list(model.features)
    return Attributions(
        columns=columns,
        values=sum_to_columns(_pick_class(values, classes), pre.output_indices_, columns),
        base_values=_pick_base(explainer.expected_value, classes),
        classes=classes,
        data=table.encode(raw),
        method=f"linear (LinearExplainer, {len(reference)} background rows, encoded columns "
        "summed to raw columns)",
        units="log-odds" if len(model.label_names) == 2 else "class score",
    )


def agnostic_attributions(
    model,
    frame: pd.DataFrame,
    background: pd.DataFrame,
    table: CodedTable,
    permutations: int,
    seed: int,
    budget: Budget | None = None,
) -> Attributions:
    """SHAP's permutation explainer over the coded raw columns, `ROWS_PER_CHUNK` rows at a time
    so that a slow model stops at the budget with what it has."""
    shap = import_shap()

    coded_rows = table.encode(frame)
    proba = model.predict_proba(table.decode(coded_rows))
    classes = explained_classes(model, proba)

    def predict(matrix: np.ndarray) -> np.ndarray:
        return model.predict_proba(table.decode(matrix))

    masker = shap.maskers.Independent(table.encode(background), max_samples=len(background))
    explainer = shap.PermutationExplainer(predict, masker, seed=seed)
    max_evals = 2 * len(table.columns) * permutations + 1
    chunks = []
    for start in range(0, len(coded_rows), ROWS_PER_CHUNK):
        if budget is not None and budget.exhausted:
            budget.cut_short("SHAP (model-agnostic)", start, len(coded_rows), "rows")
            break
        chunk = explainer(
            coded_rows[start : start + ROWS_PER_CHUNK], max_evals=max_evals, silent=True
        )
        chunks.append(chunk)
    done = sum(len(c.values) for c in chunks)
    values = np.concatenate([c.values for c in chunks]) if chunks else np.empty((0, 0, 0))
    bases = np.concatenate([c.base_values for c in chunks]) if chunks else np.empty((0, 0))
    rows = np.arange(done)
    return Attributions(
        columns=list(table.columns),
        values=values[rows, :, classes[:done]] if done else np.empty((0, len(table.columns))),
        base_values=bases[rows, classes[:done]] if done else np.empty(0),
        classes=classes[:done],
        data=coded_rows[:done],
        method=f"permutation (SHAP PermutationExplainer, {permutations} permutations per row, "
        f"{len(background)} background rows)",
        units="probability",
    )


def attributions(model, frame, background, permutations: int, seed: int, budget=None):
    """The family's own SHAP explainer (tree, linear) where it has one, else model-agnostic
    SHAP (over the same coded columns); tree families need no `background`."""
    table = CodedTable(model.features, *(f for f in (background, frame) if f is not None))
    notes = []
    kind = shap_explainer_of(model)
    if kind == "tree":
        try:
            return tree_attributions(model, frame, table)
        except TreeUnsupported as exc:
            notes.append(str(exc))
    elif kind == "linear":
        return linear_attributions(model, frame, background, table)
    result = agnostic_attributions(model, frame, background, table, permutations, seed, budget)
    result.notes = notes + result.notes
    return result
