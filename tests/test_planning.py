"""The budget's plan: allotting (pure), measuring on real processed data, replaying, freezing,
and the stages refusing a plan made for something else."""

import json
import sys
from pathlib import Path

import pytest
import yaml
from commands import git_commit_all, run
from tabular_data import tabular_data_params, write_bank_like_csv

from reprotune import planning
from reprotune.config import parse_params
from reprotune.errors import ParamsError
from reprotune.workspace import copy_pipeline

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "bank-marketing" / "params.yaml"
KEPT = ("logreg", "xgboost", "xgboost_tuned")


def bank_params(budget_s, **changes) -> dict:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["budget_s"] = budget_s
    raw["data"]["files"]["train"] = "bank.csv"
    for key, value in changes.items():
        raw[key] = value
    return raw


def cost(fit_small: float, fit_large: float, sizes=(1000, 4000), per_row=1e-5) -> planning.Cost:
    return planning.Cost(
        config="c", sizes=sizes, fit_s=(fit_small, fit_large), predict_s_per_row=per_row
    )


def example_costs(scale: float = 1.0) -> dict[str, planning.Cost]:
    return {
        "logreg": cost(0.05 * scale, 0.1 * scale),
        "random_forest": cost(0.5 * scale, 1.5 * scale),
        "xgboost": cost(0.1 * scale, 0.3 * scale),
        "mlp_embeddings": cost(3 * scale, 6 * scale, sizes=(250, 1000)),
        "mlp_one_hot": cost(3 * scale, 6 * scale, sizes=(250, 1000)),
        "xgboost_tuned": cost(0.1 * scale, 0.3 * scale),
    }


TRAITS = {
    name: planning.Traits(quick=not name.startswith("mlp"), refits=not name.startswith("mlp"))
    for name in example_costs()
}


def allot(budget_s, rows, scale=1.0, measured_s=10.0):
    params = parse_params(bank_params(budget_s))
    return planning.allot(params, example_costs(scale), rows, measured_s, TRAITS)


ROWS_40K = {"train": 24_000, "val": 8_000, "test": 8_000}
ROWS_1M = {"train": 600_000, "val": 200_000, "test": 200_000}


# -- allotting -----------------------------------------------------------------------------


def test_the_plan_keeps_within_the_budget_and_gives_every_candidate_counts():
    for budget in (60, 300, 900):
        for rows in (ROWS_40K, ROWS_1M):
            plan = allot(budget, rows)
            kept = max(budget, plan["floor_s"]) * 1.1
            assert plan["estimate_s"] <= kept, (budget, rows, plan["estimate_s"])
            assert ("note" in plan) == (plan["floor_s"] > budget)
            assert set(plan["candidates"]) == {*example_costs(), "stack"}


def test_a_large_table_gets_a_study_on_a_subsample_and_slow_families_on_fewer_rows():
    plan = allot(300, ROWS_1M)["candidates"]
    study = plan["xgboost_tuned"]["study"]
    assert study["cv_folds"] == 3 and 2 <= study["trials"] <= 20  # fewer folds, then rows
    assert "3 folds instead of 5 (tune.cv_folds)" in plan["xgboost_tuned"]["notes"]
    assert study["rows"] < 800_000
    assert any("stratified" in note for note in plan["xgboost_tuned"]["notes"])
    assert plan["mlp_embeddings"]["train_rows"] < 600_000
    assert "trained on" in plan["mlp_embeddings"]["notes"][0]
    assert plan["stack"]["ensemble_rows"] < 800_000


def test_a_small_table_with_room_runs_the_counts_params_yaml_asks_for():
    plan = allot(3600, {"train": 2400, "val": 800, "test": 800})["candidates"]
    assert plan["xgboost_tuned"]["study"] == {"trials": 20, "cv_folds": 5, "rows": 3200}
    assert "train_rows" not in plan["random_forest"] and "ensemble_rows" not in plan["stack"]


def test_a_budget_with_no_room_for_two_trials_skips_the_study_and_says_why():
    plan = allot(20, ROWS_1M, scale=20)["candidates"]["xgboost_tuned"]
    assert "study" not in plan
    assert "no room for two trials" in plan["study_skipped"]
    assert "raise budget_s" in plan["study_skipped"]


