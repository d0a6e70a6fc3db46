"""`reprotune exp show`: the experiments in a table that fits a terminal.

`dvc exp show` prints every param and metric of every stage: hundreds of columns for a
pipeline of a few candidates. This keeps the params that differ between the experiments
shown, and the champion with its score (compare's)."""

from pathlib import Path

from reprotune.io import read_yaml

SHOWN_FIRST = ("Experiment", "rev", "Created")
CHAMPION = ("champion", "champion_score")


def flat_keys(node, prefix: str = "") -> list[str]:
    """params.yaml's leaf keys, dotted as DVC flattens them (lists are leaves)."""
    if not isinstance(node, dict) or not node:
        return [prefix] if prefix else []
    keys = []
    for key, value in node.items():
        keys += flat_keys(value, f"{prefix}.{key}" if prefix else str(key))
    return keys


def _value(row: dict, key: str):
    """A row's value for a param key (DVC prefixes it with the file on a name clash)."""
    return row.get(key, row.get(f"params.yaml:{key}"))


def changed_params(rows: list[dict], params: list[str]) -> list[str]:
    return [key for key in params if len({repr(_value(row, key)) for row in rows}) > 1]


def curated(rows: list[dict], params: list[str]) -> list[dict]:
    """Each experiment's name, revision, creation time, changed params and champion."""
    changed = changed_params(rows, params)
    return [
        {
            **{key: row.get(key) for key in SHOWN_FIRST},
            **{key: _value(row, key) for key in changed},
            **{key: row.get(key, row.get(f"metrics/compare.json:{key}")) for key in CHAMPION},
        }
        for row in rows
    ]


def show(repo: Path, num: int = 1, all_commits: bool = False) -> list[dict]:
    import dvc.api

    rows = dvc.api.exp_show(repo=str(repo), num=10_000 if all_commits else num)
    params = flat_keys(read_yaml((Path(repo) / "params.yaml").read_text(encoding="utf-8")))
    return curated(rows, params)
