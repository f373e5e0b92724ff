"""Who may do what on a server started with ``--auth``: the one table of roles and actions,
and how each route declares the action it needs.

==========  ========  ====  ======  =====  ============
role        identify  read  review  write  manage_users
==========  ========  ====  ======  =====  ============
admin       yes       yes   yes     yes    yes
member      yes       yes   yes     yes    no
viewer      yes       yes   no      no     no
reviewer    yes       no    yes     no     no
==========  ========  ====  ======  =====  ============

*identify* is asking who one is; *read* is looking at traces, spans, assessments, sessions,
experiments and analytics (the JSON API and the web pages); *review* is working on labeling
sessions: taking, reading, answering and skipping their items; *write* is changing data
(ingesting traces among it); *manage_users* is users and API keys. Two more actions are
anyone's, signed in or not: *public* (``/health``, ``/version``, ``/static``, and the browser
feedback endpoint, which checks its own signed token; no credentials or CSRF token are looked
at) and *sign_in* (``/login``, ``/logout``: credentials are looked at when sent, and a form
must carry its CSRF token).

A reviewer reads nothing in general: a route declared *review* lets them in, and then checks
the item itself: a reviewer sees only the sessions assigned to them, reads only those
sessions' items, and answers only as themself (``server/api/labeling.py``).

Every route declares its action where it is defined, never inferred from its path or method:
``@router.get("/things", openapi_extra=needs(Action.READ))`` (the OpenAPI document shows it
as ``x-assay-action``), or :func:`declare` for a route that takes no ``openapi_extra`` (a
mount). The auth middleware asks :func:`declared_action` of the route that will answer the
request, and refuses a route that declares nothing.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from starlette.routing import BaseRoute

from assay.entities.user import Role, User

__all__ = [
    "ACTION_EXTENSION",
    "API_PREFIXES",
    "ROLE_ACTIONS",
    "Action",
    "declare",
    "declared_action",
    "is_allowed",
    "is_api_path",
    "needs",
]


class Action(enum.Enum):
    """What a request does, as far as permissions go (the module's table)."""

    PUBLIC = "public"
    SIGN_IN = "sign_in"
    IDENTIFY = "identify"
    READ = "read"
    REVIEW = "review"
    WRITE = "write"
    MANAGE_USERS = "manage_users"


_ANYONE = frozenset({Action.PUBLIC, Action.SIGN_IN, Action.IDENTIFY})

#: The permission model: what each role may do.
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.MEMBER: _ANYONE | {Action.READ, Action.REVIEW, Action.WRITE},
    Role.VIEWER: _ANYONE | {Action.READ},
    Role.REVIEWER: _ANYONE | {Action.REVIEW},
}

#: The OpenAPI extension in which a route declares its action: ``"x-assay-action": "read"``.
ACTION_EXTENSION = "x-assay-action"
# Where :func:`declare` puts the action of a route without ``openapi_extra``.
_ROUTE_ATTRIBUTE = "assay_action"

#: Path prefixes of the machine-facing APIs (Assay's JSON API ``/api/v1``, MLflow's REST API
#: ``/api/2.0`` and ``/api/3.0`` and its ``/ajax-api`` mirror, OTLP ``/v1/traces``);
#: everything else is a web page. This decides how errors are answered (JSON or a page),
#: never what a request may do.
API_PREFIXES = ("/api/", "/v1/", "/ajax-api/")

RouteT = TypeVar("RouteT", bound=BaseRoute)


def needs(action: Action) -> dict[str, Any]:
    """A route's declaration of the action it needs, to pass as its ``openapi_extra``."""
    return {ACTION_EXTENSION: action.value}


def declare(route: RouteT, action: Action) -> RouteT:
    """Declare the action of a route that takes no ``openapi_extra`` (a mount, or the API
    documentation's own routes); the route itself, for chaining."""
    setattr(route, _ROUTE_ATTRIBUTE, action)
    return route


def declared_action(route: BaseRoute) -> Action | None:
    """The action ``route`` declares (:func:`needs` or :func:`declare`); None when it
    declares none, or one that is not an :class:`Action`."""
    action = getattr(route, _ROUTE_ATTRIBUTE, None)
    if isinstance(action, Action):
        return action
    extra = getattr(route, "openapi_extra", None)
    value = extra.get(ACTION_EXTENSION) if isinstance(extra, dict) else None
    try:
        return Action(value) if isinstance(value, str) else None
    except ValueError:
        return None


def is_api_path(path: str) -> bool:
    """Whether ``path`` belongs to an API (answered with JSON errors) rather than a page."""
    return path.startswith(API_PREFIXES) or path.endswith(".json")


def is_allowed(user: User, action: Action) -> bool:
    """Whether ``user`` may do ``action`` (a disabled user may do nothing)."""
    return not user.disabled and action in ROLE_ACTIONS[user.role]

