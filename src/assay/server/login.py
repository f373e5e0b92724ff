"""Signing in to the web pages: ``GET /login`` (the form), ``POST /login``, ``POST /logout``.

A successful sign-in sets the ``assay_session`` cookie (HttpOnly, SameSite=Lax, Secure over
https) and redirects to ``next``, a path on this server. Failed attempts are throttled per
username and client address (:class:`~assay.server.auth.LoginThrottle`). The form posts the
page's CSRF token like every other form, so a page on another site cannot sign a browser in
to an account of its choosing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.entities.user import Role, User
from assay.server.auth import SESSION_COOKIE, AccountStore, LoginThrottle
from assay.server.csrf import form_field
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable
from assay.server.settings import ServerSettings
from assay.server.ui.templating import environment, request_context
from assay.store.sql.users import LOGIN_SESSION_LIFETIME, MAX_PASSWORD_CHARS

__all__ = ["router", "safe_next"]

router = RouteTable(include_in_schema=False)

# Longer than any real username or password: refused before any hashing.
_MAX_USERNAME_CHARS = 128
_SESSION_SECONDS = int(LOGIN_SESSION_LIFETIME.total_seconds())


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this server to go to after signing in; ``/`` otherwise
    (another site, a scheme-relative ``//host``, the sign-in pages themselves)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) \
            or any(ord(c) < 32 or c == "\\" for c in target) or len(target) > 2000:
        return "/"
    path = target.split("?", 1)[0]
    return "/" if path in ("/login", "/logout") else target


def _landing(target: str, user: User) -> str:
    """Where a sign-in goes: ``target``, except that a reviewer asked for no page in
    particular goes to the review app (they may open nothing else)."""
    return "/review" if target == "/" and user.role is Role.REVIEWER else target


def _render(request: Request, *, next_path: str, username: str = "", error: str = "",
            status: int = 200) -> HTMLResponse:
    settings: ServerSettings = request.app.state.settings
    context: dict[str, Any] = {**request_context(request), "auth_enabled": settings.auth,
                               "next": next_path, "username": username, "error": error}
    html = environment().get_template("login.html").render(context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


@router.get("/login", response_class=HTMLResponse, openapi_extra=needs(Action.SIGN_IN))
def login_page(request: Request,
               next_path: Annotated[str | None, Query(alias="next")] = None) -> Response:
    """The sign-in form (or, when already signed in, on to ``next``)."""
    target = safe_next(next_path)
    user = getattr(request.state, "user", None)
    if isinstance(user, User):
        return RedirectResponse(_landing(target, user), status_code=303)
    return _render(request, next_path=target)


@router.post("/login", response_class=HTMLResponse, openapi_extra=needs(Action.SIGN_IN))
async def login(request: Request) -> Response:
    """Check a username and password; on success sign the browser in and redirect."""
    content_type = request.headers.get("content-type", "")
    body = await request.body()

    def field(name: str) -> str:
        return form_field(content_type, body, name) or ""

    username, password, target = field("username").strip(), field("password"), \
        safe_next(field("next"))
    settings: ServerSettings = request.app.state.settings
    if not settings.auth:
        return _render(request, next_path=target, status=400)
    if not username or not password:
        return _render(request, next_path=target, username=username[:_MAX_USERNAME_CHARS],
                       error="Enter your username and password.", status=400)
    throttle: LoginThrottle = request.app.state.login_throttle
    wait = throttle.retry_after(username, _client(request))
    if wait > 0:
        minutes = max(1, round(wait / 60))
        response = _render(
            request, next_path=target, username=username[:_MAX_USERNAME_CHARS],
            error=f"Too many failed sign-ins. Try again in {minutes} minute"
                  f"{'s' if minutes > 1 else ''}.", status=429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    accounts: AccountStore = request.app.state.store
    user = None
    if len(username) <= _MAX_USERNAME_CHARS and len(password) <= MAX_PASSWORD_CHARS:
        user = await run_in_threadpool(accounts.authenticate_password, username, password)
    if user is None:
        throttle.record_failure(username, _client(request))
        return _render(request, next_path=target, username=username[:_MAX_USERNAME_CHARS],
                       error="Wrong username or password.", status=401)
    throttle.reset(username, _client(request))
    token = await run_in_threadpool(accounts.create_login_session, user.username)
    redirect = RedirectResponse(_landing(target, user), status_code=303)
    redirect.set_cookie(SESSION_COOKIE, token, max_age=_SESSION_SECONDS, path="/",
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return redirect


@router.post("/logout", openapi_extra=needs(Action.SIGN_IN))
async def logout(request: Request) -> Response:
    """Sign the browser out (its session is deleted, not just forgotten) and go to the
    sign-in form."""
    token = request.cookies.get(SESSION_COOKIE)
    settings: ServerSettings = request.app.state.settings
    if token:
        accounts: AccountStore = request.app.state.store
        await run_in_threadpool(accounts.delete_login_session, token)
    response = RedirectResponse("/login" if settings.auth else "/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")
    return response
