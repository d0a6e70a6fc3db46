"""Shared by the scikit-learn-style tabular families (logreg, random_forest, xgboost): typed
columns in, one ColumnTransformer fitted on the training split only, optional resampling of
the training rows, then the family's classifier. The saved pipeline takes raw columns."""

import abc
import warnings
from pathlib import Path
from typing import Literal

import joblib
import numpy as np
import pandas as pd

from reprotune.errors import DataError
from reprotune.features import FEATURE_TYPES
from reprotune.models.base import Candidate, expand_to_all_classes
from reprotune.schema import FamilyParams

WEIGHTS = "model.joblib"
TABULAR_TYPES = frozenset({"number", "category", "binary", "text", "set"})
Resample = Literal["none", "smote", "smotenc", "undersample"]

# Unseen levels are expected at predict time (they go to the infrequent bucket, or to no
# column for binary features): one warning per call would flood a service's log, and SHAP and
# LIME call predict thousands of times with sampled rows.
warnings.filterwarnings(
    "ignore", message="Found unknown categories", category=UserWarning, module="sklearn"
)


class TabularParams(FamilyParams):
    reads = TABULAR_TYPES
    quick = True
    # After the validation split chose the decision threshold (and, for boosted trees, the
    # number of rounds), fit once more on train + validation: the saved model has learned
    # from every labelled row but the test split's.
    refit_on_val: bool = True


def preprocessor(features: dict[str, str], native_categories: bool = False):
    """The typed columns' encoder (one per feature type); `<column>__...` output names and
    `output_indices_` map each output back to its column.

    `native_categories`: category and binary columns become integer codes (unseen and missing
    values NaN) for a model that splits on categories itself, instead of one-hot columns."""
    from reprotune.features.encoder import ColumnEncoder

    return ColumnEncoder(
        features, native_categories, sparse_threshold=0 if native_categories else 0.3
    )


def categorical_output_columns(pre, features: dict[str, str]) -> list[int]:
    """Indices of the encoded columns that come from category or binary features."""
    names = pre.get_feature_names_out()
    kinds = [features[name.split("__", 1)[0]] for name in names]
    return [i for i, kind in enumerate(kinds) if kind in ("category", "binary")]


