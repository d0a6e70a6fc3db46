"""fetch: bring the raw splits into data/raw/ with a manifest."""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

from reprotune import paths, summaries
from reprotune.config import load_params
from reprotune.data.sources import fetch
from reprotune.stage import run_stage, say
from reprotune.tracking import stage_run


def main() -> None:
    params = load_params()
    with stage_run("fetch", params.tracking) as run:
        manifest = fetch(params.data, params.seed)
        run.log_params({"data": params.data.model_dump(mode="json"), "seed": params.seed})
        run.log_metrics({f"rows.{split}": n for split, n in manifest["rows"].items()})
        run.set_tags(
            {"data.source": manifest["source"], "data.revision": manifest["revision"] or ""}
        )
        run.log_artifacts([paths.MANIFEST])
    say(summaries.fetched(manifest))


if __name__ == "__main__":
    run_stage("fetch", main)
