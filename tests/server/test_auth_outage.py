"""While the database does not answer, the checks in front of every route (API keys, sign-ins,
the CSRF signing key) answer 503, as a page for a browser and JSON for the API, and the
server keeps every connection; when the database is back, so is the server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import make_url

from assay.server.settings import ServerSettings
from assay.store.sql import SqlStore
from local_http import LOCAL_TLS
from server.live import LiveServer

MEMBER_PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Database:
    """A PostgreSQL database of its own, which a test can close to every connection."""

    admin_uri: str
    name: str
    uri: str

    def _execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_uri, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # fixed text, our own name

    def refuse_connections(self) -> None:
        """New connections are refused and the open ones are ended, as when the server
        goes away."""
        self._execute(
            f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()")

    def accept_connections(self) -> None:
        self._execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


@pytest.fixture
def database(postgres_uri: str) -> Iterator[Database]:
    # A database, not a schema: the outage must not touch any other test's connections.
    base = make_url(postgres_uri.split("?", 1)[0])
    admin_uri = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"assay_outage_{uuid.uuid4().hex[:12]}"
    created = Database(admin_uri, name, base.set(database=name).render_as_string(
        hide_password=False))
    created._execute(f'CREATE DATABASE "{name}"')
    try:
        yield created
    finally:
        created._execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true',
                         f'DROP DATABASE "{name}" WITH (FORCE)')


def _assert_unavailable(response: httpx.Response, page: bool, secret: str) -> None:
    assert response.status_code == 503, (response.request.url, response.text[:500])
    if page:
        assert response.headers["content-type"].startswith("text/html")
        assert "The database does not answer" in response.text
    else:
        assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert secret not in response.text and "postgresql" not in response.text


@pytest.mark.postgres
def test_pages_and_api_answer_503_while_postgresql_is_down(database: Database) -> None:
    store = SqlStore(database.uri)
    store.create_user("admin", "admin")
    key = store.create_api_key("admin", "tests").token
    store.create_user("member", "member", password=MEMBER_PASSWORD)
    session = store.create_login_session("member")
    live = LiveServer(store, ServerSettings(port=0, backend_store_uri=store.uri, auth=True))
    live.start()
    try:
        with httpx.Client(base_url=live.url, verify=LOCAL_TLS, timeout=30,
                          headers={"Accept": "text/html"}) as browser, \
                httpx.Client(base_url=live.url, verify=LOCAL_TLS, timeout=30,
                             headers={"Authorization": f"Bearer {key}"}) as sdk:
            # No page has been served yet, so the CSRF signing key has not been read.
            database.refuse_connections()
            _assert_unavailable(browser.get("/login"), page=True, secret=database.name)
            _assert_unavailable(sdk.get("/api/v1/experiments"), page=False,
                                secret=database.name)
            browser.cookies.set("assay_session", session)
            _assert_unavailable(browser.get("/"), page=True, secret=database.name)
            _assert_unavailable(browser.get("/experiments/0.json"), page=False,
                                secret=database.name)
            posted = browser.post("/login", data={"username": "member", "csrf_token": "x.y",
                                                  "password": MEMBER_PASSWORD})
            _assert_unavailable(posted, page=True, secret=database.name)
            assert browser.get("/health").status_code == 503

            database.accept_connections()
            deadline = time.monotonic() + 20
            while (answer := browser.get("/")).status_code == 503:
                assert time.monotonic() < deadline, answer.text[:500]
                time.sleep(0.1)
            assert answer.status_code == 200 and "member" in answer.text
            assert sdk.get("/api/v1/experiments").status_code == 200
    finally:
        live.stop()
        store.close()


def test_pages_answer_503_when_the_store_is_closed(sql_store: SqlStore) -> None:
    # Without auth the only lookup before a page is the CSRF signing key.
    live = LiveServer(sql_store)
    live.start()
    try:
        sql_store.close()
        with httpx.Client(base_url=live.url, verify=LOCAL_TLS, timeout=30,
                          headers={"Accept": "text/html"}) as browser:
            for _ in range(2):  # on the same connection: it was not dropped
                _assert_unavailable(browser.get("/"), page=True, secret=sql_store.uri)
            # A form whose token matches its cookie: only the signing key can tell.
            browser.cookies.set("assay_csrf", "x.y")
            _assert_unavailable(browser.post("/logout", data={"csrf_token": "x.y"}),
                                page=True, secret=sql_store.uri)
    finally:
        live.stop()
