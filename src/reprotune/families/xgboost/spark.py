"""`engine: spark`: an XGBoost candidate trained on Apache Spark.

The driver reads a sample of the training split (`spark.encoder_rows`, never the whole table)
and fits the same feature encoder the local path uses; the executors read the Parquet splits,
apply that encoder to their partitions (`mapInPandas`) and train with XGBoost's own PySpark
estimator (`xgboost.spark.SparkXGBClassifier`: early stopping on the validation split through
`validation_indicator_col`, the class weight, the seed). The booster comes back as an
`XGBClassifier` behind the encoder, the family's usual saved pipeline, so evaluate, compare,
the registry, serve, predict and explain take it as any other. The validation split's
probabilities (for the decision threshold) and the test split's (for evaluate) are computed on
the executors; only they and the labels reach the driver.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from reprotune import sparkrun
from reprotune.runtime import verbose

# XGBClassifier settings the Spark estimator sets itself (the objective) or has no use for.
LOCAL_ONLY = ("objective", "n_jobs", "enable_categorical", "feature_types", "max_cat_to_onehot")


def spark_session(settings):
    """A session for training (reprotune.sparkrun): the executors must import XGBoost too."""
    return sparkrun.spark_session(
        settings, "train.candidates.<name>.spark", "reprotune train", ("reprotune", "xgboost")
    )


def encoded_frame(train, val_path: Path, encoder, features: dict[str, str], parts: int):
    """The training rows (training_rows) and the validation split as (features array, label,
    is_val) rows, encoded on the executors, in one partition per XGBoost worker (its barrier
    stage takes no union of other partitionings)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DoubleType,
        LongType,
        StructField,
        StructType,
    )

    from reprotune.models.tabular import typed_arrays

    val = train.sparkSession.read.parquet(str(val_path))
    frame = (
        train.select(*features, "label")
        .withColumn("is_val", F.lit(False))
        .unionByName(val.select(*features, "label").withColumn("is_val", F.lit(True)))
    )
    schema = StructType(
        [
            StructField("features", ArrayType(DoubleType())),
            StructField("label", LongType()),
            StructField("is_val", BooleanType()),
        ]
    )
    columns = list(features)

    def encode(batches):
        for batch in batches:
            X = encoder.transform(typed_arrays(batch[columns], features))
            X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
            yield pd.DataFrame(
                {
                    "features": list(X.astype(float)),
                    "label": batch["label"].astype("int64"),
                    "is_val": batch["is_val"],
                }
            )

    return frame.mapInPandas(encode, schema).repartition(parts)


def training_rows(spark, path: Path, share: float, classes: int, seed: int):
    """The training split, or a stratified share of it (the budget's plan: the same share of
    every class, Bernoulli-sampled with the seed), and how many rows that is."""
    rows = spark.read.parquet(str(path))
    if share < 1:
        rows = rows.sampleBy("label", {label: share for label in range(classes)}, seed)
    return rows, rows.count()


def estimator(classifier_params: dict, num_workers: int, validation: bool):
    from xgboost.spark import SparkXGBClassifier

    settings = {k: v for k, v in classifier_params.items() if v is not None}
    for key in LOCAL_ONLY:
        settings.pop(key, None)
    if not validation:
        settings.pop("early_stopping_rounds", None)
    return SparkXGBClassifier(
        verbose=verbose(),  # XGBoost's per-round evaluation lines, printed by the executors
        features_col="features",
        label_col="label",
        validation_indicator_col="is_val" if validation else None,
        num_workers=num_workers,
        **settings,
    )


def validation_probabilities(spark_model, frame, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The validation rows' labels and probabilities, scored on the executors; they reach the
    driver as plain columns through Arrow (not as a Python object a row)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    scored = spark_model.transform(frame.where("is_val"))
    probability = vector_to_array(F.col("probability"))
    columns = [probability[i].alias(f"p{i}") for i in range(classes)]
    rows = scored.select("label", *columns).toPandas()
    return rows["label"].to_numpy(), rows[[f"p{i}" for i in range(classes)]].to_numpy()


def split_probabilities(spark, path: Path, model) -> tuple[np.ndarray, np.ndarray]:
    """A split's labels and class probabilities, scored on the executors by the saved model
    (`model`, shipped to them) in the file's row order; only those numbers reach the driver,
    through Arrow, never the split's features."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, LongType, StructField, StructType

    classes = len(model.label_names)
    columns = [f"p{i}" for i in range(classes)]
    schema = StructType(
        [StructField("row", LongType()), StructField("label", LongType())]
        + [StructField(c, DoubleType()) for c in columns]
    )

    def score(batches):
        for batch in batches:
            proba = model.predict_proba(model.select_inputs(batch)).astype(float)
            scored = pd.DataFrame(proba, columns=columns)
            scored.insert(0, "label", batch["label"].astype("int64").to_numpy())
            scored.insert(0, "row", batch["row"].to_numpy())
            yield scored

    # Ids follow the read order (partition, then position): sorting by them restores the
    # file's row order, which compare's paired bootstrap pairs candidates by.
    frame = (
        spark.read.parquet(str(path))
        .select(*model.features, "label")
        .withColumn("row", F.monotonically_increasing_id())
    )
    rows = frame.mapInPandas(score, schema).toPandas().sort_values("row", kind="stable")
    return rows["label"].to_numpy(), rows[columns].to_numpy()
