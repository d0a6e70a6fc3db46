"""`xgboost`: its settings, checked where params.yaml is read (what it does: model.py)."""

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from reprotune.schema import Resample, SparkSessionSettings, TabularParams


class SparkSettings(SparkSessionSettings):
    """Where `engine: spark` trains: a Spark master and the session's settings."""

    num_workers: PositiveInt = 2  # XGBoost workers (Spark tasks) training together
    # Rows the feature encoder is fitted on (read by the driver); the executors apply it.
    encoder_rows: PositiveInt = 200_000


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
    # local: fit in this process; spark: train@ fits on Apache Spark (xgboost.spark), the
    # splits read by the executors, the same encoder, the same saved model (studies and the
    # plan's measurements stay local, on their samples).
    engine: Literal["local", "spark"] = "local"
    spark: SparkSettings = Field(default_factory=SparkSettings)

    def check_in(self, name, params) -> None:
        if self.engine == "spark" and self.resample != "none":
            raise ValueError(
                f"train.candidates.{name}: engine spark does not resample (resample: "
                f"{self.resample}); fix: use scale_pos_weight, or engine: local"
            )


PARAMS = XgboostParams
