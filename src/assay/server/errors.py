"""The one place that turns errors into HTTP responses: ``{"error_code", "message"}``.

=============================================  ======  ===========================
error                                          status  error_code
=============================================  ======  ===========================
RequestTooLargeError (a limit of limits.py)    413     REQUEST_TOO_LARGE
UnsupportedMediaTypeError (Content-Encoding)   415     UNSUPPORTED_MEDIA_TYPE
InvalidParameterError (FilterError too)        400     INVALID_PARAMETER_VALUE
request validation (bad JSON, types, fields)   400     INVALID_PARAMETER_VALUE
NotFoundError                                  404     RESOURCE_DOES_NOT_EXIST
no such route                                  404     ENDPOINT_NOT_FOUND
wrong method (``Allow`` lists every method)    405     METHOD_NOT_ALLOWED
AlreadyExistsError                             409     RESOURCE_ALREADY_EXISTS
  (on MLflow's routes, as MLflow answers it)   400     RESOURCE_ALREADY_EXISTS
AuthenticationError                            401     UNAUTHENTICATED
PermissionDeniedError                          403     PERMISSION_DENIED
CsrfError (an unsafe request without a token)  403     CSRF_FAILED
RateLimitedError (with Retry-After)            429     REQUEST_LIMIT_EXCEEDED
StoreUnavailableError                          503     TEMPORARILY_UNAVAILABLE
QueryTimeoutError (statement timeout)          504     QUERY_TIMEOUT
any other error                                500     INTERNAL_ERROR
=============================================  ======  ===========================

A :class:`~assay.search.errors.FilterError` also carries ``position`` (0-based) and
``fragment``. Messages come from Assay's own errors, which name the field or id and never hold
SQL, secrets or tracebacks; an unexpected error is logged with its traceback and answered
with a generic message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from assay.errors import (
    AlreadyExistsError,
    AssayError,
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    QueryTimeoutError,
    RequestTooLargeError,
    StoreUnavailableError,
    UnsupportedMediaTypeError,
)
from assay.search.errors import FilterError
from assay.server.rate_limit import RateLimitedError

__all__ = ["ErrorPage", "ErrorResponse", "error_response", "install_error_handlers", "status_of"]

_log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[AssayError], int], ...] = (
    (RequestTooLargeError, 413),  # before InvalidParameterError, of which they are kinds
    (UnsupportedMediaTypeError, 415),
    (InvalidParameterError, 400),
    (NotFoundError, 404),
    (AlreadyExistsError, 409),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (RateLimitedError, 429),
    (StoreUnavailableError, 503),
    (QueryTimeoutError, 504),
)

_HTTP_CODES = {404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error_code: str = Field(description="A stable code, e.g. RESOURCE_DOES_NOT_EXIST")
    message: str = Field(description="What is wrong, naming the field or id")
    position: int | None = Field(
        default=None, description="For a bad filter_string or order_by entry: the 0-based "
                                  "character offset of the offending text")
    fragment: str | None = Field(
        default=None, description="For a bad filter_string or order_by entry: the offending "
                                  "text as written")


#: The error responses every route can give, for the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid input; the message names the field"},
    401: {"model": ErrorResponse,
          "description": "With --auth: no credentials, or not valid ones (an API key that is "
                         "unknown, revoked or expired)"},
    403: {"model": ErrorResponse,
          "description": "With --auth: the caller's role may not do this; with or without "
                         "it: a form or cross-site request without a valid CSRF token"},
    404: {"model": ErrorResponse, "description": "No such resource; the message names the id"},
    413: {"model": ErrorResponse,
          "description": "The body is over max_request_bytes (as sent or decompressed), or "
                         "the request over another limit; the message names it"},
    415: {"model": ErrorResponse,
          "description": "A Content-Encoding other than gzip, deflate or identity"},
    503: {"model": ErrorResponse, "description": "The database cannot be reached"},
    504: {"model": ErrorResponse,
          "description": "QUERY_TIMEOUT: a database query ran past the server's statement "
                         "timeout and was stopped"},
}

#: The answer of a route that may also find its input conflicting with what is stored.
CONFLICT_RESPONSE: dict[str, Any] = {
    "model": ErrorResponse,
    "description": "Conflicts with what is stored (a name that is taken, an idempotency key "
                   "used for another trace); the message says what"}


def status_of(exc: AssayError) -> int:
    """The HTTP status of a domain error."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_response(status: int, error_code: str, message: str,
                   position: int | None = None, fragment: str | None = None) -> JSONResponse:
    """A JSON error response; ``position`` and ``fragment`` only when known."""
    body: dict[str, Any] = {"error_code": error_code, "message": message}
    if position is not None:
        body["position"] = position
    if fragment is not None:
        body["fragment"] = fragment
    return JSONResponse(body, status_code=status)


#: Where MLflow's REST protocol is served (:mod:`assay.server.mlflow_compat`), whose
#: clients expect MLflow's statuses.
_MLFLOW_PREFIXES = ("/api/2.0/mlflow/", "/api/3.0/mlflow/", "/ajax-api/")


