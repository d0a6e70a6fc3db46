"""The budget settings of params.yaml: `budget_s` (top level, so `dvc exp run -S budget_s=60`
works as spelled) and the `plan` section: how the planner turns the budget into counts."""

from typing import Literal

from pydantic import Field

from reprotune.schema import Strict


class PlanParams(Strict):
    """plan: the counts the pipeline runs within `budget_s` (plan.json, plans/<candidate>.json)."""

    # auto: measured once per data, candidates and budget, then replayed; frozen: the committed
    # plan.json is replayed as it is and never re-measured (a mismatch stops before training).
    mode: Literal["auto", "frozen"] = "auto"
    # Rows of train + validation each candidate's cost is measured on (a quarter of them too,
    # for the slope); neural families on a quarter of this.
    sample_rows: int = Field(default=4000, ge=200, le=100_000)
    # A study that cannot afford this many trials on all rows sees a stratified subsample.
    min_trials: int = Field(default=10, ge=2, le=1000)
    # No study, training sample or out-of-fold fit on fewer rows than this.
    min_rows: int = Field(default=1000, ge=100)
    # What starting a stage costs beside its work (a process, imports, its MLflow run, DVC's
    # checks; docs/benchmarks.md measures it): the budget pays it first.
    stage_overhead_s: float = Field(default=2.0, ge=0, le=60)
    # Shares of what is left of the budget after measuring, evaluating and explaining.
    train_share: float = Field(default=0.35, gt=0, lt=1)
    ensemble_share: float = Field(default=0.15, ge=0, lt=1)
