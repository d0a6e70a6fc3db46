"""What checking a table costs: the data contract (pandera, lazy: every failure) and drift
against a reference profile, on N generated Bank-like rows; and the drift verdicts that matter
on the real Bank Marketing file (a seasonal split and random splits).

    python bench/drift_overhead.py --rows 1000000
    python bench/drift_overhead.py --bank ../shared/data/bank_marketing/bank.csv
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reprotune import drift
from reprotune.data import contract
from reprotune.features import FEATURE_TYPES

BANK_FEATURES = {
    **dict.fromkeys(["age", "balance", "day", "campaign", "pdays", "previous"], "number"),
    **dict.fromkeys(["job", "marital", "education", "contact", "month", "poutcome"], "category"),
    **dict.fromkeys(["default", "housing", "loan"], "binary"),
}


def stored(frame: pd.DataFrame, features: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: FEATURE_TYPES[k].cast(frame[c], c, "new") for c, k in features.items()})


def overhead(rows: int) -> None:
    from tabular_data import FEATURES, make_bank_like

    reference = stored(make_bank_like(5_000, seed=1), FEATURES)
    schema = contract.infer(reference, FEATURES)
    profile = drift.build_profile(reference, FEATURES)
    new = make_bank_like(rows, seed=2)
    start = time.perf_counter()
    table = stored(new, FEATURES)
    cast = time.perf_counter() - start
    start = time.perf_counter()
    found = contract.violations(schema, table, "new")
    checked = time.perf_counter() - start
    start = time.perf_counter()
    sample = drift.Sample(profile)
    for chunk in range(0, rows, 50_000):
        sample.add(new.iloc[chunk : chunk + 50_000])
    report = sample.report()
    drifted = time.perf_counter() - start
    print(
        f"| {rows:,} rows | cast {cast:.2f} s | contract {checked:.2f} s "
        f"({len(found)} violated checks) | drift {drifted:.2f} s (sample "
        f"{report['sampled_rows']:,}; drifted: {report['drifted_features']}) | "
        f"contract + drift {checked + drifted:.2f} s |"
    )


def bank(path: Path) -> None:
    raw = pd.read_csv(path, sep=";")
    table = stored(raw, BANK_FEATURES)
    late = raw["month"].isin(["sep", "oct", "nov", "dec"]).to_numpy()
    report = drift.compare(drift.build_profile(table[~late], BANK_FEATURES), table[late])
    print(
        f"seasonal (Jan-Aug reference, {int(late.sum())} Sep-Dec rows): dataset_drift "
        f"{report['dataset_drift']}, {len(report['drifted_features'])} of 15 drifted: "
        f"{report['drifted_features']}"
    )
    print(drift.markdown(report))
    alarms = []
    for seed in range(20):
        order = np.random.default_rng(seed).permutation(len(table))
        cut = int(0.8 * len(table))
        found = drift.compare(
            drift.build_profile(table.iloc[order[:cut]], BANK_FEATURES), table.iloc[order[cut:]]
        )
        alarms.append(len(found["drifted_features"]))
    print(
        f"random 80/20 splits, 20 seeds: drifted features per split: max {max(alarms)}, "
        f"mean {np.mean(alarms):.2f} (of 15)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--bank", type=Path, help="bank.csv (UCI, ;-separated)")
    args = parser.parse_args()
    if args.bank:
        bank(args.bank)
    for rows in args.rows:
        overhead(rows)


if __name__ == "__main__":
    main()
