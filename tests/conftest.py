"""Fixtures shared by the whole suite: a fresh store per test, on SQLite, PostgreSQL, and an
Assay server over HTTP.

``tracking_uri`` and ``store`` run a test once per backend (the REST one is a real server on
127.0.0.1 with the SDK's REST store in front); ``database_uri`` and ``sql_store`` on the two
databases only, for what belongs to SQL. PostgreSQL comes from ``ASSAY_TEST_POSTGRES_URI``
(default ``postgresql://postgres@127.0.0.1:5432/test``); each test gets its own schema there,
dropped afterwards. When that server cannot be reached the PostgreSQL half is skipped, except
on CI (``CI=true``), where a missing database is a failure, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import quote

import pytest

from assay.store.base import Store
from assay.store.sql import SqlStore
from assay.store.uri import mask_uri, open_store

if TYPE_CHECKING:
    from server.live import LiveServer

POSTGRES_URI_ENV = "ASSAY_TEST_POSTGRES_URI"
DEFAULT_POSTGRES_URI = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_base_uri() -> str:
    return os.environ.get(POSTGRES_URI_ENV) or DEFAULT_POSTGRES_URI


def _libpq_uri(uri: str) -> str:
    # psycopg takes postgresql:// and postgres:// URIs, but not SQLAlchemy's "+driver" part.
    scheme, sep, rest = uri.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


def _skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class PostgresServer:
    """The PostgreSQL server tests run against: its URI, or why it cannot be used."""

    uri: str | None
    problem: str = ""


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The PostgreSQL server of ``ASSAY_TEST_POSTGRES_URI``, checked once per session.

    Once, so that an absent server costs one connection timeout, not one per test.
    """
    base = _postgres_base_uri()
    try:
        import psycopg
    except ImportError:
        return PostgresServer(None, "psycopg is not installed: pip install 'assay[postgres]'")
    try:
        with psycopg.connect(_libpq_uri(base), connect_timeout=3):
            pass
    except psycopg.Error:
        return PostgresServer(
            None, f"PostgreSQL not reachable at {mask_uri(base)}; set {POSTGRES_URI_ENV}")
    return PostgresServer(base)


def _postgres_schema_uri(server: PostgresServer) -> Iterator[str]:
    if server.uri is None:
        _skip_or_fail(server.problem)
    import psycopg
    from psycopg import sql

    base = server.uri
    schema = f"assay_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq_uri(base), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    # Every connection the store opens starts with this schema alone on its search_path, so
    # Alembic's version table, the tables and every query land in it.
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}', safe='')}"
    with psycopg.connect(_libpq_uri(base), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@dataclass(frozen=True)
class Backend:
    """Where a test's data lives: ``kind`` is sqlite, postgresql or rest; ``tracking_uri`` is
    what the SDK is pointed at, ``database_uri`` the database itself (for rest, the SQLite
    file behind the server)."""

    kind: str
    tracking_uri: str
    database_uri: str


_SQL_PARAMS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _sql_database(kind: str, tmp_path: Path, server: PostgresServer) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'assay.db'}"
    else:
        yield from _postgres_schema_uri(server)


@pytest.fixture(scope="session")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real uvicorn server on 127.0.0.1 for every test of the REST backend; each test
    puts its own fresh store behind it (``app.state.store``), so none sees another's data
    and none pays for starting a server."""
    from server.live import LiveServer

    idle = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('rest') / 'idle.db'}")
    live = LiveServer(idle)
    live.start()
    yield live
    live.stop()
    idle.close()


@pytest.fixture(params=[*_SQL_PARAMS, pytest.param("rest", marks=pytest.mark.rest)])
def backend(request: pytest.FixtureRequest, tmp_path: Path,
            postgres_server: PostgresServer) -> Iterator[Backend]:
    """A fresh, empty store three ways: a SQLite file, a PostgreSQL schema, and an Assay
    server (real uvicorn on 127.0.0.1, over a SQLite file) reached through the REST store."""
    if request.param != "rest":
        for uri in _sql_database(request.param, tmp_path, postgres_server):
            yield Backend(request.param, uri, uri)
        return
    live: LiveServer = request.getfixturevalue("rest_server")
    database = f"sqlite:///{tmp_path / 'server.db'}"
    server_store = SqlStore(database)
    idle = live.app.state.store
    live.app.state.store = server_store
    try:
        yield Backend("rest", live.url, database)
    finally:
        live.app.state.store = idle
        server_store.close()


@pytest.fixture
def tracking_uri(backend: Backend) -> str:
    """The tracking URI of a fresh, empty store: SQLite, PostgreSQL, then an Assay server."""
    return backend.tracking_uri


@pytest.fixture(params=_SQL_PARAMS)
def database_uri(request: pytest.FixtureRequest, tmp_path: Path,
                 postgres_server: PostgresServer) -> Iterator[str]:
    """The URI of a fresh, empty database: a SQLite file, then a PostgreSQL schema."""
    yield from _sql_database(request.param, tmp_path, postgres_server)


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def postgres_uri(postgres_server: PostgresServer) -> Iterator[str]:
    """The URI of a fresh PostgreSQL schema, for tests of PostgreSQL alone."""
    yield from _postgres_schema_uri(postgres_server)


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    """The URI of a fresh SQLite file, for tests that need no second backend."""
    return f"sqlite:///{tmp_path / 'assay.db'}"


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    """A store on a fresh database, three ways (SQLite, PostgreSQL, REST), closed after."""
    opened = open_store(backend.tracking_uri)
    yield opened
    opened.close()


@pytest.fixture
def sql_store(database_uri: str) -> Iterator[SqlStore]:
    """A SQL store on a fresh database (SQLite, PostgreSQL), for what is SQL's alone."""
    sql = SqlStore(database_uri)
    yield sql
    sql.close()
