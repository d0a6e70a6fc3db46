"""Fine-tune the transformer candidate over a small grid of knobs on an existing split.

    .venv/bin/python bench/transformer_grid.py --processed-dir data/processed \
        --checkpoint PATH_OR_NAME --lr 5e-5 1e-4 2e-4 --batch-size 8 16 --epochs 5

Uses the pipeline's own candidate code (reprotune.models.hf_transformer) on the train/val/test
parquet files the preprocess stage wrote. Pick settings by the validation column; the test
column is printed for the record, not for choosing. Runs on CUDA when present.
"""

import argparse
import itertools
import time
from pathlib import Path

import pandas as pd

from reprotune import models
from reprotune.config import TransformerParams
from reprotune.evaluation import quality_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed-dir", type=Path, required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--lr", type=float, nargs="+", default=[1e-4])
    parser.add_argument("--batch-size", type=int, nargs="+", default=[16])
    parser.add_argument("--epochs", type=int, nargs="+", default=[4])
    parser.add_argument("--warmup-ratio", type=float, nargs="+", default=[0.1])
    parser.add_argument("--head-lr-multiplier", type=float, nargs="+", default=[1.0])
    parser.add_argument("--layer-lr-decay", type=float, nargs="+", default=[1.0])
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--seed", type=int, nargs="+", default=[42])
    args = parser.parse_args()

    splits = {
        s: pd.read_parquet(args.processed_dir / f"{s}.parquet") for s in ("train", "val", "test")
    }
    names = (args.processed_dir / "labels.json").read_text()
    label_names = __import__("json").loads(names)["names"]
    print(
        "| lr | head x | layer decay | batch | epochs | warmup | seed | best epoch | "
        "val macro F1 | test accuracy | test macro F1 | train samples/s |"
    )
    print("| --- " * 12 + "|")
    grid = itertools.product(
        args.lr,
        args.head_lr_multiplier,
        args.layer_lr_decay,
        args.batch_size,
        args.epochs,
        args.warmup_ratio,
        args.seed,
    )
    for lr, head, decay, batch, epochs, warmup, seed in grid:
        params = TransformerParams(
            family="hf_transformer",
            lr=lr,
            batch_size=batch,
            epochs=epochs,
            warmup_ratio=warmup,
            patience=args.patience,
            head_lr_multiplier=head,
            layer_lr_decay=decay,
            checkpoint=args.checkpoint,
        )
        model = models.create(params, label_names, seed)
        start = time.perf_counter()
        history = model.fit(
            splits["train"]["text"].tolist(),
            splits["train"]["label"].to_numpy(),
            splits["val"]["text"].tolist(),
            splits["val"]["label"].to_numpy(),
        )
        seconds = time.perf_counter() - start
        test = quality_metrics(
            splits["test"]["label"].to_numpy(),
            model.predict_proba(splits["test"]["text"].tolist()),
            label_names,
        )
        best = max(history, key=lambda row: row["val_macro_f1"])
        rate = len(splits["train"]) * len(history) / seconds
        print(
            f"| {lr:g} | {head:g} | {decay:g} | {batch} | {epochs} | {warmup:g} | {seed} | "
            f"{best['epoch']} | "
            f"{best['val_macro_f1']:.4f} | {test['accuracy']:.4f} | {test['macro_f1']:.4f} | "
            f"{rate:.1f} |",
            flush=True,
        )
        del model


if __name__ == "__main__":
    main()
