"""The PostgreSQL store keeps the connections it opens: a burst of requests above a handful
does not open (and close) new backends each time, whose first statements are slow."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from assay.store.sql import SqlStore
from assay.store.sql.engine import POSTGRES_POOL_SIZE

pytestmark = pytest.mark.postgres

BURST = 12  # more than SQLAlchemy's default pool of 5, fewer than ours


def hold_connections_at_once(store: SqlStore, count: int) -> None:
    """``count`` threads each hold one of the store's connections at the same moment."""
    together = threading.Barrier(count)
    failures: list[BaseException] = []

    def hold() -> None:
        try:
            with store._reading() as conn:
                conn.execute(sa.text("SELECT 1"))
                together.wait(timeout=30)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=hold) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_a_second_burst_of_requests_opens_no_new_connection(postgres_uri: str) -> None:
    assert BURST <= POSTGRES_POOL_SIZE
    store = SqlStore(postgres_uri)
    opened: list[object] = []
    sa.event.listen(store._engine, "connect", lambda *_: opened.append(None))
    try:
        hold_connections_at_once(store, BURST)
        first = len(opened)
        assert first >= BURST - 1  # the store's own connection from opening may be reused
        hold_connections_at_once(store, BURST)
        assert len(opened) == first
    finally:
        store.close()


def test_a_new_connection_does_not_look_up_hstore(postgres_uri: str) -> None:
    # Assay has no hstore column; looking the type up is a query on every new engine's first
    # connection.
    store = SqlStore(postgres_uri)
    try:
        assert store._engine.dialect.use_native_hstore is False  # type: ignore[attr-defined]
        with store._reading() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        store.close()
