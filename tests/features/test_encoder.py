"""The grouped encoder gives exactly what one pipeline per column gave (the layout models were
trained with before), so models fit on it predict the same."""

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from reprotune.features import FEATURE_TYPES
from reprotune.features.encoder import category_codes
from reprotune.models.tabular import preprocessor, tabular_inputs

FEATURES = {
    "age": "number",
    "job_title": "category",
    "has_loan": "binary",
    "notes": "text",
    "balance": "number",
    "tags": "set",
    "month": "category",
}


def per_column_encoder(features, native_categories=False):
    """The layout before grouping: one pipeline per column in a ColumnTransformer."""

    def encoder(kind):
        if native_categories and kind in ("category", "binary"):
            return category_codes()
        return FEATURE_TYPES[kind].sklearn_encoder()

    return ColumnTransformer(
        [
            (c, encoder(k), c if FEATURE_TYPES[k].one_column_encoder else [c])
            for c, k in features.items()
        ],
        sparse_threshold=0 if native_categories else 0.3,
    )


def table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array(["rate", "loan", "call", "offer", "yes", "later", "busy"])
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows).astype(float),
            "job_title": rng.choice(
                ["admin.", "blue_collar", "tech", "rare_one"], rows, p=[0.4, 0.3, 0.29, 0.01]
            ),
            "has_loan": rng.choice(["yes", "no"], rows),
            "notes": [" ".join(rng.choice(words, 4)) for _ in range(rows)],
            "balance": rng.normal(1000, 3000, rows),
            "tags": [f'["{a}", "{b}"]' for a, b in rng.choice(["x", "y", "z"], (rows, 2))],
            "month": rng.choice(["jan", "feb", "mar", "apr"], rows),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "month"] = np.nan
    return tabular_inputs(frame, FEATURES)


def dense(matrix):
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)


@pytest.mark.parametrize("native_categories", [False, True])
@pytest.mark.parametrize(
    "features",
    [FEATURES, {c: k for c, k in FEATURES.items() if k not in ("text", "set")}],
    ids=["with-text-and-set", "numbers-and-categories"],
)
def test_same_matrix_names_and_slices_as_one_pipeline_per_column(features, native_categories):
    train, new = table(400, 0), table(50, 1)
    new.loc[0, "job_title"] = "never seen"
    grouped = preprocessor(features, native_categories)
    old = per_column_encoder(features, native_categories)
    encoded, expected = grouped.fit_transform(train), old.fit_transform(train)
    assert sparse.issparse(encoded) == sparse.issparse(expected)
    np.testing.assert_array_equal(dense(encoded), dense(expected))
    np.testing.assert_array_equal(dense(grouped.transform(new)), dense(old.transform(new)))
    assert grouped.get_feature_names_out().tolist() == old.get_feature_names_out().tolist()
    assert grouped.output_indices_ == {c: old.output_indices_[c] for c in features}


def test_models_fit_on_it_predict_what_they_predicted_before(tmp_path):
    features = {c: k for c, k in FEATURES.items() if k not in ("text", "set")}
    train, new = table(600, 2), table(200, 3)
    labels = np.random.default_rng(4).integers(0, 2, len(train))
    for model in (
        LogisticRegression(max_iter=500),
        RandomForestClassifier(n_estimators=30, random_state=0),
    ):
        old = model.fit(per_column_encoder(features).fit_transform(train), labels)
        expected = old.predict_proba(per_column_encoder(features).fit(train).transform(new))
        grouped = preprocessor(features).fit(train)
        joblib.dump(grouped, tmp_path / "encoder.joblib")  # saved and loaded as a model is
        reloaded = joblib.load(tmp_path / "encoder.joblib")
        fresh = type(model)(**model.get_params()).fit(grouped.transform(train), labels)
        np.testing.assert_allclose(
            fresh.predict_proba(reloaded.transform(new)), expected, rtol=0, atol=1e-9
        )


def test_one_row_costs_one_encoder_per_type_not_one_per_column():
    grouped = preprocessor(FEATURES).fit(table(100, 5))
    kinds = [key.split(":")[0] for key, _, _ in grouped.groups_]
    assert kinds == ["number", "category", "binary", "text", "set"]
    assert [columns for key, columns, _ in grouped.groups_ if key == "number"] == [
        ["age", "balance"]
    ]


def test_records_a_frame_and_a_model_saved_before_grouping_predict_the_same():
    """The service's path (records, no DataFrame) and the frame's path give the same
    probabilities, and so does a model whose pipeline still holds the per-column layout."""
    from sklearn.pipeline import Pipeline

    from reprotune import models
    from reprotune.config import PARAMS_CLASSES

    features = {c: k for c, k in FEATURES.items() if k not in ("text", "set")}
    train, new = table(500, 6), table(40, 7)
    new.loc[3, "job_title"] = "never seen"
    new.loc[4, "age"] = np.nan
    labels = np.random.default_rng(8).integers(0, 2, len(train))
    params = PARAMS_CLASSES["logreg"](family="logreg")
    model = models.create(params, ["no", "yes"], seed=0, features=features)
    model.fit(train, labels, train.head(0), labels[:0])
    raw = new.astype(object).where(new.notna(), None).to_dict("records")
    from_frame = model.predict_proba(new)
    from_records = model.predict_proba(model.select_inputs_from_records(raw))
    np.testing.assert_array_equal(from_records, from_frame)

    before = models.create(params, ["no", "yes"], seed=0, features=features)
    classifier = LogisticRegression(**model.pipeline.named_steps["model"].get_params())
    before.pipeline = Pipeline(
        [("features", per_column_encoder(features)), ("model", classifier)]
    ).fit(train, labels)
    np.testing.assert_allclose(before.predict_proba(new), from_frame, rtol=0, atol=1e-9)
