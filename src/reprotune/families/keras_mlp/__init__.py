"""`keras_mlp`: a Keras 3 MLP on TF-IDF features (a TextVectorization layer inside the model)."""

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from reprotune.schema import KERAS_REQUIREMENTS, FamilyParams


class KerasMlpParams(FamilyParams):
    """A Keras 3 MLP on TF-IDF features (a TextVectorization layer inside the model)."""

    family: Literal["keras_mlp"]
    requirements = KERAS_REQUIREMENTS
    native_flavor = "keras"
    max_tokens: PositiveInt = 50000
    ngram_max: int = Field(default=2, ge=1, le=3)
    hidden_units: list[PositiveInt] = Field(default=[256], min_length=1)
    dropout: float = Field(default=0.5, ge=0, lt=1)
    # Dropout on the TF-IDF features themselves (word dropout): each step sees each text with
    # some of its n-grams missing.
    input_dropout: float = Field(default=0.0, ge=0, lt=1)
    l2: float = Field(default=1e-5, ge=0)
    batch_norm: bool = False
    lr: PositiveFloat = 1e-3
    epochs: PositiveInt = 20
    batch_size: PositiveInt = 32
    patience: PositiveInt = 3
    # The validation score early stopping follows: loss is smoother than macro F1 on a small
    # validation split, where a few rows flip the F1 from one epoch to the next.
    monitor: Literal["macro_f1", "loss"] = "loss"
    class_weight: bool = False
    # Scale each TF-IDF vector to unit length (as the baseline's TfidfVectorizer does), so
    # long and short texts reach the first layer on one scale.
    normalize: bool = False
    # After early stopping picked the epoch count on validation, train again from scratch on
    # train + validation for that many epochs (the baseline's fit_on_val, for an MLP).
    refit_on_val: bool = True


PARAMS = KerasMlpParams
