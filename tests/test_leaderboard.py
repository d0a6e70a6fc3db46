import pytest

from reprotune.errors import DataError
from reprotune.evaluation.bootstrap import predictions_frame
from reprotune.io import write_json
from reprotune.leaderboard import (
    bootstrap_intervals,
    build_leaderboard,
    choose_champion,
    console_lines,
    load_candidate_metrics,
    not_told_apart,
    phase_summary,
    phase_warnings,
    summary,
    to_markdown,
    with_intervals,
)


def metrics(f1, latency, log_loss=0.5):
    return {
        "accuracy": f1,
        "macro_f1": f1,
        "weighted_f1": f1,
        "macro_precision": f1,
        "macro_recall": f1,
        "log_loss": log_loss,
        "roc_auc_ovr": 0.9,
        "efficiency": {
            "latency_ms": latency,
            "train_seconds": 1.0,
            "throughput_samples_per_s": 100.0,
            "size_mb": 1.0,
            "n_parameters": 10,
        },
    }


def test_ranks_by_metric_and_breaks_ties_on_latency():
    rows = build_leaderboard(
        {"slow": metrics(0.8, 9.0), "fast": metrics(0.8, 1.0), "best": metrics(0.9, 50.0)},
        "macro_f1",
    )
    assert [r["candidate"] for r in rows] == ["best", "fast", "slow"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    result = summary(rows, "macro_f1")
    assert result["champion"] == "best" and result["champion_score"] == 0.9
    assert result["ranking"]["fast"] == {"rank": 2, "macro_f1": 0.8}


def test_lower_is_better_for_log_loss():
    rows = build_leaderboard(
        {"a": metrics(0.9, 1, log_loss=0.7), "b": metrics(0.8, 1, 0.3)}, "log_loss"
    )
    assert rows[0]["candidate"] == "b"


def test_markdown_marks_the_champion():
    rows = build_leaderboard({"a": metrics(0.9, 1.0), "b": metrics(0.7, 1.0)}, "macro_f1")
    table = to_markdown(rows, "macro_f1")
    assert "champion: **a**" in table
    assert "| 1 | **a** | 0.9 |" in table


def test_missing_candidate_metrics_say_which_stage_to_run(tmp_path):
    write_json(tmp_path / "evaluate" / "a.json", metrics(0.9, 1.0))
    assert list(load_candidate_metrics(["a"], tmp_path)) == ["a"]
    with pytest.raises(DataError, match=r"dvc repro evaluate@b"):
        load_candidate_metrics(["a", "b"], tmp_path)


def test_each_phase_reports_its_best_and_lift_over_baseline():
    rows = build_leaderboard(
        {
            "base": metrics(0.80, 1.0),
            "mlp": metrics(0.84, 2.0),
            "bert": metrics(0.88, 30.0),
            "tuned": metrics(0.82, 1.0),
        },
        "macro_f1",
    )
    phases = {"baseline": ["base"], "optimized": ["mlp", "bert"], "tuned": ["tuned"]}
    result = phase_summary(rows, phases, "macro_f1")
    assert list(result) == ["baseline", "optimized", "tuned"]
    assert result["baseline"] == {
        "best": "base",
        "macro_f1": 0.8,
        "lift": 0.0,
        "lift_pct": 0.0,
        "verdict": "reference",
    }
    assert result["optimized"]["best"] == "bert"
    assert result["optimized"]["lift"] == pytest.approx(0.08)
    assert result["optimized"]["lift_pct"] == pytest.approx(10.0)
    table = to_markdown(rows, "macro_f1", result)
    assert "| optimized | bert | 0.88 | 0.08 | +10.00% | beats the baseline |" in table
    assert "Warning" not in table


def test_a_phase_that_does_not_beat_the_baseline_is_called_out():
    rows = build_leaderboard(
        {"base": metrics(0.823, 1.0), "tuned": metrics(0.818, 1.0)}, "macro_f1"
    )
    result = phase_summary(rows, {"baseline": ["base"], "tuned": ["tuned"]}, "macro_f1")
    assert result["tuned"]["verdict"] == "does NOT beat the baseline"
    (warning,) = phase_warnings(result, "macro_f1")
    assert "'tuned' (tuned) does not beat the baseline on macro_f1" in warning
    assert f"**Warning:** {warning}" in to_markdown(rows, "macro_f1", result)


def test_lift_is_positive_when_a_lower_is_better_metric_drops():
    rows = build_leaderboard(
        {"base": metrics(0.8, 1, log_loss=0.5), "tuned": metrics(0.8, 1, log_loss=0.4)}, "log_loss"
    )
    result = phase_summary(rows, {"baseline": ["base"], "tuned": ["tuned"]}, "log_loss")
    assert result["tuned"]["lift"] == pytest.approx(0.1)
    assert phase_summary(rows, {}, "log_loss") == {}


def test_binary_costs_rank_lowest_first_and_show_in_the_table():
    def binary(cost, pr_auc):
        return {**metrics(0.7, 1.0), "expected_cost": cost, "pr_auc": pr_auc, "threshold": 0.3}

    candidates = {"cheap": binary(500.0, 0.3), "costly": binary(800.0, 0.5)}
    rows = build_leaderboard(candidates, "expected_cost")
    assert [r["candidate"] for r in rows] == ["cheap", "costly"]
    rows = build_leaderboard(candidates, "pr_auc")
    assert [r["candidate"] for r in rows] == ["costly", "cheap"]
    table = to_markdown(rows, "pr_auc")
    assert "| pr_auc |" in table and "| expected_cost |" in table and "| threshold |" in table
    phases = phase_summary(
        build_leaderboard(candidates, "expected_cost"),
        {"baseline": ["costly"], "tuned": ["cheap"]},
        "expected_cost",
    )
    assert phases["tuned"]["lift"] == 300.0  # lower cost: a positive lift


def test_multiclass_table_has_no_binary_columns():
    rows = build_leaderboard({"a": metrics(0.8, 1.0)}, "macro_f1")
    assert "pr_auc" not in to_markdown(rows, "macro_f1")


def test_console_lines_name_the_champion_and_each_phase_lift():
    rows = build_leaderboard(
        {"base": metrics(0.80, 1.0), "mlp": metrics(0.84, 2.0), "tuned": metrics(0.76, 1.0)},
        "macro_f1",
    )
    phases = phase_summary(
        rows, {"baseline": ["base"], "optimized": ["mlp"], "tuned": ["tuned"]}, "macro_f1"
    )
    assert console_lines(rows, "macro_f1", phases) == [
        "champion mlp: macro_f1 0.8400 on the test split, best of 3 candidates",
        "phases: baseline base 0.8000 -> optimized mlp 0.8400 (+5.0%)"
        " -> tuned tuned 0.7600 (-5.0%)",
    ]


def test_console_lines_of_one_phase_are_the_champion_alone():
    rows = build_leaderboard({"base": metrics(0.8, 1.0)}, "macro_f1")
    phases = phase_summary(rows, {"baseline": ["base"]}, "macro_f1")
    assert console_lines(rows, "macro_f1", phases) == [
        "champion base: macro_f1 0.8000 on the test split, best of 1 candidate"
    ]


def decisions(y_true, wrong: int, seed: int = 0):
    """Predictions of a two-class model that gets `wrong` of the rows wrong."""
    import numpy as np

    y_pred = y_true.copy()
    flip = np.random.default_rng(seed).choice(len(y_true), wrong, replace=False)
    y_pred[flip] = 1 - y_pred[flip]
    proba = np.eye(2)[y_pred] * 0.8 + 0.1
    return predictions_frame(y_true, proba, y_pred)


def scored(rows_wrong: dict, latency: dict, n: int = 200):
    import numpy as np

    y_true = np.arange(n) % 2
    frames = {
        name: decisions(y_true, wrong, i) for i, (name, wrong) in enumerate(rows_wrong.items())
    }
    candidates = {name: metrics(1 - wrong / n, latency[name]) for name, wrong in rows_wrong.items()}
    for name in candidates:
        candidates[name]["accuracy"] = 1 - rows_wrong[name] / n
    return build_leaderboard(candidates, "accuracy"), frames


def test_a_lift_inside_the_noise_is_level_and_the_faster_candidate_is_champion():
    rows, frames = scored({"stack": 40, "logreg": 42}, {"stack": 40.0, "logreg": 1.0})
    phases = phase_summary(rows, {"baseline": ["logreg"], "ensembled": ["stack"]}, "accuracy")
    intervals = bootstrap_intervals(rows, phases, "accuracy", frames, seed=0)
    low, high = intervals["lifts"]["ensembled"]
    assert low < 0 < high
    phases = with_intervals(phases, intervals)
    assert phases["ensembled"]["verdict"] == "level with the baseline"
    assert "is level with the baseline" in phase_warnings(phases, "accuracy")[0]
    champion, reason = choose_champion(rows, intervals)
    assert rows[0]["candidate"] == "stack" and champion == "logreg"
    assert "not told apart from the best-scoring stack" in reason and "faster" in reason
    phased = {"baseline": ["logreg"], "ensembled": ["stack"]}
    champion, reason = choose_champion(rows, intervals, phased)
    assert champion == "logreg" and "in an earlier phase (baseline)" in reason
    assert summary(rows, "accuracy", champion)["champion"] == "logreg"
    table = to_markdown(rows, "accuracy", phases, intervals, (champion, reason))
    assert "champion: **logreg**: not told apart" in table and "accuracy_ci95" in table
    assert "| 2 | **logreg** | [0." in table
    assert "| level with the baseline |" in table
    line = console_lines(rows, "accuracy", phases, intervals, (champion, reason))[0]
    assert line.startswith("champion logreg: accuracy 0.7900 (95% CI ")


def test_a_clear_lift_beats_the_baseline_and_the_best_stays_champion():
    rows, frames = scored({"stack": 10, "logreg": 60}, {"stack": 40.0, "logreg": 1.0})
    phases = phase_summary(rows, {"baseline": ["logreg"], "ensembled": ["stack"]}, "accuracy")
    intervals = bootstrap_intervals(rows, phases, "accuracy", frames, seed=0)
    assert intervals["lifts"]["ensembled"][0] > 0
    assert with_intervals(phases, intervals)["ensembled"]["verdict"] == "beats the baseline"
    assert choose_champion(rows, intervals) == ("stack", None)
    assert choose_champion(rows, intervals, {"baseline": ["logreg"]}) == ("stack", None)
    assert intervals == bootstrap_intervals(rows, phases, "accuracy", frames, seed=0)  # seeded


def test_among_candidates_not_told_apart_timing_noise_never_decides():
    """Latencies within 2x of each other are one speed: the earlier phase, then the better
    score wins, whichever of the two timed faster on this run."""
    for latency in ({"xgb": 30.0, "logreg": 44.0}, {"xgb": 44.0, "logreg": 30.0}):
        rows, frames = scored({"xgb": 41, "logreg": 40}, latency)
        intervals = bootstrap_intervals(rows, {}, "accuracy", frames, seed=0)
        assert rows[0]["candidate"] == "logreg"
        phases = {"baseline": ["logreg"], "tuned": ["xgb"]}
        assert choose_champion(rows, intervals, phases) == ("logreg", None)
        assert choose_champion(rows, intervals) == ("logreg", None)


def test_a_simpler_candidate_far_behind_is_not_champion_even_when_not_told_apart():
    """40 test rows tell 0.80 from 0.70 apart from nothing, but 12 % behind is no tie."""
    rows, frames = scored({"stack": 8, "logreg": 12}, {"stack": 40.0, "logreg": 1.0}, n=40)
    intervals = bootstrap_intervals(rows, {}, "accuracy", frames, seed=0)
    assert "logreg" in not_told_apart(intervals)
    phases = {"baseline": ["logreg"], "ensembled": ["stack"]}
    assert choose_champion(rows, intervals, phases, "accuracy") == ("stack", None)
    assert choose_champion(rows, intervals, phases)[0] == "logreg"  # no metric: no margin
