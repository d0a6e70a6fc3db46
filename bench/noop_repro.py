"""A `dvc repro` with nothing to do: this project's pipeline beside a plain DVC project of the
same shape (as many stages, each with as many dependencies and outputs, running `true`).

    .venv/bin/python bench/noop_repro.py --project <a clone that ran its pipeline> [--repeats 5]

Both are timed after a warm-up run, `--repeats` times each; the median is printed. The plain
project tells how much of the time is DVC's own per-stage cost (hashing and status of every
dependency), which no change to reprotune's stages can remove.
"""

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent


def timed_repro(project: Path, repeats: int) -> tuple[float, list[str]]:
    """Median seconds, and the stages that ran anyway (`always_changed` ones, such as this
    project's `sources`, which re-checks the data's source every time)."""
    command = [str(BIN / "dvc"), "repro"]
    subprocess.run(command, cwd=project, check=True, capture_output=True)  # warm-up
    seconds, ran = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=project, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            sys.exit(f"dvc repro failed in {project}:\n{done.stdout}{done.stderr}")
        ran = re.findall(r"Running stage '([^']+)'", done.stdout + done.stderr)
    return statistics.median(seconds), ran


def shape(project: Path) -> list[tuple[int, int]]:
    """(dependencies, outputs) of every stage, foreach stages expanded, from dvc.lock."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return [(len(s.get("deps", [])), len(s.get("outs", []))) for s in lock.values()]


def plain_project(stages: list[tuple[int, int]], folder: Path, run: bool = True) -> Path:
    """`true` stages with the same numbers of (small) file dependencies and outputs."""
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=folder, check=True)
    pipeline = {}
    for i, (deps, outs) in enumerate(stages):
        inputs = [f"in/{i}-{d}.txt" for d in range(deps)]
        for path in inputs:
            (folder / path).parent.mkdir(exist_ok=True)
            (folder / path).write_text(f"{path}\n")
        outputs = [f"out/{i}-{o}.txt" for o in range(outs)]
        touch = " && ".join(f"echo {i} > {o}" for o in outputs) or "true"
        pipeline[f"s{i}"] = {"cmd": f"mkdir -p out && {touch}", "deps": inputs, "outs": outputs}
    (folder / "dvc.yaml").write_text(yaml.safe_dump({"stages": pipeline}))
    (folder / ".gitignore").write_text("/out/\n")
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", "commit", "-qm", "plain"], cwd=folder, check=True)
    if run:
        subprocess.run([str(BIN / "dvc"), "repro", "-q"], cwd=folder, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", required=True, help="a project that ran its pipeline")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    project = Path(args.project).resolve()
    stages = shape(project)
    ours, ran = timed_repro(project, args.repeats)
    with tempfile.TemporaryDirectory() as scratch:
        plain, _ = timed_repro(plain_project(stages, Path(scratch)), args.repeats)
    deps = sum(d for d, _ in stages)
    print(f"| project | stages | dependencies | no-op `dvc repro` s (median of {args.repeats}) |")
    print("|---|---|---|---|")
    print(
        f"| {project.name} (ran anyway: {', '.join(ran) or 'none'}) | {len(stages)} | {deps} "
        f"| {ours:.2f} |"
    )
    print(f"| plain DVC, same shape | {len(stages)} | {deps} | {plain:.2f} |")


if __name__ == "__main__":
    main()
