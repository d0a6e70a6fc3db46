"""`xgboost`: its settings, checked where params.yaml is read (what it does: model.py)."""

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from reprotune.schema import Resample, TabularParams


class XgboostParams(TabularParams):
    family: Literal["xgboost"]
    requirements = ("xgboost-cpu", "xgboost")
    n_estimators: PositiveInt = 500  # the most boosting rounds; early stopping ends sooner
    learning_rate: PositiveFloat = 0.05
    max_depth: int = Field(default=4, ge=1, le=16)
    min_child_weight: float = Field(default=1.0, ge=0)
    subsample: float = Field(default=0.8, gt=0, le=1)
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    reg_lambda: float = Field(default=1.0, ge=0)
    # Binary tasks: weight of the positive class; "auto" = negatives / positives.
    scale_pos_weight: PositiveFloat | Literal["auto"] | None = None
    early_stopping_rounds: PositiveInt | None = 30
    # one_hot: a column per level; native: XGBoost splits on the category codes itself.
    categorical: Literal["one_hot", "native"] = "one_hot"
    resample: Resample = "none"


PARAMS = XgboostParams
