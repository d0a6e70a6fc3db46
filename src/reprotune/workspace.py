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


def keep_only(params: dict, names: list[str]) -> None:
    """Restrict a params dict to the candidates and ensembles in `names`: the others leave
    train, tune, compare's phases (an emptied phase too) and explain.skip; an ensemble needs
    its members kept. For a quick run of part of an example."""
    train = params["train"]["candidates"]
    ensembles = params.get("ensemble", {}).get("candidates", {})
    unknown = sorted(set(names) - set(train) - set(ensembles))
    if unknown:
        raise ValueError(
            f"no candidate or ensemble {unknown}; fix: use some of {[*train, *ensembles]}"
        )
    for name in names:
        lacking = sorted(set(ensembles.get(name, {}).get("members", [])) - set(names))
        if lacking:
            raise ValueError(f"ensemble {name!r} needs its members {lacking}; fix: keep them too")
    params["train"]["candidates"] = {k: v for k, v in train.items() if k in names}
    if ensembles:
        params["ensemble"]["candidates"] = {k: v for k, v in ensembles.items() if k in names}
    tune = params.get("tune", {})
    if tune.get("candidates"):
        tune["candidates"] = {k: v for k, v in tune["candidates"].items() if k in names}
    phases = params.get("compare", {}).get("phases") or {}
    kept = {phase: [n for n in members if n in names] for phase, members in phases.items()}
    if phases:
        params["compare"]["phases"] = {phase: m for phase, m in kept.items() if m}
    explain = params.get("explain", {})
    if explain.get("skip"):
        explain["skip"] = [n for n in explain["skip"] if n in names]
