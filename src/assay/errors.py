"""The exceptions Assay raises, one tree for every layer.

::

    AssayError                          error_code
    ├── InvalidParameterError           INVALID_PARAMETER_VALUE  (also a ValueError)
    │   ├── InvalidTrackingURIError     (a URI of no backend Assay has)
    │   ├── RequestTooLargeError        REQUEST_TOO_LARGE  (a body or request over a limit)
    │   ├── UnsupportedMediaTypeError   UNSUPPORTED_MEDIA_TYPE  (a Content-Encoding)
    │   ├── FilterError                 in assay.search  (a filter or order_by, and where)
    │   └── SpanError                   in assay.ingest  (one span of an OTLP request)
    ├── NotFoundError                   RESOURCE_DOES_NOT_EXIST  (also a LookupError)
    ├── AlreadyExistsError              RESOURCE_ALREADY_EXISTS
    ├── AuthenticationError             UNAUTHENTICATED  (no credentials, or not valid ones)
    │   └── FeedbackTokenError          in assay.feedback_tokens  (bad, forged or expired)
    ├── PermissionDeniedError           PERMISSION_DENIED  (valid credentials, not allowed)
    │   ├── CsrfError                   CSRF_FAILED  in assay.server.auth  (no valid CSRF token)
    │   └── FeedbackTokenScopeError     in assay.feedback_tokens  (a token on another trace)
    ├── StoreUnavailableError           TEMPORARILY_UNAVAILABLE  (the store cannot be reached)
    ├── QueryTimeoutError               QUERY_TIMEOUT  (a query ran past the statement timeout)
    └── RateLimitedError                REQUEST_LIMIT_EXCEEDED  in assay.server.rate_limit

Every error carries an ``error_code`` so the server can map it to an HTTP status in one place;
a class without one in the tree has its parent's (AssayError's own is ``INTERNAL_ERROR``). The
classes shown "in" a module live beside what raises them and are imported from there; the
others are here. Messages name the offending field or id and never contain SQL, secrets or
tracebacks: a message that quotes another library's error (which may hold a URL with a
password) is passed through :func:`mask_secrets` on the way in.
"""

from __future__ import annotations

import re

__all__ = [
    "AlreadyExistsError",
    "AssayError",
    "AuthenticationError",
    "InvalidParameterError",
    "InvalidTrackingURIError",
    "NotFoundError",
    "PermissionDeniedError",
    "QueryTimeoutError",
    "RequestTooLargeError",
    "StoreUnavailableError",
    "UnsupportedMediaTypeError",
    "mask_secrets",
]

# The password of a URL's user part: scheme://user:password@host. (Messages may quote long
# user input: every pattern here is linear in the text; hence the bounded scheme.)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://[^\s/?#@:]*):([^\s/?#]*)@")
# Query parameters (and key=value pairs of a connection string) that hold a secret.
_SECRET_PARAMETER = re.compile(
    r"(?i)\b((?:[a-z0-9_]*password|passwd|pwd|token|access_token|api_key|apikey|secret"
    r"|client_secret)=)(?:'[^']*'|\"[^\"]*\"|[^\s&;,'\")]*)")
# Credentials of an Authorization header ("Authorization: Basic <base64>"), and bearer
# tokens wherever they are quoted.
_AUTHORIZATION = re.compile(
    r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+)?)[^\s\"',}]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[a-z0-9._~+/=-]{8,}")


def mask_secrets(text: str) -> str:
    """``text`` with what looks like a credential replaced by ``***``: the password of any
    URL in it (``user:***@host``), ``password=``/``token=``-style parameters, and the
    credentials of an Authorization header."""
    text = _URL_PASSWORD.sub(r"\1:***@", text)
    text = _SECRET_PARAMETER.sub(r"\1***", text)
    text = _AUTHORIZATION.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class AssayError(Exception):
    """Base class of every error Assay raises on purpose."""

    error_code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        message = mask_secrets(message)
        super().__init__(message)
        self.message = message


class InvalidParameterError(AssayError, ValueError):
    """An argument or a field has a value Assay cannot take; the message names it."""

    error_code = "INVALID_PARAMETER_VALUE"


class InvalidTrackingURIError(InvalidParameterError):
    """The tracking URI names a backend Assay cannot use."""


class RequestTooLargeError(InvalidParameterError):
    """A request over one of the server's limits (its body's size, the spans it holds); the
    message names the limit."""

    error_code = "REQUEST_TOO_LARGE"


class UnsupportedMediaTypeError(InvalidParameterError):
    """A request body in an encoding the server does not decode; the message says which
    ones it does."""

    error_code = "UNSUPPORTED_MEDIA_TYPE"


class NotFoundError(AssayError, LookupError):
    """A trace, experiment, span or assessment with the given id does not exist."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class AlreadyExistsError(AssayError):
    """Creating something whose unique name or id is already taken."""

    error_code = "RESOURCE_ALREADY_EXISTS"


class AuthenticationError(AssayError):
    """No credentials were given where they are needed, or they are not valid (an unknown,
    revoked or expired API key, a bad password)."""

    error_code = "UNAUTHENTICATED"


class PermissionDeniedError(AssayError):
    """The caller is known but its role does not allow what it asked for."""

    error_code = "PERMISSION_DENIED"


class StoreUnavailableError(AssayError):
    """The database or server behind the tracking URI cannot be reached right now."""

    error_code = "TEMPORARILY_UNAVAILABLE"


class QueryTimeoutError(AssayError):
    """A database query was stopped: it ran past the server's statement timeout, or its
    client went away. Nothing it would have written was kept. Sending the same request again
    at once would most likely time out again: narrow the search instead."""

    error_code = "QUERY_TIMEOUT"
