"""The REST store's HTTP client: one connection pool, retries, and errors read back.

Retries follow one rule: try again what the server cannot have done, or what is safe to do
twice. A request that never reached the server (the connection was refused or timed out
while connecting), a 429 or a 503 (the server said it did nothing) is retried whatever its
method; a lost answer (a read timeout, a dropped connection, a 500, 502 or 504) only for
idempotent requests — reads, PUT, DELETE, OTLP uploads (spans are upserted) and assessment
writes, which carry an idempotency key. A 504 QUERY_TIMEOUT (the server stopped a query that
ran past its statement timeout) is not retried: it is raised as QueryTimeoutError. Waits
grow exponentially (0.1 s doubling, at most 5 s) with full jitter, so clients that lost
the server together do not come back together; a ``Retry-After`` header is honoured. After
``retry_seconds`` the error is raised.

Errors come back as the exceptions the server mapped them from, read from the body's
``error_code`` (see :mod:`assay.server.errors`), not from the HTTP status: RESOURCE_DOES_NOT_EXIST
→ NotFoundError, INVALID_PARAMETER_VALUE → InvalidParameterError (a FilterError when the
body has a ``position``), RESOURCE_ALREADY_EXISTS → AlreadyExistsError, and so on for each
code of :mod:`assay.errors`. The SDK acts on some of these (a ``find_*`` answers None for a
NotFoundError; an experiment created meanwhile is looked up again after an
AlreadyExistsError), so a 404 or 409 that carries no such code (a proxy's page, a path that
is not an Assay route: ENDPOINT_NOT_FOUND) is a plain AssayError that says so. A code this
client does not know (one of a newer server) is read by its status: 400 → InvalidParameterError,
401 → AuthenticationError, 403 → PermissionDeniedError, 5xx → StoreUnavailableError.
StoreUnavailableError also when the server cannot be reached.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import ssl
import time
from collections.abc import Mapping
from typing import Any

import httpx

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
from assay.store.rest._outage import Outage
from assay.version import __version__

__all__ = ["RestClient"]

_log = logging.getLogger("assay.store.rest")

#: Statuses that say the request was not carried out: always safe to send again.
_NOT_DONE = frozenset((429, 503))
#: Statuses after which the request may or may not have been carried out.
_MAYBE_DONE = frozenset((500, 502, 504))

_FIRST_WAIT = 0.1
_LONGEST_WAIT = 5.0

#: The exception each of the server's error codes stands for.
_BY_CODE: dict[str, type[AssayError]] = {kind.error_code: kind for kind in (
    InvalidParameterError, RequestTooLargeError, UnsupportedMediaTypeError, NotFoundError,
    AlreadyExistsError, AuthenticationError, PermissionDeniedError, StoreUnavailableError,
    QueryTimeoutError)}
# A refused CSRF token is a refusal like any other (the server's CsrfError is a
# PermissionDeniedError).
_BY_CODE["CSRF_FAILED"] = PermissionDeniedError
#: For a code this client does not know: the exception its status stands for. Not 404 and
#: 409: only the server's own codes say "no such resource" or "already exists".
_BY_STATUS: dict[int, type[AssayError]] = {
    400: InvalidParameterError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    413: InvalidParameterError,
    415: InvalidParameterError,
    422: InvalidParameterError,
}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """How every client of the process checks an https server: httpx's default (the CAs of
    certifi, or of ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), made once. Loading the CAs takes
    about 20 ms of CPU, which httpx spends again for each client it makes."""
    return httpx.create_ssl_context()


class RestClient:
    """HTTP calls to an Assay server at ``base_url``, with retries and error mapping.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:5000``.
        api_key: sent as ``Authorization: Bearer <key>`` when set.
        timeout: seconds to connect, and between bytes of an answer.
        retry_seconds: how long a failing request keeps being retried.
    """

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0,
                 retry_seconds: float = 30.0) -> None:
        headers = {"User-Agent": f"assay-python/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # A user and password in the URL (a server behind a proxy with basic auth) are sent
        # as the Authorization header, as httpx would, but kept out of the URL: httpx puts
        # request URLs in its log lines and errors, and this one goes into Assay's messages.
        url = httpx.URL(base_url.rstrip("/"))
        auth = None
        if url.username or url.password:
            auth = httpx.BasicAuth(url.username, url.password)
            url = url.copy_with(username=None, password=None)
        #: The server's URL, without credentials (it appears in messages).
        self.base_url = str(url).rstrip("/")
        self.retry_seconds = retry_seconds
        #: Whether the server answers, as requests find it (logged once per outage).
        self.outage = Outage(self.base_url)
        self._client = httpx.Client(base_url=self.base_url, headers=headers, auth=auth,
                                    timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                    follow_redirects=False, verify=_tls_context())

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, *, json: Any = None,
             params: Mapping[str, Any] | None = None, content: bytes | None = None,
             headers: Mapping[str, str] | None = None, idempotent: bool | None = None,
             retry_seconds: float | None = None) -> Any:
        """Send a request and return its decoded JSON body (None for an empty one).

        ``idempotent`` defaults to True for GET, PUT and DELETE. Raises the AssayError the
        server's answer stands for, or StoreUnavailableError when it cannot be reached.
        """
        response = self.send(method, path, json=json, params=params, content=content,
                             headers=headers, idempotent=idempotent,
                             retry_seconds=retry_seconds)
        if not response.content:
            return None
        if "json" not in response.headers.get("content-type", ""):
            return response.content
        return response.json()

    def send(self, method: str, path: str, *, json: Any = None,
             params: Mapping[str, Any] | None = None, content: bytes | None = None,
             headers: Mapping[str, str] | None = None, idempotent: bool | None = None,
             retry_seconds: float | None = None) -> httpx.Response:
        """Send a request with retries; return the successful response (2xx)."""
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        budget = self.retry_seconds if retry_seconds is None else retry_seconds
        deadline = time.monotonic() + budget
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = self._client.request(method, path, json=json, params=params,
                                                 content=content, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                failure: str = f"cannot connect ({type(exc).__name__})"
            except (httpx.TimeoutException, httpx.NetworkError,
                    httpx.RemoteProtocolError) as exc:
                failure = f"no answer ({type(exc).__name__})"
                if not idempotent:
                    raise StoreUnavailableError(
                        f"The Assay server at {self.base_url} did not answer {method} {path} "
                        f"({type(exc).__name__}); it may or may not have been carried out"
                    ) from None
            else:
                status = response.status_code
                if status < 400:
                    self.outage.answered()
                    return response
                if status == 504 and _is_query_timeout(response):
                    # The server stopped a query that ran too long: the same request would
                    # most likely run as long again.
                    raise QueryTimeoutError(_message_of(response, method, path))
                if status in _NOT_DONE or (idempotent and status in _MAYBE_DONE):
                    failure = f"HTTP {status}"
                    retry_after = _retry_after(response)
                else:
                    raise _error_of(response, method, path)
            now = time.monotonic()
            wait = retry_after if retry_after is not None else random.uniform(
                0, min(_LONGEST_WAIT, _FIRST_WAIT * 2 ** (attempt - 1)))
            if now + wait > deadline:
                raise StoreUnavailableError(
                    f"The Assay server at {self.base_url} is unavailable: {method} {path} "
                    f"failed {attempt} time(s) in {budget:g} s, last with {failure}")
            self.outage.retrying(failure, budget)
            _log.debug("%s %s: %s; trying again in %.2f s", method, path, failure, wait)
            time.sleep(wait)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), _LONGEST_WAIT * 6)
    except ValueError:
        return None


def _is_query_timeout(response: httpx.Response) -> bool:
    with contextlib.suppress(ValueError):
        body = response.json()
        return isinstance(body, dict) and body.get("error_code") == QueryTimeoutError.error_code
    return False


def _message_of(response: httpx.Response, method: str, path: str) -> str:
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    return f"{method} {path} answered HTTP {response.status_code}"


def _error_of(response: httpx.Response, method: str, path: str) -> AssayError:
    """The exception an error response stands for (by its ``error_code``), with the
    server's message."""
    status = response.status_code
    said = code = ""
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    if isinstance(body, dict):
        said = str(body.get("message") or "")
        code = str(body.get("error_code") or "")
    message = said or f"{method} {path} answered HTTP {status}"
    kind = _BY_CODE.get(code)
    if kind is InvalidParameterError and isinstance(body, dict) and "position" in body:
        return FilterError(message, position=body.get("position"),
                           fragment=body.get("fragment"))
    if kind is StoreUnavailableError or (kind is None and status >= 500):
        return StoreUnavailableError(f"The Assay server failed: {message}")
    if kind is None:
        kind = _BY_STATUS.get(status)
    if kind is not None:
        return kind(message)
    what = f"error code {code}" if code else "no Assay error code"
    return AssayError(f"{method} {path} answered HTTP {status} with {what}"
                      f"{f' ({said})' if said else ''}: is the tracking URI the address of an "
                      "Assay server of this version?")
