"""`logreg`: one-hot categories, scaled numbers, logistic regression — the tabular baseline."""

from reprotune.models.tabular import SklearnTabular


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


MODEL = Logreg
