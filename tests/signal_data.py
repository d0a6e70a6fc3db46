"""A generated task whose signal sits in known columns: `dose` (number) and `colour`
(category) decide the label; `noise` and `shape` are pure noise."""

import numpy as np
import pandas as pd

from reprotune import models
from reprotune.config import PARAMS_CLASSES

FEATURES = {"dose": "number", "colour": "category", "noise": "number", "shape": "category"}
SIGNAL = {"dose", "colour"}
LABELS = ["no", "yes"]


def make_signal_table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dose = rng.normal(0, 1, n)
    colour = rng.choice(["red", "green", "blue", "grey"], n)
    score = 2.0 * dose + 2.5 * (colour == "red") - 1.5 * (colour == "blue") + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {
            "dose": dose,
            "colour": colour,
            "noise": rng.normal(0, 1, n),
            "shape": rng.choice(["round", "square", "flat"], n),
            "label": (score > 0.6).astype(int),
        }
    )


def fitted(family: str, train: pd.DataFrame, val: pd.DataFrame, **settings):
    params = PARAMS_CLASSES[family](family=family, **settings)
    model = models.create(params, LABELS, seed=0, features=FEATURES)
    model.fit(
        model.select_inputs(train),
        train["label"].to_numpy(),
        model.select_inputs(val),
        val["label"].to_numpy(),
    )
    return model
