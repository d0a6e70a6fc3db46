"""preprocess: typed features (declared or inferred) or the text task's joined text, labels,
seeded stratified (and grouped) splits, recorded as MLflow datasets."""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

from reprotune import paths, summaries
from reprotune.config import load_params
from reprotune.data import contract
from reprotune.data.prepare import class_counts, load_raw, prepare, write_splits
from reprotune.data.tabular import prepare_tabular
from reprotune.io import write_json
from reprotune.stage import run_stage, say
from reprotune.tracking import stage_run


def main() -> None:
    params = load_params()
    if params.data.engine == "spark":
        return main_on_spark(params)
    frames, manifest = load_raw()
    if params.data.tabular:
        splits = prepare_tabular(frames, params.data, params.seed)
    else:
        splits = prepare(frames, manifest, params.data, params.preprocess, params.seed)
    committed = committed_contract(params.data.contract)
    warning = check_committed_contract(dict(splits.items()), committed, params.data.contract)
    with stage_run("preprocess", params.tracking) as run:
        write_splits(splits, contract_file=committed)
        summary = {**class_counts(splits), "features": feature_counts(splits.schema)}
        without_target = sum((splits.schema.get("dropped_without_target") or {}).values())
        if splits.schema.get("dropped_without_target") is not None:
            summary["dropped_without_target"] = without_target
        images = image_counts(manifest, splits.schema)
        if images:
            summary["images"] = images
        record(run, params, summary, dict(splits.items()), manifest)
    report(summary, warning, splits.schema, params.data.label_column)


def main_on_spark(params) -> None:
    """data.engine: spark: the executors cast, split and write; the driver holds samples
    (the committed contract is checked on them, the MLflow dataset entries are them)."""
    from reprotune.data import on_spark
    from reprotune.io import read_json

    committed = committed_contract(params.data.contract)

    def check(samples):  # before data/processed/ is replaced
        return check_committed_contract(samples, committed, params.data.contract)

    with stage_run("preprocess", params.tracking) as run:
        done = on_spark.preprocess(params.data, params.seed, committed, check)
        schema = done["schema"]
        summary = {**done["counts"], "features": feature_counts(schema)}
        summary["dropped_without_target"] = sum(schema["dropped_without_target"].values())
        record(run, params, summary, done["samples"], read_json(paths.MANIFEST))
    report(summary, done["warning"], schema, params.data.label_column, " (on Spark)")


def record(run, params, summary: dict, datasets: dict, manifest: dict) -> None:
    """metrics/preprocess.json, and the MLflow run: params, metrics, the files beside the
    splits, each split (or its sample) as a dataset."""
    write_json(paths.stage_metrics("preprocess"), summary)
    run.log_params(
        {
            "data": params.data.model_dump(mode="json"),
            "preprocess": params.preprocess.model_dump(),
            "seed": params.seed,
        }
    )
    run.log_metrics(summary)
    run.log_artifacts(
        [paths.LABELS, paths.FEATURES, paths.CONTRACT, paths.PROFILE,
         paths.stage_metrics("preprocess")]
    )  # fmt: skip
    for split, frame in datasets.items():
        run.log_dataset(frame, split, source=manifest)


def report(summary: dict, warning, schema: dict, label_column: str, where: str = "") -> None:
    say(summaries.split(summary) + where)
    if warning:
        say(warning)
    if summary.get("dropped_without_target"):
        say(
            f"dropped {summary['dropped_without_target']:,} rows without a target value "
            f"({label_column!r} empty)"
        )
    inferred = schema.get("inferred") or {}
    if inferred:
        say(f"inferred feature types: {inferred}")


def committed_contract(mode: str):
    """The contract committed beside params.yaml, unless there is none or data.contract is
    off: it wins over the inferred one (checked here, and saved with every model)."""
    committed = paths.project_root() / contract.COMMITTED
    return committed if mode != "off" and committed.is_file() else None


def check_committed_contract(tables: dict, committed, mode: str) -> str | None:
    """Every split (by name) against the committed contract: stop on a violation (fail), or
    return the table to print (warn)."""
    if committed is None:
        return None
    schema = contract.read(committed)
    found = contract.check_tables(schema, tables)
    return contract.enforce(found, mode, str(contract.COMMITTED))


def image_counts(manifest: dict, schema: dict) -> dict:
    """Per image column: copied, downloaded and rows skipped (missing at fetch, unreadable
    here), under data.images.missing: skip."""
    unreadable = (schema.get("images") or {}).get("skipped_unreadable", {})
    return {
        column: {**counts, "skipped_unreadable": unreadable.get(column, 0)}
        for column, counts in (manifest.get("images") or {}).items()
    }


def feature_counts(schema: dict) -> dict[str, int]:
    """How many features of each type, and how many were inferred (numbers, for DVC metrics;
    the columns themselves are in data/processed/features.json)."""
    kinds = list(schema["features"].values())
    counts = {kind: kinds.count(kind) for kind in sorted(set(kinds))}
    return {**counts, "inferred": len(schema.get("inferred") or {})}


if __name__ == "__main__":
    run_stage("preprocess", main)
