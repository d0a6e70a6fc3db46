"""Start-up time (imports) and peak memory of each stage script.

    .venv/bin/python bench/stage_startup.py

Start-up: wall time of `python -c` running a stage file's imports (its `main` is not called)
plus the framework its candidate family loads when it starts, best of 3. Peak memory: maximum
resident set size of that process. Stages that need neither TensorFlow nor torch must not
import them; the last column says what was imported. Whole-stage wall time and peak memory on
real data come from bench/pipeline_benchmark.py (stage_resources).
"""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAMILY_IMPORTS = {
    "tfidf_logreg": "import reprotune.families.tfidf_logreg.model",
    "keras_mlp": "from reprotune.models import keras_mlp; keras_mlp._keras()",
    "hf_transformer": "import torch, transformers; from reprotune.models import hf_transformer; "
    "transformers.AutoModelForSequenceClassification",
}
PROBE = (
    "import resource, runpy, sys; runpy.run_path({path!r}, run_name='probe'); {extra}; "
    "heavy = sorted(m for m in ('torch', 'tensorflow') if m in sys.modules); "
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, ','.join(heavy) or '-')"
)


def probe(stage_file: Path, extra: str = "pass") -> tuple[float, int, str]:
    timings, output = [], ""
    for _ in range(3):
        start = time.perf_counter()
        code = PROBE.format(path=str(stage_file), extra=extra)
        output = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        timings.append(time.perf_counter() - start)
    peak_kib, heavy = output.split()
    return min(timings), int(peak_kib), heavy


def main() -> None:
    print("| stage | start-up s | peak memory MiB | heavy frameworks imported |")
    print("| --- | --- | --- | --- |")
    rows = [
        (f.stem, f, "pass")
        for f in sorted((ROOT / "stages").glob("*.py"))
        if f.stem not in ("train", "evaluate")
    ]
    rows += [
        (f"{stage}@{family}", ROOT / "stages" / f"{stage}.py", extra)
        for stage in ("train", "evaluate")
        for family, extra in FAMILY_IMPORTS.items()
    ]
    for label, stage_file, extra in rows:
        seconds, peak_kib, heavy = probe(stage_file, extra)
        print(f"| {label} | {seconds:.2f} | {peak_kib / 1024:.0f} | {heavy} |")


if __name__ == "__main__":
    main()
