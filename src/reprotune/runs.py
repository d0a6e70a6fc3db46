"""The leaderboard across pipeline executions, read back from MLflow.

One row per evaluation (execution x candidate): the test metrics of its evaluate run, the
params of the run that trained the model, and whether compare made it that execution's
champion. Only params that differ between rows are shown.
"""

import csv
import io
import json

from reprotune.leaderboard import markdown_table
from reprotune.tracking import TAG_PREFIX

METRICS = ("accuracy", "macro_f1", "weighted_f1", "log_loss", "efficiency.latency_ms")
# Binary tasks' evaluations also carry these (columns shown when some row has them).
BINARY_METRICS = ("roc_auc", "pr_auc", "f1", "brier", "expected_cost")
FORMATS = ("markdown", "csv", "json")
_IGNORED_PARAMS = {"n_train", "n_val"}


def _search_all(client, experiment_id: str, filter_string: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=filter_string, max_results=1000, page_token=token
        )
        runs += list(page)
        token = page.token
        if not token:
            return runs


def collect_rows(client, experiment_name: str) -> list[dict]:
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    eid = experiment.experiment_id
    parents = {
        r.info.run_id: r for r in _search_all(client, eid, f"tags.`{TAG_PREFIX}kind` = 'pipeline'")
    }
    stage_runs = _search_all(client, eid, f"tags.`{TAG_PREFIX}stage` != ''")
    train_runs = {
        r.info.run_id: r for r in stage_runs if r.data.tags[f"{TAG_PREFIX}stage"] == "train"
    }
    champions = {
        r.data.tags.get("mlflow.parentRunId"): r.data.tags.get(f"{TAG_PREFIX}champion")
        for r in stage_runs
        if r.data.tags[f"{TAG_PREFIX}stage"] == "compare" and r.info.status == "FINISHED"
    }
    rows = []
    for run in stage_runs:
        tags = run.data.tags
        if tags[f"{TAG_PREFIX}stage"] != "evaluate" or run.info.status != "FINISHED":
            continue
        parent = parents.get(tags.get("mlflow.parentRunId"))
        candidate = tags[f"{TAG_PREFIX}candidate"]
        trained = train_runs.get(tags.get(f"{TAG_PREFIX}train_run", ""))
        rows.append(
            {
                # The experiment's name (its parent run is named `<name>@<commit>`).
                "execution": (
                    parent.data.tags.get("dvc.exp_name") or parent.info.run_name if parent else ""
                ),
                "commit": tags.get("mlflow.source.git.commit", "")[:7],
                "candidate": candidate,
                "family": tags.get(f"{TAG_PREFIX}family", ""),
                "champion": champions.get(tags.get("mlflow.parentRunId")) == candidate,
                "params": dict(trained.data.params) if trained else {},
                "metrics": {m: run.data.metrics.get(m) for m in (*BINARY_METRICS, *METRICS)},
                "start_time": run.info.start_time,
            }
        )
    return rows


def differing_params(rows: list[dict]) -> list[str]:
    keys = sorted({k for row in rows for k in row["params"]} - _IGNORED_PARAMS)
    return [k for k in keys if len({row["params"].get(k) for row in rows}) > 1]


def leaderboard(rows: list[dict], metric: str, higher_is_better: bool = True) -> list[dict]:
    """Flat rows, best first on `metric`, with the params that differ between rows."""
    varying = differing_params(rows)
    shown = [
        m
        for m in (*BINARY_METRICS, *METRICS)
        if m in METRICS or m == metric or any(r["metrics"].get(m) is not None for r in rows)
    ]
    flat = [
        {
            "rank": 0,
            "execution": row["execution"],
            "commit": row["commit"],
            "candidate": row["candidate"],
            "champion": "yes" if row["champion"] else "",
            **{m.removeprefix("efficiency."): row["metrics"].get(m) for m in shown},
            **{f"param.{k}": row["params"].get(k) for k in varying},
            "_start": row["start_time"],
        }
        for row in rows
    ]
    sign = -1 if higher_is_better else 1
    key = metric.removeprefix("efficiency.")
    flat.sort(key=lambda r: (r[key] is None, sign * (r[key] or 0), -r["_start"]))
    for rank, row in enumerate(flat, start=1):
        row["rank"] = rank
        del row["_start"]
    return flat


def render(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    columns = list(rows[0]) if rows else ["rank", "execution", "candidate"]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    return markdown_table(columns, rows)
