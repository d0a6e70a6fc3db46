from types import SimpleNamespace

from reprotune import summaries


def test_fetched_names_rows_per_split_and_the_revision():
    manifest = {"rows": {"train": 120, "test": 40}, "name": "org/data", "source": "hf",
                "revision": "a1b2c3d4e5"}  # fmt: skip
    assert summaries.fetched(manifest) == "120 train, 40 test rows from org/data@a1b2c3d"
    local = {**manifest, "name": None, "source": "csv", "revision": None}
    assert summaries.fetched(local) == "120 train, 40 test rows from csv"


def test_split_counts_rows_classes_and_feature_types():
    summary = {
        "train": {"rows": 96, "classes": {"a": 48, "b": 48}},
        "val": {"rows": 24, "classes": {}},
        "test": {"rows": 40, "classes": {}},
        "features": {"number": 2, "text": 1, "inferred": 3},
    }
    assert summaries.split(summary) == (
        "96 train, 24 val, 40 test rows; 2 classes; features: number 2, text 1"
    )


def test_configured_lists_each_candidate_with_its_family():
    one = {"baseline": {"params": {"family": "tfidf_logreg"}}}
    assert summaries.configured(one) == "1 candidate: baseline (tfidf_logreg)"
    two = {**one, "mlp": {"params": {"family": "keras_mlp"}}}
    assert summaries.configured(two) == "2 candidates: baseline (tfidf_logreg), mlp (keras_mlp)"


def test_tuned_rounds_floats_and_keeps_other_values():
    result = {"metric": "val_macro_f1", "best_value": 0.854334, "best_trial": 17,
              "params": {"analyzer": "word", "C": 34.507379667, "ngram_max": 1}}  # fmt: skip
    assert summaries.tuned("lr", result, n_trials=20, ran=0) == (
        "lr: best val_macro_f1 0.8543 at trial 17 of 20 (0 run here): "
        "analyzer=word, C=34.51, ngram_max=1"
    )


def test_trained_names_passes_and_the_best_epoch_validation_score():
    model = SimpleNamespace(params=SimpleNamespace(family="xgboost"), passes_name="boosting rounds")
    summary = {"n_train": 900, "epochs_run": 3, "best_epoch": 2, "train_seconds": 1.234}
    history = [{"epoch": 1, "val_pr_auc": 0.3}, {"epoch": 2, "val_pr_auc": 0.41}, {"epoch": 3}]
    assert summaries.trained("xgb", model, summary, history, "pr_auc") == (
        "xgb (xgboost): 900 rows, 3 boosting rounds (best 2), fit in 1.23s; val pr_auc 0.4100"
    )
    one_fit = {**summary, "epochs_run": 1, "best_epoch": 1}
    assert summaries.trained("xgb", model, one_fit, [{"epoch": 1}], "pr_auc") == (
        "xgb (xgboost): 900 rows, fit in 1.23s"
    )


def test_tuned_says_when_the_score_is_a_cross_validated_mean():
    result = {"metric": "cv_mean_pr_auc", "scored_on": "mean of 5-fold cross-validation",
              "best_value": 0.41, "best_trial": 3, "params": {"C": 2.0}}  # fmt: skip
    assert summaries.tuned("logreg", result, n_trials=8, ran=8) == (
        "logreg: best cv_mean_pr_auc 0.4100 (mean of 5-fold cross-validation) at trial 3 of 8 "
        "(8 run here): C=2"
    )
