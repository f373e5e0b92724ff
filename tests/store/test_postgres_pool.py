"""The PostgreSQL store keeps the connections it opens: a burst of requests above a handful
does not open (and close) new backends each time, whose first statements are slow; and the
stores of one process open on one URI share those connections, closed with the last store."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from assay.store.sql import SqlStore
from assay.store.sql.engine import POSTGRES_POOL_SIZE, open_engine, release_engine
from database_templates import libpq_uri

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


def named(uri: str, name: str) -> str:
    """``uri`` with an application name of its own: a URI no other store of the tests uses,
    whose connections the server lists under that name."""
    return f"{uri}{'&' if '?' in uri else '?'}application_name={name}"


def backends_named(uri: str, name: str) -> int:
    with psycopg.connect(libpq_uri(uri), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                           [name]).fetchone()
    assert row is not None
    return int(row[0])


def test_a_second_burst_of_requests_opens_no_new_connection(postgres_uri: str) -> None:
    assert BURST <= POSTGRES_POOL_SIZE
    store = SqlStore(named(postgres_uri, "burst"))  # none of the schema's shared connections
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


def test_stores_on_one_uri_share_connections_until_the_last_is_closed(
        postgres_uri: str) -> None:
    name = f"shared-{uuid.uuid4().hex[:8]}"
    uri = named(postgres_uri, name)
    first, second = SqlStore(uri), SqlStore(uri)
    try:
        assert first._engine is second._engine
        first.create_experiment("by the first")
        first.close()
        first.close()  # again: changes nothing
        assert second.find_experiment_by_name("by the first") is not None  # still open
        assert backends_named(postgres_uri, name) >= 1
        third = SqlStore(uri)
        assert third._engine is second._engine
        third.close()
    finally:
        second.close()
    assert backends_named(postgres_uri, name) == 0  # closed with the last store
    again = SqlStore(uri)  # a new engine, which works
    try:
        assert again.find_experiment_by_name("by the first") is not None
    finally:
        again.close()


def test_a_store_that_cannot_open_gives_its_engine_back(postgres_uri: str) -> None:
    uri = named(postgres_uri, "unmigratable")
    engine, _ = open_engine(uri)
    try:
        with engine.begin() as conn:  # a revision this version of Assay does not know
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'from_the_future'"))
        with pytest.raises(Exception, match="from_the_future"):
            SqlStore(uri)
    finally:
        release_engine(engine)
    # The failed store gave its use back: with ours given back too, nobody uses the engine,
    # so the next store on the URI gets a new one.
    fresh, _ = open_engine(uri)
    try:
        assert fresh is not engine
    finally:
        release_engine(fresh)


def test_sqlite_stores_keep_engines_of_their_own(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'own.db'}"
    first, second = SqlStore(uri), SqlStore(uri)
    try:
        assert first._engine is not second._engine
    finally:
        first.close()
        second.close()


def test_a_forked_child_opens_connections_of_its_own(postgres_uri: str) -> None:
    uri = named(postgres_uri, "forked")
    parent = SqlStore(uri)
    try:
        parent.create_experiment("before the fork")
        child = os.fork()
        if child == 0:  # the child: a store of its own, on connections of its own
            status = 1
            try:
                store = SqlStore(uri)
                if store._engine is not parent._engine and \
                        store.find_experiment_by_name("before the fork") is not None:
                    status = 0
                store.close()
            finally:
                os._exit(status)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert parent.find_experiment_by_name("before the fork") is not None  # unharmed
    finally:
        parent.close()
