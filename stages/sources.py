"""sources: hash what the data sources hold now, and the committed data contract, into
data/sources.json (fetch depends on it); the code each stage runs into code/<stage>.json
(each stage depends on its own); and the empty best params of each candidate without a study
(tune/<candidate>/best_params.json, which its train@ depends on: dvc.yaml has tune@ stages
only for the candidates in tune.candidates).

DVC runs this stage on every `dvc repro` (always_changed); its output changes only when the
data does, so an edited data file or image re-runs fetch and what depends on it, no more. It
also validates the whole params.yaml first: a misspelt key stops every run with its fix, even
when no stage that reads it would re-run."""

import os
from pathlib import Path

from reprotune.launcher import handoff

handoff(__name__, __file__)  # a warm process runs the stage when one is up

from reprotune import codedeps, paths
from reprotune.config import load_params
from reprotune.data.fingerprint import StatCache, fingerprint, read_data_section, summary
from reprotune.io import read_json, write_json
from reprotune.stage import run_stage, say
from reprotune.tuning_settings import write_untuned_params


def main() -> None:
    # Every key checked on each run, not only when a stage reading it runs; under DVC, also
    # every key dvc.yaml tracks (a stage script run by hand needs only what it reads).
    params = load_params(tracked_by=paths.DVC_YAML if os.environ.get("DVC_STAGE") else None)
    root = paths.project_root()
    try:
        previous = read_json(paths.SOURCES)
    except (OSError, ValueError):
        previous = {}
    cache = StatCache(root / paths.FINGERPRINT_CACHE)
    notes: list[str] = []
    found = fingerprint(read_data_section(paths.PARAMS_FILE), root, previous, cache, notes)
    # The committed data contract (contract.yaml): editing it re-checks the data.
    contract = root / paths.COMMITTED_CONTRACT
    if contract.is_file():
        found["contract"] = cache.md5(contract)
    cache.save()
    if found != previous:
        write_json(paths.SOURCES, found)
    say(summary(found, changed=found != previous))
    for note in notes:
        say(note)
    untuned = write_untuned_params(params.train.candidates, params.tune)
    if untuned:
        say(f"no study: {', '.join(untuned)} (empty tune/<candidate>/best_params.json)")
    # dvc.yaml's plots/tune: `dvc plots show` fails on a missing folder, not an empty one.
    paths.stage_plots("tune").mkdir(parents=True, exist_ok=True)
    changed = codedeps.write_stage_digests(Path.cwd())  # this copy's code, queued or not
    if changed:
        say(f"code changed: {', '.join(changed)} (code/<stage>.json)")


if __name__ == "__main__":
    run_stage("sources", main)
