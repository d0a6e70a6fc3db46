"""The budget's plan: the user's `budget_s` turned into counts, measured once and replayed.

The plan stage measures what one unit of each candidate's work costs (a fit on a sample of the
training rows, and a quarter of it for the slope; a prediction pass), then allots the budget:
evaluation and explanations first, then training (a subsample for a family whose full fit would
not fit its share), out-of-fold ensembles, and what is left to the studies (trials, folds, and
the rows a study sees: a stratified subsample on large tables, the chosen params then refit on
every row by train@, as FLAML and AutoGluon do). A study that cannot afford two trials is
skipped, and the plan says why.

The counts, not the seconds, are what the stages read: the plan records the measurements it
was made from, keyed by the data's digest and each candidate's settings, and a re-run with the
same data, candidates and budget replays them (the same counts on a busier or faster machine),
so the same commit, data, params and plan give the same metrics anywhere. `plan.mode: frozen`
replays a committed plan.json and never measures.
"""

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reprotune import paths
from reprotune.errors import ParamsError

VERSION = 1
MEASURE_HELD_ROWS = 2000  # rows each measured model predicts, for its cost per row
FEWEST_FOLDS = 3  # a study on a large table gives up folds before rows
# Beyond the measured sample a fit costs (rows / sample) ** (1 + GROWTH) times more: boosting
# runs more rounds before early stopping on more rows, trees sort more. 0.1 under-planned a
# 1M-row study by half (803 s run for ~400 s planned, docs/benchmarks.md); 0.2 fits it.
GROWTH = 0.2


# -- what a stage reads ------------------------------------------------------------------------