def _assay_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AssayError)
    status = status_of(exc)
    if status == 409 and request.url.path.startswith(_MLFLOW_PREFIXES):
        status = 400  # MLflow's RESOURCE_ALREADY_EXISTS is a 400
    if status in (500, 503):
        # Assay's own errors outside the tree above (a closed store), or the database out of
        # reach: not the caller's fault, and their messages name the database (a file's
        # path, a host), which the log may show but a client may not.
        _log.error("Request failed: %s", exc.message)
        message = ("The database is unavailable right now; try again later"
                   if status == 503 else "Internal server error; see the server log")
        return error_response(status, exc.error_code, message)
    if isinstance(exc, FilterError):
        response = error_response(status, exc.error_code, exc.message, exc.position,
                                  exc.fragment)
        if exc.position is None:
            # The key says "a filter or order_by problem" even where there is no one place
            # to point at (clients such as the SDK's REST store tell the two apart by it).
            response = JSONResponse({"error_code": exc.error_code, "message": exc.message,
                                     "position": None}, status_code=status)
        return response
    response = error_response(status, exc.error_code, exc.message)
    if isinstance(exc, RateLimitedError):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "INVALID_PARAMETER_VALUE", validation_message(exc.errors()))


def validation_message(errors: Sequence[Any]) -> str:
    """One sentence per problem FastAPI found in a request, naming where it is."""
    parts: list[str] = []
    for error in errors:
        kind = error.get("type", "")
        loc = [str(p) for p in error.get("loc", ())]
        if kind == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "invalid JSON")
            at = f" at position {loc[1]}" if len(loc) > 1 else ""
            parts.append(f"Malformed JSON body: {reason}{at}")
            continue
        if kind == "missing" and loc == ["body"]:
            parts.append("Missing JSON body")
            continue
        where = ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc)
        source = loc[0] if loc else "request"
        label = {"body": "field", "query": "query parameter",
                 "path": "path parameter", "header": "header"}.get(source, source)
        if kind == "model_attributes_type" and len(loc) == 1:
            parts.append("Invalid body: expected a JSON object (Content-Type: "
                         "application/json)")
            continue
        parts.append(f"Invalid {label} {where!r}: {error.get('msg', 'invalid value')}")
    return "; ".join(parts) or "Invalid request"


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if isinstance(exc.__cause__, AssayError):
        # FastAPI answers any error raised while it reads a body as "There was an error
        # parsing the body"; when it is one of Assay's (the body over a limit, or not
        # decompressing), that error is the answer.
        return _assay_error(request, exc.__cause__)
    code = _HTTP_CODES.get(exc.status_code, "INVALID_PARAMETER_VALUE"
                           if 400 <= exc.status_code < 500 else "INTERNAL_ERROR")
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code in _HTTP_CODES and message in ("Not Found", "Method Not Allowed"):
        # Routing's own answers: say which endpoint (the path only, never the query).
        message = f"{message}: {request.method} {request.url.path}"
    response = error_response(exc.status_code, code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = _allowed_methods(request)
    return response


def _allowed_methods(request: Request) -> str:
    """The methods of the resource at the request's path, as the OpenAPI document has them.

    Routing answers 405 from the first route whose path matched, so its ``Allow`` would list
    that route's methods only, while a path such as ``/api/v1/users`` has one route per
    method. Where paths of several shapes match (``/api/v1/traces/search`` is also
    ``/api/v1/traces/{trace_id}``), the one with the fewest parameters is the resource.
    """
    path = request.scope["path"]
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    by_shape: dict[int, set[str]] = {}
    for route in request.app.router.routes:
        path_regex = getattr(route, "path_regex", None)
        route_methods = getattr(route, "methods", None)
        if path_regex is not None and route_methods and path_regex.match(path):
            parameters = str(getattr(route, "path", "")).count("{")
            by_shape.setdefault(parameters, set()).update(route_methods)
    return ", ".join(sorted(by_shape[min(by_shape)])) if by_shape else ""


def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the log, never to the caller.
    _log.error("Unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "INTERNAL_ERROR", "Internal server error; see the server log")


#: What may answer a JSON error instead, given its request (the web UI's error page for a
#: browser): the handlers here and the auth middleware's refusals both go through it.
ErrorPage = Callable[[Request, JSONResponse], Response]


def install_error_handlers(app: FastAPI, page: ErrorPage | None = None) -> None:
    """Make ``app`` answer every error as :class:`ErrorResponse` JSON.

    ``page``, when given, sees each JSON error with its request and may answer something
    else instead (the web UI draws an error page for a browser); status and message stay
    the ones decided here.
    """

    def with_page(handler: Callable[[Request, Exception], JSONResponse]
                  ) -> Callable[[Request, Exception], Response]:
        def respond(request: Request, exc: Exception) -> Response:
            response = handler(request, exc)
            return response if page is None else page(request, response)
        return respond

    app.add_exception_handler(AssayError, with_page(_assay_error))
    app.add_exception_handler(RequestValidationError, with_page(_validation_error))
    app.add_exception_handler(HTTPException, with_page(_http_error))
    app.add_exception_handler(Exception, with_page(_unexpected_error))
