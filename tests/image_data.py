"""Generated POI-like data: a photo and metadata per point of interest, engagement counts the
target is derived from. Half the signal is in the photo (its colour: warm for engaging POIs,
cool for the rest, wrong for some rows), half in the metadata (`tier`, the `Escultura` tag),
so a model needs both to do best. Some ids repeat (same POI, other counts), as in the real set."""

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

FEATURES = {
    "tier": "number",
    "category": "category",
    "tags": "set",
    "photo": "image",
}
TARGET = "Likes - Dislikes + Bookmarks"
CATEGORIES = ["museo", "galeria", "monumento", "parque"]
TAGS = ["Escultura", "Pintura", "Historia", "Arte", "Moderno"]


def colour_image(engaging: bool, rng: np.random.Generator, size: int = 24) -> Image.Image:
    base = np.array([200, 60, 40] if engaging else [40, 80, 200], dtype=float)
    pixels = base + rng.normal(0, 25, (size, size, 3))
    # A bright square somewhere: shape noise the model should learn to ignore.
    x, y = rng.integers(0, size - 6, 2)
    pixels[y : y + 6, x : x + 6] = 230
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_poi_like(n: int, seed: int, image_flip: float = 0.15) -> tuple[pd.DataFrame, list]:
    """The table (image paths `img/<id>/main.<ext>`) and the images to write there."""
    rng = np.random.default_rng(seed)
    engaging = rng.random(n) < 0.5
    tier = np.where(
        engaging, rng.choice([1, 2, 3, 4], n, p=[0.4, 0.3, 0.2, 0.1]), rng.choice([1, 2, 3, 4], n)
    )
    tags = []
    for e in engaging:
        chosen = {str(t) for t in rng.choice(TAGS[1:], rng.integers(0, 3), replace=False)}
        if rng.random() < (0.7 if e else 0.3):
            chosen.add("Escultura")
        tags.append(str(sorted(chosen)))
    shown = engaging ^ (rng.random(n) < image_flip)  # the photo misleads for some rows
    images, paths = [], []
    for i, warm in enumerate(shown):
        ext = "png" if i % 3 == 0 else "jpg"
        image = colour_image(bool(warm), rng)
        if i % 7 == 0:
            image = image.convert("L")  # grayscale files are converted to RGB
        if i % 11 == 0:
            image = image.convert("RGBA")
            ext = "png"
        paths.append(f"img/{i}/main.{ext}")
        images.append(image)
    likes = np.where(engaging, rng.integers(60, 120, n), rng.integers(10, 70, n))
    frame = pd.DataFrame(
        {
            "id": [f"poi{i}" for i in range(n)],
            "name": [f"Lugar {i}" for i in range(n)],
            "tier": tier,
            "category": rng.choice(CATEGORIES, n),
            "tags": tags,
            "photo": paths,
            "Likes": likes,
            "Dislikes": rng.integers(0, 10, n),
            "Bookmarks": np.where(engaging, rng.integers(20, 40, n), rng.integers(0, 25, n)),
        }
    )
    return frame, images


def write_poi_like(folder: Path, n: int, seed: int, repeats: int = 0) -> Path:
    """poi.csv and its images under `folder`; `repeats` rows copy an earlier POI's id and
    photo with other counts. Returns the CSV's path."""
    frame, images = make_poi_like(n, seed)
    folder.mkdir(parents=True, exist_ok=True)
    for path, image in zip(frame["photo"], images, strict=True):
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target)
    if repeats:
        copies = frame.sample(repeats, random_state=seed).copy()
        copies["Likes"] = copies["Likes"] + 1
        frame = pd.concat([frame, copies], ignore_index=True)
    csv = folder / "poi.csv"
    frame.to_csv(csv, index=False)
    return csv
