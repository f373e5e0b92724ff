"""The ``served`` fixture: a real uvicorn server over the ``store`` fixture's database (SQLite
and PostgreSQL), and an httpx client talking to it over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from assay.store.sql import SqlStore
from server.live import LiveServer, Served


@pytest.fixture
def served(sql_store: SqlStore) -> Iterator[Served]:
    live = LiveServer(sql_store)
    live.start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            yield Served(sql_store, http, live.url)
    finally:
        live.stop()
