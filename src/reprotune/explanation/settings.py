"""The `explain` section of params.yaml: what each explanation looks at, and its budget."""

from pydantic import Field, PositiveFloat, PositiveInt

from reprotune.schema import Strict


class ExplainParams(Strict):
    # Candidates (or ensembles) that get no explanation: their explain stage writes a note.
    skip: list[str] = Field(default_factory=list)
    # Per candidate. Every step below is bounded by its sample sizes (so the output is the same
    # on every run); this is the safety stop: a step that would start past it, or the rows a
    # model-agnostic explainer has not reached by then, are skipped with a note.
    time_budget_s: PositiveFloat = 120.0
    rows: PositiveInt = 400  # test rows (seeded sample) for permutation importance and PDP
    repeats: int = Field(default=5, ge=2, le=50)  # permutation importance: shuffles per column
    shap_rows: PositiveInt = 40  # test rows whose SHAP values are computed
    background_rows: PositiveInt = 20  # model-agnostic SHAP: rows a masked column is drawn from
    shap_permutations: int = Field(default=5, ge=1, le=100)  # model-agnostic SHAP: per row
    dependence_features: int = Field(default=4, ge=0, le=20)  # PDP + ICE for the top columns
    grid_points: int = Field(default=20, ge=3, le=100)
    ice_rows: PositiveInt = 50
    examples: int = Field(default=2, ge=0, le=20)  # LIME: the most confident right and wrong
    lime_samples: int = Field(default=300, ge=50, le=20000)  # perturbed samples per example
    top_k: int = Field(default=10, ge=1, le=100)  # features / n-grams / tokens reported
