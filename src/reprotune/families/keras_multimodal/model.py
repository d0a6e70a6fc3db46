"""`keras_multimodal`: an image branch beside a metadata branch, fused by dense layers (Keras 3).

- Image branch, per image column: a small CNN from scratch (`image.blocks` conv blocks from
  `image.filters` filters, doubling) or a Keras Applications backbone whose weights load from a
  local file (`image.backbone`, `image.weights`; nothing is downloaded), frozen first and then,
  for `image.fine_tune_epochs`, fine-tuned at `image.fine_tune_lr` (transfer learning).
  Training-only augmentation: flip, small rotation, zoom and contrast (Keras' random layers are
  off at inference).
- Metadata branch: categories (and binary columns) as learned embeddings or one-hot columns
  (`categorical`, as in keras_tabular); numbers (median-imputed, scaled), sets (multi-hot) and
  text (TF-IDF) through the fitted scikit-learn encoders of the tabular families.
- Fusion: concatenate, then `hidden_units` Dense layers (activation, dropout, L2); early stopping
  on a validation score with the best weights; per-epoch charts.

The saved model takes raw columns: image bytes, base64 strings or paths (decoded and resized to
the size it trained on)."""

from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from reprotune.errors import ParamsError
from reprotune.families.keras_multimodal import ImageBranch, KerasMultimodalParams
from reprotune.features.base import MISSING_CATEGORY
from reprotune.io import read_json, write_json
from reprotune.models.base import Candidate
from reprotune.models.keras import (
    WEIGHTS,
    activation_layer,
    category_encoding,
    configure_keras,
    dense_classifier,
    epoch_monitor,
    fit_options,
    keras_modules,
)
from reprotune.models.tabular import preprocessor, tabular_inputs

ENCODERS = "metadata_encoders.joblib"
SHAPES = "inputs.json"
METADATA_INPUT = "metadata"
STRING_KINDS = ("category", "binary")
ENCODED_KINDS = ("number", "set", "text")
# Keras Applications backbones, and the pixel scaling each expects (from 0..255).
BACKBONES = {
    "MobileNetV2": (1 / 127.5, -1.0),
    "MobileNetV3Small": (1.0, 0.0),  # rescales inside the model
    "EfficientNetB0": (1.0, 0.0),  # rescales inside the model
}


