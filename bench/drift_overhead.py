"""What checking a table costs: the data contract (pandera, lazy: every failure) and drift
against a reference profile, on N generated Bank-like rows; and the drift verdicts that matter
on the real Bank Marketing file (a seasonal split and random splits).

    python bench/drift_overhead.py --rows 1000000
    python bench/drift_overhead.py --bank ../shared/data/bank_marketing/bank.csv
    python bench/drift_overhead.py --rows --predict 1000000   # reprotune predict's share
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


def predict(rows: int, scratch: Path) -> None:
    """`reprotune predict`'s own path (a logistic regression with its contract and profile):
    the contract check off vs on, drift measured in both."""
    from tabular_data import FEATURES, make_bank_like

    from reprotune import models
    from reprotune.config import PARAMS_CLASSES
    from reprotune.data import reference
    from reprotune.scoring import score_table
    from reprotune.service.model import ModelRef, load

    train = make_bank_like(5_000, seed=1)
    model = models.create(
        PARAMS_CLASSES["logreg"](family="logreg"), ["no", "yes"], seed=0, features=FEATURES
    )
    labels = (train["y"] == "yes").astype(int).to_numpy()
    model.fit(train[list(FEATURES)], labels, train[list(FEATURES)].head(0), labels[:0])
    folder = scratch / "logreg"
    folder.mkdir()
    model.save(folder, extra={"train": {}, "input_example": None})
    reference.write(folder, stored(train, FEATURES), FEATURES)
    make_bank_like(rows, seed=2).drop(columns=["y"]).to_parquet(scratch / "new.parquet")
    served = load(ModelRef.parse(str(folder)), "", scratch)
    seconds = {}
    for mode in ("off", "count", "off", "count"):  # each twice, the second counted
        out = scratch / f"scored-{mode}.parquet"
        report = score_table(served, str(scratch / "new.parquet"), out, contract=mode)
        seconds[mode] = report.seconds
    print(
        f"| predict {rows:,} rows | contract off {seconds['off']:.2f} s | contract count "
        f"{seconds['count']:.2f} s | check's share {seconds['count'] - seconds['off']:.2f} s |"
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
    parser.add_argument("--predict", type=int, nargs="*", default=[], help="rows to score")
    args = parser.parse_args()
    if args.bank:
        bank(args.bank)
    for rows in args.predict:
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            predict(rows, Path(scratch))
    for rows in args.rows:
        overhead(rows)


if __name__ == "__main__":
    main()
