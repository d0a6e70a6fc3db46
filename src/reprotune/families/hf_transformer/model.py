"""A Hugging Face sequence classifier fine-tuned with PyTorch.

The loop is plain PyTorch on purpose: AdamW (fused) with linear warmup and decay, gradient
clipping, early stopping on validation macro F1 keeping the best epoch's weights. Two ways to
feed it (`train_loop`): `dynamic` pads each batch to its longest example, batches grouped by
length (the CPU's default); `bucketed` pads the token ids once into length buckets kept on the
device, so a step reads no tokenizer and copies nothing from the host (CUDA's default, with
bf16 autocast). Train metrics are gathered on the device and read once an epoch: no host sync
per step. Batch sizes and the learning rate left `auto` follow the device (device.py).
"""

import contextlib
import copy
import dataclasses
import random
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reprotune.errors import ParamsError
from reprotune.families.hf_transformer import TransformerParams, device, token_cache
from reprotune.families.hf_transformer.checkpoint import check_checkpoint, check_hub_for
from reprotune.models.base import Candidate
from reprotune.models.training import EarlyStopping, epoch_line, epoch_metrics
from reprotune.runtime import (
    is_main_process,
    local_rank,
    quiet_transformers,
    thread_count,
    world_size,
)

# Examples sorted by length inside windows of this many batches: little padding, yet shuffled.
LENGTH_GROUP_BATCHES = 50
# Encoder blocks: bert.encoder.layer.3., distilbert.transformer.layer.3., ....layers.3.
LAYER_INDEX = re.compile(r"\.layers?\.(\d+)\.")


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random):
    """Shuffled batches of indices in which examples have similar lengths."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * LENGTH_GROUP_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


class HfTransformer(Candidate):
    family = "hf_transformer"
    gains_from_batches = True
    iterative = True

    def __init__(self, params: TransformerParams, label_names: list[str], seed: int, features=None):
        super().__init__(params, label_names, seed, features)
        self.model = None
        self.tokenizer = None
        self.device = None
        # Set when the saved model is served from its ONNX export (params.inference).
        self.onnx = None
        self.export_sample: list[str] = []
        # Batch sizes, lr and loop for this device (device.resolve), set by fit and load.
        self.settings: device.DeviceSettings | None = None

    # -- set-up ---------------------------------------------------------------------------

    def _torch(self):
        import torch

        threads = thread_count(self.params.num_threads)
        if threads:
            torch.set_num_threads(threads)
        if torch.cuda.is_available():
            self.device = torch.device("cuda", local_rank() if world_size() > 1 else 0)
        else:
            self.device = torch.device("cpu")
        self.settings = device.resolve(
            self.params,
            self.device.type,
            self._precision(torch),
            device.environment(torch, self.device.type),
        )
        return torch

    def _precision(self, torch) -> str:
        if self.device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"

    def _process_group(self, torch):
        """torch.distributed when launched as several processes (torchrun), else None."""
        if world_size() <= 1:
            return None
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        return dist

    def _gathered(self, dist, arrays: list[np.ndarray]) -> np.ndarray:
        """This process's rows, or every process's when training is distributed."""
        local = np.concatenate(arrays)
        if dist is None:
            return local
        everyone = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, local)
        return np.concatenate(everyone)

    def _load_pretrained(self, source: str) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers(local_source=Path(source).is_dir())

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                source,
                num_labels=len(self.label_names),
                id2label=dict(enumerate(self.label_names)),
                label2id={name: i for i, name in enumerate(self.label_names)},
                # A new classification head replaces the checkpoint's, whatever its size.
                ignore_mismatched_sizes=True,
                # Train float32 master weights, whatever the checkpoint was saved in
                # (transformers 5 would keep a bf16/fp16 checkpoint's dtype).
                dtype=torch.float32,
            )
        except OSError as exc:
            raise ParamsError(
                f"checkpoint = {source!r} could not be loaded: {exc}\nfix: if this machine "
                "is offline, set the top-level `checkpoint` to a local model folder"
            ) from exc

    def _autocast(self, torch):
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    # -- training -------------------------------------------------------------------------

    def _encode(self, texts) -> list[list[int]]:
        return token_cache.encode(self.tokenizer, texts, self.params.max_length)

    def _encode_cached(self, texts) -> list[list[int]]:
        """Training's rows: tokenized once, then read back by later runs and tuning trials."""
        return token_cache.cached_token_ids(self.tokenizer, texts, self.params.max_length)

    def _collate(self, torch, encoded: list[list[int]], indices: list[int], multiple: int = 1):
        ids, mask = device.pad(
            encoded, indices, self.tokenizer.pad_token_id, self.tokenizer.padding_side, multiple
        )
        return {
            "input_ids": torch.from_numpy(ids).to(self.device),
            "attention_mask": torch.from_numpy(mask).to(self.device),
        }

    def _optimizer(self, torch, steps: int):
        from transformers import get_linear_schedule_with_warmup

        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
        groups: dict[tuple[float, bool], list] = {}
        for (name, param), factor in zip(
            self.model.named_parameters(), self._lr_factors(), strict=True
        ):
            groups.setdefault((factor, name.endswith(no_decay)), []).append(param)
        optimizer = torch.optim.AdamW(
            [
                {
                    "params": params,
                    "lr": self.settings.lr * factor,
                    "weight_decay": 0.0 if exempt else self.params.weight_decay,
                }
                for (factor, exempt), params in groups.items()
            ],
            lr=self.settings.lr,
            # One kernel for every parameter's update instead of a loop of small ops: the
            # optimizer step was a quarter of a CPU training step at batch 8.
            fused=True,
        )
        scheduler = get_linear_schedule_with_warmup(
            optimizer, int(self.params.warmup_ratio * steps), steps
        )
        return optimizer, scheduler

    def _lr_factors(self) -> list[float]:
        """Each parameter's share of `lr`, in `named_parameters` order: the new head takes
        `head_lr_multiplier`; with `layer_lr_decay` d < 1 the top encoder layer takes d, each
        layer below one more factor d, and the embeddings the smallest, so the general
        features of the lower layers move least."""
        head = self._head_parameter_ids()
        decay = self.params.layer_lr_decay
        named = list(self.model.named_parameters())
        depths = [self._layer_index(name) for name, _ in named]
        if decay == 1.0:
            n_layers = 0
        elif any(d is not None for d in depths):
            n_layers = max(d for d in depths if d is not None) + 1
        else:
            raise ParamsError(
                f"train.candidates.<name>.layer_lr_decay = {decay}, but no encoder layers "
                f"(parameters named like 'encoder.layer.0.') were found in "
                f"{self.params.checkpoint!r}; fix: set layer_lr_decay to 1.0"
            )
        factors = []
        for (_, param), depth in zip(named, depths, strict=True):
            if id(param) in head:
                factors.append(self.params.head_lr_multiplier)
            elif depth is None:
                factors.append(decay ** (n_layers + 1))
            else:
                factors.append(decay ** (n_layers - depth))
        return factors

    @staticmethod
    def _layer_index(name: str) -> int | None:
        match = LAYER_INDEX.search(name)
        return int(match.group(1)) if match else None

    def _head_parameter_ids(self) -> set[int]:
        """Parameters outside the pretrained encoder: the classifier, and the pooler if any."""
        base = self.model.base_model
        encoder = {id(p) for p in base.parameters()}
        pooler = getattr(base, "pooler", None)
        pooled = {id(p) for p in pooler.parameters()} if pooler is not None else set()
        return {id(p) for p in self.model.parameters() if id(p) not in encoder or id(p) in pooled}

    def fit(self, train_texts, train_labels, val_texts, val_labels, on_epoch=None) -> list[dict]:
        # Before torch and transformers are imported: a wrong or unreachable checkpoint
        # stops in milliseconds.
        check_checkpoint(self.params.checkpoint)
        check_hub_for(self.params.checkpoint)
        torch = self._torch()
        self._check_compile_backend(torch)
        torch.manual_seed(self.seed)
        self._load_pretrained(self.params.checkpoint)
        self.model.to(self.device)
        # transformers picks SDPA attention where the model supports it: say which ran.
        attention = ("attention", str(self.model.config._attn_implementation))
        self.settings = dataclasses.replace(
            self.settings, environment=(*self.settings.environment, attention)
        )
        dist = self._process_group(torch)
        trained = self._data_parallel(torch, dist)
        # Texts of different lengths to trace the exported graph with, if one is saved.
        self.export_sample = [min(train_texts, key=len), max(train_texts, key=len)]
        encoded = self._encode_cached(train_texts)
        val_encoded = self._encode_cached(val_texts)
        if is_main_process():
            print(self.settings.line(), flush=True)
        draw, fetch, shapes = self._batch_source(torch, encoded, train_labels)
        trained = self._compiled(torch, trained, shapes)
        rng = random.Random(self.seed)
        batches_per_epoch = len(self._my_batches(draw(random.Random(self.seed)), dist))
        if batches_per_epoch == 0:
            raise ParamsError(
                f"{len(encoded)} training rows make fewer batches of {self.settings.batch_size} "
                f"than there are processes ({world_size()}); fix: lower num_processes or "
                "batch_size"
            )
        optimizer, scheduler = self._optimizer(torch, batches_per_epoch * self.params.epochs)
        scaler = torch.amp.GradScaler(
            enabled=self.device.type == "cuda" and not torch.cuda.is_bf16_supported()
        )
        stopper, history, best_state = EarlyStopping(self.params.patience), [], None
        for epoch in range(1, self.params.epochs + 1):
            self.model.train()
            batches = self._my_batches(draw(rng), dist)
            seen_probs, seen_labels = [], []
            # disable=None: a progress bar on a terminal, none in logs (nor on other ranks).
            for key in tqdm(
                batches,
                desc=f"train transformer epoch {epoch}",
                unit="batch",
                disable=None if is_main_process() else True,
            ):
                inputs, target, real = fetch(key)
                with self._autocast(torch):
                    logits = trained(**inputs).logits
                # A bucketed batch's filler rows (after `real`) keep its shape, not the loss.
                logits, target = logits[:real], target[:real]
                loss = torch.nn.functional.cross_entropy(logits.float(), target)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.params.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                # Kept on the device: read once an epoch, not a host sync each step.
                seen_probs.append(torch.softmax(logits.detach().float(), -1))
                seen_labels.append(target)
            seen_probs = [torch.cat(seen_probs).cpu().numpy()]
            seen_labels = [torch.cat(seen_labels).cpu().numpy()]
            # Train metrics come from the batches as they were trained on, at no extra cost.
            train_labels_seen = self._gathered(dist, seen_labels)
            train_probs_seen = self._gathered(dist, seen_probs)
            # Every process holds the same weights, so each scores validation the same way
            # and all stop at the same epoch.
            row = {
                "epoch": epoch,
                **epoch_metrics(train_labels_seen, train_probs_seen, "train"),
                **epoch_metrics(np.asarray(val_labels), self._predict_encoded(val_encoded), "val"),
            }
            history.append(row)
            if is_main_process():
                print(epoch_line(row, self.params.epochs), flush=True)
            if stopper.update(row["val_macro_f1"], epoch):
                best_state = copy.deepcopy(self.model.state_dict())
            if on_epoch is not None:
                on_epoch(row)
            if stopper.should_stop:
                break
        self.model.load_state_dict(best_state)
        self.best_epoch = stopper.best_epoch
        self.processes = dist.get_world_size() if dist else 1
        if dist is not None:
            dist.destroy_process_group()
        return history

    def _data_parallel(self, torch, dist):
        if dist is None:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        print(f"rank {dist.get_rank()}/{dist.get_world_size()} training on {self.device}",
              flush=True)  # fmt: skip
        return DistributedDataParallel(self.model, device_ids=ids)

    def _batch_source(self, torch, encoded: list[list[int]], labels):
        """(draw an epoch's batches from a seeded rng, fetch one batch's inputs and labels on
        the device) for the settings' loop."""
        size = self.settings.batch_size
        if self.settings.train_loop == "bucketed":
            buckets = device.Buckets(
                torch,
                encoded,
                labels,
                self.tokenizer.pad_token_id,
                self.device,
                self.tokenizer.padding_side,
                batch_size=size,
            )
            return buckets.draw, buckets.batch, len(buckets.widths)
        lengths = [len(ids) for ids in encoded]
        targets = torch.tensor(np.array(labels), dtype=torch.long)

        def fetch(indices):
            inputs = self._collate(torch, encoded, indices)
            return inputs, targets[indices].to(self.device), len(indices)

        return (lambda rng: length_grouped_batches(lengths, size, rng)), fetch, None

    def _compiled(self, torch, module, shapes: int | None):
        """`module` through torch.compile when params.compile is set: one static graph per
        bucket's shape (`shapes` of them), or dynamic shapes for the dynamic loop."""
        if not self.settings.compile:
            return module
        if shapes is not None:
            # A recompile per bucket is expected; past the limit torch would fall back to eager.
            limit = torch._dynamo.config.recompile_limit
            torch._dynamo.config.recompile_limit = max(limit, shapes + 1)
        return torch.compile(
            module,
            backend=self.params.compile_backend,
            mode=self.params.compile_mode,
            dynamic=shapes is None,
        )

    def _check_compile_backend(self, torch) -> None:
        """Before the checkpoint loads: a backend torch does not have stops at once."""
        backend = self.params.compile_backend
        if self.settings.compile and backend not in torch._dynamo.list_backends(exclude_tags=()):
            raise ParamsError(
                f"train.candidates.<name>.compile_backend = {backend!r} is not a torch.compile "
                f"backend here; fix: one of {torch._dynamo.list_backends()} (inductor: the "
                "default)"
            )

    def _my_batches(self, batches: list, dist) -> list:
        """This process's share of the epoch's batches. Every process draws the same batches
        (same seed) and takes every n-th; all take the same count, as DDP needs."""
        if dist is None:
            return batches
        world, rank = dist.get_world_size(), dist.get_rank()
        return batches[rank::world][: len(batches) // world]

    # -- inference, persistence -----------------------------------------------------------

    def predict_proba(self, texts) -> np.ndarray:
        return self._predict_encoded(self._encode(texts))

    def _length_sorted_batches(self, encoded: list[list[int]]):
        """Batches of indices, shortest examples first: each batch pads little."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        size = self.settings.eval_batch_size
        return [order[start : start + size] for start in range(0, len(order), size)]

    def _predict_encoded(self, encoded: list[list[int]]) -> np.ndarray:
        if self.onnx is not None:
            return self._predict_onnx(encoded)
        import torch

        self.model.eval()
        probs = np.zeros((len(encoded), len(self.label_names)), dtype=np.float64)
        # Tensor-core friendly widths on a GPU; exactly the longest row on a CPU.
        multiple = 8 if self.device.type == "cuda" else 1
        found = []
        with torch.inference_mode():
            for indices in self._length_sorted_batches(encoded):
                with self._autocast(torch):
                    logits = self.model(**self._collate(torch, encoded, indices, multiple)).logits
                found.append((indices, torch.softmax(logits.float(), -1)))
            for indices, batch_probs in found:  # read back once the device is done
                probs[indices] = batch_probs.cpu().numpy()
        return probs

    def _predict_onnx(self, encoded: list[list[int]]) -> np.ndarray:
        from scipy.special import softmax

        probs = np.zeros((len(encoded), len(self.label_names)), dtype=np.float64)
        for indices in self._length_sorted_batches(encoded):
            ids, mask = device.pad(
                encoded, indices, self.tokenizer.pad_token_id, self.tokenizer.padding_side
            )
            batch = {"input_ids": ids, "attention_mask": mask}
            probs[indices] = softmax(self.onnx.logits(batch).astype(np.float64), axis=-1)
        return probs

    def device_settings(self) -> dict:
        return self.settings.as_dict() if self.settings else {}

    def n_parameters(self) -> int:
        if self.onnx is not None:
            return self.onnx.n_parameters()
        return int(sum(p.numel() for p in self.model.parameters()))

    def save_weights(self, folder: Path) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        if self.params.inference != "pytorch":
            from reprotune.families.hf_transformer import export

            export.export(
                Path(folder), self.params.inference, self.export_sample, self.params.max_length
            )

    @classmethod
    def load_weights(cls, folder: Path, card: dict) -> "HfTransformer":
        from transformers import AutoTokenizer

        quiet_transformers(local_source=True)
        model = cls(TransformerParams(**card["params"]), card["label_names"], card["seed"])
        model.tokenizer = AutoTokenizer.from_pretrained(folder)
        if model.params.inference != "pytorch":
            model.settings = device.resolve(model.params, "cpu", "fp32")  # ONNX Runtime's CPU
            model._load_onnx(Path(folder))
            return model
        from transformers import AutoModelForSequenceClassification

        model._torch()
        model.model = AutoModelForSequenceClassification.from_pretrained(folder)
        model.model.to(model.device)
        return model

    def _load_onnx(self, folder: Path) -> None:
        from reprotune.families.hf_transformer import export

        path = folder / export.ONNX_FILE
        if not path.is_file():
            raise ParamsError(
                f"{path} is missing, but the model was saved with inference = "
                f"{self.params.inference!r}; fix: re-run its train stage (dvc repro)"
            )
        self.onnx = export.OnnxClassifier(path, thread_count(self.params.num_threads))


MODEL = HfTransformer
