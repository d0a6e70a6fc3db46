"""`keras_tabular`: a Keras 3 MLP on typed columns. Numbers are normalized (statistics of the
training split); categories go through a StringLookup (unseen values -> its out-of-vocabulary
slot) into learned **embeddings** or **one-hot** columns — one param, so the two are compared
as candidates. Early stopping on a validation score keeps the best weights."""

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt
from tqdm import tqdm

from reprotune.features.base import MISSING_CATEGORY
from reprotune.io import read_json, write_json
from reprotune.models.base import Candidate
from reprotune.models.tabular import class_weights, tabular_inputs
from reprotune.models.training import EarlyStopping
from reprotune.schema import FamilyParams

WEIGHTS = "model.keras"
IMPUTATION = "imputation.json"
Activation = Literal["relu", "leaky_relu", "elu", "gelu", "selu", "tanh"]


class KerasTypedParams(FamilyParams):
    """What the Keras families on typed columns share: how categories are encoded, the dense
    head, and training with early stopping."""

    categorical: Literal["embedding", "one_hot"] = "embedding"
    embedding_dim: PositiveInt | None = None  # null: min(16, round(1.6 * levels ** 0.56))
    hidden_units: list[PositiveInt] = Field(default=[64, 32], min_length=1)
    activation: Activation = "relu"
    dropout: float = Field(default=0.2, ge=0, lt=1)
    l2: float = Field(default=1e-4, ge=0)
    batch_norm: bool = False
    lr: PositiveFloat = 1e-3
    epochs: PositiveInt = 60
    batch_size: PositiveInt = 64
    patience: PositiveInt = 8
    class_weight: bool = True
    # The validation score early stopping watches; pr_auc and roc_auc need a binary task.
    monitor: Literal["pr_auc", "roc_auc", "macro_f1", "loss"] = "pr_auc"


class KerasTabularParams(KerasTypedParams):
    reads = frozenset({"number", "category", "binary"})
    family: Literal["keras_tabular"]


def epoch_monitor(keras, p, n_classes: int, train, val, on_epoch, family: str, epochs=None):
    """The per-epoch callback: train/val metrics, early stopping on `p.monitor` (macro F1 for
    a multiclass task asked for a binary score), the best weights kept."""
    from reprotune.models.keras_mlp import _epoch_monitor

    key = f"val_{p.monitor}"
    if n_classes != 2 and p.monitor in ("pr_auc", "roc_auc"):
        key = "val_macro_f1"
    total = epochs or p.epochs
    progress = tqdm(total=total, desc=f"train {family}", unit="epoch", disable=None)
    return _epoch_monitor(keras)(
        train, val, EarlyStopping(p.patience), progress, on_epoch, score_key=key
    )


def fit_options(p, train_labels: np.ndarray, n_classes: int, monitor) -> dict:
    """keras.Model.fit's arguments but the epochs: batches, shuffling, the monitor and the
    class weights."""
    weights = class_weights(train_labels, n_classes) if p.class_weight else None
    return {
        "batch_size": p.batch_size,
        "shuffle": True,
        "verbose": 0,
        "callbacks": [monitor],
        "class_weight": dict(enumerate(map(float, weights))) if weights is not None else None,
    }


def embedding_size(levels: int) -> int:
    return max(2, min(16, round(1.6 * levels**0.56)))


def category_encoding(keras, layer, column: str, train_values: np.ndarray, p):
    """A string input's levels (those of the training split; others -> the out-of-vocabulary
    slot) as learned embeddings or one-hot columns, by `p.categorical`."""
    vocabulary = sorted(set(train_values.ravel()))
    if p.categorical == "one_hot":
        lookup = keras.layers.StringLookup(
            vocabulary=vocabulary, output_mode="one_hot", name=f"{column}_onehot"
        )
        return lookup(layer)
    lookup = keras.layers.StringLookup(vocabulary=vocabulary, name=f"{column}_lookup")
    size = p.embedding_dim or embedding_size(len(vocabulary) + 1)
    embed = keras.layers.Embedding(len(vocabulary) + 1, size, name=f"{column}_embedding")
    return keras.layers.Flatten()(embed(lookup(layer)))


