"""A table held locked from another connection, so that the code under test waits to write."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from assay.store.sql.dialect import Dialect
from assay.store.sql.engine import WRITE_OPTION, create_engine


@contextlib.contextmanager
def writes_blocked(database_uri: str, table: str) -> Iterator[None]:
    """Hold the database's write lock (SQLite: the whole database) or a lock on ``table``
    (PostgreSQL, which still lets it be read) from another connection until the block ends;
    what was written in the block is rolled back."""
    engine, dialect = create_engine(database_uri)
    conn = engine.connect()
    try:
        if dialect is Dialect.SQLITE:
            conn.execution_options(**{WRITE_OPTION: True})  # BEGIN IMMEDIATE
        transaction = conn.begin()
        if dialect is Dialect.POSTGRESQL:
            conn.exec_driver_sql(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
        yield
        transaction.rollback()
    finally:
        conn.close()
        engine.dispose()
