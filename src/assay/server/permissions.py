"""Who may do what on a server started with ``--auth``: the one table of roles and actions,
and which action each request is.

==========  ====  =====  ===========  ======
role        read  write  manage users identify
==========  ====  =====  ===========  ======
admin       yes   yes    yes          yes
member      yes   yes    no           yes
viewer      yes   no     no           yes
reviewer    no    no     no           yes
==========  ====  =====  ===========  ======

*read* is looking at traces, spans, assessments, sessions, experiments and analytics (the
JSON API, MLflow's REST API and the web pages); *write* is changing them (ingesting traces
among it); *manage users* is users and API keys; *identify* is asking who one is.

A reviewer reads nothing in general: only the items a labeling session assigns to them
(:func:`can_read_trace`, :func:`can_assess_trace`), which the review app checks item by item.

Which action a request is follows from its method and path (:func:`required_action`):
``GET``, ``HEAD`` and ``OPTIONS`` read; other methods write, except the searches and
analytics that take their query as a ``POST`` body.
"""

from __future__ import annotations

import enum
from collections.abc import Collection

from assay.entities.user import Role, User

__all__ = [
    "API_PREFIXES",
    "ROLE_ACTIONS",
    "Action",
    "can_assess_trace",
    "can_read_trace",
    "can_write_trace",
    "is_allowed",
    "is_api_path",
    "required_action",
]


class Action(enum.Enum):
    """What a request does, as far as permissions go."""

    IDENTIFY = "identify"
    READ = "read"
    WRITE = "write"
    MANAGE_USERS = "manage users"


#: The permission model: what each role may do.
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.MEMBER: frozenset({Action.IDENTIFY, Action.READ, Action.WRITE}),
    Role.VIEWER: frozenset({Action.IDENTIFY, Action.READ}),
    Role.REVIEWER: frozenset({Action.IDENTIFY}),
}

#: Path prefixes of the machine-facing APIs (Assay's JSON API ``/api/v1``, MLflow's REST API
#: ``/api/2.0`` and ``/api/3.0``, OTLP ``/v1/traces``); everything else is a web page.
API_PREFIXES = ("/api/", "/v1/")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reads that take their query as a POST body (MLflow's protocol does the same).
_QUERY_SUFFIXES = ("/search", "/feedback-summary", "/get-by-name")
_QUERY_PREFIXES = ("/api/v1/analytics/",)
_USER_ADMIN_PREFIXES = ("/api/v1/users", "/api/v1/keys")
_WHO_AM_I = "/api/v1/users/me"


def is_api_path(path: str) -> bool:
    """Whether ``path`` belongs to an API (answered with JSON errors) rather than a page."""
    return path.startswith(API_PREFIXES) or path.endswith(".json")


def required_action(method: str, path: str) -> Action:
    """The action a request with this method and path is (``method`` in upper case)."""
    if path == _WHO_AM_I:
        return Action.IDENTIFY
    if path.startswith(_USER_ADMIN_PREFIXES):
        return Action.MANAGE_USERS
    if method in _SAFE_METHODS:
        return Action.READ
    if method == "POST" and (path.endswith(_QUERY_SUFFIXES)
                             or path.startswith(_QUERY_PREFIXES)):
        return Action.READ
    return Action.WRITE


def is_allowed(user: User, action: Action) -> bool:
    """Whether ``user`` may do ``action`` (a disabled user may do nothing)."""
    return not user.disabled and action in ROLE_ACTIONS[user.role]


def can_read_trace(user: User, trace_id: str,
                   assigned_trace_ids: Collection[str] = ()) -> bool:
    """Whether ``user`` may see this trace, its spans and its assessments.

    Admins, members and viewers see every trace. A reviewer sees only the traces assigned to
    them, which labeling sessions decide: the caller passes the ids assigned to this reviewer
    (none at all, and a reviewer sees nothing).
    """
    if is_allowed(user, Action.READ):
        return True
    return user.role is Role.REVIEWER and not user.disabled and trace_id in assigned_trace_ids


def can_assess_trace(user: User, trace_id: str,
                     assigned_trace_ids: Collection[str] = ()) -> bool:
    """Whether ``user`` may add assessments (feedback, expectations, labels) to this trace:
    members and admins on any trace, a reviewer only on the traces assigned to them (as in
    :func:`can_read_trace`)."""
    if is_allowed(user, Action.WRITE):
        return True
    return user.role is Role.REVIEWER and not user.disabled and trace_id in assigned_trace_ids


def can_write_trace(user: User) -> bool:
    """Whether ``user`` may log, tag or delete traces (members and admins)."""
    return is_allowed(user, Action.WRITE)
