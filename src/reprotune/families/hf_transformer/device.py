"""What the transformer runs with on this device, and token ids padded without the tokenizer.

`batch_size: auto`, `lr: auto`, `eval_batch_size: auto` and `train_loop: auto` resolve here:
a CPU keeps the settings measured best on two cores (batch 16, lr 2e-4, dynamic padding per
batch); a CUDA device gets a batch that keeps it busy, the learning rate measured with it,
bf16 autocast and the bucketed loop (token ids padded once and kept on the GPU). A number set
in params.yaml always wins. What was chosen is printed and logged with the run.
"""

from dataclasses import asdict, dataclass

import numpy as np

CPU = {"batch_size": 16, "lr": 2e-4, "eval_batch_size": 64, "train_loop": "dynamic"}
# Measured on an H200 with all-MiniLM-L6-v2 (issue 35): batch 128 at lr 3e-4 trained 4.8x
# faster than batch 16 for the same test accuracy within 0.2 points.
CUDA = {"batch_size": 128, "lr": 3e-4, "eval_batch_size": 512, "train_loop": "bucketed"}
# Bucketed rows are padded to a multiple of this many tokens: few distinct shapes, and
# tensor-core friendly sizes, for at most 15 padding tokens a row.
BUCKET_MULTIPLE = 16


@dataclass(frozen=True)
class DeviceSettings:
    device: str  # cpu, cuda
    batch_size: int
    lr: float
    eval_batch_size: int
    train_loop: str  # dynamic: padded per batch; bucketed: padded once into length buckets
    precision: str  # fp32, or the CUDA autocast dtype (bf16, fp16)
    chosen: tuple[str, ...]  # the settings that were `auto` and resolved for the device
    compile: bool = False  # training steps run through torch.compile
    # What makes a rerun comparable beside the seed: versions, the GPU, numeric flags.
    environment: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict:
        fields = {k: v for k, v in asdict(self).items() if k != "environment"}
        return {**fields, "chosen": ",".join(self.chosen), **dict(self.environment)}

    def line(self) -> str:
        auto = f" ({', '.join(self.chosen)}: auto for {self.device})" if self.chosen else ""
        return (
            f"transformer on {self.device}: batch {self.batch_size}, lr {self.lr:g}, eval batch "
            f"{self.eval_batch_size}, {self.train_loop} loop{', compiled' if self.compile else ''}"
            f", {self.precision}{auto}"
        )


def environment(torch, device: str) -> tuple[tuple[str, str], ...]:
    """The versions and flags a rerun on this device must match to be comparable (CUDA
    kernels are not bit-reproducible across GPUs, drivers or TF32 settings)."""
    found = {"torch": torch.__version__, "threads": str(torch.get_num_threads())}
    if device == "cuda":
        found |= {
            "gpu": torch.cuda.get_device_name(),
            "cuda": str(torch.version.cuda),
            "tf32_matmul": str(torch.backends.cuda.matmul.allow_tf32),
            "cudnn_deterministic": str(torch.backends.cudnn.deterministic),
        }
    return tuple(found.items())


def resolve(params, device: str, precision: str, found_in=()) -> DeviceSettings:
    """The params' settings, each `auto` one taken from the device's defaults; `found_in`:
    the environment() they run in."""
    defaults = CUDA if device == "cuda" else CPU
    values, chosen = {}, []
    for knob in ("batch_size", "lr", "eval_batch_size", "train_loop"):
        value = getattr(params, knob)
        if value is None or value == "auto":
            value = defaults[knob]
            chosen.append(knob)
        values[knob] = value
    return DeviceSettings(
        device,
        precision=precision,
        chosen=tuple(chosen),
        compile=bool(getattr(params, "compile", False)),
        environment=tuple(found_in),
        **values,
    )


