"""What the Keras families share: TensorFlow imported quietly and configured (threads, seed,
determinism), the dense classifier head, the per-epoch monitor with early stopping, category
encodings and Model.fit's options. Keras itself is imported only inside these functions."""

import numpy as np
from tqdm import tqdm

from reprotune.models.tabular import class_weights
from reprotune.models.training import EarlyStopping, epoch_metrics
from reprotune.runtime import native_import_noise_dropped, quiet_tensorflow, thread_count

WEIGHTS = "model.keras"  # where every Keras family saves its model


def keras_modules():
    quiet_tensorflow()
    with native_import_noise_dropped():
        import keras
        import tensorflow as tf

    return keras, tf


def configure_keras(seed: int):
    """Keras on TensorFlow with the thread budget, a clean session and deterministic ops."""
    keras, tf = keras_modules()
    threads = thread_count()
    if threads and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already started in this process: keep its pool
            pass
    # A tuning study fits many models in one process: start each from a clean slate.
    keras.utils.clear_session()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return keras


def dense_classifier(keras, inputs, x, p, seed: int, n_classes: int, name: str, activation):
    """Hidden Dense layers (L2, optional batch norm, activation, dropout) over `x`, a softmax
    output, compiled with Adam: the MLP of both Keras families."""
    for units in p.hidden_units:
        x = keras.layers.Dense(units, kernel_regularizer=keras.regularizers.L2(p.l2))(x)
        if p.batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = activation_layer(keras, activation)(x)
        x = keras.layers.Dropout(p.dropout, seed=seed)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=p.lr),
        loss="sparse_categorical_crossentropy",
    )
    return model


def activation_layer(keras, name: str):
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.1)
    return keras.layers.Activation(name)


def epoch_monitor_class(keras):
    class EpochMonitor(keras.callbacks.Callback):
        """Per-epoch train/val metrics, early stopping on a validation score (val macro F1
        unless told; a loss is minimized), best weights kept."""

        def __init__(self, train, val, stopper, progress, on_epoch=None, score_key="val_macro_f1"):
            super().__init__()
            self.train, self.val = train, val
            self.on_epoch = on_epoch
            self.score_key = score_key
            self.stopper, self.progress = stopper, progress
            self.history: list[dict] = []
            self.best_weights = None

        def _proba(self, features: np.ndarray) -> np.ndarray:
            return np.asarray(self.model.predict_on_batch(features))

        def on_epoch_end(self, epoch, logs=None):
            row = {
                "epoch": epoch + 1,
                **epoch_metrics(self.train[1], self._proba(self.train[0]), "train"),
                **epoch_metrics(self.val[1], self._proba(self.val[0]), "val"),
            }
            self.history.append(row)
            self.progress.update()
            self.progress.set_postfix(val_macro_f1=row["val_macro_f1"], val_loss=row["val_loss"])
            score = row[self.score_key]
            if self.score_key.endswith("loss"):
                score = -score
            if self.stopper.update(score, row["epoch"]):
                self.best_weights = self.model.get_weights()
            if self.stopper.should_stop:
                self.model.stop_training = True
            if self.on_epoch is not None:
                self.on_epoch(row)

    return EpochMonitor


def epoch_monitor(keras, p, n_classes: int, train, val, on_epoch, family: str, epochs=None):
    """The per-epoch callback: train/val metrics, early stopping on `p.monitor` (macro F1 for
    a multiclass task asked for a binary score), the best weights kept."""
    key = f"val_{p.monitor}"
    if n_classes != 2 and p.monitor in ("pr_auc", "roc_auc"):
        key = "val_macro_f1"
    total = epochs or p.epochs
    progress = tqdm(total=total, desc=f"train {family}", unit="epoch", disable=None)
    return epoch_monitor_class(keras)(
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
