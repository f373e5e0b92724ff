"""Property-based requests from the committed OpenAPI document (schemathesis) against the app:
no input the document allows, or nearly allows, gets a 5xx, and every answer has a status,
headers and a body the document describes.

Each generated case is sent four ways:

* on SQLite without auth (and there, also every method a path does not have: 405 with the
  full ``Allow`` list);
* on SQLite with ``--auth``, an admin's API key sent as bearer on every request;
* on SQLite with ``--auth`` and a viewer's key: every write is a documented 403;
* on PostgreSQL without auth.

The four ways send the same cases, one after the other, from one test per operation:
building an operation's test and generating its cases cost more than sending them, and the
same request answered by four servers is also a comparison. Where there is no PostgreSQL,
the cases go to SQLite alone and ``test_postgresql_is_reached`` is skipped with the reason
(under ``CI=true`` both fail instead).

Bounded and derandomized, so CI runs the same cases every time in about a minute; run with
``ASSAY_SCHEMATHESIS_EXAMPLES=500`` to look harder.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.hypothesis import builder as test_builder
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from assay.entities.user import Role
from assay.server import ServerSettings, create_app
from assay.server.openapi import COMMITTED_PATH
from assay.store.sql import SqlStore
from conftest import PostgresServer
from database_templates import new_schema

if TYPE_CHECKING:
    # A case of an OpenAPI operation (schemathesis names it only for type checkers).
    from schemathesis.core.transport import Response
    from schemathesis.specs.openapi.schemas import OpenApiCase

EXAMPLES = int(os.environ.get("ASSAY_SCHEMATHESIS_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# A method the path does not have must be a 405 listing every method it has.
METHOD_CHECKS = [*CHECKS, unsupported_method, allow_header_conformance]


class AppOfTheTest:
    """An ASGI app that hands each request to the app of the running test (made by a
    fixture below), so that the schema can be loaded once, at import."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no app fixture ran"
        await self.app(scope, receive, send)


APP = AppOfTheTest()

# Schemathesis attaches each operation's schema examples and coverage cases to its test when it
# collects the tests: in every test process, for every operation, though each process runs only
# some of them (over five seconds a process). Here the same calls, on the same test function,
# in the same order, are made when the operation's test starts (``cases_attached`` below), in
# the process that runs it. ``test_cases_attached_at_the_start_are_those_of_collection``
# checks that the cases are the same. The one difference: the methods a path lacks (405
# probes) are generated once per process, for the first of the path's operations attached
# there, so with several test processes they may be sent from two of them; none is missed.
_PENDING_CASES = "_assay_pending_cases"
_ATTACH_AT_COLLECTION: dict[str, Callable[..., Any]] = {
    "add_examples": test_builder.add_examples, "add_coverage": test_builder.add_coverage}


def _attached_when_run(attach: Callable[..., Any]) -> Callable[..., Any]:
    def defer(test: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        pending = test.__dict__.setdefault(_PENDING_CASES, [])
        pending.append(functools.partial(attach, test, *args, **kwargs))
        return test  # as the attaching functions do: they add to the test, not wrap it

    return defer


for _name, _attach in _ATTACH_AT_COLLECTION.items():
    setattr(test_builder, _name, _attached_when_run(_attach))


def _attach_pending_cases(test: Callable[..., Any]) -> None:
    for attach in test.__dict__.pop(_PENDING_CASES, []):
        assert attach() is test, "schemathesis wrapped the test instead of adding cases to it"


@pytest.fixture(autouse=True)
def cases_attached(request: pytest.FixtureRequest) -> None:
    """The operation's examples and coverage cases, attached to its test before it runs."""
    _attach_pending_cases(request.function)

# OTLP's protobuf body is bytes: sent as generated, like application/octet-stream. Random bytes
# exercise the protobuf parser's error path.
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")
schema = schemathesis.openapi.from_path(COMMITTED_PATH, config=SchemathesisConfig.from_dict({
    "seed": 20261122,
    "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
}))
schema.app = APP
# One client for every case, rather than one made for each (schemathesis's default): the
# cases cost less to send, and nothing of the environment (proxies, .netrc) is read for each.
# Cookies are cleared after each case, so that no case is sent with another's.
CLIENT = asgi.get_client(APP)  # type: ignore[arg-type]  # its ASGI types are dicts
CLIENT.trust_env = False


def _app(store: SqlStore, auth: bool = False) -> ASGIApp:
    # Schemathesis addresses its requests to "testserver", which a server without auth
    # answers only when told to (see assay.server.hosts).
    return create_app(ServerSettings(port=0, backend_store_uri=store.uri, auth=auth,
                                     allowed_hosts=("testserver",)), store)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    """One SQLite store for the run without auth (a store per operation would cost more than
    the cases; what one operation leaves, the next may use)."""
    store = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'schemathesis.db'}")
    yield store
    store.close()


@pytest.fixture(scope="module")
def auth_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    """One SQLite store for the runs with auth, with their users (made once: a store per
    operation would cost more than the cases)."""
    store = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('auth') / 'schemathesis.db'}")
    yield store
    store.close()


def _key_of(store: SqlStore, username: str, role: Role) -> str:
    store.create_user(username, role)
    _, token = store.create_api_key(username, "schemathesis")
    return token


@pytest.fixture(scope="module")
def admin_key(auth_store: SqlStore) -> str:
    return _key_of(auth_store, "schemathesis-admin", Role.ADMIN)


@pytest.fixture(scope="module")
def viewer_key(auth_store: SqlStore) -> str:
    return _key_of(auth_store, "schemathesis-viewer", Role.VIEWER)