class _Checked(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyPlan(_Checked):
    trials: int = Field(ge=1, le=100_000)
    cv_folds: int | None = Field(default=None, ge=2, le=20)
    rows: int = Field(ge=2)  # rows the study sees (train + validation when cross-validated)


class CandidatePlan(_Checked):
    """One candidate's (or ensemble's) counts, as its stages apply them."""

    train_rows: int | None = Field(default=None, ge=2)  # None: every training row
    study: StudyPlan | None = None
    study_skipped: str | None = None
    ensemble_rows: int | None = Field(default=None, ge=2)  # out-of-fold rows (ensembles)
    explain_s: float | None = Field(default=None, gt=0)
    estimate_s: float = Field(default=0.0, ge=0)
    notes: list[str] = Field(default_factory=list)


class CandidatePlanFile(_Checked):
    version: int
    name: str
    budget_s: float | None
    data: str  # digest of the processed train + validation rows the plan was made for
    config: str  # digest of configs/<name>.json (or the ensemble's settings)
    plan: CandidatePlan


def data_digest() -> str:
    from reprotune.data.prepare import training_rows_digest

    return training_rows_digest()


def config_digest(name: str, ensemble_settings: dict | None = None) -> str:
    if ensemble_settings is not None:
        text = json.dumps(ensemble_settings, sort_keys=True)
    else:
        text = paths.candidate_config(name).read_text(encoding="utf-8")
    return hashlib.md5(text.encode()).hexdigest()


def read_candidate_plan(name: str, params, ensemble: bool = False) -> CandidatePlan | None:
    """The counts `name`'s stages run with; None when the pipeline has no budget. Stops when the
    plan was made for other data, other settings or another budget, or a hand edit broke it."""
    path = paths.candidate_plan(name)
    if params.budget_s is None:
        return None
    if not path.is_file():
        raise ParamsError(
            f"{path} is missing and budget_s = {params.budget_s:g}; fix: run `dvc repro plan` "
            "(or the whole pipeline) first"
        )
    try:
        found = CandidatePlanFile.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(map(str, error["loc"]))
        raise ParamsError(
            f"{path}: {where} = {error.get('input')!r} ({error['msg']}): the plan was edited "
            "by hand into something the stages cannot run; fix: `git checkout` it, or delete "
            "plan.json and plans/ and run `dvc repro plan`"
        ) from None
    settings = params.ensemble.candidates[name].model_dump(mode="json") if ensemble else None
    expected = {
        "version": VERSION,
        "budget_s": params.budget_s,
        "data": data_digest(),
        "config": config_digest(name, settings),
    }
    for key, value in expected.items():
        if getattr(found, key) != value:
            raise ParamsError(
                f"{path} was made for another {_what(key)} ({key} {getattr(found, key)!r}, "
                f"now {value!r}); fix: run `dvc repro plan` to re-plan (with plan.mode: frozen, "
                "set plan.mode: auto first, or restore the data and params the plan was made for)"
            )
    return found.plan


def _what(key: str) -> str:
    return {
        "version": "plan format",
        "budget_s": "budget",
        "data": "data version",
        "config": "candidate setting",
    }[key]


# -- measuring ---------------------------------------------------------------------------------


class Cost(_Checked):
    """What fitting a candidate on n rows costs, from two measured fits: t(n) = a + b n,
    with more than linear growth beyond the measured size (GROWTH)."""

    config: str
    sizes: tuple[int, int]
    fit_s: tuple[float, float]
    predict_s_per_row: float = Field(ge=0)

    def fit(self, rows: float) -> float:
        (n1, n2), (t1, t2) = self.sizes, self.fit_s
        slope = max((t2 - t1) / (n2 - n1), t2 / n2 * 0.25) if n2 > n1 else t2 / max(n2, 1)
        intercept = max(t2 - slope * n2, 0.0)
        growth = (rows / n2) ** GROWTH if rows > n2 else 1.0
        return intercept + slope * rows * growth

    def rows_within(self, seconds: float, most: int) -> int:
        """The most rows (up to `most`) whose fit takes at most `seconds`."""
        return most_rows_within(self.fit, seconds, most)


def most_rows_within(cost, seconds: float, most: int) -> int:
    """The most rows n <= `most` with cost(n) <= `seconds` (cost grows with n)."""
    if cost(most) <= seconds:
        return most
    low, high = 0, most
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if cost(middle) <= seconds else (low, middle)
    return low


def measure(
    params, name: str, rows, labels: np.ndarray, label_names, features, seed: int, config: str
) -> Cost:
    """Fit the candidate on a stratified sample and a quarter of it, as a study's fold would
    (models.fit_on_rows), and time a prediction pass."""
    from reprotune import models
    from reprotune.data.folds import stratified_rows, take_rows

    candidate, _ = _resolved(name)
    # What the family reads of the rows: the typed columns, or the text (one column or joined).
    inputs = models.create(candidate, label_names, seed, features).select_inputs(rows)
    small, large = measure_sizes(type(candidate).quick, params.plan.sample_rows, len(labels))
    sample = stratified_rows(labels, large, seed)
    held = stratified_rows(labels, min(MEASURE_HELD_ROWS, len(labels)), seed + 1)
    times, model = [], None
    on_spark = getattr(candidate, "engine", "local") == "spark"
    for count in (small, large):
        part = sample[stratified_rows(labels[sample], count, seed)]
        start = time.perf_counter()
        if on_spark:  # measured where train@ runs it: Spark's start-up and transfers included
            model = _fit_on_spark(candidate, label_names, seed, features, rows.iloc[part])
        else:
            model = models.fit_on_rows(
                candidate, label_names, seed, features, take_rows(inputs, part), labels[part]
            )
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    model.predict_proba(take_rows(inputs, held))
    per_row = (time.perf_counter() - start) / max(len(held), 1)
    return Cost(
        config=config,
        sizes=(small, large),
        fit_s=(round(times[0], 4), round(times[1], 4)),
        predict_s_per_row=round(per_row, 9),
    )


MEASURE_FEWEST_ROWS = 64  # a slow family's larger measured fit sees at least this many


def measure_sizes(quick: bool, sample_rows: int, rows: int) -> tuple[int, int]:
    """The two fits' row counts. A slow family is measured on a quarter of plan.sample_rows
    and at most a quarter of the table: measuring must cost a fraction of the fit it
    predicts (on a 1,000-row text task, all the rows made it two full fine-tunings)."""
    if quick:
        large = min(sample_rows, rows)
    else:
        large = min(sample_rows // 4, max(rows // 4, MEASURE_FEWEST_ROWS), rows)
    return max(min(large // 4, rows), 2), large


def _fit_on_spark(candidate, label_names, seed: int, features, rows):
    """An `engine: spark` candidate fitted as train@ fits it (from Parquet splits, on the
    executors), on `rows` with a stratified tenth of them as its validation split."""
    import tempfile

    from reprotune import models
    from reprotune.data.folds import inner_split

    fit, val = inner_split(rows["label"].to_numpy(), seed, False)
    model = models.create(candidate, label_names, seed, features)
    with tempfile.TemporaryDirectory(prefix="reprotune-plan-") as folder:
        files = {"train": Path(folder) / "train.parquet", "val": Path(folder) / "val.parquet"}
        rows.iloc[fit].to_parquet(files["train"], index=False)
        rows.iloc[val].to_parquet(files["val"], index=False)
        model.fit_on_spark(files)
    return model


def _resolved(name: str):
    from reprotune.config import read_resolved_config

    return read_resolved_config(paths.candidate_config(name))


# -- allotting ---------------------------------------------------------------------------------


def _round_rows(rows: int, most: int) -> int:
    """Rows rounded down to two significant digits: a plan does not move by a few rows."""
    if rows >= most:
        return most
    if rows < 100:
        return rows
    scale = 10 ** (len(str(rows)) - 2)
    return rows // scale * scale


class Traits(_Checked):
    """What the allotment needs to know of a candidate besides its cost."""

    quick: bool  # trains in seconds: its study is cross-validated (tune.cv_folds)
    refits: bool  # fits twice in train@ (refit on train + validation)


def traits_of(names) -> dict[str, Traits]:
    found = {}
    for name in names:
        candidate, _ = _resolved(name)
        refits = any(getattr(candidate, key, False) for key in ("refit_on_val", "fit_on_val"))
        found[name] = Traits(quick=type(candidate).quick, refits=refits)
    return found


def allot(
    params,
    costs: dict[str, Cost],
    rows: dict[str, int],
    measured_s: float,
    traits: dict[str, Traits],
) -> dict:
    """The counts for every candidate and ensemble, from the costs alone (deterministic)."""
    budget = params.budget_s
    plan_settings = params.plan
    fit_rows = rows["train"]
    trainval = rows["train"] + rows["val"]
    test_rows = rows["test"]
    names = list(params.train.candidates)
    ensembles = params.ensemble.candidates
    explained = [n for n in params.ranked_candidates if n not in params.explain.skip]
    stages = stage_count(params)
    overhead = stages * plan_settings.stage_overhead_s
    available = max(budget - measured_s - overhead, 0.0)
    entries: dict[str, dict[str, Any]] = {n: {"notes": []} for n in [*names, *ensembles]}

    explain_each = min(params.explain.time_budget_s, 0.15 * available / max(len(explained), 1))
    for name in explained:
        entries[name]["explain_s"] = round(max(explain_each, 1.0), 1)
    evaluate = {n: 1.0 + 3 * costs[n].predict_s_per_row * test_rows for n in names}
    for name, settings in ensembles.items():  # its members score validation, then test
        per_row = sum(costs[m].predict_s_per_row for m in settings.members if m in costs)
        evaluate[name] = 1.0 + per_row * (rows["val"] + 3 * test_rows)
    # compare re-scores the registered champion on the test rows: the costliest one to score
    compare_s = 1.0 + max(((e - 1.0) / 3 for e in evaluate.values()), default=0.0)
    left = available - explain_each * len(explained) - sum(evaluate.values()) - compare_s

    train_each = max(left, 0.0) * plan_settings.train_share / max(len(names), 1)
    train_cost = {}
    for name in names:
        cost, refits = costs[name], 2 if traits[name].refits else 1
        full = cost.fit(fit_rows) * refits
        if full <= train_each:
            train_cost[name] = full
            continue
        floor = min(plan_settings.min_rows, fit_rows)
        kept = _round_rows(max(cost.rows_within(train_each / refits, fit_rows), floor), fit_rows)
        entries[name]["train_rows"] = kept
        entries[name]["notes"].append(
            f"trained on {kept:,} of {fit_rows:,} rows: a full fit would take about "
            f"{full:.0f} s, its share of the budget is {train_each:.0f} s"
        )
        train_cost[name] = cost.fit(kept) * refits
    left -= sum(train_cost.values())

    ensemble_cost = {}
    for name, settings in ensembles.items():
        folds, used = _ensemble_folds(settings), 0.0
        if folds:
            share = max(left, 0.0) * plan_settings.ensemble_share / max(len(ensembles), 1)
            member_costs = [costs[m] for m in settings.members]

            def oof(count: int, k: int = folds, members=member_costs) -> float:
                return sum(k * c.fit(count * (k - 1) / k) for c in members)

            most = trainval if settings.fit_on == "oof" else rows["val"]
            kept = most
            if oof(most) > share:
                fits = most_rows_within(oof, share, most)
                kept = _round_rows(max(fits, min(plan_settings.min_rows, most)), most)
            if settings.fit_on == "oof" and kept < most:
                entries[name]["ensemble_rows"] = kept
                entries[name]["notes"].append(
                    f"out-of-fold predictions on {kept:,} of {most:,} rows: all of them would "
                    f"take about {oof(most):.0f} s, its share is {share:.0f} s"
                )
            used = oof(kept)
        ensemble_cost[name] = used
        entries[name]["estimate_s"] = round(
            used + evaluate[name] + entries[name].get("explain_s", 0.0), 1
        )
    left -= sum(ensemble_cost.values())

    studies = [n for n in names if n in params.tune.candidates]
    study_each = max(left, 0.0) / max(len(studies), 1)
    study_cost = {}
    for name in studies:
        entry, cost = entries[name], costs[name]
        folds = params.tune.cv_folds_for(name, traits[name].quick)
        wanted = params.tune.n_trials_for(name)
        most = trainval if folds else fit_rows

        def trial_at(count: int, k, cost=cost) -> float:
            if k:
                return k * (cost.fit(count * (k - 1) / k) + cost.predict_s_per_row * count / k)
            return cost.fit(count) + cost.predict_s_per_row * rows["val"]

        target = min(wanted, plan_settings.min_trials)
        if folds and folds > FEWEST_FOLDS and trial_at(most, folds) * target > study_each:
            # Fewer folds before fewer rows: on a large table 3 folds of all rows score a
            # trial better than 5 folds of a subsample.
            entry["notes"].append(f"{FEWEST_FOLDS} folds instead of {folds} (tune.cv_folds)")
            folds = FEWEST_FOLDS

        def trial(count: int, k=folds) -> float:
            return trial_at(count, k)

        count = most
        if trial(most) * target > study_each:
            fits = most_rows_within(lambda n, t=target: trial(n) * t, study_each, most)
            count = _round_rows(max(fits, min(plan_settings.min_rows, most)), most)
        affordable = int(study_each // trial(count)) if trial(count) > 0 else wanted
        trials = min(wanted, affordable)
        if trials < 2:
            entry["study_skipped"] = (
                f"a trial on {count:,} rows takes about {trial(count):.1f} s and the study's "
                f"share of the budget is {study_each:.0f} s: no room for two trials; "
                f"{name} trains with its params.yaml settings (raise budget_s to tune it)"
            )
            study_cost[name] = 0.0
            continue
        entry["study"] = {"trials": trials, "cv_folds": folds, "rows": count}
        if trials < wanted:
            entry["notes"].append(f"{trials} of {wanted} trials (tune.n_trials) fit the budget")
        if count < most:
            entry["notes"].append(
                f"the study sees a stratified {count:,} of {most:,} rows; the best params are "
                "then refit on every training row"
            )
        study_cost[name] = trials * trial(count)

    for name in names:
        entries[name]["estimate_s"] = round(
            train_cost[name] + study_cost.get(name, 0.0) + evaluate[name]
            + entries[name].get("explain_s", 0.0), 1,
        )  # fmt: skip
    total = measured_s + overhead + compare_s + sum(e["estimate_s"] for e in entries.values())
    # What no budget can cut: measuring, starting each stage, scoring every test row, a fit
    # on the fewest rows.
    least = min(plan_settings.min_rows, fit_rows)
    floor = measured_s + overhead + compare_s + sum(evaluate.values()) + len(explained) * 1.0
    floor += sum(costs[n].fit(least) * (2 if traits[n].refits else 1) for n in names)
    found = {"candidates": entries, "estimate_s": round(total, 1), "left_s": round(left, 1)}
    found["stage_overhead_s"] = round(overhead, 1)
    found["compare_s"] = round(compare_s, 1)
    found["stages"] = stages
    found["floor_s"] = round(floor, 1)
    if floor > budget:
        found["note"] = (
            f"budget_s {budget:g} is below the least this table takes (about {floor:.0f} s: "
            f"measuring, starting {stages} stages, scoring every test row, fits on the fewest "
            "rows); the plan runs that "
            f"least; fix: raise budget_s to {math.ceil(floor * 1.5 / 10) * 10} or more"
        )
    return found


def stage_count(params) -> int:
    """The stages `dvc repro` runs for these params (sources to compare): each costs
    plan.stage_overhead_s beside its work."""
    candidates, ensembles = len(params.train.candidates), len(params.ensemble.candidates)
    # sources, fetch, preprocess, drift, configure, plan, compare; per candidate tune, train,
    # evaluate, explain; per ensemble its stage and its explanation
    return 7 + 4 * candidates + 2 * ensembles


def _ensemble_folds(settings) -> int | None:
    """Folds of an ensemble's held-out predictions (members refit that many times), if any."""
    if settings.fit_on == "oof":
        return settings.cv_folds
    return None


# -- the plan stage ----------------------------------------------------------------------------


def plan_key(params) -> dict[str, Any]:
    """What a plan is made for: a plan is re-made only when one of these changes."""
    return {
        "version": VERSION,
        "budget_s": params.budget_s,
        "data": data_digest(),
        "configs": {n: config_digest(n) for n in params.train.candidates},
        "settings": json.dumps(
            {
                "plan": params.plan.model_dump(mode="json", exclude={"mode"}),
                "tune": params.tune.model_dump(mode="json", exclude={"storage", "heartbeat_s"}),
                "ensemble": params.ensemble.model_dump(mode="json"),
                "explain": params.explain.model_dump(mode="json"),
            },
            sort_keys=True,
        ),
    }


def read_plan(path: Path = paths.PLAN_FILE) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise ParamsError(
            f"{path} is not valid JSON ({exc}); fix: `git checkout {path}`, or delete it and "
            "run `dvc repro plan`"
        ) from None


def make_plan(params, progress=None) -> tuple[dict, str]:
    """The plan for these params and data, and how it came about (replayed / measured)."""
    key = plan_key(params)
    previous = read_plan()
    if previous is not None and previous.get("key") == key:
        return previous, "replayed"
    if params.plan.mode == "frozen":
        raise ParamsError(_frozen_mismatch(previous, key))
    if params.budget_s is None:
        note = "no budget (budget_s: null): every stage runs params.yaml's counts"
        return {"key": key, "budget_s": None, "candidates": {}, "note": note}, "unbudgeted"
    same_data = (previous or {}).get("key", {}).get("data") == key["data"]
    reusable = (previous or {}).get("measured", {}) if same_data else {}
    costs, measured_now = {}, []
    rows, labels, label_names, features = _measure_inputs(params.data.engine, params.seed)
    for name in params.train.candidates:
        config = key["configs"][name]
        old = reusable.get(name)
        if old and old.get("config") == config:
            costs[name] = Cost.model_validate(old)
            continue
        twin = next((c for c in costs.values() if c.config == config), None)
        if twin is not None:  # the same settings (a tuned copy before its study): same cost
            costs[name] = twin
            continue
        if progress is not None:
            progress.note(f"measuring {name}")
        costs[name] = measure(
            params, name, rows, labels, label_names, features, params.seed, config
        )
        measured_now.append(name)
        if progress is not None:
            progress.advance(
                detail=f"{name}: {costs[name].fit_s[1]:.1f} s on {costs[name].sizes[1]:,} rows"
            )
    # From the recorded fits, not the clock: a replayed measurement allots the same seconds.
    measured_s = round(sum(sum(c.fit_s) for c in costs.values()) + len(costs) * 0.5, 1)
    counts = _split_rows()
    allotted = allot(params, costs, counts, measured_s, traits_of(params.train.candidates))
    plan = {
        "key": key,
        "budget_s": params.budget_s,
        "rows": counts,
        "measure_s": measured_s,
        "measured": {n: c.model_dump(mode="json") for n, c in costs.items()},
        **allotted,
    }
    return plan, "measured " + (", ".join(measured_now) if measured_now else "nothing new")


def _frozen_mismatch(previous: dict | None, key: dict) -> str:
    if previous is None:
        return (
            "plan.mode is frozen but there is no plan.json to replay; fix: set plan.mode: auto "
            "and run `dvc repro plan`, then commit plan.json"
        )
    found = previous.get("key", {})
    changed = [k for k in key if found.get(k) != key[k]]
    if "configs" in changed:
        names = sorted(
            n for n in set(key["configs"]) | set(found.get("configs", {}))
            if key["configs"].get(n) != found.get("configs", {}).get(n)
        )  # fmt: skip
        changed[changed.index("configs")] = f"candidates ({', '.join(names)})"
    return (
        f"plan.mode is frozen but plan.json was made for another {', '.join(changed)}; fix: "
        "restore what the plan was made for, or set plan.mode: auto to re-plan (then commit "
        "plan.json)"
    )


def _measure_inputs(engine: str, seed: int):
    """Train + validation rows (each family selects what it reads; data.engine: spark, a
    sample of each), their labels, the label names and the features."""
    import pandas as pd

    from reprotune.data.prepare import driver_rows, load_features, load_label_names

    splits = [driver_rows(split, engine, seed) for split in ("train", "val")]
    frame = pd.concat(splits, ignore_index=True)
    features = load_features()
    return frame, frame["label"].to_numpy(), load_label_names(), features


def _split_rows() -> dict[str, int]:
    import pyarrow.parquet as pq

    return {
        s: pq.ParquetFile(paths.processed_split(s)).metadata.num_rows
        for s in ("train", "val", "test")
    }


def candidate_files(plan: dict, params) -> dict[str, dict]:
    """plans/<name>.json for every candidate and ensemble: what its stages check and apply."""
    key = plan["key"]
    files = {}
    entries = plan.get("candidates", {})
    for name in params.ranked_candidates:
        ensemble = name in params.ensemble.candidates
        settings = params.ensemble.candidates[name].model_dump(mode="json") if ensemble else None
        files[name] = CandidatePlanFile(
            version=VERSION,
            name=name,
            budget_s=plan["budget_s"],
            data=key["data"],
            config=config_digest(name, settings),
            plan=CandidatePlan.model_validate(entries.get(name, {})),
        ).model_dump(mode="json")
    return files


def describe(plan: dict) -> list[str]:
    """The plan in a few lines: the budget, the estimate, and per candidate what it runs."""
    if plan.get("budget_s") is None:
        return ["no budget (budget_s: null): params.yaml's counts"]
    lines = [
        f"budget {plan['budget_s']:g} s: about {plan['estimate_s']:.0f} s planned "
        f"(measuring {plan['measure_s']:.0f} s, starting {plan.get('stages', 0)} stages "
        f"{plan.get('stage_overhead_s', 0):.0f} s)"
    ]
    if plan.get("note"):
        lines.append(f"note: {plan['note']}")
    for name, entry in plan["candidates"].items():
        lines.append(f"{name}: {summary_of(entry)}")
    return lines


def summary_of(entry: dict) -> str:
    parts = []
    study = entry.get("study")
    if study:
        folds = f" x {study['cv_folds']} folds" if study.get("cv_folds") else ""
        parts.append(f"{study['trials']} trials{folds} on {study['rows']:,} rows")
    if entry.get("study_skipped"):
        parts.append("study skipped")
    if entry.get("train_rows"):
        parts.append(f"trained on {entry['train_rows']:,} rows")
    if entry.get("ensemble_rows"):
        parts.append(f"out-of-fold on {entry['ensemble_rows']:,} rows")
    if entry.get("explain_s") is not None:
        parts.append(f"explained within {entry['explain_s']:g} s")
    parts.append(f"~{entry.get('estimate_s', 0):.0f} s")
    return ", ".join(parts)


def markdown(plan: dict) -> str:
    """The plan as a section of compare.md."""
    if plan.get("budget_s") is None:
        return "## Plan\n\nNo budget (`budget_s: null`): every stage ran params.yaml's counts.\n"
    out = [
        "## Plan",
        "",
        f"Budget {plan['budget_s']:g} s; planned about {plan['estimate_s']:.0f} s, measured in "
        f"{plan['measure_s']:.0f} s on a sample ({plan['rows']['train']:,} training rows). "
        "Replayed until the data, the candidates or the budget change (plan.json).",
        "",
        *([f"**Note:** {plan['note']}", ""] if plan.get("note") else []),
        "| candidate | what the budget allows | notes |",
        "| --- | --- | --- |",
    ]
    for name, entry in plan["candidates"].items():
        notes = [*entry.get("notes", [])]
        if entry.get("study_skipped"):
            notes.append(entry["study_skipped"])
        out.append(f"| {name} | {summary_of(entry)} | {'; '.join(notes) or '-'} |")
    return "\n".join(out) + "\n"


def default_budget_s(rows: int) -> int:
    """`reprotune init`'s budget for a table of `rows` rows: 5 minutes up to 20k rows, growing
    with the square root of the size beyond (a million rows: 15 minutes), so the cost follows
    the user's patience rather than the row count."""
    return int(min(900, max(300, 300 * math.sqrt(rows / 20_000) / 2.36)) // 10 * 10)
