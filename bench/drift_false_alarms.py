"""How often drift cries wolf, and how often it finds a real shift.

    .venv/bin/python bench/drift_false_alarms.py --data-dir ../shared/data [--splits 100]

For each example's training file (AG News text; UCI Bank Marketing; the POI photos, sets,
text and numbers), `--splits` random splits of its rows into a reference (75 %) and a held-out
part (25 %): the held-out part is the same population, so every feature flagged is a false
alarm. Printed per feature and for the data set: the share of splits flagged. Then, on a
generated Bank-shaped table, each injected shift (a unit change, an older population, a
renamed level, texts three times longer, texts in another vocabulary): the share of draws in
which drift finds it.
"""

import argparse
import ast
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from reprotune import drift
from reprotune.features import FEATURE_TYPES

sys.path.insert(0, str(Path(__file__).parent))
from budget_benchmark import bank_shaped
from drift_overhead import BANK_FEATURES as BANK

POI = {
    "tier": "category", "categories": "set", "tags": "set", "shortDescription": "text",
    "locationLon": "number", "locationLat": "number", "xps": "number",
    "main_image_path": "image",
}  # fmt: skip


def stored(frame: pd.DataFrame, features: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: FEATURE_TYPES[k].cast(frame[c], c, "b") for c, k in features.items()})


def ag_news(folder: Path) -> tuple[pd.DataFrame, dict]:
    raw = pd.read_csv(folder / "train.csv", header=None, names=["label", "title", "body"])
    text = raw["title"].fillna("") + " " + raw["body"].fillna("")
    return stored(pd.DataFrame({"text": text}), {"text": "text"}), {"text": "text"}


def bank(folder: Path) -> tuple[pd.DataFrame, dict]:
    raw = pd.read_csv(folder / "bank.csv", sep=";")
    return stored(raw, BANK), BANK


def poi(folder: Path) -> tuple[pd.DataFrame, dict]:
    raw = pd.read_csv(folder / "poi_dataset.csv")
    for column in ("categories", "tags"):
        raw[column] = raw[column].map(
            lambda v: sorted(ast.literal_eval(v)) if isinstance(v, str) else []
        )
    raw["main_image_path"] = [(folder / p).read_bytes() for p in raw["main_image_path"]]
    return stored(raw, POI), POI


def false_alarms(rows: pd.DataFrame, features: dict, splits: int) -> tuple[dict, float]:
    flagged = {c: 0 for c in features}
    dataset = 0
    for seed in range(splits):
        order = np.random.default_rng(seed).permutation(len(rows))
        cut = int(len(rows) * 0.75)
        report = drift.compare(
            drift.build_profile(rows.iloc[order[:cut]], features), rows.iloc[order[cut:]]
        )
        for column in report["drifted_features"]:
            flagged[column] += 1
        dataset += report["dataset_drift"]
    return {c: n / splits for c, n in flagged.items()}, dataset / splits


def injected(splits: int) -> dict[str, float]:
    """Detection rate of each shift: reference 3,000 generated rows, 1,000 new ones a draw."""
    features = {**{c: BANK[c] for c in ("age", "balance", "job", "housing")}, "note": "text"}
    words = np.array([f"w{i}" for i in range(3000)])
    weights = 1 / np.arange(1, 3001)

    def table(rows: int, seed: int, vocabulary=words) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        frame = bank_shaped(rows, seed)
        p = weights / weights.sum()
        frame["note"] = [
            " ".join(rng.choice(vocabulary, rng.integers(6, 20), p=p)) for _ in range(rows)
        ]
        return frame

    profile = drift.build_profile(stored(table(3000, 1000), features), features)
    shifts = {
        "balance / 30 (a unit change)": ("balance", lambda f: f.assign(balance=f["balance"] / 30)),
        "age + 12 (an older population)": ("age", lambda f: f.assign(age=f["age"] + 12)),
        "job 'technician' renamed 'tech'": (
            "job",
            lambda f: f.assign(job=f["job"].replace({"technician": "tech"})),
        ),
        "texts three times longer": ("note", lambda f: f.assign(note=(f["note"] + " ") * 3)),
        "texts in a new vocabulary": ("note", None),
    }
    found = {}
    for name, (column, change) in shifts.items():
        hits = 0
        for seed in range(splits):
            if change is None:
                other = np.array([f"v{i}" for i in range(3000)])
                new = table(1000, seed, np.concatenate([words[:1500], other[:1500]]))
            else:
                new = change(table(1000, seed))
            report = drift.compare(profile, stored(new, features))
            hits += column in report["drifted_features"]
        found[name] = hits / splits
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--splits", type=int, default=100)
    args = parser.parse_args()
    examples = {
        "AG News (train.csv)": (ag_news, "ag_news"),
        "Bank Marketing (bank.csv)": (bank, "bank_marketing"),
        "POI engagement": (poi, "poi_engagement"),
    }
    print(f"## False alarms: {args.splits} random 75/25 splits of each example's rows\n")
    print("| example | feature | type | splits flagged |\n|---|---|---|---|")
    for title, (load, folder) in examples.items():
        rows, features = load(args.data_dir / folder)
        per_feature, dataset = false_alarms(rows, features, args.splits)
        for column, share in per_feature.items():
            print(f"| {title} | {column} | {features[column]} | {share:.0%} |")
        print(f"| {title} | **data set** | | {dataset:.0%} |")
    print(f"\n## Injected shifts found ({args.splits} draws of 1,000 new rows)\n")
    print("| shift | found |\n|---|---|")
    for name, share in injected(args.splits).items():
        print(f"| {name} | {share:.0%} |")


if __name__ == "__main__":
    main()