def test_more_budget_never_plans_less_work():
    small, large = allot(120, ROWS_1M), allot(600, ROWS_1M)
    study = small["candidates"]["xgboost_tuned"].get("study") or {"trials": 0, "rows": 0}
    bigger = large["candidates"]["xgboost_tuned"]["study"]
    assert bigger["trials"] * bigger["rows"] >= study["trials"] * study["rows"]
    assert large["estimate_s"] > small["estimate_s"]


def test_an_ensembles_scoring_and_compares_re_scoring_are_in_the_plan():
    """A member slow to score (a transformer) makes its ensemble's evaluation and compare's
    re-scoring of a champion cost seconds the plan keeps out of the studies' share."""
    params = parse_params(bank_params(300))
    fast = planning.allot(params, example_costs(), ROWS_40K, 10.0, TRAITS)
    costs = {**example_costs(), "random_forest": cost(0.5, 1.5, per_row=1e-3)}
    slow = planning.allot(params, costs, ROWS_40K, 10.0, TRAITS)
    scoring = 1e-3 * (ROWS_40K["val"] + 3 * ROWS_40K["test"])  # random_forest in the stack
    assert slow["candidates"]["stack"]["estimate_s"] >= scoring
    assert slow["compare_s"] >= 1e-3 * ROWS_40K["test"] > fast["compare_s"] - 1.0
    study = {
        n: p["candidates"]["xgboost_tuned"]["study"] for n, p in (("fast", fast), ("slow", slow))
    }
    assert (
        study["slow"]["trials"] * study["slow"]["rows"]
        <= study["fast"]["trials"] * study["fast"]["rows"]
    )
    assert slow["estimate_s"] <= max(300, slow["floor_s"]) * 1.1


def test_a_slow_family_is_measured_on_a_fraction_of_a_small_table():
    assert planning.measure_sizes(True, 4000, 1000) == (250, 1000)  # quick: all, it is cheap
    assert planning.measure_sizes(False, 4000, 1000) == (62, 250)  # was (250, 1000): 1.25 fits
    assert planning.measure_sizes(False, 4000, 40_000) == (250, 1000)  # plan.sample_rows / 4
    assert planning.measure_sizes(False, 4000, 100) == (16, 64)
    assert planning.measure_sizes(False, 4000, 30) == (7, 30)


def test_the_cost_model_grows_with_rows_and_inverts():
    measured = cost(0.2, 0.5)
    assert measured.fit(4000) == pytest.approx(0.5)
    assert measured.fit(400_000) > 100 * measured.fit(4000) * 0.9
    rows = measured.rows_within(10.0, 1_000_000)
    assert measured.fit(rows) <= 10.0 < measured.fit(rows + 1)


def test_default_budget_follows_the_table_size():
    assert planning.default_budget_s(300) == 300
    assert planning.default_budget_s(200_000) < planning.default_budget_s(1_000_000) <= 900


@pytest.mark.parametrize(
    "value, words",
    [(0, "greater than 0"), (-5, "greater than 0"), ("soon", "not a number"), (True, "number")],
)
def test_a_budget_that_is_not_positive_seconds_stops_with_the_key_and_fix(value, words):
    with pytest.raises(ParamsError) as caught:
        parse_params(bank_params(value))
    assert "budget_s" in str(caught.value) and words in str(caught.value)
    assert "fix:" in str(caught.value)


