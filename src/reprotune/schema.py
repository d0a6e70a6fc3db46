"""The base of every params model: unknown keys rejected, values frozen once read."""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FamilyParams(Strict):
    """A candidate family's params. `reads`: the feature types the family can take."""

    reads: ClassVar[frozenset[str]] = frozenset({"text"})
    # Trains in seconds: cross-validated studies and out-of-fold ensembles may refit it.
    quick: ClassVar[bool] = False
