"""The ``served`` fixture: the server app over the ``sql_store`` fixture's database (SQLite
and PostgreSQL) and an httpx client of it. The app runs in this process, unless the test is
marked ``live_server`` (the network is its point): then real uvicorn serves it on
127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assay.store.sql import SqlStore
from server.live import Served, in_process, live


@pytest.fixture
def served(request: pytest.FixtureRequest, sql_store: SqlStore) -> Iterator[Served]:
    serve = live if request.node.get_closest_marker("live_server") else in_process
    with serve(sql_store) as served:
        yield served