def resample(method: str, X, y: np.ndarray, seed: int, categorical: list[int]):
    """The training rows rebalanced by imbalanced-learn; validation and test never are."""
    if method == "none":
        return X, y
    from imblearn.over_sampling import SMOTE, SMOTENC
    from imblearn.under_sampling import RandomUnderSampler

    if method == "smotenc":
        if not categorical or len(categorical) == X.shape[1]:
            raise DataError(
                "resample: smotenc needs both numeric and category/binary features; "
                "fix: use smote or undersample"
            )
        sampler = SMOTENC(categorical_features=categorical, random_state=seed)
    elif method == "smote":
        sampler = SMOTE(random_state=seed)
    else:
        sampler = RandomUnderSampler(random_state=seed)
    return sampler.fit_resample(X, y)


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse class frequency (scikit-learn's 'balanced'), zero for absent classes."""
    counts = np.bincount(labels, minlength=n_classes)
    weights = np.zeros(n_classes)
    present = counts > 0
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights


def positive_weight(setting, train_labels: np.ndarray, n_classes: int) -> float | None:
    """A boosted family's `scale_pos_weight` for a binary task: the number given, or
    negatives / positives for "auto"; None for a multiclass task or when unset."""
    if n_classes != 2 or setting is None:
        return None
    if setting == "auto":
        positives = max(int(np.sum(train_labels == 1)), 1)
        return (len(train_labels) - positives) / positives
    return float(setting)


def round_history(evals: dict, metric_names: dict[str, str]) -> list[dict]:
    """A booster's per-round evaluations ({train set: {metric: [...]}, validation set: ...},
    in that order) as one history row per round, metrics renamed by `metric_names`."""
    rows: list[dict] = []
    for prefix, results in zip(["train", "val"], evals.values(), strict=False):
        for name, values in results.items():
            key = f"{prefix}_{metric_names.get(name, name)}"
            for i, value in enumerate(values):
                if len(rows) <= i:
                    rows.append({"epoch": i + 1})
                rows[i][key] = round(float(value), 6)
    return rows


class SklearnTabular(Candidate):
    """A classifier behind the typed-column preprocessor; one fit, no epochs by default."""

    typed_inputs = True

    def __init__(self, params, label_names, seed, features=None):
        super().__init__(params, label_names, seed, features)
        self.pipeline = None

    def select_inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        return tabular_inputs(frame, self.features)

    native_categories = False  # True: category codes, not one-hot columns

    @abc.abstractmethod
    def build_classifier(self, train_labels: np.ndarray, pre):
        """The family's estimator; `pre` is the fitted preprocessor (its output columns)."""

    def fit_classifier(self, classifier, X, y, X_val, y_val, on_epoch) -> list[dict]:
        classifier.fit(X, y)
        return []

    def refit_classifier(self, classifier, X, y) -> None:
        """The final fit on train + validation (the boosted trees: the rounds chosen)."""
        classifier.fit(X, y)

    def refit_with_validation(self, train_inputs, train_labels, val_inputs, val_labels) -> bool:
        """Refit the whole pipeline on train + validation when `refit_on_val` is set; the
        decision threshold chosen on validation stays. Returns whether it refitted."""
        if not self.params.refit_on_val or not len(val_labels):
            return False
        from sklearn.pipeline import Pipeline

        from reprotune.data.folds import concat_rows

        rows = concat_rows(train_inputs, val_inputs)
        labels = np.concatenate([np.asarray(train_labels), np.asarray(val_labels)])
        pre = preprocessor(self.features, self.native_categories)
        X = pre.fit_transform(rows)
        categorical = categorical_output_columns(pre, self.features)
        X, y = resample(self.params.resample, X, labels, self.seed, categorical)
        classifier = self.build_classifier(y, pre)
        self.refit_classifier(classifier, X, y)
        self.pipeline = Pipeline([("features", pre), ("model", classifier)])
        return True

    def fit(self, train_inputs, train_labels, val_inputs, val_labels, on_epoch=None) -> list[dict]:
        from sklearn.pipeline import Pipeline

        pre = preprocessor(self.features, self.native_categories)
        X = pre.fit_transform(train_inputs)
        X, y = resample(
            self.params.resample,
            X,
            np.asarray(train_labels),
            self.seed,
            categorical_output_columns(pre, self.features),
        )
        classifier = self.build_classifier(y, pre)
        X_val = pre.transform(val_inputs) if len(val_inputs) else None
        history = self.fit_classifier(classifier, X, y, X_val, np.asarray(val_labels), on_epoch)
        self.pipeline = Pipeline([("features", pre), ("model", classifier)])
        return history

    def predict_proba(self, inputs) -> np.ndarray:
        from reprotune.features.encoder import ColumnEncoder

        pre, classifier = self.pipeline.named_steps["features"], self.pipeline.named_steps["model"]
        if isinstance(pre, ColumnEncoder):
            proba = self.classify(classifier, pre.transform(typed_arrays(inputs, self.features)))
        else:  # saved before the grouped encoder: its ColumnTransformer reads a DataFrame
            proba = self.pipeline.predict_proba(tabular_inputs(inputs, self.features))
        return expand_to_all_classes(proba, classifier.classes_, len(self.label_names))

    def classify(self, classifier, X) -> np.ndarray:
        """The classifier's probabilities of encoded rows (a family may take a faster road
        to the same numbers)."""
        return classifier.predict_proba(X)

    def select_inputs_from_records(self, records: list[dict]):
        return typed_arrays(records, self.features)

    def select_inputs_from_columns(self, columns: dict):
        return typed_arrays(columns, self.features)

    def n_parameters(self) -> int:
        return 0

    def save_weights(self, folder: Path) -> None:
        joblib.dump(self.pipeline, Path(folder) / WEIGHTS)

    @classmethod
    def load_weights(cls, folder: Path, card: dict):
        from reprotune.models import params_class

        params = params_class(card["family"])(**card["params"])
        model = cls(params, card["label_names"], card["seed"], card.get("features"))
        model.pipeline = joblib.load(Path(folder) / WEIGHTS)
        return model


class TypedColumns(dict):
    """typed_arrays' answer: column -> array of a model's inputs, for these features."""

    def __init__(self, columns: dict, features: dict[str, str]):
        super().__init__(columns)
        self.features = features


def typed_arrays(inputs, features: dict[str, str]) -> TypedColumns:
    """What `tabular_inputs` gives, as one array per feature column and without building a
    DataFrame (pandas costs ~0.1 ms per column per call, whatever the rows: most of a one-row
    prediction). `inputs`: a DataFrame, a mapping of columns, or a list of records; typed
    columns for the same features come back as they are."""
    if isinstance(inputs, TypedColumns) and inputs.features == features:
        return inputs
    if isinstance(inputs, pd.DataFrame):
        missing = [c for c in features if c not in inputs.columns]
        _require(missing)
        positions = inputs.columns.get_indexer(list(features))
        values = inputs.to_numpy(dtype=object)
        columns = {c: values[:, positions[j]] for j, c in enumerate(features)}
    elif isinstance(inputs, dict):
        _require([c for c in features if c not in inputs])
        columns = {c: np.asarray(inputs[c], dtype=object) for c in features}
    else:
        records = list(inputs)
        _require([c for c in features if records and c not in records[0]])
        columns = {c: np.array([r.get(c) for r in records], dtype=object) for c in features}
    return TypedColumns(
        {c: FEATURE_TYPES[kind].input_array(columns[c]) for c, kind in features.items()},
        features,
    )


def _require(missing: list[str]) -> None:
    if missing:
        raise DataError(f"input lacks feature column(s) {missing}; fix: send every feature")


def tabular_inputs(frame, features: dict[str, str]) -> pd.DataFrame:
    """The feature columns in the saved order and storage types (numbers as floats, the
    rest as each feature type stores it), whatever the caller passed."""
    frame = pd.DataFrame(frame)
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise DataError(f"input lacks feature column(s) {missing}; fix: send every feature")
    columns = {
        column: FEATURE_TYPES[kind].inputs(frame[column]) for column, kind in features.items()
    }
    return pd.DataFrame(columns, index=frame.index)


class BoostedTrees(SklearnTabular):
    """Gradient-boosted trees (xgboost, lightgbm): TreeExplainer on their log-odds, one history
    row per boosting round, category codes split on natively when `categorical: native`."""

    shap_explainer = "tree"
    tree_output = "log-odds"
    iterative = True
    passes_name = "boosting rounds"

    @property
    def native_categories(self) -> bool:
        return self.params.categorical == "native"
