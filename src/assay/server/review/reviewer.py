"""Who is reviewing, and which sessions and items they may open.

With ``--auth`` the reviewer is the signed-in user (their username is the source id of their
answers). Without auth (a server on loopback) the review app asks once for a name or e-mail
and keeps it in the ``assay_reviewer`` cookie; anyone who can reach such a server can act as
anyone anyway, so the cookie only saves typing.

A session is open to a reviewer when it is assigned to them or to no one. A signed-in user
of the *reviewer* role is told a session that is not theirs does not exist (404), as the
labeling API tells them; anyone else (who may read every trace anyway) is told they are not
assigned (403).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import Response

from assay.entities.labeling import LabelingSessionInfo, check_reviewer
from assay.entities.user import Role, User
from assay.errors import InvalidParameterError, NotFoundError, PermissionDeniedError
from assay.server.permissions import Action, is_allowed
from assay.store.base import Store

__all__ = [
    "REVIEWER_COOKIE",
    "current_reviewer",
    "forget_reviewer",
    "may_read_traces",
    "remember_reviewer",
    "signed_in_user",
    "visible_session",
]

#: The cookie that holds the reviewer's name when auth is off.
REVIEWER_COOKIE = "assay_reviewer"
_COOKIE_SECONDS = 365 * 24 * 3600


def signed_in_user(request: Request) -> User | None:
    """The signed-in user (None when auth is off)."""
    user: User | None = getattr(request.state, "user", None)
    return user


def current_reviewer(request: Request) -> str | None:
    """Who reviews: the signed-in user, else the name in the cookie (None when there is
    none, or it is not a valid reviewer name)."""
    user = signed_in_user(request)
    if user is not None:
        return user.username
    raw = request.cookies.get(REVIEWER_COOKIE)
    if not raw:
        return None
    try:
        return check_reviewer(unquote(raw))
    except InvalidParameterError:
        return None


def remember_reviewer(response: Response, name: str, secure: bool) -> None:
    """Keep ``name`` (already checked) in the reviewer cookie."""
    response.set_cookie(REVIEWER_COOKIE, quote(name, safe="@._-+"), max_age=_COOKIE_SECONDS,
                        path="/", httponly=True, samesite="lax", secure=secure)


def forget_reviewer(response: Response, secure: bool) -> None:
    """Drop the reviewer cookie."""
    response.delete_cookie(REVIEWER_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=secure)


def may_read_traces(request: Request) -> bool:
    """Whether the caller may open the full trace page (auth off, or a role that reads)."""
    user = signed_in_user(request)
    return user is None or is_allowed(user, Action.READ)


def visible_session(store: Store, request: Request, run_id: str,
                    reviewer: str) -> LabelingSessionInfo:
    """The session ``run_id`` if ``reviewer`` may work on it; NotFoundError or
    PermissionDeniedError otherwise (see the module docstring)."""
    info = store.get_labeling_session(run_id)
    if info.may_review(reviewer):
        return info
    user = signed_in_user(request)
    if user is not None and user.role is Role.REVIEWER:
        # Said as "not found": a reviewer learns nothing of sessions that are not theirs.
        raise NotFoundError(f"Labeling session with run ID {run_id!r} not found")
    raise PermissionDeniedError(
        f"{reviewer!r} is not assigned to labeling session {info.name!r}; ask its owner to "
        "add you")
