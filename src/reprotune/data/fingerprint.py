"""What the data sources hold now, as content hashes: the `sources` stage writes it to
data/sources.json on every `dvc repro`, and fetch depends on that file.

DVC cannot list a file named by a param as a dependency (dvc.yaml templating interpolates no
null and no list), so fetch used to depend on the *name* in data.files only: editing the CSV
changed nothing DVC could see. Here each local file is hashed (md5, as DVC does), each URL is
asked for its validators (ETag, Last-Modified, length; the body's md5 when the server gives
none) and each image a table names is hashed too. The file changes only when the data does, so
fetch, and only what depends on its outputs, re-runs.

Imports stay light (no pandas unless a table has image columns, no params validation): this
runs on every `dvc repro`, including a no-op one.
"""

import hashlib
import json
import os
from pathlib import Path
from urllib.parse import urlparse

from reprotune.errors import DataError

FILE_SOURCES = ("csv", "parquet", "json")
URL_TIMEOUT_S = 10
CHUNK = 1 << 20


def is_url(location: str) -> bool:
    return urlparse(str(location)).scheme in ("http", "https")


class StatCache:
    """md5 of local files keyed by (size, mtime): a no-op run re-reads nothing. Kept outside
    the outputs (a touched file with the same bytes must not change data/sources.json)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.changed = False

    def md5(self, file: Path) -> str:
        stat = file.stat()
        key = str(file.resolve())
        signature = [stat.st_size, stat.st_mtime_ns]
        cached = self.entries.get(key)
        if cached and cached[:2] == signature:
            return cached[2]
        digest = hashlib.md5()
        with open(file, "rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
        self.entries[key] = [*signature, digest.hexdigest()]
        self.changed = True
        return digest.hexdigest()

    def save(self) -> None:
        if not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.entries), encoding="utf-8")
        os.replace(tmp, self.path)


def url_fingerprint(url: str, previous: dict | None, notes: list[str]) -> dict:
    """The server's validators for `url`, or the md5 of its body when it sends none. When the
    server is out of reach, the last fingerprint stands (what was fetched stays valid) and a
    note says so; with none, fetch reports the failure."""
    import requests

    try:
        head = requests.head(url, allow_redirects=True, timeout=URL_TIMEOUT_S)
        head.raise_for_status()
        validators = {
            key: head.headers[header]
            for key, header in (
                ("etag", "ETag"),
                ("last_modified", "Last-Modified"),
                ("length", "Content-Length"),
            )
            if header in head.headers
        }
        if "etag" in validators or "last_modified" in validators:
            return {"url": url, **validators}
        digest = hashlib.md5()
        with requests.get(url, stream=True, timeout=URL_TIMEOUT_S) as body:
            body.raise_for_status()
            for block in body.iter_content(CHUNK):
                digest.update(block)
        return {"url": url, "md5": digest.hexdigest()}
    except requests.RequestException as exc:
        if previous and previous.get("url") == url:
            notes.append(f"{url} out of reach ({type(exc).__name__}): last fingerprint kept")
            return previous
        return {"url": url, "unreachable": type(exc).__name__}


def local_file(location: str, key: str, root: Path, folders: bool = False) -> Path:
    """The file at `location` (a folder too when `folders`: Spark reads a folder of files)."""
    path = Path(location).expanduser()
    path = path if path.is_absolute() else root / path
    if folders and path.is_dir():
        return path
    if not path.is_file():
        raise DataError(
            f"{key} = {location!r}: no such file ({path}); fix: point {key} at the data file "
            "(a path relative to the project, an absolute path or an http(s) URL)"
        )
    return path


def folder_md5(folder: Path, cache: StatCache) -> str:
    """One md5 over a folder's files (their paths and contents; hidden files and Spark's
    _SUCCESS markers left out), in path order."""
    digest = hashlib.md5()
    for file in sorted(folder.rglob("*")):
        relative = file.relative_to(folder)
        if not file.is_file() or any(p.startswith((".", "_")) for p in relative.parts):
            continue
        digest.update(f"{relative.as_posix()}\0{cache.md5(file)}\0".encode())
    return digest.hexdigest()


def _read_column(table: Path, column: str, data: dict):
    import pandas as pd

    suffix = table.suffix.lower()
    if data.get("source") == "parquet" or suffix == ".parquet":
        return pd.read_parquet(table, columns=[column])[column]
    if data.get("source") == "json" or suffix in (".json", ".jsonl"):
        return pd.read_json(table, lines=suffix == ".jsonl")[column]
    csv = data.get("csv") or {}
    header = csv.get("header", True)
    frame = pd.read_csv(
        table,
        sep=csv.get("sep") or ",",
        quotechar=csv.get("quotechar") or '"',
        header=0 if header else None,
        names=None if header else csv.get("columns"),
        usecols=[column],
        dtype=str,
    )
    return frame[column]


def image_fingerprint(values, folder: Path, cache: StatCache) -> dict:
    """One md5 over every local image the column names (path and content), the count of
    URLs (and an md5 of their list) and of paths that do not resolve to a file."""
    local, urls, missing = hashlib.md5(), hashlib.md5(), 0
    counts = {"files": 0, "urls": 0}
    for value in sorted({str(v).strip() for v in values if v is not None and str(v).strip()}):
        if value.lower() == "nan":
            continue
        if is_url(value):
            urls.update(value.encode() + b"\0")
            counts["urls"] += 1
            continue
        path = folder / value
        if not path.is_file():
            missing += 1
            continue
        local.update(value.encode() + b"\0" + cache.md5(path).encode() + b"\0")
        counts["files"] += 1
    return {**counts, "missing": missing, "md5": local.hexdigest(), "urls_md5": urls.hexdigest()}


def image_columns(data: dict) -> list[str]:
    features = data.get("features")
    if not isinstance(features, dict):
        return []
    return [column for column, kind in features.items() if kind == "image"]


def fingerprint(
    data: dict, root: Path, previous: dict, cache: StatCache, notes: list[str] | None = None
) -> dict:
    """data/sources.json's content for params.yaml's `data` section; `notes` collects what
    could not be checked."""
    notes = [] if notes is None else notes
    source = data.get("source")
    if source not in FILE_SOURCES:
        # Hub, OpenML and scikit-learn datasets are named by data.name and data.revision,
        # which fetch depends on as params; pin data.revision to a commit to freeze one.
        return {"source": source, "name": data.get("name"), "revision": data.get("revision")}
    files = data.get("files") or {}
    spark = data.get("engine") == "spark"
    found: dict = {"source": source, "files": {}}
    tables: dict[str, Path] = {}
    for split in ("train", "test"):
        location = files.get(split)
        if location is None:
            continue
        key = f"data.files.{split}"
        if is_url(location):
            before = (previous.get("files") or {}).get(split)
            found["files"][split] = url_fingerprint(location, before, notes)
            continue
        if spark and "://" in location:  # hdfs://, s3a://: Spark reads it, not this stage
            found["files"][split] = {"path": location, "unchecked": "a Spark path"}
            notes.append(
                f"{key} = {location!r} is read by Spark and not hashed here: fetch re-runs "
                "when the path changes; after its data changed, `dvc repro -f fetch`"
            )
            continue
        path = local_file(location, key, root, folders=spark)
        tables[split] = path
        digest = folder_md5(path, cache) if path.is_dir() else cache.md5(path)
        found["files"][split] = {"path": location, "md5": digest}
    columns = image_columns(data)
    if columns and tables:
        found["images"] = {
            f"{split}.{column}": image_fingerprint(
                _read_column(table, column, data), table.resolve().parent, cache
            )
            for split, table in tables.items()
            for column in columns
        }
    return found


def read_data_section(params_file: Path) -> dict:
    """params.yaml's `data` section, read as DVC reads it (YAML 1.2), unvalidated: fetch
    validates the whole file, and this runs before it on every repro."""
    from ruamel.yaml import YAML

    raw = YAML(typ="safe", pure=True).load(Path(params_file).read_text(encoding="utf-8"))
    return (raw or {}).get("data") or {}


def summary(found: dict, changed: bool) -> str:
    """`train: md5 1a2b3c4d; test: md5 5e6f7a8b; images: 1,255 files (changed: fetch re-runs)`"""
    parts = []
    for split, entry in (found.get("files") or {}).items():
        if "md5" in entry:
            parts.append(f"{split}: md5 {entry['md5'][:8]}")
        elif "unreachable" in entry:
            parts.append(f"{split}: {entry['url']} out of reach ({entry['unreachable']})")
        else:
            validator = entry.get("etag") or entry.get("last_modified")
            parts.append(f"{split}: {entry['url']} ({validator})")
    for column, entry in (found.get("images") or {}).items():
        parts.append(f"{column}: {entry['files']:,} images")
    if not parts:
        name = found.get("name")
        parts.append(f"{found.get('source')} dataset {name!r} at {found.get('revision') or 'main'}")
    verdict = "changed: fetch re-runs" if changed else "unchanged"
    return f"{'; '.join(parts)} ({verdict})"
