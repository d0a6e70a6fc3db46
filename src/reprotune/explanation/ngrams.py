"""The n-grams that weigh most for each class in a linear text model (TF-IDF + logistic
regression): its coefficients, read straight from the fitted pipeline."""

import numpy as np


def linear_ngrams(model, top_k: int) -> dict[str, list[tuple[str, float]]] | None:
    """{class: [(n-gram, weight)]}, largest weight first; None for non-linear models."""
    if model.family != "tfidf_logreg":
        return None
    vectorizer = model.pipeline.named_steps["tfidf"]
    logreg = model.pipeline.named_steps["logreg"]
    names = np.asarray(vectorizer.get_feature_names_out(), dtype=object)
    coefficients = logreg.coef_
    if coefficients.shape[0] == 1:  # binary: one row, positive toward classes_[1]
        coefficients = np.vstack([-coefficients[0], coefficients[0]])
    top = {}
    for row, class_index in zip(coefficients, logreg.classes_, strict=True):
        # Largest first; ties broken by the n-gram so the order never depends on the sort.
        order = np.lexsort((names, -row))[:top_k]
        top[model.label_names[int(class_index)]] = [
            (str(names[i]), round(float(row[i]), 6)) for i in order
        ]
    return top
