"""The baseline: TF-IDF n-grams (words, characters within words, or both) with sublinear tf,
then logistic regression."""

from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from reprotune.families.tfidf_logreg import TfidfLogregParams
from reprotune.models.base import Candidate, expand_to_all_classes
from reprotune.models.training import epoch_metrics

WEIGHTS = "model.joblib"


def vectorizer(params: TfidfLogregParams):
    """TF-IDF over word n-grams, character n-grams within word boundaries, or both."""
    common = {
        "sublinear_tf": params.sublinear_tf,
        "min_df": params.min_df,
        "max_features": params.max_features,
    }
    word = TfidfVectorizer(ngram_range=(1, params.ngram_max), **common)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, params.char_ngram_max), **common)
    if params.analyzer == "word":
        return word
    if params.analyzer == "char_wb":
        return char
    return FeatureUnion([("word", word), ("char_wb", char)])


class TfidfLogreg(Candidate):
    family = "tfidf_logreg"

    def __init__(self, params: TfidfLogregParams, label_names: list[str], seed: int, features=None):
        super().__init__(params, label_names, seed, features)
        self.pipeline = Pipeline(
            [
                ("tfidf", vectorizer(params)),
                (
                    "logreg",
                    LogisticRegression(C=params.C, max_iter=params.max_iter, random_state=seed),
                ),
            ]
        )

    def fit(self, train_texts, train_labels, val_texts, val_labels, on_epoch=None) -> list[dict]:
        """One closed-form fit: a one-row history (validation only if held out)."""
        if self.params.fit_on_val:
            train_texts = list(train_texts) + list(val_texts)
            train_labels = np.concatenate([train_labels, val_labels])
        self.pipeline.fit(train_texts, train_labels)
        row = {"epoch": 1, **epoch_metrics(train_labels, self.predict_proba(train_texts), "train")}
        if not self.params.fit_on_val and len(val_texts):
            row.update(epoch_metrics(val_labels, self.predict_proba(val_texts), "val"))
        if on_epoch is not None:
            on_epoch(row)
        return [row]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        probabilities = self.pipeline.predict_proba(texts)
        return expand_to_all_classes(probabilities, self.pipeline.classes_, len(self.label_names))

    def n_parameters(self) -> int:
        logreg = self.pipeline.named_steps["logreg"]
        return int(logreg.coef_.size + logreg.intercept_.size)

    def save_weights(self, folder: Path) -> None:
        joblib.dump(self.pipeline, Path(folder) / WEIGHTS)

    @classmethod
    def load_weights(cls, folder: Path, card: dict) -> "TfidfLogreg":
        model = cls(TfidfLogregParams(**card["params"]), card["label_names"], card["seed"])
        model.pipeline = joblib.load(Path(folder) / WEIGHTS)
        return model

    def top_ngrams(self, top_k: int) -> dict[str, list[tuple[str, float]]]:
        """The n-grams that weigh most for each class, largest weight first: the fitted
        pipeline's coefficients."""
        vectorizer = self.pipeline.named_steps["tfidf"]
        logreg = self.pipeline.named_steps["logreg"]
        names = np.asarray(vectorizer.get_feature_names_out(), dtype=object)
        coefficients = logreg.coef_
        if coefficients.shape[0] == 1:  # binary: one row, positive toward classes_[1]
            coefficients = np.vstack([-coefficients[0], coefficients[0]])
        top = {}
        for row, class_index in zip(coefficients, logreg.classes_, strict=True):
            # Largest first; ties broken by the n-gram so the order never depends on the sort.
            order = np.lexsort((names, -row))[:top_k]
            top[self.label_names[int(class_index)]] = [
                (str(names[i]), round(float(row[i]), 6)) for i in order
            ]
        return top


MODEL = TfidfLogreg
