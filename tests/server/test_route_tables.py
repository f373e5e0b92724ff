"""Route tables build each route once, on its full path, with what FastAPI's own include
would have given it (tags, dependencies, responses, whether it is documented)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match

from assay.server import ServerSettings, create_app
from assay.server.route_tables import LiteralPrefixRoute, RouteTable, flatten
from assay.store.sql import SqlStore


def outer_dependency() -> None: ...
def include_dependency() -> None: ...
def inner_dependency() -> None: ...
def route_dependency() -> None: ...


def _declare(inner: APIRouter, middle: APIRouter, top: APIRouter) -> None:
    """The same tree of routes on plain routers or on tables."""

    @inner.get("/items/{item_id}", tags=["route"], responses={404: {"description": "route"}},
               dependencies=[Depends(route_dependency)])
    def get_item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @inner.post("/items", include_in_schema=False, status_code=201)
    def add_item() -> None: ...

    @middle.get("/ping")
    def ping() -> str:
        return "pong"

    middle.include_router(inner, prefix="/v1", tags=["include"],
                          dependencies=[Depends(include_dependency)],
                          responses={500: {"description": "include"}})
    middle.include_router(inner, prefix="/v2")
    top.include_router(middle)


def _shape(route: Any) -> tuple[Any, ...]:
    """What a route is served and documented as (of a built route, or of FastAPI's context
    of an included one)."""
    return (route.path, sorted(route.methods), route.name, route.tags,
            [d.dependency for d in route.dependencies], route.responses,
            route.include_in_schema, route.status_code, route.unique_id)


def test_a_flattened_table_has_the_routes_fastapi_includes_would_give() -> None:
    inner = APIRouter(prefix="/inner", tags=["inner"], responses={400: {"description": "inner"}},
                      dependencies=[Depends(inner_dependency)])
    middle = APIRouter(prefix="/middle", tags=["middle"])
    app = FastAPI(dependencies=[Depends(outer_dependency)])
    _declare(inner, middle, app.router)
    expected = [_shape(route) for route in _included(app)]

    tables = (RouteTable(prefix="/inner", tags=["inner"],
                         responses={400: {"description": "inner"}},
                         dependencies=[Depends(inner_dependency)]),
              RouteTable(prefix="/middle", tags=["middle"]), RouteTable())
    _declare(*tables)
    routes = flatten(tables[2], dependencies=[Depends(outer_dependency)])

    assert [_shape(route) for route in routes] == expected
    assert [route.path for route in routes] == [  # type: ignore[attr-defined]
        "/middle/ping", "/middle/v1/inner/items/{item_id}", "/middle/v1/inner/items",
        "/middle/v2/inner/items/{item_id}", "/middle/v2/inner/items"]
    first = routes[1]
    assert isinstance(first, APIRoute)
    assert first.tags == ["middle", "include", "inner", "route"]
    assert [d.dependency for d in first.dependencies] == [
        outer_dependency, include_dependency, inner_dependency, route_dependency]


def _included(app: FastAPI) -> list[Any]:
    """The app's routes as FastAPI resolves its includes: copied into the app's router, or
    kept nested with a context per route, by FastAPI's version."""
    routes: list[Any] = []
    for route in app.router.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            routes.extend(contexts())
        elif isinstance(route, APIRoute):
            routes.append(route)
    return routes


def test_a_table_refuses_what_it_cannot_build_once() -> None:
    table = RouteTable()
    with pytest.raises(TypeError, match="only RouteTables"):
        table.include_router(APIRouter())
    with pytest.raises(TypeError, match="default_response_class"):
        table.include_router(RouteTable(), default_response_class=object)
    with pytest.raises(TypeError, match="API routes only"):
        table.add_route("/x", lambda request: None)
    with pytest.raises(TypeError, match="API routes only"):
        table.mount("/x", app=lambda scope: None)


