"""Explanation charts (PNG) and pages (HTML that renders offline: inline styles, no script).
Only the data decides the bytes: no timestamps, no software stamps, seeded jitter."""

import html
from pathlib import Path

import numpy as np

from reprotune.plots import _pyplot, _save

POSITIVE, NEGATIVE = "#1f77b4", "#d62728"


def importance_chart(path: Path, importances: dict[str, dict], title: str, top_k: int) -> Path:
    """Horizontal bars of the mean score drop, with the spread of the repeats."""
    shown = list(importances.items())[:top_k][::-1]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(shown) + 1.4))
    ax.barh(
        [name for name, _ in shown],
        [row["mean"] for _, row in shown],
        xerr=[row["std"] for _, row in shown],
        color=POSITIVE,
        ecolor="#555555",
        capsize=3,
    )
    ax.axvline(0, color="#999999", lw=0.8)
    ax.set_xlabel("score drop when the column is shuffled (mean ± std of the repeats)")
    ax.set_title(title)
    _save(fig, path)
    return path


def bar_chart(path: Path, weights: list[tuple[str, float]], title: str, xlabel: str) -> Path:
    """Signed horizontal bars, largest |weight| at the top."""
    shown = weights[::-1]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(shown) + 1.4))
    ax.barh(
        [name for name, _ in shown],
        [w for _, w in shown],
        color=[POSITIVE if w >= 0 else NEGATIVE for _, w in shown],
    )
    ax.axvline(0, color="#999999", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    _save(fig, path)
    return path


def beeswarm_chart(path: Path, attributions, top_k: int, seed: int, title: str) -> Path:
    """SHAP's beeswarm: one dot per row and column, coloured by the column's (coded) value."""
    import shap

    plt = _pyplot()
    explanation = shap.Explanation(
        values=attributions.values,
        base_values=attributions.base_values,
        data=attributions.data,
        feature_names=attributions.columns,
    )
    state = np.random.get_state()
    np.random.seed(seed)  # the beeswarm jitters with the global generator
    try:
        shap.plots.beeswarm(explanation, max_display=top_k, show=False)
    finally:
        np.random.set_state(state)
    fig = plt.gcf()
    fig.axes[0].set_title(title)
    fig.axes[0].set_xlabel(f"SHAP value ({attributions.units})")
    _save(fig, path)
    return path


def dependence_chart(path: Path, curves: list[dict], title: str) -> Path:
    """One panel per column: ICE lines (thin) and the partial dependence (thick)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.4), squeeze=False)
    for ax, curve in zip(axes[0], curves, strict=True):
        categorical = curve["kind"] != "number"
        x = np.arange(len(curve["grid"])) if categorical else np.asarray(curve["grid"])
        for line in curve.get("ice", []):
            ax.plot(x, line, color="#888888", lw=0.5, alpha=0.4)
        if "average" in curve:
            ax.plot(x, curve["average"], color=POSITIVE, lw=2.5, label="average (PDP)")
            ax.set_ylabel(f"P({curve['class']})")
        else:
            for name, line in curve["average_by_class"].items():
                ax.plot(x, line, lw=2, label=f"P({name})")
            ax.legend(fontsize=7)
        if categorical:
            ax.set_xticks(x, [str(v)[:12] for v in curve["grid"]], rotation=45, ha="right")
        ax.set_xlabel(curve["column"])
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    return path


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; color: #222; }}
section {{ border-top: 1px solid #ccc; padding: 0.5em 0 1em; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 8px; text-align: left; }}
.bar {{ display: inline-block; height: 0.8em; }}
.text {{ line-height: 2; }} .text span {{ padding: 1px 2px; border-radius: 3px; }}
</style></head><body>
<h1>{title}</h1>
<p>{intro}</p>
{sections}
</body></html>
"""


def _heading(example: dict, label_names: list[str]) -> str:
    return (
        f"<h2>{example['kind']}: test row {example['row']}</h2><p>predicted "
        f"<b>{html.escape(label_names[example['predicted']])}</b> "
        f"({example['confidence']:.3f}), actual "
        f"<b>{html.escape(label_names[example['actual']])}</b>; weights toward "
        f"<b>{html.escape(label_names[example['explained_class']])}</b></p>"
    )


def _weights_table(weights: list[tuple[str, float]]) -> str:
    largest = max((abs(w) for _, w in weights), default=1.0) or 1.0
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{w:+.4f}</td><td><span class='bar' "
        f"style='width:{120 * abs(w) / largest:.0f}px;background:"
        f"{POSITIVE if w >= 0 else NEGATIVE}'></span></td></tr>"
        for name, w in weights
    )
    return f"<table><tr><th>feature</th><th>weight</th><th></th></tr>{rows}</table>"


def _highlighted(text: str, weights: list[tuple[str, float]]) -> str:
    """The text with each explained word shaded by its weight (blue toward, red against)."""
    import re

    by_word = dict(weights)
    largest = max((abs(w) for w in by_word.values()), default=1.0) or 1.0
    parts = []
    for token in re.split(r"(\W+)", text):
        weight = by_word.get(token)
        if weight is None:
            parts.append(html.escape(token))
            continue
        alpha = 0.15 + 0.75 * abs(weight) / largest
        rgb = "31,119,180" if weight >= 0 else "214,39,40"
        parts.append(
            f"<span title='{weight:+.4f}' style='background:rgba({rgb},{alpha:.2f})'>"
            f"{html.escape(token)}</span>"
        )
    return "<p class='text'>" + "".join(parts) + "</p>"


def examples_page(path: Path, title: str, intro: str, examples: list[dict], label_names) -> Path:
    sections = []
    for example in examples:
        body = _heading(example, label_names)
        if "text" in example:
            body += _highlighted(example["text"], example["weights"])
        else:
            values = "".join(
                f"<tr><td>{html.escape(str(c))}</td><td>{html.escape(str(v))}</td></tr>"
                for c, v in example["values"].items()
            )
            body += f"<details><summary>the row</summary><table>{values}</table></details>"
        body += _weights_table(example["weights"])
        sections.append(f"<section>{body}</section>")
    page = PAGE.format(
        title=html.escape(title), intro=html.escape(intro), sections="\n".join(sections)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def class_panels_chart(path: Path, by_class: dict[str, list[tuple[str, float]]], title: str):
    """One panel of bars per class (a linear text model's heaviest n-grams)."""
    plt = _pyplot()
    n = len(by_class)
    rows = max(len(w) for w in by_class.values())
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 0.3 * rows + 1.4), squeeze=False)
    for ax, (name, weights) in zip(axes[0], by_class.items(), strict=True):
        shown = weights[::-1]
        ax.barh(
            [w[0] for w in shown],
            [w[1] for w in shown],
            color=[POSITIVE if w[1] >= 0 else NEGATIVE for w in shown],
        )
        ax.set_title(name, fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    return path
