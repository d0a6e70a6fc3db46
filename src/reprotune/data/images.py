"""Image columns through fetch and preprocess.

fetch: each value is a path relative to the data file's folder (never outside it) or an
http(s) URL; the file is copied, or downloaded with a progress bar, into data/raw/images/
(DVC-tracked with the raw splits) and the value becomes its path there. preprocess: every image
is decoded, converted to RGB, resized to data.images.size and stored in the split as PNG bytes.
A missing or unreadable image stops the stage naming the row, its id and the path — or, with
data.images.missing: skip, drops the row and counts it."""

import hashlib
import shutil
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlparse

import pandas as pd
from tqdm import tqdm

from reprotune.data.settings import DataParams
from reprotune.errors import DataError
from reprotune.features.base import is_missing

IMAGES = "images"  # data/raw/images/
FIX_SKIP = "or set data.images.missing: skip to drop such rows"


def image_columns(data: DataParams) -> list[str]:
    features = data.features if isinstance(data.features, dict) else {}
    return [column for column, kind in features.items() if kind == "image"]


def _row_name(frame: pd.DataFrame, row, data: DataParams) -> str:
    if data.group_column is not None and data.group_column in frame.columns:
        return f"row {row} (id {frame.at[row, data.group_column]!r})"
    return f"row {row}"


def _is_url(text: str) -> bool:
    return urlparse(text).scheme in ("http", "https")


def localise(
    frames: dict[str, pd.DataFrame], files: dict[str, str], data: DataParams, raw_dir: Path
) -> dict:
    """Copy or download every image into raw_dir/images/; the columns then hold paths
    relative to it. Returns counts per column for the manifest."""
    counts = {}
    for column in image_columns(data):
        counts[column] = {"copied": 0, "downloaded": 0, "skipped_missing": 0}
        for split, frame in frames.items():
            if column not in frame.columns:
                continue  # the column check of preprocess names it
            base = files.get(split) or files.get("train")
            frames[split] = _localise_column(frame, column, base, data, raw_dir, counts[column])
    return counts


def _localise_column(frame, column, base, data: DataParams, raw_dir: Path, counts: dict):
    if is_missing(frame[column]).all():
        raise DataError(
            f"data.features.{column} is declared `image` but the column is empty (all "
            f"{len(frame)} values missing); fix: point it at the image paths, or drop it"
        )
    remote_base = base is not None and _is_url(base)
    folder = None if remote_base or base is None else Path(base).resolve().parent
    values, keep = [], []
    downloads = []
    for row, value in frame[column].items():
        where = _row_name(frame, row, data)
        if value is None or (isinstance(value, float) and pd.isna(value)) or not str(value).strip():
            keep.append(_missing(where, column, "no image path", data, counts))
            values.append(None)
            continue
        text = str(value).strip()
        if _is_url(text) or remote_base:
            url = text if _is_url(text) else urljoin(base, text)
            target = PurePosixPath("url") / (
                hashlib.sha256(url.encode()).hexdigest()[:24]
                + PurePosixPath(urlparse(url).path).suffix
            )
            if all(url != queued for queued, _, _ in downloads):  # a repeated URL: once
                downloads.append((url, target, where))
            values.append(str(target))
            keep.append(True)
            continue
        source = _inside(folder, text, where, column)
        if not source.is_file():
            keep.append(_missing(where, column, f"{source} does not exist", data, counts))
            values.append(None)
            continue
        relative = source.relative_to(folder)
        destination = raw_dir / IMAGES / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        counts["copied"] += 1
        values.append(relative.as_posix())
        keep.append(True)
    failed = _download_all(downloads, raw_dir, column, data, counts)
    frame = frame.copy()
    frame[column] = values
    mask = pd.Series(keep, index=frame.index) & ~frame[column].isin(failed)
    return frame[mask].reset_index(drop=True)


def _inside(folder: Path | None, text: str, where: str, column: str) -> Path:
    """The file a relative path names, refusing one that leaves the data file's folder."""
    if folder is None:
        raise DataError(
            f"data.features.{column}: {where} has the relative image path {text!r} but the "
            "data has no file to be relative to; fix: use absolute http(s) URLs"
        )
    source = (folder / text).resolve()
    if not source.is_relative_to(folder):
        raise DataError(
            f"data.features.{column}: {where} has the image path {text!r}, which leaves the "
            f"data file's folder {folder}; fix: keep images under that folder and use paths "
            "relative to it"
        )
    return source


def _missing(where: str, column: str, what: str, data: DataParams, counts: dict) -> bool:
    """False (drop the row) under the skip policy; else stop."""
    if data.images.missing == "skip":
        counts["skipped_missing"] += 1
        return False
    raise DataError(
        f"data.features.{column}: {where}: {what}; fix: add the file or correct the path, "
        f"{FIX_SKIP}"
    )


def _download_all(downloads, raw_dir: Path, column: str, data: DataParams, counts: dict):
    from reprotune.data.download import download_to

    failed = set()
    for url, target, where in tqdm(
        downloads, desc=f"download {column}", unit="image", disable=None
    ):
        destination = raw_dir / IMAGES / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            download_to(url, destination, f"data.features.{column} ({where})")
            counts["downloaded"] += 1
        except DataError as exc:
            if data.images.missing != "skip":
                raise DataError(f"{exc}; {FIX_SKIP}") from None
            counts["skipped_missing"] += 1
            failed.add(str(target))
    return failed


def load_column(frame: pd.DataFrame, column: str, raw_dir: Path, data: DataParams, split: str):
    """The column's images as RGB PNG bytes of data.images.size; (frame, rows skipped)."""
    from reprotune.features.image import open_image, png_bytes, to_rgb_square

    size, stored, keep, skipped = data.images.size, [], [], 0
    for row, value in frame[column].items():
        if value is None or (isinstance(value, float) and pd.isna(value)):
            stored.append(None)
            keep.append(True)
            continue
        path = raw_dir / IMAGES / str(value)
        try:
            image = open_image(path.read_bytes())
        except OSError as exc:
            if data.images.missing == "skip":
                stored.append(None)
                keep.append(False)
                skipped += 1
                continue
            raise DataError(
                f"data.features.{column}: {_row_name(frame, row, data)} of the {split} split: "
                f"the image {value!r} cannot be read ({exc}); fix: replace the file, "
                f"{FIX_SKIP}"
            ) from None
        stored.append(png_bytes(to_rgb_square(image, size)))
        keep.append(True)
    frame = frame.copy()
    frame[column] = pd.Series(stored, index=frame.index, dtype=object)
    return frame[pd.Series(keep, index=frame.index)].reset_index(drop=True), skipped
