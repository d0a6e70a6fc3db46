"""configure: validate params.yaml and write each candidate's resolved settings.

train@<candidate> depends on configs/<candidate>.json rather than on params.yaml keys, so a
change to a top-level knob (`dvc exp run -S lr=...`) re-trains only the candidates that read it.
"""

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

from reprotune import paths, summaries
from reprotune.config import load_params, resolved_config
from reprotune.io import staged_dir, write_json
from reprotune.stage import run_stage, say
from reprotune.tracking import stage_run


def main() -> None:
    params = load_params()
    configs = {name: resolved_config(params, name) for name in params.train.candidates}
    for name in params.train.candidates:
        params.candidate(name).check_ready()
    with stage_run("configure", params.tracking) as run:
        with staged_dir(paths.CONFIGS_DIR) as folder:
            for name, config in configs.items():
                write_json(folder / f"{name}.json", config)
        run.log_params(
            {"candidates": {n: c["params"] for n, c in configs.items()}, "seed": params.seed}
        )
        run.log_artifacts([paths.candidate_config(name) for name in configs], "configs")
    say(summaries.configured(configs))


if __name__ == "__main__":
    run_stage("configure", main)