def test_the_server_builds_each_route_once_on_its_full_path(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    original = APIRoute.__init__

    def counting(self: APIRoute, path: str, *args: Any, **kwargs: Any) -> None:
        built.append(path)
        original(self, path, *args, **kwargs)

    monkeypatch.setattr(APIRoute, "__init__", counting)
    from assay.server import app as app_module
    monkeypatch.setattr(app_module, "_routes", app_module._routes.__wrapped__)
    store = SqlStore(f"sqlite:///{tmp_path / 'routes.db'}")
    try:
        app = create_app(ServerSettings(port=0, backend_store_uri=store.uri), store)
    finally:
        store.close()
    served = [route for route in app.router.routes if isinstance(route, APIRoute)]
    # Every API route is served as built, once: none is nested in an included router.
    assert len(served) == len(built) > 250
    assert sorted(route.path for route in served) == sorted(built)
    assert not [route for route in app.router.routes
                if hasattr(route, "effective_route_contexts")]


def test_no_route_hands_a_dependency_to_the_thread_pool(tmp_path: Any) -> None:
    # FastAPI runs a plain `def` dependency in its thread pool: a hand-over to another thread
    # and back for each dependency of each request. Assay's dependencies only read the app's
    # state or the request, so they are all `async def` (the endpoints may be either).
    store = SqlStore(f"sqlite:///{tmp_path / 'deps.db'}")
    try:
        app = create_app(ServerSettings(port=0, backend_store_uri=store.uri), store)
    finally:
        store.close()
    plain: set[str] = set()

    def walk(dependant: Any) -> None:
        for sub in dependant.dependencies:
            if sub.call is not None and not inspect.iscoroutinefunction(sub.call):
                plain.add(f"{sub.call.__module__}.{sub.call.__qualname__}")
            walk(sub)

    routes = [route for route in app.router.routes if isinstance(route, APIRoute)]
    for route in routes:
        walk(route.dependant)
    assert len(routes) > 250
    assert plain == set()


def _served_app(tmp_path: Any) -> FastAPI:
    store = SqlStore(f"sqlite:///{tmp_path / 'served.db'}")
    try:
        return create_app(ServerSettings(port=0, backend_store_uri=store.uri), store)
    finally:
        store.close()


def _paths(templates: list[str]) -> list[str]:
    """Paths around the routes' own: each template filled in several ways, with and without
    a trailing slash, cut short, and some that no route has."""
    paths = {"/", "", "/nothing", "/api", "/api/", "/apix/v1/experiments", "/API/v1/experiments",
             "/health/x", "/static/app.css", "/experiments", "/%7Bx%7D"}
    for template in templates:
        for value in ("0", "a/b", "{x}"):
            filled = "/".join(value if part.startswith("{") else part
                              for part in template.split("/"))
            paths |= {filled, filled + "/", filled[:-1], filled.rsplit("/", 1)[0]}
    return sorted(paths)


def test_every_served_route_turns_paths_away_on_its_literal_prefix(tmp_path: Any) -> None:
    app = _served_app(tmp_path)
    routes = [route for route in app.router.routes if isinstance(route, APIRoute)]
    assert len(routes) > 250
    assert all(isinstance(route, LiteralPrefixRoute) for route in routes)
    health = next(route for route in routes if route.path == "/health")
    assert isinstance(health, LiteralPrefixRoute) and health.literal_prefix == "/health"


def test_a_literal_prefix_route_matches_as_its_pattern_does(tmp_path: Any) -> None:
    # The shortcut may only say "no" where the pattern says "no": for every route, no path
    # that it turns away (the app's own paths filled in, cut short, with a slash more, and
    # paths no route has) fits the route's pattern.
    app = _served_app(tmp_path)
    routes = [route for route in app.router.routes if isinstance(route, LiteralPrefixRoute)]
    paths = _paths([route.path for route in routes])
    assert len(paths) > 1000
    turned_away = 0
    for route in routes:
        for path in paths:
            if not path.startswith(route.literal_prefix):
                assert route.path_regex.match(path) is None, (route.path, path)
                turned_away += 1
    assert turned_away > 100_000
    # Through matches(): the same answers as the pattern's, for a route with a parameter,
    # at the root and under a root_path (where the shortcut is not taken).
    route = next(route for route in routes if route.path == "/api/v1/experiments/{experiment_id}")
    for path in ("/api/v1/experiments/0", "/api/v1/experiments/0/", "/api/v2/experiments/0",
                 "/health", "/prefix/api/v1/experiments/0"):
        for method in ("GET", "DELETE", "POST"):
            for root_path in ("", "/prefix"):
                scope = {"type": "http", "method": method, "root_path": root_path, "path": path}
                assert route.matches(dict(scope)) == APIRoute.matches(route, dict(scope)), \
                    (path, method, root_path)
    assert route.matches({"type": "http", "method": "GET", "root_path": "",
                          "path": "/api/v1/experiments/0"})[0] is Match.FULL
    assert route.matches({"type": "http", "method": "POST", "root_path": "",
                          "path": "/api/v1/experiments/0"})[0] is Match.PARTIAL
