"""`image`: a column of image files. fetch copies (or downloads) them into data/raw/images/;
preprocess decodes each, converts it to RGB (grayscale, palette and RGBA too), resizes it to
`data.images.size` and stores it in the split as PNG bytes, so training reads small lossless
images and a changed image changes the split (DVC re-runs what depends on it). Drift watches
each image's mean brightness (darker photos, another camera, a lighting change).

At prediction time a value may be PNG/JPEG bytes, a base64 string of them, or a file path.
Only families that declare `image` read it (the tabular families do not)."""

import base64
import binascii
import functools
import io
from pathlib import Path

import numpy as np
import pandas as pd

from reprotune.features.base import FeatureType, is_missing


def _from_base64(value) -> bytes:
    """A request's image: base64 of a file the model can read (training stops on a file it
    cannot read; a request must not be scored as a black picture instead)."""
    if not isinstance(value, str):
        raise ValueError("an image is a base64 string of the image file's bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a base64 string (of an image file's bytes)") from None
    if not data:
        raise ValueError("an empty image; send the file's bytes base64-encoded, or null")
    try:
        open_image(data)
    except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError... by format
        raise ValueError(
            f"not a readable image ({type(exc).__name__}: {str(exc)[:80]}); send a JPEG, PNG "
            "or other file Pillow reads, base64-encoded"
        ) from None
    return data


class ImageFeature(FeatureType):
    name = "image"

    def request_type(self):
        """Base64 of the image file's bytes (the service never reads a path from a request)."""
        from typing import Annotated

        from pydantic import BeforeValidator, WithJsonSchema

        return Annotated[
            bytes,
            BeforeValidator(_from_base64),
            WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
        ]

    def looks_like(self, series: pd.Series) -> bool:
        return False  # declared, never inferred: a path column could be anything

    def cast(self, series: pd.Series, column: str, split: str) -> pd.Series:
        return series.astype(object)  # already PNG bytes (data.images.load_column)

    def inputs(self, series: pd.Series) -> pd.Series:
        return series.astype(object).map(image_bytes)

    def invalid(self, series: pd.Series) -> pd.Series:
        """A value that is neither image bytes, base64 nor an existing file."""
        values = series.astype(object)
        return ~is_missing(values) & values.map(image_bytes).isna()

    def profile(self, stored: pd.Series) -> dict:
        from reprotune.features.stats import numeric_profile

        return {**numeric_profile(_brightness(stored)), "of": "mean brightness (0-255)"}

    def drift(self, profile: dict, stored: pd.Series) -> dict:
        from reprotune.features.stats import numeric_drift

        return {**numeric_drift(profile, _brightness(stored)), "of": "mean brightness (0-255)"}

    def sampled(self, values: pd.Series) -> pd.Series:
        """A drift sample keeps each image's brightness, not its bytes."""
        return pd.Series(_brightness(values), index=values.index)

    def sklearn_encoder(self):
        """None: no scikit-learn family reads images (their `reads` leave `image` out, so
        check_reads stops such a candidate before any encoder is built)."""
        return None


def image_bytes(value) -> bytes | None:
    """Encoded image bytes from bytes, a base64 string or a path; None when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    text = str(value).strip()
    if not text:
        return None
    path = Path(text)
    if len(text) < 1024 and path.suffix and path.is_file():
        return path.read_bytes()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


BRIGHTNESS_SIZE = 32  # an image is shrunk to this many pixels a side before it is measured


def brightness(value) -> float:
    """Mean grey level (0-255) of an image value (bytes, base64 or a path); NaN when missing
    or unreadable. A number passes through: a drift sample keeps the measure, not the image."""
    if isinstance(value, float | np.floating):
        return float(value)
    data = image_bytes(value)
    if data is None:
        return float("nan")
    try:
        image = open_image(data)
    except Exception:  # PIL raises OSError, ValueError, SyntaxError... by format
        return float("nan")
    return float(np.asarray(to_rgb_square(image, BRIGHTNESS_SIZE).convert("L")).mean())


def _brightness(values: pd.Series) -> np.ndarray:
    return np.array([brightness(v) for v in values], dtype=float)


def decode(data: bytes | None, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB; a missing or unreadable image is black."""
    if data is None:
        return np.zeros((size, size, 3), dtype=np.uint8)
    try:
        return np.asarray(to_rgb_square(open_image(data), size))
    except OSError:
        return np.zeros((size, size, 3), dtype=np.uint8)


def open_image(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()  # a truncated file fails here, not later
    return image


def to_rgb_square(image, size: int):
    """RGB (transparency composited on white), resized to size x size."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


@functools.lru_cache(maxsize=4096)
def _decoded(data: bytes | None, size: int) -> np.ndarray:
    # Explainers score the same few images thousands of times: decode each once.
    array = decode(data, size)
    array.setflags(write=False)
    return array


def pixel_batch(values, size: int) -> np.ndarray:
    """(n, size, size, 3) uint8 from a column of image values."""
    arrays = [_decoded(image_bytes(v), size) for v in values]
    return np.stack(arrays) if arrays else np.zeros((0, size, size, 3), dtype=np.uint8)
