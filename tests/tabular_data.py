"""Generated Bank-Marketing-like data: imbalanced binary target with real signal in numeric,
categorical and binary columns (and some missing values)."""

from pathlib import Path

import numpy as np
import pandas as pd

JOBS = ["admin.", "blue-collar", "technician", "services", "management", "retired", "student"]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
FEATURES = {
    "age": "number",
    "balance": "number",
    "campaign": "number",
    "job": "category",
    "month": "category",
    "housing": "binary",
    "loan": "binary",
}


def make_bank_like(n: int, seed: int, positive_rate: float = 0.15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    balance = rng.normal(1500, 3000, n).round()
    campaign = rng.integers(1, 12, n)
    job = rng.choice(JOBS, n)
    month = rng.choice(MONTHS, n)
    housing = rng.choice(["yes", "no"], n)
    loan = rng.choice(["yes", "no"], n, p=[0.2, 0.8])
    score = (
        0.04 * (age - 50)
        + 0.0003 * balance
        - 0.3 * campaign
        + 1.5 * np.isin(job, ["retired", "student"])
        + 1.2 * np.isin(month, ["mar", "oct", "dec"])
        - 0.8 * (housing == "yes")
        - 0.6 * (loan == "yes")
        + rng.normal(0, 0.8, n)
    )
    cut = np.quantile(score, 1 - positive_rate)
    frame = pd.DataFrame(
        {
            "age": age,
            "balance": balance,
            "campaign": campaign,
            "job": job,
            "month": month,
            "housing": housing,
            "loan": loan,
            "call_id": np.arange(n),
            "y": np.where(score > cut, "yes", "no"),
        }
    )
    frame.loc[rng.random(n) < 0.03, "balance"] = np.nan
    return frame


def write_bank_like_csv(path: Path, n: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_bank_like(n, seed).to_csv(path, sep=";", index=False)
    return path


def tabular_data_params(train: Path, **overrides) -> dict:
    return {
        "source": "csv",
        "name": None,
        "revision": None,
        "files": {"train": str(train), "test": None},
        "csv": {"header": True, "columns": None, "sep": ";", "quotechar": '"'},
        "label_column": "y",
        "label_names": None,
        "positive_label": "yes",
        "drop_columns": ["call_id"],
        "features": dict(FEATURES),
        "train_size": None,
        "test_size": None,
        "val_fraction": 0.25,
        "test_fraction": 0.2,
        **overrides,
    }
