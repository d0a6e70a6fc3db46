"""The base of every params model: unknown keys rejected, values frozen once read."""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FamilyParams(Strict):
    """A candidate family's params. `reads`: the feature types the family can take."""

    reads: ClassVar[frozenset[str]] = frozenset({"text"})
    # Trains in seconds: cross-validated studies and out-of-fold ensembles may refit it.
    quick: ClassVar[bool] = False
    # The task's features this candidate reads (null: all): metadata only, the image alone...
    columns: list[str] | None = Field(default=None, min_length=1)
