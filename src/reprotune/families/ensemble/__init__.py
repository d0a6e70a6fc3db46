"""`ensemble`: its settings, checked where params.yaml is read (what it does: model.py)."""

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveFloat

from reprotune.errors import did_you_mean
from reprotune.schema import FamilyParams


class EnsembleParams(FamilyParams):
    """One ensemble (under `ensemble.candidates` in params.yaml)."""

    reads: ClassVar[frozenset[str]] = frozenset({"number", "category", "binary", "text"})
    family: Literal["ensemble"] = "ensemble"
    trained_alone: ClassVar[bool] = False
    method: Literal["voting", "stacking"] = "voting"
    members: list[str] = Field(min_length=2)
    # voting: equal weights, or weights that minimize log loss on the held-out predictions.
    weights: Literal["equal", "fitted"] = "equal"
    fit_on: Literal["val", "oof"] = "val"
    cv_folds: int = Field(default=5, ge=2, le=20)
    # stacking on a tabular task: the meta-model also sees the encoded raw features.
    passthrough: bool = False
    C: PositiveFloat = 1.0  # the stacking meta-model's inverse regularization

    def check_in(self, name: str, params: Any) -> None:
        where = f"ensemble.candidates.{name}"
        twice = sorted({m for m in self.members if self.members.count(m) > 1})
        if twice:
            raise ValueError(f"{where}.members lists {', '.join(twice)} twice; fix: list each once")
        for member in self.members:
            if member == name:
                raise ValueError(
                    f"{where}.members lists the ensemble itself; fix: list train candidates only"
                )
            if member in params.ensemble.candidates:
                raise ValueError(
                    f"{where}.members lists {member!r}, another ensemble: ensembles combine "
                    f"trained candidates only; fix: list {member!r}'s members instead "
                    f"({', '.join(params.ensemble.candidates[member].members)})"
                )
            if member not in params.train.candidates:
                raise ValueError(
                    f"{where}.members lists {member!r}, which is not a candidate; "
                    f"{did_you_mean(member, params.train.candidates)}fix: use "
                    f"train candidates ({', '.join(params.train.candidates)})"
                )
        slow = [m for m in self.members if not type(params.train.candidates[m]).quick]
        if self.fit_on == "oof" and slow:
            raise ValueError(
                f"{where}.fit_on is 'oof', which refits every member {self.cv_folds} times, "
                f"and {', '.join(slow)} train(s) in minutes, not seconds; fix: use fit_on: val, "
                "or drop them from the members"
            )
        if self.passthrough and (self.method != "stacking" or params.data.features is None):
            raise ValueError(
                f"{where}.passthrough is true, which feeds a tabular task's raw features to a "
                "stacking meta-model; fix: set it to false, or use method: stacking on a tabular "
                "task"
            )
        if self.weights == "fitted" and self.method != "voting":
            raise ValueError(
                f"{where}.weights is 'fitted', which applies to method: voting (stacking learns "
                "its own weights); fix: drop weights or use method: voting"
            )


PARAMS = EnsembleParams
