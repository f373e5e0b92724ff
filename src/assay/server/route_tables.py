"""Route tables: the server's routes declared at import, built once each, flat, when the first
app needs them.

FastAPI builds a route (its dependencies, its parameter and response models) when it is
declared on an ``APIRouter``, and again for each router it is included into. Assay's API
routes are included two routers deep and MLflow's under four prefixes, so the same routes were
built two to four times, and building them was most of what ``assay server`` did before it
served (about 0.7 s of 1.7). A :class:`RouteTable` is an ``APIRouter`` that records what is
declared on it and builds nothing; :func:`flatten` builds every route once, on its full path,
with the tags, dependencies and responses of each router it was included through, in the
order FastAPI would have merged them.

A module declares its routes as it would on an ``APIRouter``::

    router = RouteTable(prefix="/experiments", tags=["experiments"])

    @router.get("/{experiment_id}", ...)
    def get_experiment(...): ...

and the app factory includes the tables into one and flattens it (:mod:`assay.server.app`).

The router tries the app's routes in order until one matches: a request for a page or for
``/health`` had every API route's pattern tried first (about 0.2 ms of a 1 ms request). Each
route built here is a :class:`LiteralPrefixRoute`, which turns a path away on the literal part
of its own path, before its first parameter, and tries its pattern only on a path that starts
with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, params
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

__all__ = ["LiteralPrefixRoute", "RouteTable", "flatten"]


class LiteralPrefixRoute(APIRoute):
    """An ``APIRoute`` that answers "no match" at once for a path that does not start with
    the literal part of its own path (up to its first parameter), as its pattern would.

    Only plain HTTP requests served at the app's root take the shortcut; anything else (a
    ``root_path``, a websocket) is matched by the pattern alone.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        self.literal_prefix = self.path.split("{", 1)[0]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and not scope.get("root_path") \
                and not scope["path"].startswith(self.literal_prefix):
            return Match.NONE, {}
        return super().matches(scope)


@dataclass(frozen=True)
class _Declared:
    """A route as declared: what ``APIRouter.add_api_route`` was called with."""

    path: str
    endpoint: Callable[..., Any]
    options: dict[str, Any]


@dataclass(frozen=True)
class _Scope:
    """What the routers a table is included through add to its routes."""

    prefix: str = ""
    tags: list[Any] = field(default_factory=list)
    dependencies: list[params.Depends] = field(default_factory=list)
    responses: dict[int | str, dict[str, Any]] = field(default_factory=dict)
    include_in_schema: bool = True


@dataclass(frozen=True)
class _Included:
    """Another table, included with a scope of its own."""

    table: RouteTable
    scope: _Scope


class RouteTable(APIRouter):
    """An ``APIRouter`` that records the routes declared on it (with its decorators,
    ``add_api_route`` or ``include_router``) and builds them only when :func:`flatten`ed.

    It takes the ``APIRouter`` options that Assay uses: ``prefix``, ``tags``,
    ``dependencies``, ``responses`` and ``include_in_schema``; anything else a table cannot
    carry over is refused when declared rather than lost.
    """

    def __init__(self, *, prefix: str = "", tags: list[Any] | None = None,
                 dependencies: Sequence[params.Depends] | None = None,
                 responses: dict[int | str, dict[str, Any]] | None = None,
                 include_in_schema: bool = True) -> None:
        super().__init__(prefix=prefix, tags=tags, dependencies=dependencies,
                         responses=responses, include_in_schema=include_in_schema)
        self.declared: list[_Declared | _Included] = []

    def add_api_route(self, path: str, endpoint: Callable[..., Any],
                      **options: Any) -> None:
        self.declared.append(_Declared(path, endpoint, options))

    def include_router(self, router: APIRouter, *, prefix: str = "",
                       tags: list[Any] | None = None,
                       dependencies: Sequence[params.Depends] | None = None,
                       responses: dict[int | str, dict[str, Any]] | None = None,
                       include_in_schema: bool = True, **options: Any) -> None:
        if not isinstance(router, RouteTable):
            raise TypeError("a RouteTable includes only RouteTables, whose routes it can "
                            f"build once (got {type(router).__name__})")
        if options:
            raise TypeError(f"a RouteTable does not carry over {', '.join(sorted(options))}")
        if prefix:
            # As APIRouter.include_router requires.
            assert prefix.startswith("/") and not prefix.endswith("/"), prefix
        self.declared.append(_Included(router, _Scope(
            prefix, list(tags or []), list(dependencies or []), dict(responses or {}),
            include_in_schema)))

    def add_route(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a RouteTable holds API routes only; add a plain route to the app")

    def mount(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a RouteTable holds API routes only; mount on the app")


def flatten(table: RouteTable, *,
            dependencies: Sequence[params.Depends] = ()) -> list[BaseRoute]:
    """Every route of ``table`` and the tables it includes, built once each, in declaration
    order, on its full path; ``dependencies`` come first in every route's (an app's own)."""
    built: list[BaseRoute] = []
    _build(table, _Scope(dependencies=list(dependencies)), built)
    return built


def _build(table: RouteTable, outer: _Scope, built: list[BaseRoute]) -> None:
    # A real router with everything the outer routers add, merged as FastAPI merges an
    # include: the outer router's tags, dependencies and responses before the included one's,
    # before the route's own.
    router = APIRouter(
        prefix=outer.prefix + table.prefix,
        tags=[*outer.tags, *table.tags],
        dependencies=[*outer.dependencies, *table.dependencies],
        responses={**outer.responses, **table.responses},
        include_in_schema=outer.include_in_schema and table.include_in_schema,
        route_class=LiteralPrefixRoute,
    )
    for entry in table.declared:
        if isinstance(entry, _Declared):
            APIRouter.add_api_route(router, entry.path, entry.endpoint, **entry.options)
            built.append(router.routes[-1])
            continue
        inner = entry.scope
        _build(entry.table, _Scope(
            prefix=router.prefix + inner.prefix,
            tags=[*router.tags, *inner.tags],
            dependencies=[*router.dependencies, *inner.dependencies],
            responses={**router.responses, **inner.responses},
            include_in_schema=router.include_in_schema and inner.include_in_schema,
        ), built)
