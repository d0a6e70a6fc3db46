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


def check_hub_for(checkpoint: str) -> None:
    """A Hub model name with the Hub out of reach: the cached copy, or stop at once."""
    if _looks_like_path(checkpoint):
        return
    from reprotune import hub

    unreachable = hub.check_reachable(checkpoint, "model")
    if unreachable not in (None, "cached"):
        raise ParamsError(
            f"checkpoint = {checkpoint!r} could not be downloaded: the Hugging Face Hub is out "
            f"of reach ({unreachable}) and no copy is cached; fix: if this machine is offline, "
            "set the top-level `checkpoint` to a local model folder"
        )