class KerasMultimodal(Candidate):
    family = "keras_multimodal"
    iterative = True
    typed_inputs = True

    def __init__(self, params, label_names, seed, features=None):
        super().__init__(params, label_names, seed, features)
        self.model = None
        self.encoders = None  # the fitted ColumnTransformer of number/set/text columns
        self.image_size: int | None = None

    def select_inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        return tabular_inputs(frame, self.features)

    def _columns(self, *kinds: str) -> list[str]:
        return [c for c, kind in self.features.items() if kind in kinds]

    def _arrays(self, frame) -> dict[str, np.ndarray]:
        """Keras inputs: images (0..255 floats), category strings, one matrix of the rest."""
        from reprotune.features.image import pixel_batch

        frame = tabular_inputs(frame, self.features)
        arrays = {
            c: pixel_batch(frame[c], self.image_size).astype("float32")
            for c in self._columns("image")
        }
        for column in self._columns(*STRING_KINDS):
            values = frame[column].fillna(MISSING_CATEGORY).astype(str).to_numpy(object)
            arrays[column] = values.reshape(-1, 1)
        if self.encoders is not None:
            encoded = self.encoders.transform(frame[self._columns(*ENCODED_KINDS)])
            encoded = encoded.toarray() if hasattr(encoded, "toarray") else encoded
            arrays[METADATA_INPUT] = np.asarray(encoded, dtype="float32")
        return arrays

    def _image_branch(self, keras, layer, column: str):
        p, branch = self.params, self.params.image
        x, augment = layer, p.augment
        if augment.flip:
            x = keras.layers.RandomFlip("horizontal", seed=self.seed)(x)
        if augment.rotation:
            x = keras.layers.RandomRotation(augment.rotation, seed=self.seed)(x)
        if augment.zoom:
            x = keras.layers.RandomZoom(augment.zoom, seed=self.seed)(x)
        if augment.contrast:
            x = keras.layers.RandomContrast(augment.contrast, seed=self.seed, value_range=(0, 255))(
                x
            )
        if branch.backbone == "cnn":
            x = keras.layers.Rescaling(1 / 255)(x)
            for block in range(branch.blocks):
                x = keras.layers.Conv2D(branch.filters * 2**block, 3, padding="same")(x)
                x = activation(keras, p.activation)(x)
                x = keras.layers.MaxPooling2D()(x)
            x = keras.layers.GlobalAveragePooling2D()(x)
        else:
            scale, offset = BACKBONES[branch.backbone]
            x = keras.layers.Rescaling(scale, offset=offset)(x)
            self.backbone = load_backbone(keras, branch, self.image_size)
            x = self.backbone(x, training=False)  # batch norm stays in inference mode
        x = keras.layers.Dense(branch.dense_units, name=f"{column}_vector")(x)
        return activation(keras, p.activation)(x)

    def _build(self, keras, train: dict[str, np.ndarray]):
        p = self.params
        inputs, encoded = [], []
        for column in self._columns("image"):
            size = self.image_size
            layer = keras.Input(shape=(size, size, 3), name=column, dtype="float32")
            inputs.append(layer)
            encoded.append(self._image_branch(keras, layer, column))
        for column in self._columns(*STRING_KINDS):
            layer = keras.Input(shape=(1,), name=column, dtype="string")
            inputs.append(layer)
            encoded.append(category_encoding(keras, layer, column, train[column], p))
        if METADATA_INPUT in train:
            layer = keras.Input(shape=(train[METADATA_INPUT].shape[1],), name=METADATA_INPUT)
            inputs.append(layer)
            encoded.append(layer)
        x = keras.layers.Concatenate()(encoded) if len(encoded) > 1 else encoded[0]
        n_classes = len(self.label_names)
        return dense_classifier(
            keras, inputs, x, p, self.seed, n_classes, "multimodal", p.activation
        )

    def _fit_encoders(self, frame: pd.DataFrame) -> None:
        columns = self._columns(*ENCODED_KINDS)
        if not columns:
            return
        kinds = {c: self.features[c] for c in columns}
        encoders = preprocessor(kinds)
        encoders.sparse_threshold = 0
        self.encoders = encoders.fit(frame[columns])

    def fit(self, train_inputs, train_labels, val_inputs, val_labels, on_epoch=None) -> list[dict]:
        keras = configure_keras(self.seed)
        p = self.params
        train_frame = tabular_inputs(train_inputs, self.features)
        self.image_size = trained_image_size(train_frame, self._columns("image"))
        self._fit_encoders(train_frame)
        train_arrays = self._arrays(train_frame)
        self.backbone = None
        self.model = self._build(keras, train_arrays)
        train, val = _tensors(train_arrays), _tensors(self._arrays(val_inputs))
        train_labels, val_labels = np.asarray(train_labels), np.asarray(val_labels)
        n_classes = len(self.label_names)
        total = p.epochs + (p.image.fine_tune_epochs if self.backbone is not None else 0)
        monitor = epoch_monitor(
            keras,
            p,
            n_classes,
            (train, train_labels),
            (val, val_labels),
            on_epoch,
            self.family,
            epochs=total,
        )
        fit = fit_options(p, train_labels, n_classes, monitor)
        self.model.fit(train, train_labels, epochs=p.epochs, **fit)
        if self.backbone is not None and p.image.fine_tune_epochs:
            self._fine_tune(keras, monitor, train, train_labels, fit)
        monitor.progress.close()
        self.model.set_weights(monitor.best_weights)
        self.best_epoch = monitor.stopper.best_epoch
        return monitor.history

    def _fine_tune(self, keras, monitor, train, train_labels, fit: dict) -> None:
        """Transfer learning's second phase: the backbone unfrozen, from the best weights so
        far, at a small learning rate; early stopping goes on counting from where it was."""
        self.model.set_weights(monitor.best_weights)
        self.backbone.trainable = True
        self.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=self.params.image.fine_tune_lr),
            loss="sparse_categorical_crossentropy",
        )
        monitor.stopper.epochs_without_gain = 0
        done = len(monitor.history)
        epochs = done + self.params.image.fine_tune_epochs
        self.model.fit(train, train_labels, epochs=epochs, initial_epoch=done, **fit)

    def predict_proba(self, inputs, batch_size: int = 256) -> np.ndarray:
        # The compiled predict step, as keras_tabular does (an eager call is ~15x slower).
        frame = tabular_inputs(inputs, self.features)
        parts = []
        for start in range(0, len(frame), batch_size):
            arrays = self._arrays(frame.iloc[start : start + batch_size])
            parts.append(np.asarray(self.model.predict_on_batch(arrays)))
        return np.concatenate(parts) if parts else np.zeros((0, len(self.label_names)))

    def n_parameters(self) -> int:
        return int(sum(np.prod(w.shape) for w in self.model.trainable_weights))

    def save_weights(self, folder: Path) -> None:
        self.model.save(Path(folder) / WEIGHTS)
        joblib.dump(self.encoders, Path(folder) / ENCODERS)
        write_json(Path(folder) / SHAPES, {"image_size": self.image_size})

    @classmethod
    def load_weights(cls, folder: Path, card: dict) -> "KerasMultimodal":
        keras, _ = keras_modules()
        params = KerasMultimodalParams(**card["params"])
        model = cls(params, card["label_names"], card["seed"], card.get("features"))
        model.model = keras.models.load_model(Path(folder) / WEIGHTS)
        model.encoders = joblib.load(Path(folder) / ENCODERS)
        model.image_size = read_json(Path(folder) / SHAPES)["image_size"]
        return model


def activation(keras, name: str):
    return activation_layer(keras, name)


def trained_image_size(frame: pd.DataFrame, columns: list[str]) -> int | None:
    """The side of the stored training images (preprocess made them square)."""
    from reprotune.features.image import open_image

    for column in columns:
        for value in frame[column]:
            if value is not None:
                return open_image(value).size[0]
    if columns:
        raise ParamsError(f"image column {columns[0]!r} has no image in the training rows")
    return None


def load_backbone(keras, branch: ImageBranch, size: int):
    from reprotune import paths

    weights = paths.local_path(branch.weights)
    if not weights.is_file():
        raise ParamsError(
            f"image.weights = {branch.weights!r}: no such file; fix: point it at the "
            f"{branch.backbone} weights file (include_top=False), or use image.backbone: cnn"
        )
    application = getattr(keras.applications, branch.backbone)
    try:
        backbone = application(
            include_top=False, weights=str(weights), input_shape=(size, size, 3), pooling="avg"
        )
    except (ValueError, OSError) as exc:
        raise ParamsError(
            f"image.weights = {branch.weights!r} does not load into {branch.backbone} at "
            f"{size}x{size} ({exc}); fix: use that backbone's include_top=False weights"
        ) from None
    backbone.trainable = False
    return backbone


def _tensors(arrays: dict[str, np.ndarray]) -> dict:
    _, tf = keras_modules()
    return {k: tf.constant(v) for k, v in arrays.items()}


MODEL = KerasMultimodal
