"""Token ids computed once per (tokenizer, max length, texts) and reused from disk.

Training tokenizes its rows once per run, every tuning trial tokenizes the same rows again,
and a large training set (120,000 AG News rows) takes longer to tokenize than an epoch takes
on a GPU. The key is a content hash of everything the ids depend on, so a changed
checkpoint (its vocabulary, normaliser or special tokens), max length or text is never
served stale ids: it is a different file.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

CACHE_ENV = "REPROTUNE_CACHE_DIR"


def cache_dir() -> Path:
    """~/.cache/reprotune/tokens, or under REPROTUNE_CACHE_DIR: shared by every run and
    queued experiment of this user."""
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "reprotune"
    return Path(root) / "tokens"


def tokenizer_fingerprint(tokenizer) -> str:
    """What a tokenizer's ids depend on: its full definition (vocabulary, normaliser,
    pre-tokeniser, post-processor) and special tokens."""
    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        definition = json.loads(backend.to_str())
        # The last call's truncation and padding settings are stored there too: not the
        # tokenizer's identity (max_length is part of the key on its own).
        definition.pop("truncation", None)
        definition.pop("padding", None)
        digest.update(json.dumps(definition, sort_keys=True).encode())
    else:  # a slow (Python) tokenizer: its vocabulary stands in for its definition
        digest.update(repr(sorted(tokenizer.get_vocab().items())).encode())
    digest.update(repr(sorted(tokenizer.special_tokens_map.items())).encode())
    digest.update(f"{tokenizer.truncation_side}|{type(tokenizer).__name__}".encode())
    return digest.hexdigest()


def cache_key(tokenizer, max_length: int, texts: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(tokenizer_fingerprint(tokenizer).encode())
    digest.update(f"|max_length={max_length}|rows={len(texts)}|".encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def encode(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def cached_token_ids(
    tokenizer, texts: list[str], max_length: int, folder: Path | None = None
) -> list[list[int]]:
    """The texts' token ids (truncated to max_length), from the cache when it has them."""
    texts = list(texts)
    if not texts:
        return []
    path = (folder or cache_dir()) / f"{cache_key(tokenizer, max_length, texts)}.npz"
    if path.is_file():
        stored = np.load(path)
        return [ids.tolist() for ids in np.split(stored["ids"], stored["offsets"][1:-1])]
    ids = encode(tokenizer, texts, max_length)
    _write(path, ids)
    return ids


def _write(path: Path, ids: list[list[int]]) -> None:
    """Written to a temporary file, then renamed: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0, *map(len, ids)])
    flat = np.fromiter((i for row in ids for i in row), dtype=np.int32, count=int(offsets[-1]))
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(handle)
    try:
        np.savez(temporary, ids=flat, offsets=offsets)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
