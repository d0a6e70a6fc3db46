"""Errors a user can act on. Stages print them as one message and exit non-zero."""

import difflib
from collections.abc import Iterable


def did_you_mean(name: object, choices: Iterable[object]) -> str:
    """ "did you mean 'x'? " for the closest of `choices` to a misspelt `name`, else ""."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


class ReprotuneError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class ParamsError(ReprotuneError):
    """params.yaml holds a value the pipeline cannot use."""


class DataError(ReprotuneError):
    """Input data is missing, unreadable or unusable with the configured params."""


class TrackingError(ReprotuneError):
    """The MLflow tracking store cannot be reached or used."""


class FieldError(DataError):
    """A request field holds a value the model cannot take (a service answers 422)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
