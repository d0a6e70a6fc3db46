"""The `set` and `image` feature types: reading, storing, encoding."""

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reprotune.errors import DataError
from reprotune.features import FEATURE_TYPES, infer_type
from reprotune.features.image import decode, image_bytes, pixel_batch, png_bytes, to_rgb_square


def test_sets_read_python_json_and_comma_lists_into_one_canonical_form():
    series = pd.Series(
        ["['Pintura', 'Escultura']", '["Escultura","Pintura"]', "Pintura, Escultura"]
    )
    cast = FEATURE_TYPES["set"].cast(series, "tags", "train")
    assert cast.tolist() == ['["Escultura", "Pintura"]'] * 3
    empty = FEATURE_TYPES["set"].cast(pd.Series(["[]", "", None]), "tags", "train")
    assert empty.iloc[0] == "[]" and empty.iloc[1:].isna().all()


def test_set_is_inferred_for_list_columns_only():
    assert infer_type(pd.Series(["['a', 'b']", "[]", "['c']"])) == "set"
    assert infer_type(pd.Series(["[not a list", "b", "c", "d"])) == "category"


def test_a_set_that_does_not_parse_names_the_row_and_the_fix():
    with pytest.raises(DataError) as err:
        FEATURE_TYPES["set"].cast(pd.Series(["['a']", "['b', oops]"]), "tags", "train")
    message = str(err.value)
    assert "data.features.tags" in message and "row 1" in message and "fix:" in message


def test_set_encoder_is_multi_hot_and_ignores_unseen_levels():
    encoder = FEATURE_TYPES["set"].sklearn_encoder()
    train = FEATURE_TYPES["set"].cast(pd.Series(["['a', 'b']", "['b']", "[]"]), "t", "train")
    encoder.fit(train)
    assert encoder.get_feature_names_out().tolist() == ["a", "b"]
    served = FEATURE_TYPES["set"].inputs(pd.Series([["b", "zzz"], None, "['a']"]))
    assert encoder.transform(served).toarray().tolist() == [[0, 1], [0, 0], [1, 0]]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_become_rgb_squares_from_grayscale_palette_and_transparent_files():
    gray = Image.new("L", (30, 20), 128)
    transparent = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    palette = Image.new("RGB", (12, 12), (0, 200, 0)).convert("P")
    for image in (gray, transparent, palette):
        square = to_rgb_square(image, 16)
        assert square.mode == "RGB" and square.size == (16, 16)
    assert np.asarray(to_rgb_square(transparent, 4)).tolist()[0][0] == [255, 255, 255]


def test_an_image_value_may_be_bytes_base64_or_a_path(tmp_path):
    data = _png(Image.new("RGB", (8, 8), (10, 20, 30)))
    path = tmp_path / "x.png"
    path.write_bytes(data)
    for value in (data, base64.b64encode(data).decode(), str(path)):
        assert image_bytes(value) == data
    assert image_bytes(None) is None and image_bytes("not base64 nor a file!") is None
    batch = pixel_batch([data, None], 4)
    assert batch.shape == (2, 4, 4, 3) and batch[0, 0, 0].tolist() == [10, 20, 30]
    assert batch[1].max() == 0  # missing: black
    assert decode(b"truncated", 4).max() == 0


def test_stored_png_bytes_are_deterministic():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (9, 9, 3), dtype=np.uint8))
    assert png_bytes(to_rgb_square(image, 8)) == png_bytes(to_rgb_square(image, 8))
    assert json.dumps(FEATURE_TYPES["image"].looks_like(pd.Series(["a.jpg"]))) == "false"


def test_a_request_image_must_be_a_readable_file():
    """The service refuses what training would stop on, instead of scoring a black picture."""
    import base64
    import io

    from PIL import Image
    from pydantic import TypeAdapter, ValidationError

    from reprotune.features import FEATURE_TYPES

    field = TypeAdapter(FEATURE_TYPES["image"].request_type())
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buffer, format="JPEG")
    jpeg = buffer.getvalue()
    assert field.validate_python(base64.b64encode(jpeg).decode()) == jpeg
    for bad, why in [
        (base64.b64encode(b"just some text").decode(), "not a readable image"),
        (base64.b64encode(jpeg[: len(jpeg) // 2]).decode(), "not a readable image"),
        ("", "an empty image"),
        ("not base64!", "not a base64 string"),
    ]:
        with pytest.raises(ValidationError, match=why):
            field.validate_python(bad)
