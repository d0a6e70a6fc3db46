"""`reprotune dvc`: the dvc CLI, less the "No file hash info found" lines of a first run."""

import sys
from pathlib import Path

from commands import git_commit_all, run

STAGE = """\
import json, os, sys
os.makedirs("out", exist_ok=True)
open("out/a.txt", "w").write("x")
json.dump({"v": 1}, open("m.json", "w"))
sys.exit(int(sys.argv[1]))
"""
HASH_WARNING = "No file hash info found for"


def tiny_project(folder: Path, exit_code: int = 0) -> Path:
    folder.mkdir()
    (folder / "make.py").write_text(STAGE)
    (folder / "params.yaml").write_text("lr: 0.1\n")
    (folder / "dvc.yaml").write_text(
        "stages:\n  make:\n"
        f"    cmd: python make.py {exit_code}\n"
        "    deps: [make.py]\n    params: [lr]\n    outs: [out]\n"
        "    metrics: [{m.json: {cache: false}}]\n"
    )
    git_commit_all(folder)
    run(["dvc", "init", "-q"], folder)
    git_commit_all(folder, "dvc init")
    return folder


def test_plain_dvc_warns_on_a_first_experiment(tmp_path):
    done = run(["dvc", "exp", "run", "-S", "lr=0.2"], tiny_project(tmp_path / "p"))
    assert HASH_WARNING in done.stdout + done.stderr  # what the wrapper is for


def test_reprotune_dvc_runs_the_experiment_without_the_warning(tmp_path):
    project = tiny_project(tmp_path / "p")
    done = run(["reprotune", "dvc", "exp", "run", "-S", "lr=0.2"], project)
    assert HASH_WARNING not in done.stdout + done.stderr
    assert "Ran experiment(s)" in done.stdout
    assert (project / "out" / "a.txt").read_text() == "x"
    assert "lr: 0.2" in (project / "params.yaml").read_text()


def test_reprotune_dvc_keeps_dvc_exit_status_and_errors(tmp_path):
    project = tiny_project(tmp_path / "p", exit_code=3)
    done = run(["reprotune", "dvc", "repro"], project, check=False)
    assert done.returncode != 0
    assert "failed to run: python make.py 3, exited with 3" in done.stderr


def test_verbose_keeps_the_warning(tmp_path):
    project = tiny_project(tmp_path / "p")
    done = run(["reprotune", "dvc", "exp", "run"], project, env={"REPROTUNE_VERBOSE": "1"})
    assert HASH_WARNING in done.stdout + done.stderr


def test_a_second_run_in_the_same_workspace_stops_at_once_pointing_to_the_queue(tmp_path):
    from filelock import FileLock

    from reprotune.dvc_cli import LOCK, runs_in_workspace

    project = tiny_project(tmp_path / "p")
    reprotune = str(Path(sys.executable).parent / "reprotune")
    with FileLock(project / LOCK):  # another `reprotune dvc exp run` in this workspace
        done = run([reprotune, "dvc", "exp", "run", "-S", "lr=0.2"], project, check=False)
    assert done.returncode == 1
    assert "another `dvc exp run` or `dvc repro` is running" in done.stderr
    assert "dvc exp run --queue" in done.stderr
    assert not (project / "m.json").exists()  # nothing ran
    assert runs_in_workspace(["exp", "run", "-S", "lr=1"]) and runs_in_workspace(["repro"])
    assert not runs_in_workspace(["exp", "run", "--queue", "-S", "lr=1"])
    assert not runs_in_workspace(["exp", "show"])
