"""The fine-tuned transformer exported for serving: ONNX Runtime, optionally int8.

`inference: onnx` exports the trained classifier to ONNX and fuses its graph with ONNX
Runtime's transformer optimizer (attention, embedding + LayerNorm, GELU and skip-LayerNorm
kernels); `onnx_int8` also quantizes the fused graph's weights to int8 (dynamic
quantization: activations are scaled per batch, so no calibration data is needed). The saved
model folder then holds `onnx/model.onnx`, and evaluate, the MLflow pyfunc model and the
service score with it, without importing torch.
"""

import inspect
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

FORMATS = ("pytorch", "onnx", "onnx_int8")
ONNX_FILE = Path("onnx") / "model.onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# Fused kernels must reproduce the plain graph's logits this closely, or the plain graph is kept.
FUSION_TOLERANCE = 1e-3
OPSET = 17


def export(folder: Path, fmt: str, sample_texts: list[str], max_length: int) -> Path:
    """Export the model saved by save_pretrained in `folder` to `folder/onnx/model.onnx`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    # The eager attention's graph is the one ONNX Runtime's optimizer fuses into its
    # Attention kernel; the weights are the same as the trained model's.
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, attn_implementation="eager", dtype=torch.float32
    ).eval()
    names = [n for n in INPUT_NAMES if n in inspect.signature(model.forward).parameters]
    # Two texts of different lengths, so that the traced graph masks padding.
    sample = tokenizer(
        sorted(sample_texts[:2], key=len) or ["a", "a longer text"],
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    inputs = {n: sample[n] if n in sample else torch.zeros_like(sample["input_ids"]) for n in names}
    target = folder / ONNX_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "plain.onnx"
        _trace(torch, _logits_only(model, names), inputs, names, plain)
        fused = Path(scratch) / "fused.onnx"
        graph = fused if _fuse(plain, fused, model.config, inputs) else plain
        if fmt == "onnx_int8":
            _quantize(graph, target)
        else:
            target.write_bytes(graph.read_bytes())
    return target


def _logits_only(model, names: list[str]):
    """A module whose forward takes the inputs positionally and returns only the logits."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(**dict(zip(names, tensors, strict=True))).logits

    return LogitsOnly()


def _trace(torch, module, inputs: dict, names: list[str], path: Path) -> None:
    # The TorchScript exporter: its graph matches ONNX Runtime's fusion patterns (the
    # torch.export-based one gives a graph they miss, and takes 8x longer to export).
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(inputs[n] for n in names),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _fuse(plain: Path, fused: Path, config, inputs: dict) -> bool:
    """Fuse the graph's transformer blocks; False (keep the plain graph) when the fused one
    does not reproduce its logits."""
    from onnxruntime.transformers import optimizer

    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    optimized = optimizer.optimize_model(
        str(plain),
        model_type="bert",
        num_heads=getattr(config, "num_attention_heads", 0),
        hidden_size=getattr(config, "hidden_size", 0),
    )
    optimized.save_model_to_file(str(fused))
    feed = {name: tensor.numpy() for name, tensor in inputs.items()}
    try:
        same = np.allclose(
            OnnxClassifier(fused).logits(feed),
            OnnxClassifier(plain).logits(feed),
            atol=FUSION_TOLERANCE,
        )
    except Exception:  # a fusion ONNX Runtime cannot run for this architecture
        return False
    return bool(same)


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger("root").setLevel(logging.ERROR)  # "consider pre-processing" advice
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        # Fused kernels (Attention, SkipLayerNormalization) come from ONNX Runtime's own
        # domain, where ONNX shape inference cannot type their outputs.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


class OnnxClassifier:
    """An ONNX Runtime session over the exported classifier: token ids in, logits out."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def logits(self, batch: dict) -> np.ndarray:
        ids = np.asarray(batch["input_ids"], dtype=np.int64)
        feed = {
            name: np.asarray(batch[name], dtype=np.int64) if name in batch else np.zeros_like(ids)
            for name in self.input_names
        }
        return self.session.run(None, feed)[0]

    def n_parameters(self) -> int:
        import onnx

        graph = onnx.load(self.path).graph
        return int(sum(np.prod(t.dims) for t in graph.initializer))
