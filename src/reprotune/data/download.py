"""Files by http(s) URL: streamed to disk with a progress bar; a failure names the key."""

from pathlib import Path
from urllib.parse import urlparse

from reprotune.errors import DataError


def is_url(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https")


def download(url: str, folder: Path, key: str) -> Path:
    """Stream `url` into `folder` with a progress bar."""
    target = folder / (Path(urlparse(url).path).name or "download")
    download_to(url, target, key, progress=True)
    return target


def download_to(url: str, target: Path, key: str, progress: bool = False) -> None:
    """Stream `url` into the file `target`; DataError naming `key` when it fails."""
    import requests
    from tqdm import tqdm

    try:
        with requests.get(url, stream=True, timeout=(10, 60)) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0)) or None
            with (
                open(target, "wb") as handle,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=f"download {target.name}",
                    disable=not progress,
                ) as bar,
            ):
                for chunk in response.iter_content(chunk_size=1 << 16):
                    handle.write(chunk)
                    bar.update(len(chunk))
    except requests.RequestException as exc:
        raise DataError(
            f"{key} = {url!r}: download failed: {type(exc).__name__}: {exc}\n"
            f"fix: check the URL, or download the file yourself and set {key} to its local path"
        ) from exc
