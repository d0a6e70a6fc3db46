"""`logreg`: one-hot categories, scaled numbers, logistic regression — the tabular baseline."""

from typing import Literal

from pydantic import PositiveFloat, PositiveInt

from reprotune.models.tabular import Resample, SklearnTabular, TabularParams


class LogregParams(TabularParams):
    family: Literal["logreg"]
    C: PositiveFloat = 1.0
    max_iter: PositiveInt = 2000
    class_weight: Literal["balanced"] | None = None
    resample: Resample = "none"


class Logreg(SklearnTabular):
    family = "logreg"
    shap_explainer = "linear"

    def build_classifier(self, train_labels, pre):
        from sklearn.linear_model import LogisticRegression

        p = self.params
        return LogisticRegression(
            C=p.C, max_iter=p.max_iter, class_weight=p.class_weight, random_state=self.seed
        )

    def n_parameters(self) -> int:
        model = self.pipeline.named_steps["model"]
        return int(model.coef_.size + model.intercept_.size)
