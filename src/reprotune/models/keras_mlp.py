"""A Keras 3 MLP on TF-IDF features, trained with TensorFlow.

The TF-IDF `TextVectorization` layer is part of the saved model, so it predicts from raw text.
"""

from pathlib import Path

import numpy as np
from tqdm import tqdm

from reprotune.config import KerasMlpParams
from reprotune.models.base import Candidate
from reprotune.models.training import EarlyStopping, epoch_metrics
from reprotune.runtime import quiet_tensorflow, thread_count

WEIGHTS = "model.keras"


def _keras():
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    return keras, tf


def _as_text_array(texts) -> np.ndarray:
    return np.asarray(list(texts), dtype=object)


class KerasMlp(Candidate):
    family = "keras_mlp"

    def __init__(self, params: KerasMlpParams, label_names: list[str], seed: int):
        super().__init__(params, label_names, seed)
        self.model = None

    def _configure_framework(self):
        keras, tf = _keras()
        threads = thread_count()
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()
        return keras

    def _build(self, keras, train_texts: np.ndarray):
        p = self.params
        vectorize = keras.layers.TextVectorization(
            max_tokens=p.max_tokens, output_mode="tf_idf", ngrams=p.ngram_max, name="tfidf"
        )
        vectorize.adapt(train_texts)
        inputs = keras.Input(shape=(), dtype="string", name="text")
        x = vectorize(inputs)
        for units in p.hidden_units:
            x = keras.layers.Dense(units, kernel_regularizer=keras.regularizers.L2(p.l2))(x)
            if p.batch_norm:
                x = keras.layers.BatchNormalization()(x)
            x = keras.layers.Activation("relu")(x)
            x = keras.layers.Dropout(p.dropout, seed=self.seed)(x)
        outputs = keras.layers.Dense(len(self.label_names), activation="softmax")(x)
        model = keras.Model(inputs, outputs, name="tfidf_mlp")
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=p.lr),
            loss="sparse_categorical_crossentropy",
        )
        return model

    def fit(self, train_texts, train_labels, val_texts, val_labels) -> list[dict]:
        keras = self._configure_framework()
        train_x, val_x = _as_text_array(train_texts), _as_text_array(val_texts)
        self.model = self._build(keras, train_x)
        stopper = EarlyStopping(self.params.patience)
        history, best_weights = [], self.model.get_weights()
        class_weight = self._class_weights(train_labels) if self.params.class_weight else None
        progress = tqdm(range(1, self.params.epochs + 1), desc="train keras_mlp", unit="epoch")
        for epoch in progress:
            self.model.fit(train_x, train_labels, batch_size=self.params.batch_size, epochs=1,
                           shuffle=True, class_weight=class_weight, verbose=0)
            row = {"epoch": epoch,
                   **epoch_metrics(train_labels, self.predict_proba(train_x), "train"),
                   **epoch_metrics(val_labels, self.predict_proba(val_x), "val")}
            history.append(row)
            progress.set_postfix(val_macro_f1=row["val_macro_f1"], val_loss=row["val_loss"])
            if stopper.update(row["val_macro_f1"], epoch):
                best_weights = self.model.get_weights()
            if stopper.should_stop:
                break
        self.model.set_weights(best_weights)
        self.best_epoch = stopper.best_epoch
        return history

    def _class_weights(self, labels: np.ndarray) -> dict[int, float]:
        counts = np.bincount(labels, minlength=len(self.label_names))
        present = counts > 0
        weights = np.zeros(len(counts))
        weights[present] = len(labels) / (present.sum() * counts[present])
        return {i: float(w) for i, w in enumerate(weights)}

    def predict_proba(self, texts) -> np.ndarray:
        return np.asarray(self.model.predict(_as_text_array(texts), batch_size=512, verbose=0))

    def n_parameters(self) -> int:
        return int(sum(np.prod(w.shape) for w in self.model.trainable_weights))

    def save_weights(self, folder: Path) -> None:
        self.model.save(Path(folder) / WEIGHTS)

    @classmethod
    def load_weights(cls, folder: Path, card: dict) -> "KerasMlp":
        keras, _ = _keras()
        model = cls(KerasMlpParams(**card["params"]), card["label_names"], card["seed"])
        model.model = keras.models.load_model(Path(folder) / WEIGHTS)
        return model
