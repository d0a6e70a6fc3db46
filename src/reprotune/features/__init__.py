"""Typed features, one module per type (Ludwig's layout): how a column is inferred,
validated, stored and encoded. `FEATURE_TYPES` is the registry every other part reads."""

from reprotune.features.base import FeatureType, is_missing
from reprotune.features.binary import BinaryFeature
from reprotune.features.category import CategoryFeature
from reprotune.features.image import ImageFeature
from reprotune.features.number import NumberFeature
from reprotune.features.set import SetFeature
from reprotune.features.text import TextFeature

FEATURE_TYPES: dict[str, FeatureType] = {
    t.name: t
    for t in (
        NumberFeature(),
        CategoryFeature(),
        BinaryFeature(),
        TextFeature(),
        SetFeature(),
        ImageFeature(),
    )
}
# Inference tries the narrowest type first; category takes what is left. Images are declared.
INFERENCE_ORDER = ("set", "binary", "number", "text", "category")


def infer_type(series) -> str:
    for name in INFERENCE_ORDER:
        if FEATURE_TYPES[name].looks_like(series):
            return name
    return "category"


__all__ = ["FEATURE_TYPES", "INFERENCE_ORDER", "FeatureType", "infer_type", "is_missing"]