# -- on real processed data ----------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The Bank example on 3,000 generated rows, three candidates, a 40 s budget, prepared up
    to the plan."""
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("planned"))
    table = write_bank_like_csv(tmp_path_factory.mktemp("data") / "bank.csv", 3000, seed=3)
    raw = bank_params(40)
    raw["data"] = {**raw["data"], **tabular_data_params(table)}
    raw["train"]["candidates"] = {k: raw["train"]["candidates"][k] for k in KEPT}
    raw["compare"]["phases"] = {"baseline": ["logreg"], "optimized": ["xgboost"],
                                "tuned": ["xgboost_tuned"]}  # fmt: skip
    raw["ensemble"]["candidates"] = {}
    raw["tracking"]["enabled"] = False
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    git_commit_all(project)
    run(["dvc", "repro", "plan"], project)
    return project


def plan_stage(project: Path, check: bool = True):
    return run(
        [sys.executable, "stages/plan.py"], project, check=check, env={"REPROTUNE_WARM": "0"}
    )


def set_params(project: Path, **changes) -> None:
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw.update(changes)
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.fixture
def restore(project):
    files = {name: (project / name).read_text() for name in ("params.yaml", "plan.json")}
    plans = {p.name: p.read_text() for p in (project / "plans").iterdir()}
    yield project
    for name, text in files.items():
        (project / name).write_text(text)
    for name, text in plans.items():
        (project / "plans" / name).write_text(text)


def test_the_plan_stage_measures_every_candidate_and_writes_a_file_each(project):
    plan = json.loads((project / "plan.json").read_text())
    assert set(plan["measured"]) == set(KEPT)
    for name in KEPT:
        measured = plan["measured"][name]
        assert measured["sizes"] == [600, 2400] and measured["fit_s"][1] > 0  # train + val
        entry = json.loads((project / "plans" / f"{name}.json").read_text())
        assert entry["budget_s"] == 40 and entry["data"] == plan["key"]["data"]
    assert plan["candidates"]["xgboost_tuned"].get("study") or plan["candidates"][
        "xgboost_tuned"
    ].get("study_skipped")


def test_a_rerun_replays_the_plan_byte_for_byte(project, restore):
    before = (project / "plan.json").read_bytes()
    done = plan_stage(project)
    assert "(replayed)" in done.stdout
    assert (project / "plan.json").read_bytes() == before


def test_a_changed_budget_makes_a_new_plan_without_measuring_again(project, restore):
    before = json.loads((project / "plan.json").read_text())
    set_params(project, budget_s=400)
    done = plan_stage(project)
    assert "measured nothing new" in done.stdout
    after = json.loads((project / "plan.json").read_text())
    assert after["budget_s"] == 400 and after["measured"] == before["measured"]
    assert after["estimate_s"] > before["estimate_s"]


def test_a_frozen_plan_refuses_another_budget_before_any_training(project, restore):
    set_params(project, budget_s=90, plan={"mode": "frozen"})
    done = plan_stage(project, check=False)
    assert done.returncode == 2
    assert "frozen" in done.stderr and "budget_s" in done.stderr and "fix:" in done.stderr


def test_a_frozen_plan_replays_when_nothing_changed(project, restore):
    set_params(project, plan={**yaml.safe_load((project / "params.yaml").read_text())["plan"],
                              "mode": "frozen"})  # fmt: skip
    assert "(replayed)" in plan_stage(project).stdout


def test_a_hand_edited_plan_stops_the_study_naming_the_field(project, restore):
    path = project / "plans" / "xgboost_tuned.json"
    edited = json.loads(path.read_text())
    edited["plan"]["study"] = {"trials": 0, "cv_folds": 5, "rows": 100}
    path.write_text(json.dumps(edited))
    done = run([sys.executable, "stages/tune.py", "xgboost_tuned"], project, check=False,
               env={"REPROTUNE_WARM": "0"})  # fmt: skip
    assert done.returncode == 2
    assert "plan.study.trials" in done.stderr and "fix:" in done.stderr


def test_a_plan_for_other_data_stops_training(project, restore):
    path = project / "plans" / "logreg.json"
    edited = json.loads(path.read_text())
    edited["data"] = "0" * 32
    path.write_text(json.dumps(edited))
    done = run([sys.executable, "stages/train.py", "logreg"], project, check=False,
               env={"REPROTUNE_WARM": "0"})  # fmt: skip
    assert done.returncode == 2
    assert "another data version" in done.stderr and "dvc repro plan" in done.stderr


def test_a_text_task_is_measured_on_its_texts(tmp_path):
    """The plan fits a text candidate on the texts it reads (not on the split's columns)."""
    from commands import baseline_only_project

    project = copy_pipeline(ROOT, tmp_path / "project")
    baseline_only_project(project, tmp_path / "corpus", n_train=60, n_test=10, tuned_trials=4)
    set_params(project, budget_s=120)
    git_commit_all(project, "a budget")
    done = run(["dvc", "repro", "plan"], project, env={"REPROTUNE_WARM": "0"})
    plan = json.loads((project / "plan.json").read_text())
    train_val = plan["rows"]["train"] + plan["rows"]["val"]
    for name in ("baseline", "logreg_tuned"):
        small, large = plan["measured"][name]["sizes"]
        assert large == train_val and small == train_val // 4, plan["measured"][name]
    assert plan["candidates"]["logreg_tuned"].get("study"), done.stdout
