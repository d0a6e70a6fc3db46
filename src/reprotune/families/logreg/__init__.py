"""`logreg`: its settings, checked where params.yaml is read (what it does: model.py)."""

from typing import Literal

from pydantic import PositiveFloat, PositiveInt

from reprotune.schema import Resample, TabularParams


class LogregParams(TabularParams):
    family: Literal["logreg"]
    C: PositiveFloat = 1.0
    max_iter: PositiveInt = 2000
    class_weight: Literal["balanced"] | None = None
    resample: Resample = "none"


PARAMS = LogregParams
