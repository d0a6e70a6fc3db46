"""Whether the Hugging Face Hub can be reached, decided at once.

Offline, `datasets` and `transformers` retry the Hub with back-off for tens of seconds
before failing. One TCP connection attempt (a missing route or DNS name fails at once, a
silent firewall after CONNECT_TIMEOUT_S) tells first: then a cached copy is used without
asking the Hub, or the stage stops with its fix straight away.
"""

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

CONNECT_TIMEOUT_S = 1.0
DEFAULT_ENDPOINT = "https://huggingface.co"
OFFLINE_ENV = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def offline_by_choice() -> bool:
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes") for name in OFFLINE_ENV)


def unreachable_reason() -> str | None:
    """Why the Hub's endpoint cannot be reached now, or None when it answers."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        return f"no connection to {host}:{port} ({exc.strerror or type(exc).__name__})"
    return None


def hub_cache() -> Path:
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    return Path(os.environ.get("HF_HUB_CACHE") or home / "hub")


def datasets_cache() -> Path:
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    return Path(os.environ.get("HF_DATASETS_CACHE") or home / "datasets")


def is_cached(repo_id: str, kind: str) -> bool:
    """Whether a dataset or model was downloaded before (the Hub cache, or for datasets
    also the prepared `datasets` cache)."""
    folder = hub_cache() / f"{kind}s--{repo_id.replace('/', '--')}"
    if folder.is_dir():
        return True
    return kind == "dataset" and (datasets_cache() / repo_id.replace("/", "___")).is_dir()


def go_offline() -> None:
    """Use cached files only, in this process and the libraries it imports from now on
    (the env is read at import; modules already imported are switched too)."""
    import sys

    for name in OFFLINE_ENV:
        os.environ[name] = "1"
    for module, attribute in (
        ("huggingface_hub.constants", "HF_HUB_OFFLINE"),
        ("datasets.config", "HF_HUB_OFFLINE"),
        ("datasets.config", "HF_DATASETS_OFFLINE"),
    ):
        if module in sys.modules and hasattr(sys.modules[module], attribute):
            setattr(sys.modules[module], attribute, True)


def check_reachable(repo_id: str, kind: str) -> str | None:
    """None when the Hub can be asked (or offline mode was chosen); "cached" when it cannot
    but a copy is cached (offline mode is switched on); else why it cannot be reached."""
    if offline_by_choice():
        return None
    reason = unreachable_reason()
    if reason is None:
        return None
    if is_cached(repo_id, kind):
        go_offline()
        return "cached"
    return reason
