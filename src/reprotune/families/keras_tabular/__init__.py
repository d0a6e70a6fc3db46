"""`keras_tabular`: a Keras 3 MLP on typed columns. Numbers are normalized (statistics of the
training split); categories go through a StringLookup (unseen values -> its out-of-vocabulary
slot) into learned **embeddings** or **one-hot** columns — one param, so the two are compared
as candidates. Early stopping on a validation score keeps the best weights."""

from typing import Literal

from reprotune.schema import KerasTypedParams


class KerasTabularParams(KerasTypedParams):
    reads = frozenset({"number", "category", "binary"})
    family: Literal["keras_tabular"]


PARAMS = KerasTabularParams
