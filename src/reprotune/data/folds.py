"""k-fold splits for cross-validated studies and out-of-fold ensemble predictions:
stratified by class and, when the task has a group column, grouped (no group in two folds)."""

import numpy as np
import pandas as pd

from reprotune.errors import DataError


def check_fold_count(labels: np.ndarray, folds: int, key: str, groups=None) -> None:
    """Stop when some class (or the groups) cannot fill `folds` folds."""
    counts = np.bincount(np.asarray(labels))
    smallest = int(counts[counts > 0].min())
    if folds > smallest:
        raise DataError(
            f"{key} = {folds}: the smallest class has only {smallest} row(s) in train + "
            f"validation, so some folds would lack it; fix: set {key} to at most {smallest}"
        )
    if groups is not None and folds > len(set(groups)):
        raise DataError(
            f"{key} = {folds}: only {len(set(groups))} groups (data.group_column); fix: "
            f"set {key} to at most {len(set(groups))}"
        )


def fold_indices(labels: np.ndarray, folds: int, seed: int, groups=None):
    """[(fit rows, held-out rows), ...]: every row is held out exactly once."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    labels = np.asarray(labels)
    if groups is None:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(labels)), labels))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels, np.asarray(groups)))


def inner_split(labels: np.ndarray, seed: int, trains_on_val: bool, fraction: float = 0.1):
    """(fit rows, validation rows) of a refit inside one fold: a stratified tenth held out for
    the family's early stopping, or none for a family that would train on it anyway."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    if trains_on_val:
        return index, index[:0]
    try:
        return train_test_split(index, test_size=fraction, stratify=labels, random_state=seed)
    except ValueError:  # a class too small to stratify
        return train_test_split(index, test_size=fraction, random_state=seed)


def concat_rows(first, second):
    """Two sets of model inputs (texts, or typed tables) as one."""
    if isinstance(first, pd.DataFrame):
        return pd.concat([first, second], ignore_index=True)
    return list(first) + list(second)


def take_rows(inputs, rows: np.ndarray):
    if isinstance(inputs, pd.DataFrame):
        return inputs.iloc[rows].reset_index(drop=True)
    return [inputs[i] for i in rows]


def stratified_rows(labels: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """Indices of a seeded, stratified subsample of `rows` rows (all of them, in order, when
    there are no more than that)."""
    labels = np.asarray(labels)
    if rows >= len(labels):
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    try:
        kept, _ = train_test_split(index, train_size=rows, stratify=labels, random_state=seed)
    except ValueError:  # a class too small to stratify
        kept, _ = train_test_split(index, train_size=rows, random_state=seed)
    return np.sort(kept)
