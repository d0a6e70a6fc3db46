"""`keras_tabular`: a Keras 3 MLP on typed columns. Numbers are normalized (statistics of the
training split); categories go through a StringLookup (unseen values -> its out-of-vocabulary
slot) into learned **embeddings** or **one-hot** columns — one param, so the two are compared
as candidates. Early stopping on a validation score keeps the best weights."""

from pathlib import Path

import numpy as np
import pandas as pd

from reprotune.families.keras_tabular import KerasTabularParams
from reprotune.features.base import MISSING_CATEGORY
from reprotune.io import read_json, write_json
from reprotune.models.base import Candidate
from reprotune.models.keras import (
    WEIGHTS,
    category_encoding,
    configure_keras,
    dense_classifier,
    epoch_monitor,
    fit_options,
    keras_modules,
)
from reprotune.models.tabular import tabular_inputs

IMPUTATION = "imputation.json"


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
        n_classes = len(self.label_names)
        return dense_classifier(
            keras, inputs, x, p, self.seed, n_classes, "tabular_mlp", p.activation
        )

    def fit(self, train_inputs, train_labels, val_inputs, val_labels, on_epoch=None) -> list[dict]:
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
        keras, _ = keras_modules()
        params = KerasTabularParams(**card["params"])
        model = cls(params, card["label_names"], card["seed"], card.get("features"))
        model.model = keras.models.load_model(Path(folder) / WEIGHTS)
        model.medians = read_json(Path(folder) / IMPUTATION)["medians"]
        return model


def _tensors(arrays: dict[str, np.ndarray]) -> dict:
    _, tf = keras_modules()
    return {k: tf.constant(v) for k, v in arrays.items()}


MODEL = KerasTabular
