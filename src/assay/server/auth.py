"""Who is calling, whether they may, and CSRF: one pure-ASGI middleware in front of every route.

With ``--auth`` (``ServerSettings.auth``), the caller is found from

* ``Authorization: Bearer <API key>``: what the SDK sends (``ASSAY_API_KEY``), and what the
  stock mlflow client sends from ``MLFLOW_TRACKING_TOKEN``; or
* the ``assay_session`` cookie of a sign-in at ``/login`` (the web pages).

and set as ``request.state.user`` (a :class:`~assay.entities.user.User`, None when auth is
off). A request without credentials gets 401 ``UNAUTHENTICATED`` (with ``WWW-Authenticate:
Bearer``) from the APIs, or a redirect to ``/login?next=…`` for a page; a key that is unknown,
revoked or expired is 401 too. A role that may not do what the request does
(:mod:`assay.server.permissions`) gets 403 ``PERMISSION_DENIED``. ``/health``, ``/version``,
``/static/…``, ``/login``, ``/logout`` and the browser feedback endpoint (``POST``/``OPTIONS
/api/v1/feedback``, which checks its own signed token) need no credentials.

CSRF protection is on with or without auth, because any page on another site can post a form
to 127.0.0.1. An unsafe request (``POST``, ``PUT``, ``PATCH``, ``DELETE``) must carry a valid
token (:mod:`assay.server.csrf`) in ``X-CSRF-Token`` or a ``csrf_token`` form field when it
has a form's Content-Type (urlencoded, multipart, text/plain), when it is authenticated by
the session cookie rather than a key, or when the browser says it comes from another site
(``Sec-Fetch-Site: cross-site``); otherwise it gets 403 ``CSRF_FAILED``. JSON and OTLP calls
with a key, or without auth, need no token. Pages get ``request.state.csrf_token`` and the
token's cookie.

Fast on the hot path (ingest with a key): the headers are scanned once, and a key verified in
the last :data:`KEY_CACHE_SECONDS` costs a SHA-256 and a dict lookup, no database round trip.
Revoking a key, disabling a user or changing a role through this server's API takes effect at
once; through another process (the CLI, another worker), within :data:`KEY_CACHE_SECONDS`.
Session cookies are checked against the database on every request, so signing out is
immediate everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request, cookie_parser
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay.entities.user import ApiKey, NewApiKey, Role, User
from assay.errors import (
    AssayError,
    AuthenticationError,
    InvalidParameterError,
    PermissionDeniedError,
    RequestTooLargeError,
)
from assay.server.csrf import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    CsrfSigner,
    form_field,
    is_form_content_type,
)
from assay.server.errors import error_response, status_of
from assay.server.permissions import Action, is_allowed, is_api_path, required_action
from assay.server.settings import ServerSettings

__all__ = [
    "KEY_CACHE_SECONDS",
    "SESSION_COOKIE",
    "AccountStore",
    "ApiKeyCache",
    "AuthMiddleware",
    "CsrfError",
    "LoginThrottle",
    "install_auth",
]

#: The cookie of a sign-in to the web pages.
SESSION_COOKIE = "assay_session"
#: How long a verified API key is trusted without asking the database again.
KEY_CACHE_SECONDS = 5.0
#: The "csrf" purpose of the signing key.
CSRF_KEY_PURPOSE = "csrf"

_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths anyone may call, credentials or not.
_PUBLIC_PATHS = frozenset({"/health", "/version", "/login", "/logout"})
_PUBLIC_PREFIXES = ("/static/",)
# The browser feedback endpoint: called from the pages of the app being traced, on another
# origin, authenticated by the signed token in its body; neither a key nor CSRF applies.
_FEEDBACK_PATH = "/api/v1/feedback"
_FEEDBACK_METHODS = frozenset({"POST", "OPTIONS"})

ErrorPage = Callable[[Request, Response], Response]


class CsrfError(PermissionDeniedError):
    """An unsafe request from a browser without a valid CSRF token (403, like any refusal)."""

    error_code = "CSRF_FAILED"


@runtime_checkable
class AccountStore(Protocol):
    """What the server needs of its store for users, keys, sessions and signing keys (the
    SQL store has it all; see its methods for what each does)."""

    def create_user(self, username: str, role: Role | str,
                    password: str | None = None) -> User: ...

    def get_user(self, username: str) -> User: ...

    def list_users(self) -> list[User]: ...

    def set_user_role(self, username: str, role: Role | str) -> User: ...

    def disable_user(self, username: str) -> User: ...

    def enable_user(self, username: str) -> User: ...

    def authenticate_password(self, username: str, password: str) -> User | None: ...

    def create_api_key(self, username: str, name: str,
                       expires_in: timedelta | None = None) -> NewApiKey: ...

    def list_api_keys(self, username: str | None = None) -> list[ApiKey]: ...

    def revoke_api_key(self, key_id: str) -> None: ...

    def authenticate_api_key(self, token: str) -> User | None: ...

    def create_login_session(self, username: str) -> str: ...

    def find_login_session(self, token: str) -> User | None: ...

    def delete_login_session(self, token: str) -> None: ...

    def signing_key(self, purpose: str) -> bytes: ...


class ApiKeyCache:
    """API keys verified in the last ``ttl_seconds``, by the SHA-256 of the key (never the
    key itself), with the user each one authenticates. Bounded: when full, the oldest
    entries go first."""

    def __init__(self, ttl_seconds: float = KEY_CACHE_SECONDS, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
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

    def put(self, token: str, user: User) -> None:
        entries = self._entries
        if len(entries) >= self._max:
            for stale in list(entries)[: max(1, self._max // 10)]:
                entries.pop(stale, None)
        entries[self._key(token)] = (self._clock() + self._ttl, user)

    def clear(self) -> None:
        """Forget every key (after a key is revoked or a user changed)."""
        self._entries = {}


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


def install_auth(app: FastAPI, settings: ServerSettings, store: object,
                 page: ErrorPage | None = None) -> None:
    """Put :class:`AuthMiddleware` in front of ``app`` (CSRF always; credentials and roles
    when ``settings.auth``), with the key cache and sign-in throttle on ``app.state``.

    Raises:
        InvalidParameterError: the store keeps no users (only a SQL store does).
    """
    if not isinstance(store, AccountStore):
        raise InvalidParameterError(
            f"The server needs a SQL store for users, sign-ins and CSRF tokens, not "
            f"{type(store).__name__}")
    app.state.api_key_cache = ApiKeyCache()
    app.state.login_throttle = LoginThrottle()
    app.add_middleware(AuthMiddleware, store=store, auth=settings.auth,
                       key_cache=app.state.api_key_cache,
                       max_form_bytes=settings.max_request_bytes, page=page)


class AuthMiddleware:
    """Authentication (when ``auth`` is on), CSRF (always) and the permission check.

    Args:
        app: the app behind.
        store: users, keys, sessions and the CSRF signing key.
        auth: whether requests need credentials.
        key_cache: verified keys; the user routes clear it when they change users or keys.
        max_form_bytes: the largest form body read to find a ``csrf_token`` field.
        page: turns a JSON error into a page for a browser (the web UI's error page).
    """

    def __init__(self, app: ASGIApp, store: AccountStore, auth: bool, key_cache: ApiKeyCache,
                 max_form_bytes: int, page: ErrorPage | None = None) -> None:
        self.app = app
        self.store = store
        self.auth = auth
        self.key_cache = key_cache
        self.max_form_bytes = max_form_bytes
        self.page = page
        self._signer: CsrfSigner | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        state = scope.setdefault("state", {})
        state["user"] = None
        if path.startswith(_PUBLIC_PREFIXES) or path in ("/health", "/version") \
                or (path == _FEEDBACK_PATH and method in _FEEDBACK_METHODS):
            await self.app(scope, receive, send)
            return

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
        public = path in _PUBLIC_PATHS
        api = is_api_path(path)

        # -- who is calling
        user: User | None = None
        by_session = False
        if self.auth:
            if authorization:
                user = await self._key_user(authorization)
                if user is None and not public:
                    await self._unauthenticated(
                        scope, receive, send, api,
                        "Invalid API key: it is unknown, revoked or expired, or its user is "
                        "disabled" if authorization[:7].lower() == "bearer "
                        else "Unsupported Authorization header: expected 'Bearer <API key>'")
                    return
            elif cookies.get(SESSION_COOKIE):
                user = await run_in_threadpool(self.store.find_login_session,
                                               cookies[SESSION_COOKIE])
                by_session = user is not None
            if user is None and not public:
                await self._unauthenticated(
                    scope, receive, send, api,
                    "Authentication required: send an API key as 'Authorization: Bearer "
                    "<key>' (assay keys create), or sign in at /login")
                return
        state["user"] = user

        # -- CSRF
        csrf_cookie = cookies.get(CSRF_COOKIE, "")
        binding = cookies.get(SESSION_COOKIE, "")
        if method in _UNSAFE_METHODS:
            form = is_form_content_type(content_type)
            if form or by_session or fetch_site == "cross-site":
                token = csrf_header
                if not token and form:
                    body = await self._read_body(scope, receive, send)
                    if body is None:
                        return
                    token = form_field(content_type, body, CSRF_FIELD) or ""
                    receive = _replay(body, receive)
                if not await self._csrf_ok(token, csrf_cookie, binding):
                    await self._refuse(scope, receive, send, CsrfError(
                        "CSRF check failed: this request must carry the page's CSRF token "
                        f"(the '{CSRF_FIELD}' form field, or the X-CSRF-Token header); reload "
                        "the page and try again"))
                    return

        # -- may they
        if user is not None and not public:
            action = required_action(method, path)
            if not is_allowed(user, action):
                await self._refuse(scope, receive, send, PermissionDeniedError(
                    f"Permission denied: user {user.username!r} ({user.role.value}) may not "
                    f"{_describe(action, user)} ({method} {path})"))
                return

        if api:
            await self.app(scope, receive, send)
            return
        # A page: give it a token, and the token's cookie when the browser lacks it.
        signer = await self._csrf_signer()
        if csrf_cookie and signer.is_valid(csrf_cookie, binding):
            state["csrf_token"] = csrf_cookie
            await self.app(scope, receive, send)
            return
        token = signer.new_token(binding)
        state["csrf_token"] = token
        cookie = _csrf_cookie(token, secure=scope.get("scheme") == "https")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _key_user(self, authorization: str) -> User | None:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        user = self.key_cache.get(token)
        if user is None:
            user = await run_in_threadpool(self.store.authenticate_api_key, token)
            if user is not None:
                self.key_cache.put(token, user)
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

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body (None if the client went away, or it was too large: answered)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_form_bytes:
                await self._refuse(scope, receive, send, RequestTooLargeError(
                    f"Request body too large: a form of more than {self.max_form_bytes:,} "
                    "bytes"))
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _unauthenticated(self, scope: Scope, receive: Receive, send: Send, api: bool,
                               message: str) -> None:
        if not api and scope["method"] in ("GET", "HEAD"):
            target = scope["path"]
            if scope.get("query_string"):
                target += "?" + scope["query_string"].decode("latin-1")
            response: Response = RedirectResponse(f"/login?next={quote(target, safe='')}",
                                                  status_code=303)
            await response(scope, receive, send)
            return
        await self._refuse(scope, receive, send, AuthenticationError(message),
                           {"WWW-Authenticate": 'Bearer realm="assay"'})

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: AssayError,
                      headers: dict[str, str] | None = None) -> None:
        response: Response = error_response(status_of(exc), exc.error_code, exc.message)
        if headers:
            response.headers.update(headers)
        if self.page is not None and not is_api_path(scope["path"]):
            response = self.page(Request(scope, receive), response)
        await response(scope, receive, send)


def _describe(action: Action, user: User) -> str:
    if action is Action.READ and user.role is Role.REVIEWER:
        return "read this; a reviewer sees only the items assigned to them"
    return {Action.IDENTIFY: "use this server", Action.READ: "read this",
            Action.WRITE: "change anything",
            Action.MANAGE_USERS: "manage users and API keys (admins only)"}[action]


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
