"""What a change did: params and metrics against a base revision, as markdown, with a gate.

The numbers come from DVC itself (`dvc params diff --json`, `dvc metrics diff --all --json`);
this module only decides direction (better / worse), renders, and applies `--fail-on` rules.
"""

import fnmatch
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reprotune.errors import ReprotuneError
from reprotune.leaderboard import cell

MARKER = "<!-- reprotune-report -->"
# By the metric's last name part: is a larger value better?
HIGHER_IS_BETTER = re.compile(
    r"(accuracy|f1|precision|recall|auc|mcc|samples_per_s|throughput|best_epoch)", re.IGNORECASE
)
# Explanations' per-feature weights (metrics/explain/<candidate>.json): reported apart, as the
# features whose importance moved most, not as better or worse.
IMPORTANCE_PATH = re.compile(r"(^|/)metrics/explain/(?P<candidate>[^/]+)\.json$")
IMPORTANCE_NAME = re.compile(r"^(?P<measure>importance|shap_mean_abs)\.(?P<feature>.+)$")
IMPORTANCE_SHOWN = 10
LOWER_IS_BETTER = re.compile(r"(loss|latency|seconds|size_mb|brier|cost)", re.IGNORECASE)
RULE = re.compile(
    r"^\s*(?P<metric>[^<>\s]+)\s*(?P<op>[<>])\s*(?P<value>[+-]?[\d.]+(e-?\d+)?)(?P<pct>%?)\s*$"
)


class ReportError(ReprotuneError):
    """DVC could not diff, or a --fail-on rule is malformed."""


@dataclass(frozen=True)
class MetricChange:
    path: str
    name: str
    old: float | None
    new: float | None

    @property
    def key(self) -> str:
        return f"{self.path}:{self.name}"

    @property
    def delta(self) -> float | None:
        if self.old is None or self.new is None:
            return None
        return self.new - self.old

    @property
    def relative(self) -> float | None:
        if self.delta is None or not self.old:
            return None
        return self.delta / abs(self.old)

    @property
    def direction(self) -> int:
        """+1 when larger is better, -1 when smaller is better, 0 when unknown."""
        last = self.name.rsplit(".", 1)[-1]
        if LOWER_IS_BETTER.search(last):
            return -1
        return 1 if HIGHER_IS_BETTER.search(last) else 0

    @property
    def verdict(self) -> str:
        if self.old is None:
            return "new"
        if self.new is None:
            return "removed"
        if not self.delta:
            return "same"
        if self.direction == 0:
            return "changed"
        return "better" if self.delta * self.direction > 0 else "worse"


@dataclass(frozen=True)
class Rule:
    """`macro_f1<-0.01`: fail when a matching metric's change is below -0.01 (`%`: relative)."""

    pattern: str
    op: str
    threshold: float
    relative: bool

    @classmethod
    def parse(cls, text: str) -> "Rule":
        match = RULE.match(text)
        if not match:
            raise ReportError(
                f"--fail-on {text!r} is not a rule; fix: write METRIC<CHANGE or METRIC>CHANGE, "
                "e.g. 'macro_f1<-0.01' or 'latency_ms>+20%'"
            )
        return cls(match["metric"], match["op"], float(match["value"]), relative=bool(match["pct"]))

    def matches(self, change: MetricChange) -> bool:
        return (
            change.name == self.pattern
            or change.name.endswith(f".{self.pattern}")
            or fnmatch.fnmatch(change.key, self.pattern)
            or fnmatch.fnmatch(change.name, self.pattern)
        )

    def violated_by(self, change: MetricChange) -> bool:
        if self.relative:
            value = None if change.relative is None else change.relative * 100
        else:
            value = change.delta
        if value is None or not self.matches(change):
            return False
        return value < self.threshold if self.op == "<" else value > self.threshold

    def __str__(self) -> str:
        return f"{self.pattern}{self.op}{self.threshold:+g}{'%' if self.relative else ''}"


