"""preprocess: text from columns, cleaning, label names, seeded stratified splits."""

from reprotune import paths
from reprotune.config import load_params
from reprotune.data.prepare import class_counts, load_raw, prepare, write_splits
from reprotune.io import write_json
from reprotune.stage import run_stage
from reprotune.tracking import stage_run


def main() -> None:
    params = load_params()
    frames, manifest = load_raw()
    splits = prepare(frames, manifest, params.data, params.preprocess, params.seed)
    with stage_run("preprocess", params.tracking) as run:
        write_splits(splits)
        counts = class_counts(splits)
        write_json(paths.stage_metrics("preprocess"), counts)
        run.log_params(
            {
                "data": params.data.model_dump(mode="json"),
                "preprocess": params.preprocess.model_dump(),
                "seed": params.seed,
            }
        )
        run.log_metrics(counts)
        run.log_artifacts([paths.LABELS, paths.stage_metrics("preprocess")])


if __name__ == "__main__":
    run_stage("preprocess", main)
