"""LIME for single predictions: the test rows (or texts) the model was most confidently right
and most confidently wrong about, each explained by a seeded local linear model (a seeded
`numpy.random.RandomState` everywhere LIME samples, so reruns agree: lime#767)."""

import numpy as np
import pandas as pd

from reprotune.explanation.table import CodedTable
from reprotune.models.base import decide


def pick_examples(proba: np.ndarray, labels: np.ndarray, threshold, per_kind: int) -> list[dict]:
    """[{kind: right|wrong, row, predicted, actual, confidence}], most confident first."""
    predicted = decide(proba, threshold)
    confidence = proba[np.arange(len(proba)), predicted]
    picked = []
    for kind, mask in (("right", predicted == labels), ("wrong", predicted != labels)):
        rows = np.flatnonzero(mask)
        # Most confident first; ties by row so the choice is stable.
        order = rows[np.lexsort((rows, -confidence[rows]))][:per_kind]
        picked += [
            {
                "kind": kind,
                "row": int(r),
                "predicted": int(predicted[r]),
                "actual": int(labels[r]),
                "confidence": round(float(confidence[r]), 6),
            }
            for r in order
        ]
    return picked


def lime_tabular(
    model,
    table: CodedTable,
    training: pd.DataFrame,
    row: pd.DataFrame,
    explained_class: int,
    samples: int,
    top_k: int,
    seed: int,
) -> list[tuple[str, float]]:
    """[(condition on a column, weight toward `explained_class`)], largest |weight| first."""
    from lime.lime_tabular import LimeTabularExplainer

    train_coded = _fill_numbers(table.encode(training), table)
    explainer = LimeTabularExplainer(
        train_coded,
        feature_names=table.columns,
        class_names=model.label_names,
        categorical_features=table.categorical,
        categorical_names=table.level_names(),
        discretize_continuous=True,
        random_state=np.random.RandomState(seed),
    )
    coded = _fill_numbers(table.encode(row), table, reference=train_coded)[0]
    explanation = explainer.explain_instance(
        coded,
        lambda matrix: model.predict_proba(table.decode(matrix)),
        labels=(explained_class,),
        num_features=min(top_k, len(table.columns)),
        num_samples=samples,
    )
    return [(name, round(float(w), 6)) for name, w in explanation.as_list(label=explained_class)]


def _fill_numbers(matrix: np.ndarray, table: CodedTable, reference: np.ndarray | None = None):
    """LIME's discretizer needs numbers: a missing number becomes the training median."""
    matrix = matrix.copy()
    reference = matrix if reference is None else reference
    for i, column in enumerate(table.columns):
        if column in table.levels:
            continue
        missing = np.isnan(matrix[:, i])
        if missing.any():
            present = reference[:, i][~np.isnan(reference[:, i])]
            matrix[missing, i] = float(np.median(present)) if len(present) else 0.0
    return matrix


def lime_text(
    model, text: str, explained_class: int, samples: int, top_k: int, seed: int
) -> list[tuple[str, float]]:
    """[(word, weight toward `explained_class`)], largest |weight| first: LIME removes words
    at random and fits how the class probability follows."""
    from lime.lime_text import LimeTextExplainer

    explainer = LimeTextExplainer(
        class_names=model.label_names, random_state=np.random.RandomState(seed)
    )
    explanation = explainer.explain_instance(
        text,
        lambda texts: model.predict_proba(list(texts)),
        labels=(explained_class,),
        num_features=top_k,
        num_samples=samples,
    )
    return [(word, round(float(w), 6)) for word, w in explanation.as_list(label=explained_class)]
