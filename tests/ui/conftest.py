"""Fixtures of the web UI's tests: ``ui_server``, the server over a fresh store (SQLite and
PostgreSQL). Headless Chromium (``browser``, ``page``) comes from the root conftest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assay.store.sql import SqlStore
from server.live import Served, in_process, live


@pytest.fixture
def ui_server(request: pytest.FixtureRequest, sql_store: SqlStore) -> Iterator[Served]:
    """The server over the ``sql_store`` fixture's database (SQLite and PostgreSQL), with an
    httpx client that asks for HTML the way a browser does. In this process, unless the test
    drives a browser (it takes ``page`` or ``browser``) or is marked ``live_server``: then
    real uvicorn serves it on 127.0.0.1."""
    browses = not {"page", "browser"}.isdisjoint(request.fixturenames)
    serve = live if browses or request.node.get_closest_marker("live_server") else in_process
    with serve(sql_store, headers={"Accept": "text/html,application/xhtml+xml"}) as served:
        yield served
