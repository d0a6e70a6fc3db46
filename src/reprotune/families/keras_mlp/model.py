"""A Keras 3 MLP on TF-IDF features, trained with TensorFlow.

The TF-IDF `TextVectorization` layer is part of the saved model, so it predicts from raw text.
"""

from pathlib import Path

import numpy as np
from tqdm import tqdm

from reprotune.families.keras_mlp import KerasMlpParams
from reprotune.models.base import Candidate
from reprotune.models.keras import (
    WEIGHTS,
    configure_keras,
    dense_classifier,
    epoch_monitor_class,
    keras_modules,
)
from reprotune.models.training import EarlyStopping


def _as_text_array(texts) -> np.ndarray:
    return np.asarray(list(texts), dtype=object)


class KerasMlp(Candidate):
    family = "keras_mlp"
    iterative = True

    def __init__(self, params: KerasMlpParams, label_names: list[str], seed: int, features=None):
        super().__init__(params, label_names, seed, features)
        self.model = None

    def _configure_framework(self):
        return configure_keras(self.seed)

    def _head(self, keras, n_features: int):
        """The MLP over TF-IDF features; trained on features computed once, not per batch."""
        p = self.params
        inputs = keras.Input(shape=(n_features,), name="tfidf_features")
        x = keras.layers.UnitNormalization(name="l2_normalize")(inputs) if p.normalize else inputs
        if p.input_dropout:
            x = keras.layers.Dropout(p.input_dropout, seed=self.seed, name="input_dropout")(x)
        classes = len(self.label_names)
        return dense_classifier(keras, inputs, x, p, self.seed, classes, "mlp", "relu")

    def fit(self, train_texts, train_labels, val_texts, val_labels, on_epoch=None) -> list[dict]:
        keras = self._configure_framework()
        p = self.params
        vectorize = self._vectorizer(keras, train_texts)
        train_features = np.asarray(vectorize(_as_text_array(train_texts)))
        val_features = np.asarray(vectorize(_as_text_array(val_texts)))
        head = self._head(keras, train_features.shape[1])
        monitor = epoch_monitor_class(keras)(
            (train_features, np.asarray(train_labels)),
            (val_features, np.asarray(val_labels)),
            EarlyStopping(p.patience),
            tqdm(total=p.epochs, desc="train keras_mlp", unit="epoch", disable=None),
            on_epoch,
            score_key=f"val_{p.monitor}",
        )
        head.fit(
            train_features,
            np.asarray(train_labels),
            batch_size=p.batch_size,
            epochs=p.epochs,
            shuffle=True,
            verbose=0,
            callbacks=[monitor],
            class_weight=self._class_weights(train_labels) if p.class_weight else None,
        )
        monitor.progress.close()
        head.set_weights(monitor.best_weights)
        self.best_epoch = monitor.stopper.best_epoch
        if p.refit_on_val and len(val_labels):
            vectorize, head = self._refit_on_all(
                keras, list(train_texts) + list(val_texts),
                np.concatenate([train_labels, val_labels]),
            )  # fmt: skip
        # The saved model takes raw text: the fitted vectorizer in front of the trained head.
        inputs = keras.Input(shape=(), dtype="string", name="text")
        self.model = keras.Model(inputs, head(vectorize(inputs)), name="tfidf_mlp")
        return monitor.history

    def _vectorizer(self, keras, texts):
        """TF-IDF over the n-grams of `texts` (fitted on them)."""
        p = self.params
        vectorize = keras.layers.TextVectorization(
            max_tokens=p.max_tokens, output_mode="tf_idf", ngrams=p.ngram_max, name="tfidf"
        )
        vectorize.adapt(_as_text_array(texts))
        return vectorize

    def _refit_on_all(self, keras, texts: list[str], labels: np.ndarray):
        """A fresh vectorizer and head fitted on every row for the best epoch count."""
        p = self.params
        keras.utils.set_random_seed(self.seed)
        vectorize = self._vectorizer(keras, texts)
        features = np.asarray(vectorize(_as_text_array(texts)))
        head = self._head(keras, features.shape[1])
        head.fit(
            features,
            labels,
            batch_size=p.batch_size,
            epochs=self.best_epoch,
            shuffle=True,
            verbose=0,
            class_weight=self._class_weights(labels) if p.class_weight else None,
        )
        return vectorize, head

    def _class_weights(self, labels: np.ndarray) -> dict[int, float]:
        from reprotune.models.tabular import class_weights

        return dict(enumerate(map(float, class_weights(labels, len(self.label_names)))))

    def predict_proba(self, texts, batch_size: int = 512) -> np.ndarray:
        # Calling the model directly: Model.predict costs ~80 ms of set-up per call, which
        # would dominate single-example latency.
        _, tf = keras_modules()
        texts = list(texts)
        parts = [
            np.asarray(self.model(tf.constant(texts[i : i + batch_size]), training=False))
            for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.label_names)))

    def n_parameters(self) -> int:
        return int(sum(np.prod(w.shape) for w in self.model.trainable_weights))

    def save_weights(self, folder: Path) -> None:
        self.model.save(Path(folder) / WEIGHTS)

    @classmethod
    def load_weights(cls, folder: Path, card: dict) -> "KerasMlp":
        keras, _ = keras_modules()
        model = cls(KerasMlpParams(**card["params"]), card["label_names"], card["seed"])
        model.model = keras.models.load_model(Path(folder) / WEIGHTS)
        return model


MODEL = KerasMlp
