"""Fixtures shared by the whole suite: a fresh store per test, on SQLite, PostgreSQL, and an
Assay server over HTTP.

``tracking_uri`` and ``store`` run a test once per backend (the REST one is a real server on
127.0.0.1 with the SDK's REST store in front); ``database_uri`` and ``sql_store`` on the two
databases only, for what belongs to SQL. PostgreSQL comes from ``ASSAY_TEST_POSTGRES_URI``
(default ``postgresql://postgres@127.0.0.1:5432/test``); each test gets its own schema there,
dropped afterwards. When that server cannot be reached the PostgreSQL half is skipped, except
on CI (``CI=true``), where a missing database is a failure, not a skip.

Each of these databases is new and empty, at the newest schema: a copy of one that the
migrations made once per test process (see ``database_templates``). The tests of opening and
migrating a database take an unmigrated one from the ``empty_*`` fixtures.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from assay import _runtime
from assay.store.base import Store
from assay.store.sql import SqlStore
from assay.store.uri import mask_uri, open_store
from database_templates import (
    PostgresTemplate,
    copy_sqlite_template,
    libpq_uri,
    migrate_sqlite_template,
    new_schema,
)
from genai.judge_server import JudgeServer
from runtimes import default_runtime

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from server.live import LiveServer

POSTGRES_URI_ENV = "ASSAY_TEST_POSTGRES_URI"
DEFAULT_POSTGRES_URI = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_base_uri() -> str:
    return os.environ.get(POSTGRES_URI_ENV) or DEFAULT_POSTGRES_URI


def _skip_or_fail(reason: str, what: str = "PostgreSQL tests") -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: {what} must run)", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class PostgresServer:
    """The PostgreSQL server tests run against: its URI, or why it cannot be used."""

    uri: str | None
    problem: str = ""

    def base_uri(self) -> str:
        """The server's URI; skips the test (fails it on CI) when there is none."""
        if self.uri is None:
            _skip_or_fail(self.problem)
        return self.uri


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
        with psycopg.connect(libpq_uri(base), connect_timeout=3):
            pass
    except psycopg.Error:
        return PostgresServer(
            None, f"PostgreSQL not reachable at {mask_uri(base)}; set {POSTGRES_URI_ENV}")
    return PostgresServer(base)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file the migrations made, once per test process; tests get copies."""
    return migrate_sqlite_template(tmp_path_factory.mktemp("template") / "migrated.db")


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[PostgresTemplate]:
    """PostgreSQL schemas as the migrations make them, recorded once per test process and
    reset for reuse between tests."""
    template = PostgresTemplate(postgres_server.base_uri())
    yield template
    template.close()


@dataclass(frozen=True)
class Backend:
    """Where a test's data lives: ``kind`` is sqlite, postgresql or rest; ``tracking_uri`` is
    what the SDK is pointed at, ``database_uri`` the database itself (for rest, the SQLite
    file behind the server)."""

    kind: str
    tracking_uri: str
    database_uri: str


_SQL_PARAMS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _migrated_database(request: pytest.FixtureRequest, kind: str,
                       tmp_path: Path) -> Iterator[str]:
    """A new database at the newest schema: a copy of the process's template."""
    if kind == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        yield copy_sqlite_template(template, tmp_path / "assay.db")
    else:
        postgres: PostgresTemplate = request.getfixturevalue("postgres_template")
        with postgres.schema() as uri:
            yield uri


def _empty_database(kind: str, tmp_path: Path, server: PostgresServer) -> Iterator[str]:
    """A new database that nothing has set up: a SQLite path, or an empty schema."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'assay.db'}"
    else:
        with new_schema(server.base_uri()) as uri:
            yield uri


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
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty store three ways: a SQLite file, a PostgreSQL schema, and an Assay
    server (real uvicorn on 127.0.0.1, over a SQLite file) reached through the REST store."""
    if request.param != "rest":
        for uri in _migrated_database(request, request.param, tmp_path):
            yield Backend(request.param, uri, uri)
        return
    live: LiveServer = request.getfixturevalue("rest_server")
    template: Path = request.getfixturevalue("sqlite_template")
    database = copy_sqlite_template(template, tmp_path / "server.db")
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
def database_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of a fresh database at the newest schema, with no data: a SQLite file, then
    a PostgreSQL schema."""
    yield from _migrated_database(request, request.param, tmp_path)


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def postgres_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of a fresh PostgreSQL schema at the newest schema, for tests of PostgreSQL
    alone."""
    yield from _migrated_database(request, "postgresql", tmp_path)


@pytest.fixture
def sqlite_uri(sqlite_template: Path, tmp_path: Path) -> str:
    """The URI of a fresh SQLite file at the newest schema, for tests that need no second
    backend."""
    return copy_sqlite_template(sqlite_template, tmp_path / "assay.db")


