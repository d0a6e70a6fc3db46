"""Drift: how far new rows moved from the rows a model trained on.

preprocess writes a reference profile of the training split (data/processed/profile.json:
per feature, bins and frequencies, never the rows) that every model saves beside itself;
`reprotune drift` and `reprotune predict` compare new rows with it, feature by feature, through
each feature type's own test (features/stats.py): Kolmogorov-Smirnov and PSI for numbers and
text lengths, chi-square and PSI for levels. The data set drifted when at least `share` of the
features did."""

import numpy as np
import pandas as pd

from reprotune.features import FEATURE_TYPES

DATASET_SHARE = 0.3  # dataset_drift: at least this share of the features drifted


# 2: whatever a profile compares is measured out of sample (a text's vocabulary share, the
# levels it names); version 1 (no key) measured them on the rows that built them.
PROFILE_VERSION = 2


def build_profile(table: pd.DataFrame, features: dict[str, str]) -> dict:
    """The reference profile of `table`'s stored feature values."""
    profiles = {}
    for column, kind in features.items():
        found = FEATURE_TYPES[kind].profile(table[column])
        if found is not None:
            profiles[column] = {"type": kind, **found}
    return {"version": PROFILE_VERSION, "rows": len(table), "features": profiles}


def feature_min_rows(reference: dict) -> int:
    """The fewest new rows that can tell whether this feature moved (features/stats.py)."""
    from reprotune.features.stats import min_rows

    needed = min_rows(reference)
    if "unseen_words" in reference:
        needed = max(needed, min_rows(reference["unseen_words"]))
    return needed


def min_rows(profile: dict) -> int:
    """The fewest new rows that can tell anything: the least any feature needs."""
    needs = [feature_min_rows(r) for r in profile["features"].values()]
    return min(needs) if needs else 0


def compare(profile: dict, table: pd.DataFrame, share: float = DATASET_SHARE) -> dict:
    """Per-feature drift of `table` (stored values) against `profile`, and the verdict. A
    feature with fewer rows than it needs to tell (feature_min_rows) gets no verdict; with
    none judged, neither does the data set (`too_few_rows`)."""
    results, unjudged = {}, {}
    for column, reference in profile["features"].items():
        if column not in table.columns:
            continue
        needed = feature_min_rows(reference)
        if len(table) < needed:
            unjudged[column] = needed
            continue
        found = FEATURE_TYPES[reference["type"]].drift(reference, table[column])
        if found is not None:
            results[column] = {"type": reference["type"], **found}
    drifted = [c for c, r in results.items() if r["drifted"]]
    drifted_share = len(drifted) / len(results) if results else 0.0
    report = {
        "dataset_drift": bool(results) and drifted_share >= share,
        "drifted_share": round(drifted_share, 4),
        "share_threshold": share,
        "drifted_features": drifted,
        "rows": len(table),
        "reference_rows": profile["rows"],
        "profile_version": profile.get("version", 1),
        "features": results,
    }
    if unjudged:
        report["too_few_rows"] = unjudged  # feature -> rows it needs
    if not results and unjudged:
        report["verdict"] = (
            f"too few rows to tell: {len(table):,} rows; a feature needs at least "
            f"{min(unjudged.values()):,} (noise alone would move it past the PSI threshold)"
        )
    return report


