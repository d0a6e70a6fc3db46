"""Copying the pipeline's own files (no data, models or results) into a fresh folder.

Benchmarks and end-to-end tests run the real pipeline in such a copy, so they never touch the
user's workspace, its params.yaml or its MLflow store.
"""

import shutil
from pathlib import Path

PIPELINE_FILES = (
    "dvc.yaml",
    "params.yaml",
    "stages",
    "src",
    ".dvc/config",
    ".dvc/plots",
    ".dvcignore",
    ".gitignore",
    "constraints.txt",
    "examples",
)


def copy_pipeline(source_root: Path, target: Path) -> Path:
    for name in PIPELINE_FILES:
        source = Path(source_root) / name
        if source.is_dir():
            shutil.copytree(
                source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        elif source.exists():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def set_dotted(params: dict, override: str) -> None:
    """Apply `a.b.c=VALUE` (VALUE read as YAML) to a params dict, as `dvc exp run -S` does."""
    import yaml

    key, value = override.split("=", 1)
    *parents, leaf = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[leaf] = yaml.safe_load(value)
