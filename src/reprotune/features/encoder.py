"""The typed columns of a table encoded for the scikit-learn families: one encoder per feature
type over all its columns (text and set: one per column, their encoders read a 1-D column),
the outputs put back in the order of the features, each column's outputs side by side.

Why not a ColumnTransformer with one pipeline per column: each pipeline costs a few
milliseconds of validation and pandas indexing per call, whatever the rows, so a one-row
prediction of a 16-column table took 25 ms. Grouped, a call costs what its rows cost, and the
encoded matrix is the one the per-column layout gave (tested), so models fit the same."""

import warnings

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from reprotune.errors import DataError
from reprotune.features import FEATURE_TYPES

CODES = "codes"  # category and binary columns as integer codes (native categorical splits)


# auto_wrap_output_keys=None: no set_output wrapper around transform (it costs per call).
class ColumnEncoder(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """`features`: column -> feature type, in the order of the model's inputs.

    `native_categories`: category and binary columns become integer codes (unseen and missing
    values NaN) for a model that splits on categories itself, instead of one-hot columns.
    `sparse_threshold`: the output is sparse when an encoder's is and the whole matrix is less
    dense than this (ColumnTransformer's rule); 0 always gives a dense array."""

    def __init__(self, features: dict, native_categories: bool = False, sparse_threshold=0.3):
        self.features = features
        self.native_categories = native_categories
        self.sparse_threshold = sparse_threshold

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        self.groups_, self.shortcuts_ = [], []
        blocks, sources = [], []
        for key, columns in self._groups():
            encoder = self._encoder(key)
            blocks.append(encoder.fit_transform(_block(X, columns, key)))
            self.groups_.append((key, columns, encoder))
            group_sources = _output_sources(encoder, columns, blocks[-1].shape[1])
            sources += group_sources
            self.shortcuts_.append(_checked_shortcut(encoder, group_sources, X, blocks[-1]))
        self._order_outputs(sources)
        self.sparse_output_ = any(sparse.issparse(b) for b in blocks) and (
            _density(blocks) < self.sparse_threshold
        )
        return self._stack(blocks)

    def transform(self, X):
        blocks = [
            shortcut(X) if shortcut is not None else encoder.transform(_block(X, columns, key))
            for (key, columns, encoder), shortcut in zip(self.groups_, self.shortcuts_, strict=True)
        ]
        return self._stack(blocks)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(self.feature_names_, dtype=object)

    def _groups(self) -> list[tuple[str, list[str]]]:
        groups: dict[str, list[str]] = {}
        for column, kind in self.features.items():
            if FEATURE_TYPES[kind].one_column_encoder:
                groups[f"{kind}:{column}"] = [column]
            else:
                key = CODES if self.native_categories and kind in ("category", "binary") else kind
                groups.setdefault(key, []).append(column)
        return list(groups.items())

    def _encoder(self, key: str):
        if key == CODES:
            return category_codes()
        kind = key.split(":", 1)[0]
        encoder = FEATURE_TYPES[kind].sklearn_encoder()
        if encoder is None:
            raise DataError(
                f"{kind} features have no scikit-learn encoding; fix: read them with a family "
                "that declares them (keras_multimodal), or leave them out with `columns`"
            )
        return encoder

    def _order_outputs(self, sources: list[tuple[str, str]]) -> None:
        """Outputs in the features' order (stable within a column); names `<column>__<name>`
        and `output_indices_` (column -> slice of outputs), as a ColumnTransformer names them."""
        position = {column: i for i, column in enumerate(self.features)}
        self.order_ = np.argsort([position[column] for column, _ in sources], kind="stable")
        self.in_order_ = bool((self.order_ == np.arange(len(sources))).all())
        ordered = [sources[i] for i in self.order_]
        self.feature_names_ = [f"{column}__{name}" for column, name in ordered]
        self.output_indices_ = {}
        start = 0
        for column in self.features:
            width = sum(1 for c, _ in ordered if c == column)
            self.output_indices_[column] = slice(start, start + width)
            start += width

    def _stack(self, blocks):
        if self.sparse_output_:
            matrix = sparse.hstack([sparse.csr_matrix(b) for b in blocks], format="csr")
        else:
            matrix = np.hstack([b.toarray() if sparse.issparse(b) else b for b in blocks])
        return matrix if self.in_order_ else matrix[:, self.order_]


def category_codes():
    from sklearn.preprocessing import OrdinalEncoder

    return OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )


def _block(frame, columns: list[str], key: str):
    """What a group's encoder reads: a 1-D column for text and set, else a 2-D array (numbers
    column-major, so per-column statistics sum each column as a one-column array would).
    `frame`: a DataFrame or a mapping of column arrays."""
    if len(columns) == 1 and ":" in key:
        return np.asarray(frame[columns[0]], dtype=object)
    values = np.column_stack([np.asarray(frame[column]) for column in columns])
    return np.asfortranarray(values) if values.dtype.kind == "f" else values