def markdown(report: dict) -> str:
    if report.get("verdict"):
        return f"**Drift against the training rows: {report['verdict']}.**\n"
    verdict = "drifted" if report["dataset_drift"] else "no data set drift"
    lines = [
        f"**Drift against the training rows: {verdict}** — {len(report['drifted_features'])} "
        f"of {len(report['features'])} features moved (threshold {report['share_threshold']:.0%}); "
        f"{report['rows']:,} new rows vs {report['reference_rows']:,}.",
        "",
        "| feature | type | test | statistic | p-value | PSI | drifted |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    ordered = sorted(report["features"].items(), key=lambda item: -(item[1]["psi"] or 0))
    for column, r in ordered:
        lines.append(
            f"| {column} | {r['type']} | {r['test']} | {_num(r['statistic'])} | "
            f"{_num(r['p_value'])} | {_num(r['psi'])} | {'**yes**' if r['drifted'] else 'no'} |"
        )
    if report.get("too_few_rows"):
        needs = ", ".join(f"{c} ({n:,})" for c, n in report["too_few_rows"].items())
        lines += ["", f"Not judged, too few rows (each needs at least): {needs}."]
    return "\n".join(lines) + "\n"


HELD_OUT = ("val", "test")  # the splits the drift stage measures against the training rows


def split_reports(profile: dict, tables: dict[str, pd.DataFrame], share: float) -> dict:
    """Each held-out split (split -> stored table) against the training profile."""
    return {split: compare(profile, table, share) for split, table in tables.items()}


def stage_metrics(reports: dict[str, dict]) -> dict:
    """What DVC and MLflow track per split: the verdict, how many features moved, and each
    feature's PSI (the number `dvc metrics diff` shows moving between revisions)."""
    return {
        split: {
            "dataset_drift": r["dataset_drift"],
            "drifted_share": r["drifted_share"],
            "drifted_features": len(r["drifted_features"]),
            "psi": {c: f["psi"] for c, f in r["features"].items() if f["psi"] is not None},
            **({"too_few_rows": r["too_few_rows"]} if r.get("too_few_rows") else {}),
        }
        for split, r in reports.items()
    }


def plot_rows(report: dict, split: str) -> list[dict]:
    """One bar per feature: its PSI (DVC's bar_horizontal template)."""
    return [
        {"feature": column, "psi": round(found["psi"], 6), "split": split}
        for column, found in sorted(report["features"].items())
        if found["psi"] is not None
    ]


def splits_markdown(reports: dict[str, dict]) -> str:
    names = {"val": "validation", "test": "test"}
    sections = ["# Drift of the held-out splits against the training rows", ""]
    for split, report in reports.items():
        sections += [f"## {names.get(split, split)} split", "", markdown(report)]
    return "\n".join(sections)


def _num(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def stored_columns(profile: dict, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame`'s profiled columns as training stored them (what profiles and contracts
    describe), from raw values: a scored table's or a request's."""
    columns = {
        column: FEATURE_TYPES[spec["type"]].inputs(frame[column].reset_index(drop=True))
        for column, spec in profile["features"].items()
        if column in frame.columns
    }
    return pd.DataFrame(columns, index=range(len(frame)))


SAMPLE_ROWS = 200_000  # drift of a large table is measured on a uniform sample this big


class Sample:
    """A uniform random sample of up to `size` rows of a stream of chunks (each row drawn a
    random key, the smallest keys kept), of the profiled columns in their stored form: what
    drift is computed on when a table is scored chunk by chunk."""

    def __init__(self, profile: dict, size: int = SAMPLE_ROWS, seed: int = 0):
        self.profile = profile
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.kept: pd.DataFrame | None = None
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        self.add_stored(stored_columns(self.profile, frame))

    def add_stored(self, stored: pd.DataFrame) -> None:
        """Rows already in their stored form (`stored_columns`)."""
        kinds = {c: FEATURE_TYPES[spec["type"]] for c, spec in self.profile["features"].items()}
        chunk = pd.DataFrame(
            {c: kinds[c].sampled(values.reset_index(drop=True)) for c, values in stored.items()}
        )
        chunk["__key"] = self.rng.random(len(chunk))
        self.rows += len(chunk)
        joined = chunk if self.kept is None else pd.concat([self.kept, chunk], ignore_index=True)
        if len(joined) > self.size:
            joined = joined.iloc[
                np.argpartition(joined["__key"].to_numpy(), self.size)[: self.size]
            ]
        self.kept = joined.reset_index(drop=True)

    def report(self, share: float = DATASET_SHARE) -> dict:
        table = pd.DataFrame() if self.kept is None else self.kept.drop(columns="__key")
        found = compare(self.profile, table, share)
        found["rows"], found["sampled_rows"] = self.rows, len(table)
        return found


def summary_line(report: dict, against: str = "the model's training rows") -> str:
    if report.get("verdict"):
        return f"drift vs {against}: {report['verdict']}"
    moved = ", ".join(report["drifted_features"][:8]) or "none"
    verdict = "DRIFTED" if report["dataset_drift"] else "no data set drift"
    return (
        f"drift vs {against}: {verdict} ({len(report['drifted_features'])} of "
        f"{len(report['features'])} features moved: {moved})"
    )