@dataclass(frozen=True)
class SqliteApps:
    """The app without auth and the app with auth, each over its SQLite store."""

    open: ASGIApp
    auth: ASGIApp


@pytest.fixture
def sqlite_apps(sqlite_store: SqlStore, auth_store: SqlStore) -> Iterator[SqliteApps]:
    yield SqliteApps(open=_app(sqlite_store), auth=_app(auth_store, auth=True))
    APP.app = None


@pytest.fixture(scope="module")
def postgres_store(postgres_server: PostgresServer) -> Iterator[SqlStore | None]:
    """One PostgreSQL schema for the whole run (migrating a schema per operation would cost
    more than the cases); None where there is no PostgreSQL, unless CI=true (then the
    tests fail, saying why)."""
    if postgres_server.uri is None and os.environ.get("CI") != "true":
        yield None
        return
    with new_schema(postgres_server.base_uri()) as uri:
        store = SqlStore(uri)
        yield store
        store.close()


@pytest.fixture
def postgres_app(postgres_store: SqlStore | None) -> ASGIApp | None:
    return None if postgres_store is None else _app(postgres_store)


# The fixtures hold the app for a whole operation's cases, on purpose.
one_app_per_operation = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _sent_as(who: str, app: ASGIApp, case: OpenApiCase, checks: list[Any],
             headers: dict[str, str] | None = None) -> Response:
    """``case`` sent to ``app`` and its answer checked; a failure says to whom it was sent."""
    APP.app = app
    try:
        return case.call_and_validate(session=CLIENT, headers=headers, checks=checks)
    except BaseException as exc:
        exc.add_note(f"(sent {who})")
        raise
    finally:
        CLIENT.cookies.clear()


@schema.parametrize()
@one_app_per_operation
def test_answers_as_documented_without_auth_to_admins_and_viewers_and_on_postgresql(
        case: OpenApiCase, sqlite_apps: SqliteApps, admin_key: str, viewer_key: str,
        postgres_app: ASGIApp | None) -> None:
    _sent_as("on SQLite without auth", sqlite_apps.open, case, METHOD_CHECKS)
    _sent_as("on SQLite with an admin's key", sqlite_apps.auth, case, CHECKS,
             _bearer(admin_key))
    response = _sent_as("on SQLite with a viewer's key", sqlite_apps.auth, case, CHECKS,
                        _bearer(viewer_key))
    if case.method.upper() != "GET" and response.status_code < 400 \
            and case.operation.path not in _VIEWER_MAY_POST:
        pytest.fail(f"a viewer changed something: {case.method} {case.formatted_path} answered "
                    f"{response.status_code}")
    if postgres_app is not None:
        _sent_as("on PostgreSQL without auth", postgres_app, case, CHECKS)


# The POSTs a viewer may make: reads that take their query as a body, and the browser
# feedback endpoint (which checks its own token, not the caller).
_VIEWER_MAY_POST = frozenset({
    "/api/v1/traces/search", "/api/v1/sessions/search", "/api/v1/analytics/feedback-summary",
    "/api/v1/gold-labels/query", "/api/v1/runs/search", "/api/v1/datasets/search",
    "/api/v1/trace-labeling-sessions/query",
    "/api/v1/feedback",
})


@pytest.mark.postgres
def test_postgresql_is_reached(postgres_server: PostgresServer,
                               postgres_store: SqlStore | None) -> None:
    """Where there is no PostgreSQL the cases above reach SQLite alone: this test says so
    (skipped with the reason; failed under CI=true)."""
    postgres_server.base_uri()
    assert postgres_store is not None


def _explicit_cases(test: Callable[..., Any]) -> list[tuple[Any, ...]]:
    cases = [example.kwargs["case"] for example in test.hypothesis_explicit_examples]  # type: ignore[attr-defined]
    return [(case.method, case.path, case.path_parameters, case.headers, case.cookies,
             case.query, repr(case.body), case.media_type, case.meta.phase if case.meta else None)
            for case in cases]


@pytest.mark.parametrize("label", ["POST /api/v1/traces/search",
                                   "GET /api/v1/experiments/{experiment_id}",
                                   "POST /v1/traces"])
def test_cases_attached_at_the_start_are_those_of_collection(label: str) -> None:
    """What ``cases_attached`` attaches when a test starts is what schemathesis attached
    when it collected the test: the same cases, in the same order."""
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.pytest._test_builder import build_operation_test

    def test_function(case: Any) -> None:
        pass

    method, path = label.split(" ")
    operation = schema[path][method]
    # The methods a path lacks are probed once per process, by the first of its operations
    # whose cases are attached: each build starts from none probed.
    probed = schema.coverage_unexpected_methods_seen
    kept = set(probed)

    def build() -> Callable[..., Any]:
        return build_operation_test(
            config=schema.config, operation=operation, test_func=test_function,
            given_kwargs={}, feedback=FeedbackSources())

    try:
        probed.clear()
        for name, attach in _ATTACH_AT_COLLECTION.items():
            setattr(test_builder, name, attach)
        try:
            at_collection = build()
        finally:
            for name, attach in _ATTACH_AT_COLLECTION.items():
                setattr(test_builder, name, _attached_when_run(attach))
        probed.clear()
        at_start = build()
        assert not hasattr(at_start, "hypothesis_explicit_examples")
        _attach_pending_cases(at_start)
    finally:
        probed.clear()
        probed.update(kept)
    expected = _explicit_cases(at_collection)
    assert len(expected) > 5
    assert _explicit_cases(at_start) == expected
