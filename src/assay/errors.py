"""The exceptions Assay raises, one tree for every layer.

::

    AssayError                      error_code
    ├── InvalidParameterError       INVALID_PARAMETER_VALUE  (also a ValueError)
    │   └── InvalidTrackingURIError
    ├── NotFoundError               RESOURCE_DOES_NOT_EXIST
    ├── AlreadyExistsError          RESOURCE_ALREADY_EXISTS
    └── StoreUnavailableError       TEMPORARILY_UNAVAILABLE  (the database cannot be reached)

Every error carries an ``error_code`` so the server can map it to an HTTP status in one place.
Messages name the offending field or id and never contain SQL, secrets or tracebacks.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "AssayError",
    "InvalidParameterError",
    "InvalidTrackingURIError",
    "NotFoundError",
    "StoreUnavailableError",
]


class AssayError(Exception):
    """Base class of every error Assay raises on purpose."""

    error_code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameterError(AssayError, ValueError):
    """An argument or a field has a value Assay cannot take; the message names it."""

    error_code = "INVALID_PARAMETER_VALUE"


class InvalidTrackingURIError(InvalidParameterError):
    """The tracking URI names a backend Assay cannot use."""


class NotFoundError(AssayError, LookupError):
    """A trace, experiment, span or assessment with the given id does not exist."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class AlreadyExistsError(AssayError):
    """Creating something whose unique name or id is already taken."""

    error_code = "RESOURCE_ALREADY_EXISTS"


class StoreUnavailableError(AssayError):
    """The database behind the tracking URI cannot be reached or opened right now."""

    error_code = "TEMPORARILY_UNAVAILABLE"
