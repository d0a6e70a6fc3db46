"""Writing outputs so that a failed stage leaves nothing half-written behind."""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_mode(path: Path, mode: int) -> None:
    """mkstemp/mkdtemp make owner-only entries; outputs get the usual permissions."""
    os.chmod(path, mode & ~_umask())


def dumps_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write_json(path: Path, data: Any) -> None:
    write_text(path, dumps_json(data))


def write_text(path: Path, text: str) -> None:
    """Write a file through a temporary sibling and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        publish_mode(Path(tmp), 0o666)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty folder that replaces `final` only if the block succeeds.

    A folder left empty gets a note (see `note_if_empty`)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    note_if_empty(staging)
    publish_mode(staging, 0o777)
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)


EMPTY_NOTE = ".empty"


def note_if_empty(folder: Path) -> None:
    """Write a one-line note into an output folder a stage left empty (a candidate without a
    study or per-epoch curves): DVC warns "'<folder>' is empty" otherwise. .dvcignore keeps
    the note out of the output's hash and out of `dvc plots`."""
    folder = Path(folder)
    if not any(folder.iterdir()):
        (folder / EMPTY_NOTE).write_text(
            "Nothing to write here for this candidate and task.\n", encoding="utf-8"
        )


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def dir_size_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def read_yaml(text: str) -> Any:
    """YAML 1.2, as DVC reads and rewrites params.yaml (`dvc exp run -S` writes `yes`
    unquoted: a string in 1.2, where YAML 1.1 readers would see a boolean)."""
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)
