"""CORS for the browser-facing routes only (``/api/v1/feedback``): pure-ASGI middleware.

An app's pages call the feedback endpoint from their own origin, so the server must say
which origins may (``--cors-origin``, repeatable; none by default: same-origin only). For the
paths it covers, and only for requests that carry an ``Origin``:

* a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) from an allowed origin,
  for an allowed method and headers, is answered 204 with the ``Access-Control-Allow-*``
  headers; from another origin 403, for another method or header 400 (JSON errors);
* a request from an allowed origin gets ``Access-Control-Allow-Origin`` (the origin itself,
  or ``*`` when the server allows any) on every answer, errors included, so the page can
  read why it failed; a request from an origin that is not allowed is refused with 403
  before the route runs;
* a same-origin request (the ``Origin``'s host is the request's ``Host``) is let through.

Credentials are never allowed (``Access-Control-Allow-Credentials`` is never sent): the
feedback token travels in the body, not in a cookie, so ``*`` cannot leak a session.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay.server.errors import error_response

__all__ = ["ANY_ORIGIN", "CorsMiddleware"]

#: The origin setting that allows every origin.
ANY_ORIGIN = "*"

# Headers a page may send without asking (CORS-safelisted), plus JSON's Content-Type.
_ALLOWED_REQUEST_HEADERS = frozenset({"content-type", "accept", "accept-language",
                                      "content-language"})
_MAX_AGE_SECONDS = 600


class CorsMiddleware:
    """CORS on ``paths``, for ``origins`` (``scheme://host[:port]``, or ``*``).

    Args:
        app: the app to wrap.
        paths: the exact paths this applies to; other paths are passed through untouched.
        origins: the origins allowed besides the server's own.
        methods: the methods a preflight may ask for.
    """

    def __init__(self, app: ASGIApp, paths: Collection[str], origins: Sequence[str],
                 methods: Sequence[str] = ("POST",)) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.any_origin = ANY_ORIGIN in origins
        self.origins = frozenset(o for o in origins if o != ANY_ORIGIN)
        self.methods = tuple(m.upper() for m in methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)  # not a browser's cross-origin call
            return
        same_origin = _is_same_origin(origin, headers.get("host"))
        allowed = same_origin or self.any_origin or origin in self.origins
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, allowed, headers, scope["path"])(scope, receive,
                                                                           send)
            return
        if not allowed:
            await _refused(origin, scope["path"])(scope, receive, send)
            return
        if same_origin:
            await self.app(scope, receive, send)
            return
        allow_origin = ANY_ORIGIN if self.any_origin else origin

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["Access-Control-Allow-Origin"] = allow_origin
                # A page may read when to try again after a 429.
                response_headers["Access-Control-Expose-Headers"] = "Retry-After"
                response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _preflight(self, origin: str, allowed: bool, headers: Headers, path: str) -> Response:
        if not allowed:
            return _refused(origin, path)
        method = headers["access-control-request-method"].strip().upper()
        if method not in self.methods:
            return error_response(
                400, "INVALID_PARAMETER_VALUE",
                f"CORS preflight asks for method {method!r}; allowed: "
                f"{', '.join(self.methods)}")
        asked = [h.strip().lower() for h in
                 headers.get("access-control-request-headers", "").split(",") if h.strip()]
        refused = [h for h in asked if h not in _ALLOWED_REQUEST_HEADERS]
        if refused:
            return error_response(
                400, "INVALID_PARAMETER_VALUE",
                f"CORS preflight asks for header(s) {', '.join(refused)}; allowed: "
                f"{', '.join(sorted(_ALLOWED_REQUEST_HEADERS))}")
        response = Response(status_code=204, headers={
            "Access-Control-Allow-Origin": ANY_ORIGIN if self.any_origin else origin,
            "Access-Control-Allow-Methods": ", ".join(self.methods),
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": str(_MAX_AGE_SECONDS),
        })
        response.headers.add_vary_header("Origin")
        return response


def _refused(origin: str, where: str) -> Response:
    # The origin is what the browser sent, shown so that the app's developer knows what to
    # pass to --cors-origin; it is cut short in case it is not an origin at all.
    shown = origin if len(origin) <= 200 else origin[:200] + "…"
    response = error_response(
        403, "PERMISSION_DENIED",
        f"Origin {shown!r} may not call {where}: start the server with --cors-origin for it")
    response.headers.add_vary_header("Origin")
    return response


def _is_same_origin(origin: str, host: str | None) -> bool:
    """Whether ``origin`` is the server itself as the browser reached it (its Host)."""
    if host is None:
        return False
    try:
        return urlsplit(origin).netloc.lower() == host.strip().lower()
    except ValueError:
        return False
