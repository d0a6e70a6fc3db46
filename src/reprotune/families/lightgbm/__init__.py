"""`lightgbm`: gradient-boosted trees grown leaf-wise (LightGBM), splitting on categories
natively, early stopping on the validation split, one history row per boosting round."""

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from reprotune.schema import Resample, TabularParams


class LightgbmParams(TabularParams):
    family: Literal["lightgbm"]
    requirements = ("lightgbm",)
    n_estimators: PositiveInt = 1000  # the most boosting rounds; early stopping ends sooner
    learning_rate: PositiveFloat = 0.05
    num_leaves: int = Field(default=15, ge=2, le=4096)  # leaves per tree (trees grow leaf-wise)
    max_depth: PositiveInt | None = None  # null: no limit but num_leaves
    min_child_samples: PositiveInt = 20  # rows a leaf needs
    subsample: float = Field(default=0.8, gt=0, le=1)  # rows per tree (bagging)
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    reg_lambda: float = Field(default=1.0, ge=0)
    # Binary tasks: weight of the positive class; "auto" = negatives / positives.
    scale_pos_weight: PositiveFloat | Literal["auto"] | None = None
    early_stopping_rounds: PositiveInt | None = 50
    # native: LightGBM splits on the category codes itself (levels grouped per split);
    # one_hot: a column per level.
    categorical: Literal["native", "one_hot"] = "native"
    # Native categories: a level needs this many rows to be split on alone (LightGBM's
    # min_data_per_group), and its statistics are smoothed by cat_smooth.
    min_data_per_group: PositiveInt = 20
    cat_smooth: float = Field(default=10.0, ge=0)
    resample: Resample = "none"


PARAMS = LightgbmParams
