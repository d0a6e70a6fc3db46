"""drift: the validation and test splits against the training rows' reference profile, per
feature (KS or chi-square and PSI), into metrics/drift.json, a PSI bar chart per split and
metrics/drift.md; the training profile is also written to data/profile.json (in git), so a
pull request's report measures new training rows against the base revision's, the rows its
champion trained on."""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

import shutil

from reprotune import drift, paths
from reprotune.config import load_params
from reprotune.data.prepare import driver_rows
from reprotune.io import read_json, write_json, write_text
from reprotune.stage import run_stage, say
from reprotune.tracking import stage_run


def main() -> None:
    params = load_params()
    profile = read_json(paths.PROFILE)
    engine = params.data.engine  # spark: a seeded sample of each split
    tables = {split: driver_rows(split, engine, params.seed) for split in drift.HELD_OUT}
    reports = drift.split_reports(profile, tables, params.drift.share)
    metrics = drift.stage_metrics(reports)
    report_file = paths.METRICS_DIR / "drift.md"
    with stage_run("drift", params.tracking) as run:
        write_json(paths.stage_metrics("drift"), metrics)
        for split, report in reports.items():
            write_json(paths.stage_plots("drift") / f"{split}.json", drift.plot_rows(report, split))
        write_text(report_file, drift.splits_markdown(reports))
        shutil.copyfile(paths.PROFILE, paths.REFERENCE_PROFILE)
        run.log_params({"drift": params.drift.model_dump()})
        run.log_metrics(metrics)
        run.log_artifacts([paths.stage_metrics("drift"), report_file])
    for split, report in reports.items():
        say(f"{split}: {drift.summary_line(report, 'the training rows')}")


if __name__ == "__main__":
    run_stage("drift", main)