def _dvc_json(args: list[str], cwd: Path) -> dict:
    done = subprocess.run(["dvc", *args, "--json"], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ReportError(f"`dvc {' '.join(args)}` failed: {done.stderr.strip()}")
    return json.loads(done.stdout or "{}")


def metric_changes(base: str, cwd: Path = Path()) -> list[MetricChange]:
    diff = _dvc_json(["metrics", "diff", base, "--all"], cwd)
    return [
        MetricChange(path, name, values.get("old"), values.get("new"))
        for path, metrics in sorted(diff.items())
        for name, values in sorted(metrics.items())
        if _numeric(values.get("old")) and _numeric(values.get("new"))
    ]


def _numeric(value) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def param_changes(base: str, cwd: Path = Path()) -> list[tuple[str, object, object]]:
    diff = _dvc_json(["params", "diff", base], cwd)
    return [
        (name, values.get("old"), values.get("new"))
        for _, params in sorted(diff.items())
        for name, values in sorted(params.items())
    ]


def champion_at(rev: str | None, cwd: Path = Path(), path: str = "metrics/compare.json"):
    """The champion recorded by compare at a git revision (None: the workspace)."""
    if rev is None:
        file = Path(cwd) / path
        text = file.read_text(encoding="utf-8") if file.is_file() else None
    else:
        text = _at_revision(rev, path, cwd)
    return json.loads(text).get("champion") if text else None


def champion_interval(cwd: Path = Path(), path: str = "metrics/compare.json") -> str:
    """`macro_f1 0.8857, 95% CI [0.86, 0.91]` from the workspace's compare.json (and why the
    champion is not the best score, when it is not); empty without intervals."""
    file = Path(cwd) / path
    if not file.is_file():
        return ""
    compare = json.loads(file.read_text(encoding="utf-8"))
    span = (compare.get("intervals") or {}).get("scores", {}).get(compare.get("champion"))
    if not span:
        return ""
    said = (
        f"{compare['metric']} {compare['champion_score']:.4g}, 95% CI "
        f"[{span[0]:.4g}, {span[1]:.4g}] (paired bootstrap of the test rows)"
    )
    reason = compare.get("champion_reason")
    said = f"{said}; {reason}" if reason else said
    registry = compare.get("registry")
    if registry:
        said += (
            f". Registry: {registry['registered_model']} version {registry['version']} -> "
            f"@{registry['alias']} ({registry['reason']})"
        )
    return said


def _at_revision(rev: str, path: str, cwd: Path) -> str | None:
    done = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=cwd, capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def data_drift(base: str, cwd: Path = Path()) -> str:
    """When the training rows changed since `base`: the new ones against base's training
    profile (data/profile.json, the rows base's champion trained on), as markdown; empty
    when they did not change or base has no profile yet."""
    from reprotune import paths

    old = _at_revision(base, paths.REFERENCE_PROFILE.as_posix(), cwd)
    new = Path(cwd) / paths.REFERENCE_PROFILE
    if old is None or not new.is_file() or json.loads(old) == json.loads(new.read_text()):
        return ""
    heading = f"### Data drift: the training rows changed since `{base}`"
    train = Path(cwd) / paths.processed_split("train")
    if not train.is_file():
        return f"{heading}\n\n{train} is not here to measure (run `dvc repro` or `dvc pull`).\n"
    import pandas as pd

    from reprotune.drift import DATASET_SHARE, compare, markdown

    share = (_read_params(cwd).get("drift") or {}).get("share", DATASET_SHARE)
    found = compare(json.loads(old), pd.read_parquet(train), share)
    said = f"Measured against `{base}`'s training rows, the ones its champion trained on."
    return f"{heading}\n\n{said}\n\n{markdown(found)}"


def _read_params(cwd: Path) -> dict:
    from reprotune.io import read_yaml
    from reprotune.paths import PARAMS_FILE

    file = Path(cwd) / PARAMS_FILE
    return read_yaml(file.read_text(encoding="utf-8")) if file.is_file() else {}


def changed_plots(base: str, cwd: Path = Path()) -> list[str]:
    done = subprocess.run(
        ["git", "diff", "--name-only", base, "--", "plots/*.png", "plots/**/*.png"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    return sorted(set(done.stdout.split())) if done.returncode == 0 else []


ICONS = {
    "better": "🟢 better",
    "worse": "🔴 worse",
    "same": "=",
    "new": "🆕 new",
    "removed": "❌ removed",
    "changed": "changed",
}


def is_importance(change: MetricChange) -> bool:
    return bool(IMPORTANCE_PATH.search(change.path) and IMPORTANCE_NAME.match(change.name))


def importance_moves(metrics: list[MetricChange], shown: int = IMPORTANCE_SHOWN) -> list[dict]:
    """The feature weights that moved most (by |change|), largest first."""
    moved = [m for m in metrics if is_importance(m) and m.delta]
    moved.sort(key=lambda m: (-abs(m.delta), m.key))
    rows = []
    for m in moved[:shown]:
        name = IMPORTANCE_NAME.match(m.name)
        rows.append(
            {
                "candidate": IMPORTANCE_PATH.search(m.path)["candidate"],
                "feature": name["feature"],
                "measure": name["measure"],
                "change": m,
            }
        )
    return rows


def _signed(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.2f}%" if percent else f"{value:+.4g}"


def render(
    base: str,
    params: list[tuple[str, object, object]],
    metrics: list[MetricChange],
    champions: tuple[str | None, str | None],
    plots: list[str],
    failures: list[tuple[Rule, MetricChange]],
    show_unchanged: bool = False,
    top_features: str = "",
    champion_note: str = "",
    drift: str = "",
) -> str:
    lines = [MARKER, f"## reprotune: changes against `{base}`", ""]
    if failures:
        lines += ["**Regression gate failed:**", ""]
        lines += [
            f"- `{c.key}`: {cell(c.old)} → {cell(c.new)} breaks `{rule}`" for rule, c in failures
        ]
        lines.append("")
    old_champion, new_champion = champions
    if old_champion != new_champion:
        lines.append(f"**Champion:** {old_champion or '-'} → **{new_champion or '-'}**")
    else:
        lines.append(f"**Champion:** {new_champion or '-'} (unchanged)")
    if champion_note:
        lines[-1] += f" — {champion_note}"
    if top_features:
        lines += ["", top_features]
    moves = importance_moves(metrics)
    metrics = [m for m in metrics if not is_importance(m)]
    lines += ["", "### Params", ""]
    if params:
        lines += ["| param | base | new |", "| --- | --- | --- |"]
        lines += [f"| `{n}` | {cell(o)} | {cell(v)} |" for n, o, v in params]
    else:
        lines.append("No params changed.")
    shown = [m for m in metrics if show_unchanged or m.verdict != "same"]
    lines += ["", "### Metrics", ""]
    if metrics and all(m.old is None for m in metrics):
        # A first pull request: listing every metric as new says nothing.
        lines.append(
            f"`{base}` has no metrics yet: all {len(metrics)} are new. Commit `dvc.lock`, "
            "`metrics/` and `data/profile.json` after a run (and `dvc push`) so the next "
            "report has a base to compare metrics and data with."
        )
    elif shown:
        lines += [
            "| file | metric | base | new | change | relative | |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {m.path} | {m.name} | {cell(m.old)} | {cell(m.new)} | {_signed(m.delta)} | "
            f"{_signed(m.relative, percent=True)} | {ICONS[m.verdict]} |"
            for m in shown
        ]
    else:
        lines.append("No metric changed.")
    unchanged = sum(m.verdict == "same" for m in metrics)
    if unchanged and not show_unchanged:
        lines += ["", f"{unchanged} metrics unchanged."]
    if moves:
        lines += ["", "### Feature importance that moved most", ""]
        lines += [
            "| candidate | feature | measure | base | new | change |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['candidate']} | {r['feature']} | {r['measure']} | {cell(r['change'].old)} | "
            f"{cell(r['change'].new)} | {_signed(r['change'].delta)} |"
            for r in moves
        ]
    if drift:
        lines += ["", drift.rstrip("\n")]
    if plots:
        lines += ["", "### Plots changed", ""]
        lines += [f"- `{p}`" for p in plots]
        lines += ["", "Images are in this run's `plots` artifact (never uploaded elsewhere)."]
    return "\n".join(lines) + "\n"


def build_report(
    base: str, rules: list[Rule], cwd: Path = Path(), show_unchanged: bool = False
) -> tuple[str, list[tuple[Rule, MetricChange]]]:
    metrics = metric_changes(base, cwd)
    failures = [(rule, m) for rule in rules for m in metrics if rule.violated_by(m)]
    from reprotune.explanation import read_summary, top_features_markdown

    champion = champion_at(None, cwd)
    markdown = render(
        base,
        param_changes(base, cwd),
        metrics,
        (champion_at(base, cwd), champion),
        changed_plots(base, cwd),
        failures,
        show_unchanged,
        top_features_markdown(champion, read_summary(champion, cwd)) if champion else "",
        champion_interval(cwd),
        data_drift(base, cwd),
    )
    return markdown, failures