# -- shortcuts: what a fitted encoder computes, without its per-call validation -------------
#
# scikit-learn validates its input on every transform call (a few ms per encoder, whatever the
# rows). For the number and category/binary encoders the same output is a lookup or two array
# operations on their fitted attributes; each shortcut is checked at fit time to give exactly
# the encoder's output on the training rows, and a group whose shortcut does not keeps the
# encoder's own transform.

UNSEEN = "\x00unseen level\x00"  # a value no training split holds
LOOKUP_VECTORIZED_ROWS = 256


def _checked_shortcut(encoder, sources, frame: pd.DataFrame, expected):
    columns = list(dict.fromkeys(column for column, _ in sources))
    try:
        shortcut = _shortcut(encoder, columns, sources)
        if shortcut is None or sparse.issparse(expected):
            return None
        same = np.array_equal(shortcut(frame), np.asarray(expected), equal_nan=True)
    except (TypeError, ValueError, AttributeError, IndexError):
        return None
    return shortcut if same else None


def _shortcut(encoder, columns, sources):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    steps = [step for _, step in encoder.steps] if isinstance(encoder, Pipeline) else [encoder]
    kinds = [type(step) for step in steps]
    if kinds == [SimpleImputer, StandardScaler] and steps[0].strategy != "constant":
        return Scaled.of(steps[0], steps[1], encoder.n_features_in_, columns)
    if kinds[-1] in (OneHotEncoder, OrdinalEncoder):
        return Lookup.of(encoder, steps[-1], columns, sources)
    return None


class Scaled:
    """Missing numbers filled with the fitted statistic, then standardized; columns the
    imputer dropped (nothing to fit) stay dropped."""

    def __init__(self, columns, fill, mean, scale):
        self.columns, self.fill, self.mean, self.scale = columns, fill, mean, scale

    @classmethod
    def of(cls, imputer, scaler, width: int, kept: list[str]):
        statistics = np.asarray(imputer.statistics_, dtype=float)
        if width != len(statistics) or np.isnan(statistics).sum() != width - len(kept):
            return None
        return cls(kept, statistics[~np.isnan(statistics)], scaler.mean_, scaler.scale_)

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        values = np.column_stack(
            [np.asarray(frame[column], dtype="float64") for column in self.columns]
        )
        values = np.where(np.isnan(values), self.fill, values)
        values -= self.mean
        values /= self.scale
        return values


class Lookup:
    """Each column's value -> its output row, the rows taken from the encoder's own output for
    every level it knows, one value it never saw and a missing value."""

    def __init__(self, columns, levels, tables):
        self.columns, self.levels, self.tables = columns, levels, tables

    @classmethod
    def of(cls, encoder, final, columns, sources):
        levels = [[v for v in values if isinstance(v, str)] for values in final.categories_]
        tables = []
        for j, column in enumerate(columns):
            probe = np.empty((len(levels[j]) + 2, len(columns)), dtype=object)
            for i, known in enumerate(levels):
                probe[:, i] = known[0] if known else UNSEEN
            probe[:, j] = [*levels[j], UNSEEN, np.nan]
            outputs = [i for i, (source, _) in enumerate(sources) if source == column]
            with warnings.catch_warnings():  # the probe's unseen value is deliberate
                warnings.simplefilter("ignore", UserWarning)
                encoded = encoder.transform(probe)
            tables.append(np.asarray(encoded, dtype="float64")[:, outputs])
        indexes = [{level: i for i, level in enumerate(known)} for known in levels]
        return cls(columns, indexes, tables)

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for column, index, table in zip(self.columns, self.levels, self.tables, strict=True):
            unseen, missing = len(table) - 2, len(table) - 1
            values = np.asarray(frame[column], dtype=object)
            if len(values) > LOOKUP_VECTORIZED_ROWS:  # pandas' hash table, in C
                rows = pd.Index(list(index), dtype=object).get_indexer(values)
                rows[rows < 0] = unseen
                rows[pd.isna(values)] = missing
            else:  # a few rows: a dict is faster than building an index
                rows = [
                    index.get(value, unseen) if isinstance(value, str) else missing
                    for value in values
                ]
            parts.append(table[np.asarray(rows, dtype=np.intp)])
        return np.hstack(parts)


def _output_sources(encoder, columns: list[str], width: int) -> list[tuple[str, str]]:
    """(raw column, output name) for each output of a group's encoder."""
    if len(columns) == 1 and not hasattr(encoder, "n_features_in_"):
        names = encoder.get_feature_names_out()  # text and set vectorizers: one input column
        return [(columns[0], str(name)) for name in names]
    # Placeholders without underscores name each input, so an output's prefix tells its
    # column even when the real column names hold underscores.
    placeholders = [f"x{i}" for i in range(len(columns))]
    sources = []
    for name in encoder.get_feature_names_out(placeholders):
        placeholder, _, rest = str(name).partition("_")
        column = columns[int(placeholder[1:])]
        sources.append((column, f"{column}_{rest}" if rest else column))
    if len(sources) != width:
        raise AssertionError(f"{len(sources)} output names for {width} outputs")
    return sources


def _density(blocks) -> float:
    cells = sum(b.shape[0] * b.shape[1] for b in blocks)
    filled = sum(b.nnz if sparse.issparse(b) else b.size for b in blocks)
    return filled / cells if cells else 1.0