@pytest.fixture(params=_SQL_PARAMS)
def empty_database_uri(request: pytest.FixtureRequest, tmp_path: Path,
                       postgres_server: PostgresServer) -> Iterator[str]:
    """The URI of a database nothing has set up (a SQLite file that does not exist yet, an
    empty PostgreSQL schema), for the tests of opening and migrating one."""
    yield from _empty_database(request.param, tmp_path, postgres_server)


@pytest.fixture
def empty_sqlite_uri(tmp_path: Path) -> str:
    """The URI of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'assay.db'}"


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_postgres_uri(postgres_server: PostgresServer) -> Iterator[str]:
    """The URI of an empty PostgreSQL schema."""
    with new_schema(postgres_server.base_uri()) as uri:
        yield uri


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


@pytest.fixture
def rt(tracking_uri: str) -> Iterator[_runtime.Runtime]:
    """The default runtime, new, tracing into the test's store (SQLite, PostgreSQL, REST)."""
    with default_runtime(tracking_uri) as runtime:
        yield runtime


@pytest.fixture
def sqlite_rt(sqlite_uri: str) -> Iterator[_runtime.Runtime]:
    """The default runtime, new, on SQLite only, for behaviour that does not touch SQL."""
    with default_runtime(sqlite_uri) as runtime:
        yield runtime


# -- the judge server: an OpenAI-compatible endpoint for LLM judges --------------------------

@pytest.fixture(scope="module")
def judge_server() -> Iterator[JudgeServer]:
    server = JudgeServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def judge(judge_server: JudgeServer, monkeypatch: pytest.MonkeyPatch) -> JudgeServer:
    """The judge server as this environment's OpenAI endpoint, its log emptied."""
    monkeypatch.setenv("OPENAI_BASE_URL", judge_server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ASSAY_GENAI_JUDGE_DEFAULT_MODEL", "openai:/judge")
    judge_server.requests.clear()
    return judge_server


# -- headless Chromium ------------------------------------------------------------------------

CHROMIUM_ENV = "ASSAY_TEST_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _chromium_path() -> str | None:
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    if Path(path).is_file():
        return path
    return shutil.which("chromium")


class _Chromium:
    """The test process's headless Chromium, launched by the first module that browses and
    kept until the end of the run (launching it costs about a second; a run has some twenty
    modules that browse, in each test process).

    Playwright's sync API keeps its event loop marked as running in the thread between its
    calls, and ``asyncio.run`` refuses to start while one is: the mark is taken off when a
    module that browsed is over (:meth:`park`) and put back when the next one starts
    (:meth:`resume`), so that the other modules' tests run as if no browser were there.
    """

    def __init__(self, executable: str) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright_manager = sync_playwright()
        self._playwright = self._playwright_manager.__enter__()
        self._loop = asyncio.events._get_running_loop()
        assert self._loop is not None, "Playwright's sync API left no loop running"
        self._executable = executable
        self._browser: Browser | None = None

    def resume(self) -> Browser:
        """The browser, its loop marked as running again; launched anew if it went away."""
        asyncio.events._set_running_loop(self._loop)
        if self._browser is None or not self._browser.is_connected():
            self._browser = self._playwright.chromium.launch(
                executable_path=self._executable, headless=True, args=CHROMIUM_ARGS)
        return self._browser

    def park(self) -> None:
        """Between modules: no loop marked as running, the browser left open."""
        asyncio.events._set_running_loop(None)

    def close(self) -> None:
        asyncio.events._set_running_loop(self._loop)
        try:
            if self._browser is not None and self._browser.is_connected():
                self._browser.close()
        finally:
            self._playwright_manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def _chromium() -> Iterator[_Chromium]:
    executable = _chromium_path()
    if executable is None:
        _skip_or_fail(f"Chromium not found at {DEFAULT_CHROMIUM} (apt-get install chromium) "
                      f"or {CHROMIUM_ENV}", "browser tests")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("the playwright package is not installed: pip install -e '.[dev]'",
                      "browser tests")
    chromium = _Chromium(executable)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def browser(_chromium: _Chromium) -> Iterator[Browser]:
    """Headless Chromium for the tests of one module.

    Chromium is the system's (``/usr/bin/chromium``, or ``ASSAY_TEST_CHROMIUM``); nothing is
    downloaded. Without it (or without the ``playwright`` package) browser tests are skipped
    with the reason, except on CI (``CI=true``), where they fail. One browser serves every
    module of a test process (see ``_Chromium``); each test opens its own context in it (the
    ``page`` fixture, or the test itself), so nothing of one test's pages reaches another's.
    While a module browses, ``asyncio.run`` cannot be called in it."""
    chromium = _chromium.resume()
    try:
        yield chromium
    finally:
        try:
            for context in chromium.contexts:  # what a test of the module left open
                context.close()
        finally:
            _chromium.park()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab the size of a laptop screen (1366 by 768)."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection made (test modules, items, the app's routes and models) lives for the
    whole run: frozen out of the garbage collector's generations, so that each of the run's
    full collections (hypothesis and the servers make many) does not walk it again (as
    ``assay server`` does with what it builds at start-up)."""
    gc.collect()
    gc.freeze()
