"""`keras_multimodal`: its settings, checked where params.yaml is read (what it does: model.py)."""

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from reprotune.schema import KerasTypedParams, Strict


class ImageBranch(Strict):
    backbone: Literal["cnn", "MobileNetV2", "MobileNetV3Small", "EfficientNetB0"] = "cnn"
    # A backbone's weights: a local .h5 / .weights.h5 file (include_top=False), e.g. saved by
    # keras.applications.MobileNetV2(include_top=False).save_weights(path) where the Hub is
    # reachable. Relative paths start at the project root.
    weights: str | None = None
    blocks: int = Field(default=3, ge=1, le=6)  # cnn: conv blocks (conv, pool)
    filters: PositiveInt = 16  # cnn: first block's filters, doubled per block
    dense_units: PositiveInt = 64  # the image vector fused with the metadata
    fine_tune_epochs: int = Field(default=0, ge=0)  # backbone: unfrozen epochs after the rest
    fine_tune_lr: PositiveFloat = 1e-5

    @model_validator(mode="after")
    def _weights_for_backbone(self) -> "ImageBranch":
        if self.backbone != "cnn" and not self.weights:
            raise ValueError(
                f"image.backbone {self.backbone!r} needs image.weights, a local weights file "
                "(nothing is downloaded); fix: set image.weights, or use backbone: cnn"
            )
        return self


class Augment(Strict):
    flip: bool = True
    rotation: float = Field(default=0.05, ge=0, le=0.5)  # fraction of a full turn
    zoom: float = Field(default=0.1, ge=0, lt=1)
    contrast: float = Field(default=0.1, ge=0, lt=1)


class KerasMultimodalParams(KerasTypedParams):
    reads = frozenset({"number", "category", "binary", "set", "text", "image"})
    family: Literal["keras_multimodal"]
    image: ImageBranch = ImageBranch()
    augment: Augment = Augment()
    # keras_tabular's settings, with defaults for a few hundred images.
    hidden_units: list[PositiveInt] = Field(default=[64], min_length=1)
    dropout: float = Field(default=0.3, ge=0, lt=1)
    epochs: PositiveInt = 30
    batch_size: PositiveInt = 32
    patience: PositiveInt = 6
    monitor: Literal["pr_auc", "roc_auc", "macro_f1", "loss"] = "loss"


PARAMS = KerasMultimodalParams
