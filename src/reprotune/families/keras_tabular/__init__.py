"""`keras_tabular`: its settings, checked where params.yaml is read (what it does: model.py)."""

from typing import Literal

from reprotune.schema import KerasTypedParams


class KerasTabularParams(KerasTypedParams):
    reads = frozenset({"number", "category", "binary"})
    family: Literal["keras_tabular"]


PARAMS = KerasTabularParams
