"""Checking a transformer checkpoint cheaply, before anything heavy is imported."""

from pathlib import Path

from reprotune.errors import ParamsError


def _looks_like_path(checkpoint: str) -> bool:
    return checkpoint.startswith((".", "/", "~")) or Path(checkpoint).expanduser().exists()


def check_checkpoint(checkpoint: str) -> None:
    """Fail before any work when `checkpoint` names a local folder that is not there."""
    folder = Path(checkpoint).expanduser()
    if _looks_like_path(checkpoint) and not (folder / "config.json").is_file():
        raise ParamsError(
            f"checkpoint = {checkpoint!r}: no model folder there (a folder with config.json "
            "and tokenizer files, as written by save_pretrained); fix: point the top-level "
            "`checkpoint` at one, or at a Hugging Face Hub model name"
        )