class KerasTabular(Candidate):
    family = "keras_tabular"
    iterative = True
    typed_inputs = True

    def __init__(self, params, label_names, seed, features=None):
        super().__init__(params, label_names, seed, features)
        self.model = None
        self.medians: dict[str, float] = {}

    def select_inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        return tabular_inputs(frame, self.features)

    def _arrays(self, frame) -> dict[str, np.ndarray]:
        """Keras inputs: numbers imputed with the training medians, categories as strings."""
        frame = tabular_inputs(frame, self.features)
        arrays = {}
        for column, kind in self.features.items():
            if kind == "number":
                values = frame[column].fillna(self.medians[column]).to_numpy("float32")
            else:
                values = frame[column].fillna(MISSING_CATEGORY).astype(str).to_numpy(object)
            arrays[column] = values.reshape(-1, 1)
        return arrays

    def _build(self, keras, train: dict[str, np.ndarray]):
        p = self.params
        inputs, encoded = [], []
        for column, kind in self.features.items():
            if kind == "number":
                layer = keras.Input(shape=(1,), name=column, dtype="float32")
                norm = keras.layers.Normalization(name=f"{column}_norm")
                norm.adapt(train[column])
                encoded.append(norm(layer))
            else:
                layer = keras.Input(shape=(1,), name=column, dtype="string")
                encoded.append(category_encoding(keras, layer, column, train[column], p))
            inputs.append(layer)
        x = keras.layers.Concatenate()(encoded) if len(encoded) > 1 else encoded[0]
        from reprotune.models.keras_mlp import dense_classifier

        n_classes = len(self.label_names)
        return dense_classifier(
            keras, inputs, x, p, self.seed, n_classes, "tabular_mlp", p.activation
        )

    def fit(self, train_inputs, train_labels, val_inputs, val_labels, on_epoch=None) -> list[dict]:
        from reprotune.models.keras_mlp import configure_keras

        keras = configure_keras(self.seed)
        p = self.params
        numbers = tabular_inputs(train_inputs, self.features)
        self.medians = {
            c: float(numbers[c].median()) if numbers[c].notna().any() else 0.0
            for c, kind in self.features.items()
            if kind == "number"
        }
        train_arrays = self._arrays(train_inputs)
        self.model = self._build(keras, train_arrays)
        # Keras takes strings as tensors, not numpy object arrays.
        train, val = _tensors(train_arrays), _tensors(self._arrays(val_inputs))
        train_labels, val_labels = np.asarray(train_labels), np.asarray(val_labels)
        n_classes = len(self.label_names)
        monitor = epoch_monitor(
            keras, p, n_classes, (train, train_labels), (val, val_labels), on_epoch, self.family
        )
        fit = fit_options(p, train_labels, n_classes, monitor)
        self.model.fit(train, train_labels, epochs=p.epochs, **fit)
        monitor.progress.close()
        self.model.set_weights(monitor.best_weights)
        self.best_epoch = monitor.stopper.best_epoch
        return monitor.history

    def predict_proba(self, inputs, batch_size: int = 4096) -> np.ndarray:
        # predict_on_batch runs the compiled predict step (traced once): a few ms a call where
        # an eager call runs every layer in Python (~15x slower; SHAP makes hundreds of calls).
        arrays = self._arrays(inputs)
        n = len(next(iter(arrays.values())))
        parts = []
        for start in range(0, n, batch_size):
            batch = {k: v[start : start + batch_size] for k, v in arrays.items()}
            parts.append(np.asarray(self.model.predict_on_batch(batch)))
        return np.concatenate(parts) if parts else np.zeros((0, len(self.label_names)))

    def n_parameters(self) -> int:
        return int(sum(np.prod(w.shape) for w in self.model.trainable_weights))

    def save_weights(self, folder: Path) -> None:
        self.model.save(Path(folder) / WEIGHTS)
        write_json(Path(folder) / IMPUTATION, {"medians": self.medians})

    @classmethod
    def load_weights(cls, folder: Path, card: dict) -> "KerasTabular":
        from reprotune.models.keras_mlp import _keras

        keras, _ = _keras()
        params = KerasTabularParams(**card["params"])
        model = cls(params, card["label_names"], card["seed"], card.get("features"))
        model.model = keras.models.load_model(Path(folder) / WEIGHTS)
        model.medians = read_json(Path(folder) / IMPUTATION)["medians"]
        return model


def _tensors(arrays: dict[str, np.ndarray]) -> dict:
    from reprotune.models.keras_mlp import _keras

    _, tf = _keras()
    return {k: tf.constant(v) for k, v in arrays.items()}


__all__ = [
    "KerasTabular",
    "KerasTabularParams",
    "KerasTypedParams",
    "category_encoding",
    "embedding_size",
    "epoch_monitor",
    "fit_options",
]
