"""Every route declares the action it needs, and the server checks the action of the route
that answers, never one guessed from the path: a user named like a route word (``me``) gains
nothing by it. Over a real server with auth on, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI

from assay.entities.user import Role
from assay.errors import InvalidParameterError
from assay.server import ServerSettings, create_app
from assay.server.permissions import ACTION_EXTENSION, Action, declared_action, needs
from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine
from assay.store.sql.schema import users
from assay.store.sql.users import RESERVED_USERNAMES
from server.auth_servers import AuthServer, serve_with_auth
from server.live import in_process_client

USERS_PREFIX = "/api/v1/users/"


@pytest.fixture
def app_store() -> Iterator[SqlStore]:
    store = SqlStore("sqlite:///:memory:")
    yield store
    store.close()


@pytest.fixture
def auth_server(sql_store: SqlStore) -> Iterator[AuthServer]:
    with serve_with_auth(sql_store) as server:
        yield server


@contextmanager
def _served(app: FastAPI) -> Iterator[httpx.Client]:
    with in_process_client(app) as http:
        yield http


def _add_user_named_me(database_uri: str, role: Role) -> None:
    # The store refuses the name now; a database from before may hold it all the same.
    engine, _ = create_engine(database_uri)
    try:
        with engine.begin() as conn:
            conn.execute(users.insert(), {"username": "me", "role": role.value,
                                          "password_hash": None, "created_time_ms": 0,
                                          "disabled": False})
    finally:
        engine.dispose()


# -- every route declares its action ----------------------------------------------------------

def test_every_route_declares_an_action(app_store: SqlStore) -> None:
    for auth in (False, True):
        app = create_app(ServerSettings(auth=auth), app_store)
        routes = app.router.routes
        assert len(routes) > 50
        undeclared = [(getattr(route, "path", "?"), sorted(getattr(route, "methods", ())
                                                           or ()))
                      for route in routes if declared_action(route) is None]
        assert undeclared == []


def test_the_openapi_document_says_what_each_operation_needs(app_store: SqlStore) -> None:
    paths = create_app(ServerSettings(), app_store).openapi()["paths"]
    actions = {(path, method): operation[ACTION_EXTENSION]
               for path, item in paths.items() for method, operation in item.items()}
    assert set(actions.values()) <= {action.value for action in Action}
    assert actions[("/health", "get")] == "public"
    assert actions[("/api/v1/feedback", "post")] == "public"
    assert actions[("/api/v1/users/me", "get")] == "identify"
    assert actions[("/api/v1/users/{username}", "patch")] == "manage_users"
    assert actions[("/api/v1/traces/search", "post")] == "read"
    assert actions[("/v1/traces", "post")] == "write"
    # OTLP's own request body is still described beside its action.
    assert "requestBody" in paths["/v1/traces"]["post"]


def test_no_user_may_be_named_like_a_word_of_the_user_paths(app_store: SqlStore) -> None:
    app = create_app(ServerSettings(), app_store)
    paths: list[str] = [getattr(route, "path", "") for route in app.router.routes]
    words = {path[len(USERS_PREFIX):].split("/")[0] for path in paths
             if path.startswith(USERS_PREFIX)}
    fixed = {word for word in words if not word.startswith("{")}
    assert fixed == {"me"} and fixed <= RESERVED_USERNAMES
    for name in ("me", "Me", "ME"):
        with pytest.raises(InvalidParameterError, match=f"Invalid username '{name}'.*reserved"):
            app_store.create_user(name, "viewer")
    assert app_store.list_users() == []
    assert app_store.create_user("me2", "viewer").username == "me2"


def test_a_route_that_declares_nothing_is_refused(app_store: SqlStore) -> None:
    app = create_app(ServerSettings(), app_store)

    @app.get("/api/v1/undeclared")
    def undeclared() -> dict[str, str]:
        return {"secret": "data"}

    @app.get("/api/v1/declared", openapi_extra=needs(Action.READ))
    def declared() -> dict[str, str]:
        return {"fine": "yes"}

    with _served(app) as http:
        refused = http.get("/api/v1/undeclared")
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "PERMISSION_DENIED"
        assert "declares no permission" in refused.json()["message"]
        assert "secret" not in refused.text
        assert http.get("/api/v1/declared").json() == {"fine": "yes"}


def test_a_route_that_answers_with_another_action_than_checked_is_refused(
        app_store: SqlStore) -> None:
    # The middleware checks the action before routing; the answering route checks it is
    # its own. Here the declaration changes after the middleware has read it.
    app = create_app(ServerSettings(), app_store)

    @app.get("/api/v1/changing", openapi_extra=needs(Action.READ))
    def changing() -> dict[str, str]:
        return {"ran": "yes"}

    with _served(app) as http:
        assert http.get("/api/v1/changing").json() == {"ran": "yes"}
        [route] = [r for r in app.router.routes
                   if getattr(r, "path", "") == "/api/v1/changing"]
        route.openapi_extra = needs(Action.MANAGE_USERS)  # type: ignore[attr-defined]
        refused = http.get("/api/v1/changing")
        assert refused.status_code == 403 and "ran" not in refused.text


# -- a user named "me" ------------------------------------------------------------------------

def test_a_viewer_named_me_cannot_make_itself_admin(auth_server: AuthServer,
                                                     database_uri: str) -> None:
    store = auth_server.store
    store.create_user("alice", Role.ADMIN)
    _add_user_named_me(database_uri, Role.VIEWER)
    me_key = store.create_api_key("me", "laptop").token
    with auth_server.client(headers={"Authorization": f"Bearer {me_key}"}) as me:
        promoted = me.patch("/api/v1/users/me", json={"role": "admin"})
        assert promoted.status_code == 403, promoted.text
        assert promoted.json()["error_code"] == "PERMISSION_DENIED"
        assert "admins only" in promoted.json()["message"]
        another = me.post("/api/v1/users", json={"username": "mallory", "role": "admin"})
        assert another.status_code == 403
        # "me" is still the caller where that is what the route means.
        assert me.get("/api/v1/users/me").json()["user"] == {
            "username": "me", "role": "viewer", "disabled": False, "has_password": False,
            "created_time_ms": 0}
    assert store.get_user("me").role is Role.VIEWER
    assert store.find_user_by_name("mallory") is None
    with auth_server.client("admin") as admin:
        # The user named "me" is an ordinary user to an admin.
        assert admin.patch("/api/v1/users/me", json={"role": "member"}).json()["user"] == {
            "username": "me", "role": "member", "disabled": False, "has_password": False,
            "created_time_ms": 0}
        assert [k["name"] for k in admin.get("/api/v1/users/me/keys").json()["keys"]] == [
            "laptop"]
        refused = admin.post("/api/v1/users", json={"username": "me", "role": "viewer"})
        assert refused.status_code == 400
        assert "Invalid username 'me'" in refused.json()["message"]


def test_a_reviewer_cannot_disable_the_user_named_me(auth_server: AuthServer,
                                                      database_uri: str) -> None:
    _add_user_named_me(database_uri, Role.MEMBER)
    with auth_server.client("reviewer") as reviewer:
        refused = reviewer.patch("/api/v1/users/me", json={"disabled": True})
        assert refused.status_code == 403, refused.text
        assert "'reviewer' (reviewer) may not manage users" in refused.json()["message"]
    assert not auth_server.store.get_user("me").disabled


# -- each role against one route of each action -----------------------------------------------

_ROUTE_OF_ACTION = {
    Action.PUBLIC: ("GET", "/health"),
    Action.SIGN_IN: ("GET", "/login"),
    Action.IDENTIFY: ("GET", "/api/v1/users/me"),
    Action.READ: ("GET", "/api/v1/experiments"),
    Action.WRITE: ("POST", "/api/v1/experiments"),
    Action.MANAGE_USERS: ("GET", "/api/v1/users"),
}
_ALLOWED = {
    None: {Action.PUBLIC, Action.SIGN_IN},  # no credentials
    "reviewer": {Action.PUBLIC, Action.SIGN_IN, Action.IDENTIFY},
    "viewer": {Action.PUBLIC, Action.SIGN_IN, Action.IDENTIFY, Action.READ},
    "member": {Action.PUBLIC, Action.SIGN_IN, Action.IDENTIFY, Action.READ, Action.WRITE},
    "admin": set(Action),
}


def test_each_role_may_do_what_the_table_says(auth_server: AuthServer) -> None:
    app = create_app(ServerSettings(), auth_server.store)
    for action, (method, path) in _ROUTE_OF_ACTION.items():
        [route] = [r for r in app.router.routes
                   if getattr(r, "path", "") == path and method in (getattr(r, "methods", ())
                                                                    or ())]
        assert declared_action(route) is action, (method, path)
    outcomes: dict[str | None, dict[Action, int]] = {}
    for role in _ALLOWED:
        outcomes[role] = {}
        with auth_server.client(role) as http:
            for action, (method, path) in _ROUTE_OF_ACTION.items():
                response = http.request(method, path, json={"name": f"by-{role}"}
                                        if method == "POST" else None)
                outcomes[role][action] = response.status_code
    expected: dict[str | None, dict[Action, int]] = {}
    for role, allowed in _ALLOWED.items():
        expected[role] = {}
        for action in _ROUTE_OF_ACTION:
            if action not in allowed:
                expected[role][action] = 401 if role is None else 403
            elif action is Action.SIGN_IN and role is not None:
                expected[role][action] = 303  # signed in already: on to the next page
            else:
                expected[role][action] = 200
    assert outcomes == expected
    assert sorted(e.name for e in auth_server.store.search_experiments()
                  if e.name.startswith("by-")) == ["by-admin", "by-member"]


def test_unknown_paths_and_wrong_methods(auth_server: AuthServer) -> None:
    with auth_server.client() as anonymous, auth_server.client("reviewer") as reviewer:
        # No route: only a signed-in caller learns it is not there.
        assert anonymous.get("/api/v1/nothing-here").status_code == 401
        assert reviewer.get("/api/v1/nothing-here").status_code == 404
        # A route for the path but not the method: 405, and nothing runs.
        wrong = anonymous.delete("/api/v1/experiments")
        assert wrong.status_code == 405 and wrong.json()["error_code"] == "METHOD_NOT_ALLOWED"
        assert reviewer.put("/api/v1/users/me", json={"role": "admin"}).status_code == 405
    assert auth_server.store.get_user("reviewer").role is Role.REVIEWER

