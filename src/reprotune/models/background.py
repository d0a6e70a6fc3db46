"""The training rows a typed-input model keeps in its folder: the sample the service's /explain
draws its model-agnostic SHAP background from. Written by training, read by explanation."""

from pathlib import Path

import numpy as np
import pandas as pd

BACKGROUND = "background.parquet"
SAVED_BACKGROUND_ROWS = 50


def seeded_rows(frame: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """Up to `count` rows drawn without replacement, kept in their original order."""
    if len(frame) <= count:
        return frame.reset_index(drop=True)
    rows = np.sort(np.random.RandomState(seed).permutation(len(frame))[:count])
    return frame.iloc[rows].reset_index(drop=True)


def background_sample(train: pd.DataFrame, features: dict[str, str], rows: int, seed: int):
    """The raw feature columns of a seeded sample of training rows."""
    return seeded_rows(train[list(features)], rows, seed)


def save_background(folder, train: pd.DataFrame, features: dict[str, str], seed: int) -> None:
    background_sample(train, features, SAVED_BACKGROUND_ROWS, seed).to_parquet(
        Path(folder) / BACKGROUND, index=False
    )
