"""`random_forest`: its settings, checked where params.yaml is read (what it does: model.py)."""

from typing import Literal

from pydantic import Field, PositiveInt

from reprotune.schema import Resample, TabularParams


class RandomForestParams(TabularParams):
    family: Literal["random_forest"]
    n_estimators: PositiveInt = 300
    max_depth: PositiveInt | None = None
    min_samples_leaf: PositiveInt = 2
    max_features: float = Field(default=0.5, gt=0, le=1)
    class_weight: Literal["balanced", "balanced_subsample"] | None = "balanced_subsample"
    resample: Resample = "none"


PARAMS = RandomForestParams
