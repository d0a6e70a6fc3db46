"""Errors a user can act on. Stages print them as one message and exit non-zero."""


class ReprotuneError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class ParamsError(ReprotuneError):
    """params.yaml holds a value the pipeline cannot use."""


class DataError(ReprotuneError):
    """Input data is missing, unreadable or unusable with the configured params."""


class TrackingError(ReprotuneError):
    """The MLflow tracking store cannot be reached or used."""