def pad(
    encoded: list[list[int]], indices, pad_id: int, side: str = "right", multiple: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask) of the rows `indices`, padded to the longest of them
    (rounded up to `multiple`): what `tokenizer.pad` returns, without a tokenizer call."""
    rows = [encoded[i] for i in indices]
    longest = max((len(r) for r in rows), default=0)
    width = -(-longest // multiple) * multiple
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for row, tokens in enumerate(rows):
        n = len(tokens)
        span = slice(0, n) if side == "right" else slice(width - n, width)
        ids[row, span] = tokens
        mask[row, span] = 1
    return ids, mask


class Buckets:
    """Training rows padded once into length buckets (widths rounded up to
    BUCKET_MULTIPLE) and kept on the device with their labels: a step slices tensors already
    there, with no tokenizer call and no copy from the host.

    Every batch has the same shape within a bucket (static shapes: a compiled model builds one
    graph per bucket, not one per batch): a bucket holds at least a batch of rows (a smaller
    one joins the next wider bucket), and its last batch of an epoch is filled up with copies
    of its rows that the loss leaves out. Each epoch draws a seeded permutation of every
    bucket (one copy per bucket) and shuffles the batches across them."""

    def __init__(
        self, torch, encoded: list[list[int]], labels, pad_id: int, device, side="right",
        batch_size: int = 1,
    ):  # fmt: skip
        self.torch = torch
        self.device = device
        self.batch_size = batch_size
        labels = np.asarray(labels, dtype=np.int64)
        self.groups = []
        for rows in bucket_rows([len(tokens) for tokens in encoded], batch_size):
            ids, mask = pad(encoded, rows, pad_id, side, BUCKET_MULTIPLE)
            self.groups.append(
                {
                    "ids": torch.from_numpy(ids).to(device),
                    "mask": torch.from_numpy(mask).to(device),
                    "labels": torch.from_numpy(labels[rows]).to(device),
                }
            )
        self.orders: list = [None] * len(self.groups)

    @property
    def widths(self) -> list[int]:
        return [int(group["ids"].shape[1]) for group in self.groups]

    def draw(self, rng) -> list[tuple[int, int, int]]:
        """This epoch's batches as (bucket, start, real): the first `real` rows of the batch
        are the epoch's, the rest fill it to the batch size."""
        batches, size = [], self.batch_size
        for index, group in enumerate(self.groups):
            n = len(group["labels"])
            order = list(range(n))
            rng.shuffle(order)
            filler = -n % size if n >= size else 0  # a lone bucket smaller than a batch
            order += order[:filler]
            self.orders[index] = self.torch.tensor(order, dtype=self.torch.long).to(self.device)
            batches += [
                (index, start, min(size, n - start)) for start in range(0, len(order), size)
            ]
        rng.shuffle(batches)
        return batches

    def batch(self, key: tuple[int, int, int]):
        """(model inputs, labels, how many rows are real) of one drawn batch, on the device:
        the rows after the first `real` are filler, left out of the loss."""
        index, start, real = key
        rows = self.orders[index][start : start + self.batch_size]
        group = self.groups[index]
        inputs = {"input_ids": group["ids"][rows], "attention_mask": group["mask"][rows]}
        return inputs, group["labels"][rows], real


def bucket_rows(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Row indices per bucket: rows of one width (length rounded up to BUCKET_MULTIPLE),
    narrow buckets of fewer than `batch_size` rows joining the next wider one, and a last
    such remainder the widest bucket before it."""
    widths = -(-np.asarray(lengths) // BUCKET_MULTIPLE) * BUCKET_MULTIPLE
    buckets, pending = [], np.array([], dtype=np.int64)
    for width in np.unique(widths):
        pending = np.concatenate([pending, np.flatnonzero(widths == width)])
        if len(pending) >= batch_size:
            buckets.append(pending)
            pending = np.array([], dtype=np.int64)
    if len(pending) and buckets:
        buckets[-1] = np.concatenate([buckets[-1], pending])
    elif len(pending):
        buckets.append(pending)
    return buckets
