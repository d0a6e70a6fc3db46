"""The POI engagement example through the real pipeline, once per seed (the seed draws the
grouped split and initialises the models): what the photo adds over metadata alone, and what
embeddings add over one-hot.

    .venv/bin/python bench/poi_benchmark.py --data ../shared/data/poi_engagement/poi_dataset.csv \
        --seeds 42 43 44 [--set train.candidates.fused_embeddings.epochs=40 ...] [--keep]

Prints each candidate's test ROC-AUC, PR-AUC, F1 (at its F1-tuned threshold) and train time
per seed, their means, the phase verdicts and the stage times of the first seed.
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from pipeline_benchmark import explain_share, stage_resources  # noqa: E402
from tabular_benchmark import run_pipeline  # noqa: E402


def candidate_rows(project: Path) -> dict[str, dict]:
    rows = {}
    for path in sorted((project / "metrics/evaluate").glob("*.json")):
        m = json.loads(path.read_text())
        rows[path.stem] = {
            "roc_auc": m["roc_auc"],
            "pr_auc": m["pr_auc"],
            "f1": m["f1"],
            "train_s": m["efficiency"]["train_seconds"],
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="poi_dataset.csv")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--set", action="append", default=[], help="dotted.key=value")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="reprotune-poi-bench-"))
    per_seed, first = {}, None
    for seed in args.seeds:
        overrides = [f"seed={seed}", *args.set]
        project, seconds = run_pipeline(
            args.data, workdir / f"seed{seed}", False, overrides, example="poi-engagement"
        )
        per_seed[seed] = candidate_rows(project)
        compare = json.loads((project / "metrics/compare.json").read_text())
        print(f"seed {seed}: pipeline {seconds:.0f} s, champion {compare['champion']}")
        for name, row in per_seed[seed].items():  # as each seed ends: a cut run still tells
            print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
        for phase, values in compare.get("phases", {}).items():
            lift, verdict = values["lift"], values["verdict"]
            print(f"  phase {phase}: {values['best']} lift {lift:+.4f} ({verdict})", flush=True)
        first = first or project
    names = list(next(iter(per_seed.values())))
    seeds = " | ".join(f"ROC-AUC s{s}" for s in args.seeds)
    print(f"\n| candidate | {seeds} | mean ROC-AUC | mean PR-AUC | mean F1 | train s |")
    print("| --- |" + " --- |" * (len(args.seeds) + 4))
    for name in names:
        values = [per_seed[s][name] for s in args.seeds]
        means = {k: statistics.mean(v[k] for v in values) for k in values[0]}
        cells = " | ".join(f"{v['roc_auc']:.4f}" for v in values)
        print(
            f"| {name} | {cells} | {means['roc_auc']:.4f} | {means['pr_auc']:.4f} | "
            f"{means['f1']:.4f} | {means['train_s']:.1f} |"
        )
    print("\n| stage | wall s | peak memory MiB |\n| --- | --- | --- |")
    print("\n".join(stage_resources(first)))
    print(explain_share(first))
    if args.keep:
        print(f"kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
