"""Who is calling, whether they may, and CSRF: one pure-ASGI middleware in front of every route.

What a request needs is what the route that will answer it declares
(:mod:`assay.server.permissions`): the middleware finds that route the way the router does
(the first route that takes the method and path, else one that takes the path, which answers
405) and reads its action; a route that declares none is refused (403). Nothing is inferred
from the path. The route that answers then checks, in :func:`verify_route_action` (a
dependency of every API route), that its own action is the one checked.

With ``--auth`` (``ServerSettings.auth``), the caller is found from

* ``Authorization: Bearer <API key>``: what the SDK sends (``ASSAY_API_KEY``), and what the
  stock mlflow client sends from ``MLFLOW_TRACKING_TOKEN``;
* ``Authorization: Basic`` with a username and, as the password, an API key of that user:
  what the stock mlflow client sends from ``MLFLOW_TRACKING_USERNAME`` and
  ``MLFLOW_TRACKING_PASSWORD`` (a key, never the user's sign-in password, so that no
  password is checked per request nor guessed past the sign-in page's limits); or
* the ``assay_session`` cookie of a sign-in at ``/login`` (the web pages).

and set as ``request.state.user`` (a :class:`~assay.entities.user.User`, None when auth is
off). A request without credentials gets 401 ``UNAUTHENTICATED`` (with ``WWW-Authenticate:
Bearer``) from the APIs, or a redirect to ``/login?next=…`` for a page; a key that is unknown,
revoked or expired is 401 too. A role that may not do what the route does gets 403
``PERMISSION_DENIED``. *Public* routes (``/health``, ``/version``, ``/static/…``, the browser
feedback endpoint ``POST /api/v1/feedback``, which checks its own signed token) need no
credentials and look at none; *sign-in* routes (``/login``, ``/logout``) need none either.
A request that no route takes with its method is answered 405 by the router without
credentials; one that no route takes at all needs a signed-in caller to learn it is 404.

CSRF protection is on with or without auth, because any page on another site can post a form
to 127.0.0.1. An unsafe request (``POST``, ``PUT``, ``PATCH``, ``DELETE``) to a route that is
not public must carry a valid token (:mod:`assay.server.csrf`) in ``X-CSRF-Token`` or a
``csrf_token`` form field when it has a form's Content-Type (urlencoded, multipart,
text/plain), when it is authenticated by the session cookie rather than a key, or when the
browser says it comes from another site (``Sec-Fetch-Site: cross-site``); otherwise it gets
403 ``CSRF_FAILED``. JSON and OTLP calls with a key, or without auth, need no token. Pages get
``request.state.csrf_token`` and the token's cookie.

When the store does not answer (a key, a sign-in or the CSRF signing key cannot be looked
up), the answer is 503 ``TEMPORARILY_UNAVAILABLE``: JSON for the APIs, the error page for a
browser.

Fast on the hot path (ingest with a key): the route's action is remembered per method and
path, the headers are scanned once, and a key verified in the last :data:`KEY_CACHE_SECONDS`
costs a SHA-256 and a dict lookup, no database round trip, and is never trusted past its own
expiry. Revoking a key, disabling a user or changing a role through this server's API takes
effect at once; through another process (the CLI, another worker), within
:data:`KEY_CACHE_SECONDS`. Session cookies are checked against the database on every request,
so signing out is immediate everywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from typing import Protocol, TypeAlias, runtime_checkable
from urllib.parse import quote

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request, cookie_parser
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay.entities.user import Role, User
from assay.errors import (
    AssayError,
    AuthenticationError,
    PermissionDeniedError,
    RequestTooLargeError,
    StoreUnavailableError,
)
from assay.server.csrf import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    CsrfSigner,
    form_field,
    is_form_content_type,
)
from assay.server.errors import ErrorPage, error_response, status_of
from assay.server.permissions import Action, declared_action, is_allowed, is_api_path
from assay.server.settings import ServerSettings
from assay.store.capabilities import Accounts, SigningKeys

__all__ = [
    "CHECKED_ACTION",
    "KEY_CACHE_SECONDS",
    "SESSION_COOKIE",
    "AccountStore",
    "ApiKeyCache",
    "AuthMiddleware",
    "CsrfError",
    "LoginThrottle",
    "RouteActions",
    "install_auth",
    "verify_route_action",
]

_log = logging.getLogger(__name__)

#: The cookie of a sign-in to the web pages.
SESSION_COOKIE = "assay_session"
#: How long a verified API key is trusted without asking the database again.
KEY_CACHE_SECONDS = 5.0
#: The "csrf" purpose of the signing key.
CSRF_KEY_PURPOSE = "csrf"
#: Where the middleware notes, in the request's state, the action it checked.
CHECKED_ACTION = "assay_action"
_UNCHECKED = object()

_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a client is told while the store does not answer (never the store's own words, which
# may name the database).
_STORE_DOWN = ("The database does not answer, so the caller cannot be checked; try again "
               "shortly")


class CsrfError(PermissionDeniedError):
    """An unsafe request from a browser without a valid CSRF token (403, like any refusal)."""

    error_code = "CSRF_FAILED"


@runtime_checkable
class AccountStore(Accounts, SigningKeys, Protocol):
    """What the auth middleware and the sign-in pages need of the store: its users, keys
    and sessions, and the key CSRF tokens are signed with."""


class ApiKeyCache:
    """API keys verified in the last ``ttl_seconds``, by the SHA-256 of the key (never the
    key itself), with the user each one authenticates. An entry never outlives the key's
    own expiry. Bounded: when full, the oldest entries go first.

    Args:
        ttl_seconds: how long a verified key is trusted.
        max_entries: how many keys are remembered at most.
        clock: monotonic seconds, for the ``ttl_seconds``.
        wall_clock: seconds since the epoch, to compare with a key's expiry.
    """

    def __init__(self, ttl_seconds: float = KEY_CACHE_SECONDS, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: dict[str, tuple[float, User]] = {}

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, token: str) -> User | None:
        """The user of a key verified recently enough, or None."""
        entry = self._entries.get(self._key(token))
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, token: str, user: User, expires_time_ms: int | None = None) -> None:
        """Remember a key just verified, with its user, for ``ttl_seconds`` or until the key
        expires (``expires_time_ms``, ms since the epoch; None for never), whichever is
        first."""
        ttl = self._ttl
        if expires_time_ms is not None:
            ttl = min(ttl, expires_time_ms / 1000 - self._wall_clock())
            if ttl <= 0:
                return
        entries = self._entries
        if len(entries) >= self._max:
            for stale in list(entries)[: max(1, self._max // 10)]:
                entries.pop(stale, None)
        entries[self._key(token)] = (self._clock() + ttl, user)

    def clear(self) -> None:
        """Forget every key (after a key is revoked or a user changed)."""
        self._entries = {}


class RouteActions:
    """The action of the route that will answer a request, found as the router finds that
    route: the first route that fully matches (path and method) answers; if none does but
    one takes the path, the router answers 405 and nothing runs (:attr:`Action.PUBLIC`, as
    far as permissions go); if none takes the path, the router answers 404 or a redirect to
    the path with(out) its trailing slash, which any signed-in caller may learn
    (:attr:`Action.IDENTIFY`). A route that declares no action gives None (refused).

    Routes of included routers are matched on their full paths, in order, as the router
    does; each answers with the action of the route as declared. Remembered per method and
    path, so that a repeated request (ingest, always the same path) costs a dict lookup;
    bounded: at ``max_entries`` it starts afresh, and long paths are not remembered.

    Args:
        router: the app's router; its routes are read at the first lookup.
        max_entries: how many (method, path) pairs are remembered at most.
    """

    _MAX_PATH_CHARS = 512

    def __init__(self, router: Router, max_entries: int = 4096) -> None:
        self._router = router
        self._max = max_entries
        self._routes: list[tuple[re.Pattern[str] | None, BaseRoute, Action | None]] | None \
            = None
        self._found: dict[tuple[str, str, str], Action | None] = {}

    def find(self, scope: Scope) -> Action | None:
        """The action the request of ``scope`` needs; None when its route declares none."""
        key = (scope["method"], scope["path"], scope.get("root_path", ""))
        try:
            return self._found[key]
        except KeyError:
            pass
        action = self._look_up(scope)
        if len(key[1]) <= self._MAX_PATH_CHARS:
            if len(self._found) >= self._max:
                self._found = {}
            self._found[key] = action
        return action

    def _look_up(self, scope: Scope) -> Action | None:
        if self._routes is None:
            # Every route is built on its full path (see assay.server.route_tables).
            self._routes = [(getattr(route, "path_regex", None), route, declared_action(route))
                            for route in self._router.routes]
        # Under a root path, routes match the path without it; leave that to them.
        path = None if scope.get("root_path") else scope["path"]
        partial = False
        for path_regex, matcher, action in self._routes:
            # A route whose pattern does not match the path is no match: skip the costlier
            # call that would say so; the route itself decides every other case.
            if path is not None and path_regex is not None and path_regex.match(path) is None:
                continue
            match, _ = matcher.matches(scope)
            if match is Match.FULL:
                return action
            partial = partial or match is Match.PARTIAL
        return Action.PUBLIC if partial else Action.IDENTIFY


async def verify_route_action(request: Request) -> None:
    """A dependency of every API route: the route that answers declares the action that
    :class:`AuthMiddleware` checked before routing (a defence against the two ever finding
    different routes); PermissionDeniedError otherwise."""
    checked = request.scope.get("state", {}).get(CHECKED_ACTION, _UNCHECKED)
    route = request.scope.get("route")
    if route is None or declared_action(route) is not checked:
        _log.error("%s %s: answered by a route that declares %s, checked as %s; refused",
                   request.method, request.url.path,
                   None if route is None else declared_action(route), checked)
        raise PermissionDeniedError(
            f"Permission denied: {request.method} {request.url.path} was not checked for "
            "the route that answers it")


class LoginThrottle:
    """Failed sign-ins per (username, client address), kept in memory (per process): after
    ``max_failures`` within ``window_seconds`` that pair must wait until the oldest of them
    is ``window_seconds`` old. A successful sign-in clears the pair."""

    def __init__(self, max_failures: int = 5, window_seconds: float = 900.0,
                 max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_failures = max_failures
        self._window = window_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._failures: dict[tuple[str, str], list[float]] = {}

    def _recent(self, key: tuple[str, str]) -> list[float]:
        horizon = self._clock() - self._window
        recent = [t for t in self._failures.get(key, ()) if t > horizon]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this pair may try again; 0 when it may now."""
        recent = self._recent((username.lower(), address))
        if len(recent) < self._max_failures:
            return 0.0
        return max(0.0, recent[-self._max_failures] + self._window - self._clock())

    def record_failure(self, username: str, address: str) -> None:
        key = (username.lower(), address)
        if key not in self._failures and len(self._failures) >= self._max_entries:
            for stale in list(self._failures)[: max(1, self._max_entries // 10)]:
                del self._failures[stale]
        self._failures.setdefault(key, []).append(self._clock())

    def reset(self, username: str, address: str) -> None:
        self._failures.pop((username.lower(), address), None)



def install_auth(app: FastAPI, settings: ServerSettings, store: AccountStore,
                 page: ErrorPage | None = None) -> None:
    """Put :class:`AuthMiddleware` in front of ``app`` (CSRF always; credentials and roles
    when ``settings.auth``), with the key cache and sign-in throttle on ``app.state``."""
    app.state.api_key_cache = ApiKeyCache()
    app.state.login_throttle = LoginThrottle()
    app.add_middleware(AuthMiddleware, store=store, auth=settings.auth, router=app.router,
                       key_cache=app.state.api_key_cache,
                       max_form_bytes=settings.max_request_bytes, page=page)


# What the middleware decided before the app runs: let it (with the ``receive`` to hand it,
# and a CSRF cookie to add to its answer, if any), answer instead, or nothing (the client
# went away).
_Admitted: TypeAlias = tuple[Receive, bytes | None]


class AuthMiddleware:
    """Authentication (when ``auth`` is on), CSRF (always) and the permission check.

    Args:
        app: the app behind.
        store: users, keys, sessions and the CSRF signing key.
        auth: whether requests need credentials.
        router: the router whose routes answer, and declare what they need.
        key_cache: verified keys; the user routes clear it when they change users or keys.
        max_form_bytes: the largest form body read to find a ``csrf_token`` field.
        page: turns a JSON error into a page for a browser (the web UI's error page).
    """

    def __init__(self, app: ASGIApp, store: AccountStore, auth: bool, router: Router,
                 key_cache: ApiKeyCache, max_form_bytes: int,
                 page: ErrorPage | None = None) -> None:
        self.app = app
        self.store = store
        self.auth = auth
        self.routes = RouteActions(router)
        self.key_cache = key_cache
        self.max_form_bytes = max_form_bytes
        self.page = page
        self._signer: CsrfSigner | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["user"] = None
        action = self.routes.find(scope)
        state[CHECKED_ACTION] = action
        if action is Action.PUBLIC:
            await self.app(scope, receive, send)
            return
        try:
            admitted = await self._admit(scope, receive, action)
        except AssayError as exc:
            # Only the store's lookups raise here: whatever it says (unreachable, closed),
            # it did not answer, and the caller cannot be checked.
            _log.warning("%s %s: the store did not answer (%s)", scope["method"],
                         scope["path"], type(exc).__name__)
            admitted = self._refusal(scope, receive, StoreUnavailableError(_STORE_DOWN))
        if admitted is None:
            return
        if isinstance(admitted, Response):
            await admitted(scope, receive, send)
            return
        receive, cookie = admitted
        if cookie is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _admit(self, scope: Scope, receive: Receive,
                     action: Action | None) -> _Admitted | Response | None:
        """Whether the request may go on (see :data:`_Admitted`); raises what the store
        raises."""
        path: str = scope["path"]
        method: str = scope["method"]
        if action is None:
            # A route that says nothing of what it needs is a defect: refuse, never guess.
            _log.error("%s %s: its route declares no action; refused", method, path)
            return self._refusal(scope, receive, PermissionDeniedError(
                f"Permission denied: the route of {method} {path} declares no permission"))
        authorization = cookie_header = content_type = csrf_header = fetch_site = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"cookie":
                cookie_header = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == CSRF_HEADER:
                csrf_header = value.decode("latin-1")
            elif name == b"sec-fetch-site":
                fetch_site = value.decode("latin-1")
        cookies = cookie_parser(cookie_header) if cookie_header else {}
        sign_in = action is Action.SIGN_IN
        api = is_api_path(path)

        # -- who is calling
        user: User | None = None
        by_session = False
        if self.auth:
            if authorization:
                user = await self._key_user(authorization)
                if user is None and not sign_in:
                    return self._unauthenticated(
                        scope, receive, api,
                        "Invalid API key: it is unknown, revoked or expired, or its user is "
                        "disabled" if _scheme(authorization) in ("bearer", "basic")
                        else "Unsupported Authorization header: expected 'Bearer <API key>' "
                             "(or Basic with an API key as the password)")
            elif cookies.get(SESSION_COOKIE):
                user = await run_in_threadpool(self.store.find_login_session,
                                               cookies[SESSION_COOKIE])
                by_session = user is not None
            if user is None and not sign_in:
                return self._unauthenticated(
                    scope, receive, api,
                    "Authentication required: send an API key as 'Authorization: Bearer "
                    "<key>' (assay keys create), or sign in at /login")
        scope["state"]["user"] = user

        # -- CSRF
        csrf_cookie = cookies.get(CSRF_COOKIE, "")
        binding = cookies.get(SESSION_COOKIE, "")
        if method in _UNSAFE_METHODS:
            form = is_form_content_type(content_type)
            if form or by_session or fetch_site == "cross-site":
                token = csrf_header
                if not token and form:
                    body = await self._read_body(scope, receive)
                    if body is None:
                        return None
                    if isinstance(body, Response):
                        return body
                    token = form_field(content_type, body, CSRF_FIELD) or ""
                    receive = _replay(body, receive)
                if not await self._csrf_ok(token, csrf_cookie, binding):
                    return self._refusal(scope, receive, CsrfError(
                        "CSRF check failed: this request must carry the page's CSRF token "
                        f"(the '{CSRF_FIELD}' form field, or the X-CSRF-Token header); reload "
                        "the page and try again"))

        # -- may they
        if user is not None and not is_allowed(user, action):
            return self._refusal(scope, receive, PermissionDeniedError(
                f"Permission denied: user {user.username!r} ({user.role.value}) may not "
                f"{_describe(action, user)} ({method} {path})"))

        if api:
            return receive, None
        # A page: give it a token, and the token's cookie when the browser lacks it.
        signer = await self._csrf_signer()
        if csrf_cookie and signer.is_valid(csrf_cookie, binding):
            scope["state"]["csrf_token"] = csrf_cookie
            return receive, None
        token = signer.new_token(binding)
        scope["state"]["csrf_token"] = token
        return receive, _csrf_cookie(token, secure=scope.get("scheme") == "https")

    async def _key_user(self, authorization: str) -> User | None:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        username = None
        if scheme.lower() == "basic":
            username, token = _basic_credentials(token)
        elif scheme.lower() != "bearer":
            return None
        if not token:
            return None
        user = await self._user_of_key(token)
        if user is not None and username is not None and user.username != username:
            return None  # a key is its own user's only
        return user

    async def _user_of_key(self, token: str) -> User | None:
        user = self.key_cache.get(token)
        if user is None:
            found = await run_in_threadpool(self.store.verify_api_key, token)
            if found is not None:
                user, expires_time_ms = found
                self.key_cache.put(token, user, expires_time_ms)
        return user

    async def _csrf_signer(self) -> CsrfSigner:
        if self._signer is None:
            key = await run_in_threadpool(self.store.signing_key, CSRF_KEY_PURPOSE)
            self._signer = CsrfSigner(key)
        return self._signer

    async def _csrf_ok(self, token: str, cookie: str, binding: str) -> bool:
        if not token or not cookie or not hmac.compare_digest(token.encode("utf-8"),
                                                               cookie.encode("utf-8")):
            return False
        signer = await self._csrf_signer()
        return signer.is_valid(token, binding)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | Response | None:
        """The whole body; None if the client went away, or the refusal if it is too
        large."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_form_bytes:
                return self._refusal(scope, receive, RequestTooLargeError(
                    f"Request body too large: a form of more than {self.max_form_bytes:,} "
                    "bytes"))
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _unauthenticated(self, scope: Scope, receive: Receive, api: bool,
                         message: str) -> Response:
        if not api and scope["method"] in ("GET", "HEAD"):
            target = scope["path"]
            if scope.get("query_string"):
                target += "?" + scope["query_string"].decode("latin-1")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return self._refusal(scope, receive, AuthenticationError(message),
                             {"WWW-Authenticate": 'Bearer realm="assay"'})

    def _refusal(self, scope: Scope, receive: Receive, exc: AssayError,
                 headers: dict[str, str] | None = None) -> Response:
        error = error_response(status_of(exc), exc.error_code, exc.message)
        if headers:
            error.headers.update(headers)
        if self.page is not None and not is_api_path(scope["path"]):
            return self.page(Request(scope, receive), error)
        return error


def _describe(action: Action, user: User) -> str:
    if action is Action.READ and user.role is Role.REVIEWER:
        return "read this; a reviewer sees only the items assigned to them"
    return {Action.IDENTIFY: "use this server", Action.READ: "read this",
            Action.WRITE: "change anything",
            Action.MANAGE_USERS: "manage users and API keys (admins only)"}.get(
                action, "do this")


def _csrf_cookie(token: str, secure: bool) -> bytes:
    # HttpOnly: pages hand scripts the token themselves. SameSite=Lax: sent when the user
    # follows a link here, so an open page keeps its token.
    cookie = f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax"
    return (cookie + "; Secure" if secure else cookie).encode("latin-1")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then listens on."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _scheme(authorization: str) -> str:
    """The scheme of an Authorization header, lowercase."""
    return authorization.partition(" ")[0].lower()


def _basic_credentials(encoded: str) -> tuple[str | None, str]:
    """The username and password of HTTP basic credentials; ``(None, "")`` when they do not
    read as ``base64(username:password)``."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None, ""
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        return None, ""
    return username, password
