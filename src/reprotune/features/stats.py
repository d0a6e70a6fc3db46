"""What a feature's values look like, compactly (a profile: bins and frequencies, never the
rows), and whether new values moved away from it (drift).

Numbers: deciles of the reference, the share of rows in each bin (PSI) and 101 quantiles (a
two-sample Kolmogorov-Smirnov test against the new values' distribution). Levels (categories,
binary columns, set elements): the reference's frequencies (PSI and a chi-square test). A
feature drifts when the test is significant *and* the shift is material (PSI): on many rows
a tiny shift is significant, on few rows a large PSI can be noise."""

import math

import numpy as np

BINS = 10
ATOM_SHARE = 0.05  # a single value this common gets a bin of its own
QUANTILES = 101
TOP_LEVELS = 50  # levels kept by name; the rest are pooled as OTHER
OTHER = "(other)"
MISSING = "(missing)"
P_VALUE = 0.05
PSI_MATERIAL = 0.1
FLOOR = 1e-4  # share of an empty bin, so PSI stays finite


def random_halves(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of `rows` row positions, the same for the same count: what a profile builds
    a reference on (a vocabulary, the levels it names) and what it measures against it."""
    order = np.random.default_rng(0).permutation(rows)
    return np.sort(order[: rows // 2]), np.sort(order[rows // 2 :])


def min_rows(profile: dict) -> int:
    """Fewer new rows than this cannot tell: the PSI of an unchanged sample of n rows over k
    bins is about (k - 1) / n, so below 2 (k - 1) / PSI_MATERIAL rows noise alone reaches half
    the material threshold (decile bins: 180 rows; a binary column: 40)."""
    if profile.get("kind") == "levels":
        counts = [*profile["counts"].values(), profile["other"]]
    else:
        counts = profile.get("shares", [])
    bins = max(sum(1 for c in counts if c > 0), 2)  # a bin empty in the reference adds nothing
    return math.ceil(2 * (bins - 1) / PSI_MATERIAL)


def numeric_profile(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    if not len(present):
        return {"kind": "numeric", "rows": len(values), "missing": 1.0, "edges": []}
    edges = _edges(present)
    return {
        "kind": "numeric",
        "rows": len(values),
        "missing": round(float(1 - len(present) / len(values)), 6),
        "edges": [float(e) for e in edges],
        "shares": [float(s) for s in _bin_shares(present, edges)],
        "quantiles": [float(q) for q in np.quantile(present, np.linspace(0, 1, QUANTILES))],
        "mean": float(present.mean()),
        "min": float(present.min()),
        "max": float(present.max()),
    }


def _edges(present: np.ndarray) -> np.ndarray:
    """Decile edges, plus a bin of its own for each value that holds a large share of the rows
    (e.g. pdays = -1 for clients never contacted): inside a decile its move would be hidden."""
    edges = set(np.quantile(present, np.linspace(0, 1, BINS + 1))[1:-1].tolist())
    values, counts = np.unique(present, return_counts=True)
    for atom in values[counts >= ATOM_SHARE * len(present)]:
        edges |= {float(atom), float(np.nextafter(atom, np.inf))}
    return np.array(sorted(edges))


def _bin_shares(present: np.ndarray, edges) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    return counts / max(len(present), 1)


def psi(expected, actual) -> float:
    """Population stability index of two share vectors (floored, so empty bins count)."""
    e = np.maximum(np.asarray(expected, float), FLOOR)
    a = np.maximum(np.asarray(actual, float), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_drift(profile: dict, values: np.ndarray) -> dict:
    from scipy.stats import kstwo

    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    if not len(present) or "quantiles" not in profile:  # a reference column all missing
        return _verdict("ks", None, None, None, {"rows": len(values)})
    edges = np.asarray(profile["edges"])
    index = psi(profile["shares"], _bin_shares(present, edges))
    reference = np.asarray(profile["quantiles"])
    grid = np.union1d(reference, np.quantile(present, np.linspace(0, 1, QUANTILES)))
    ref_cdf = np.interp(grid, reference, np.linspace(0, 1, len(reference)), left=0, right=1)
    new_cdf = np.searchsorted(np.sort(present), grid, side="right") / len(present)
    statistic = float(np.max(np.abs(ref_cdf - new_cdf)))
    reference_rows = profile["rows"] * (1 - profile["missing"])
    n = reference_rows * len(present) / (reference_rows + len(present))
    p_value = float(kstwo.sf(statistic, max(round(n), 1)))
    current = {"rows": len(values), "mean": float(present.mean())}
    current["missing"] = round(float(1 - len(present) / len(values)), 6)
    return _verdict("ks", statistic, p_value, index, current)


def level_profile(levels: list[str], rows: int, named: list[str] | None = None) -> dict:
    """Frequencies of `levels` (one entry per occurrence; missing rows as MISSING): of the
    TOP_LEVELS most common, or of the `named` ones; the rest pooled as OTHER."""
    values, counts = np.unique(np.asarray(levels, dtype=object).astype(str), return_counts=True)
    if named is not None:
        found = dict(zip(values.tolist(), counts.tolist(), strict=True))
        kept = {name: int(found.get(name, 0)) for name in named}
        return {
            "kind": "levels",
            "rows": int(rows),
            "total": int(counts.sum()),
            "counts": kept,
            "other": int(counts.sum() - sum(kept.values())),
        }
    order = np.argsort(-counts, kind="stable")
    kept = {str(values[i]): int(counts[i]) for i in order[:TOP_LEVELS]}
    other = int(counts.sum() - sum(kept.values()))
    return {
        "kind": "levels",
        "rows": int(rows),
        "total": int(counts.sum()),
        "counts": kept,
        "other": other,
    }


def _level_counts(profile: dict, levels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    names = list(profile["counts"])
    reference = np.array([*profile["counts"].values(), profile["other"]], float)
    position = {name: i for i, name in enumerate(names)}
    current = np.zeros(len(names) + 1)
    for level in levels:
        current[position.get(str(level), len(names))] += 1
    return reference, current


def level_drift(profile: dict, levels: list[str], rows: int) -> dict:
    from scipy.stats import chi2

    reference, current = _level_counts(profile, levels)
    if not current.sum():
        return _verdict("chi_square", None, None, None, {"rows": int(rows)})
    ref_share = reference / reference.sum()
    new_share = current / current.sum()
    index = psi(ref_share, new_share)
    # Chi-square of homogeneity over the two count tables (levels present in either).
    used = (reference + current) > 0
    table = np.vstack([reference[used], current[used]])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / np.maximum(expected, 1e-12)))
    dof = max(int(used.sum()) - 1, 1)
    p_value = float(chi2.sf(statistic, dof))
    names = [*profile["counts"], OTHER]
    unseen = sorted({str(v) for v in levels} - set(profile["counts"]))
    moved = sorted(range(len(names)), key=lambda i: -abs(new_share[i] - ref_share[i]))[:3]
    current_summary = {
        "rows": int(rows),
        "largest_moves": {
            names[i]: [round(ref_share[i], 4), round(new_share[i], 4)] for i in moved
        },
        "unseen_levels": unseen[:10],
    }
    return _verdict("chi_square", statistic, p_value, index, current_summary)


def _verdict(test, statistic, p_value, index, current) -> dict:
    drifted = (
        p_value is not None and p_value < P_VALUE and index is not None and index >= PSI_MATERIAL
    )
    return {
        "test": test,
        "statistic": None if statistic is None else round(statistic, 6),
        "p_value": None if p_value is None else float(f"{p_value:.6g}"),
        "psi": None if index is None or math.isnan(index) else round(index, 6),
        "drifted": bool(drifted),
        "current": current,
    }
