"""`hf_transformer`: a fine-tuned Hugging Face sequence classifier (PyTorch)."""

from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt

from reprotune.schema import FamilyParams, PositiveFloatOrAuto, PositiveIntOrAuto


class TransformerParams(FamilyParams):
    """A fine-tuned Hugging Face sequence classifier (PyTorch).

    `lr`, `epochs`, `batch_size` and `checkpoint` live at the top of params.yaml, so that
    `dvc exp run -S lr=...` works as spelled; the configure stage copies them in here.
    """

    family: Literal["hf_transformer"]
    requirements = ("torch", "transformers", "tokenizers", "safetensors", "onnxruntime")
    max_length: int = Field(default=128, ge=8, le=4096)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    # The new classification head (and pooler) learns from scratch: a larger step helps it.
    head_lr_multiplier: PositiveFloat = 1.0
    # Layer-wise learning-rate decay: the top encoder layer trains at lr * d, each one below
    # at one more factor d. 1.0: every layer at lr.
    layer_lr_decay: float = Field(default=1.0, gt=0, le=1)
    max_grad_norm: PositiveFloat = 1.0
    patience: PositiveInt = 2
    num_threads: int | None = Field(default=None, ge=1, description="null: all cores")
    # Data-parallel processes (torchrun): one per GPU, or gloo processes on a CPU. batch_size
    # is per process, so the global batch is num_processes * batch_size.
    num_processes: int = Field(default=1, ge=1, le=64)
    # auto: 64 on a CPU, 512 on a CUDA device (device.py); a number always wins.
    eval_batch_size: PositiveIntOrAuto = "auto"
    # How batches reach the model: dynamic (padded per batch, grouped by length) or bucketed
    # (padded once into length buckets kept on the device); auto: bucketed on CUDA only.
    train_loop: Literal["auto", "dynamic", "bucketed"] = "auto"
    # torch.compile the training steps (as the Trainer's torch_compile*): with the bucketed
    # loop one graph per bucket (static shapes), else dynamic shapes. Off by default until
    # measured faster on a GPU; compile_mode "reduce-overhead" adds CUDA graphs.
    compile: bool = False
    compile_backend: str = Field(default="inductor", min_length=1)
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "default"
    # How evaluate, the MLflow model and the service run the trained model: pytorch, or its
    # ONNX Runtime export (fused graph), or that export with int8 weights (fastest on a CPU).
    inference: Literal["pytorch", "onnx", "onnx_int8"] = "pytorch"
    lr: PositiveFloatOrAuto = None
    epochs: PositiveInt | None = None
    batch_size: PositiveIntOrAuto = None
    checkpoint: str | None = None

    def check_in(self, name: str, params: Any) -> None:
        for knob in TOP_LEVEL_KNOBS:
            if getattr(self, knob) is not None:
                raise ValueError(
                    f"train.candidates.{name}.{knob} is set; fix: set the top-level "
                    f"`{knob}` instead (it is what `dvc exp run -S {knob}=...` changes)"
                )
            if getattr(params, knob) is None:
                raise ValueError(
                    f"candidate {name!r} is a transformer but the top-level `{knob}` is "
                    f"not set; fix: add `{knob}:` at the top of params.yaml"
                )

    def resolved(self, params: Any) -> "TransformerParams":
        return self.model_copy(update={k: getattr(params, k) for k in TOP_LEVEL_KNOBS})

    def check_ready(self) -> None:
        from reprotune.families.hf_transformer.checkpoint import check_checkpoint

        check_checkpoint(self.checkpoint)


# The transformer's knobs set at the top of params.yaml, so `dvc exp run -S lr=...` works.
TOP_LEVEL_KNOBS = ("lr", "epochs", "batch_size", "checkpoint")
PARAMS = TransformerParams
