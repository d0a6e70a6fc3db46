import numpy as np
import pandas as pd
import pytest

from reprotune.errors import DataError
from reprotune.features import FEATURE_TYPES, infer_type


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["yes", "no", "no", ""], "binary"),
        ([0, 1, 1, 0], "binary"),
        (["1.5", "2", "-3", ""], "number"),
        ([1.5, 2.0, 7.25, np.nan], "number"),
        (["red", "green", "blue", "red"], "category"),
        (
            [f"a long free text sentence number {i} with many words" for i in range(4)],
            "text",
        ),
    ],
)
def test_inference_picks_the_narrowest_type(values, expected):
    assert infer_type(pd.Series(values)) == expected


def test_number_names_the_column_the_values_and_their_rows():
    series = pd.Series(["1", "2", "three", "4", "n/a"])
    with pytest.raises(DataError) as err:
        FEATURE_TYPES["number"].cast(series, "age", "train")
    message = str(err.value)
    assert "data.features.age" in message and "'three'" in message and "'n/a'" in message
    assert "rows [2, 4]" in message and "fix:" in message


def test_number_keeps_blanks_as_missing():
    cast = FEATURE_TYPES["number"].cast(pd.Series(["1", "", " ", "2.5"]), "x", "train")
    assert cast.dtype == "float64"
    assert cast.isna().tolist() == [False, True, True, False]


def test_category_encoder_sends_unseen_levels_to_a_bucket_without_failing():
    encoder = FEATURE_TYPES["category"].sklearn_encoder()
    train = pd.DataFrame({"job": ["a"] * 6 + ["b"] * 6 + ["rare"] * 2})
    encoder.fit(train)
    out = encoder.transform(pd.DataFrame({"job": ["a", "never-seen", np.nan]}))
    assert out.shape[0] == 3
    assert out[0].sum() == 1  # a known level has its own column
    names = list(encoder.get_feature_names_out())
    assert "job_infrequent_sklearn" in names  # unseen and rare levels share this bucket
    assert out[1][names.index("job_infrequent_sklearn")] == 1


def test_number_arrow_pass_agrees_with_the_pandas_rules():
    """Batch scoring types a text column in Arrow: the same numbers and the same invalid rows
    as `inputs` and `invalid` give, row by row."""
    import pyarrow as pa

    spellings = ["1", " 2.5 ", "", None, "nan", "1e300", "-inf", "1e5", "-0.25"]
    number = FEATURE_TYPES["number"]
    # Text Arrow cannot parse: no Arrow pass, the pandas rules decide row by row.
    assert number.arrow_inputs(pa.chunked_array([["1", "abc"]], pa.string())) is None
    values, invalid = number.arrow_inputs(pa.chunked_array([spellings], pa.string()))
    series = pd.Series(spellings, dtype=object)
    np.testing.assert_array_equal(invalid, number.invalid(series).to_numpy())
    valid = ~invalid
    np.testing.assert_array_equal(values[valid], number.inputs(series).to_numpy()[valid])
    parquet_floats = pa.chunked_array([[1.5, None, float("nan"), 1e39]], pa.float64())
    values, invalid = number.arrow_inputs(parquet_floats)
    assert invalid.tolist() == [False, False, False, True]  # NaN is missing; 1e39 overflows
