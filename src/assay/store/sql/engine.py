"""The SQLAlchemy engine for a tracking URI: driver, pool and per-connection settings.

SQLite gets a set of pragmas and a ``regexp`` function on every new connection and hands
control of BEGIN to SQLAlchemy, so that reads see one snapshot and writes take the write lock
up front.
PostgreSQL goes through the psycopg 3 driver.
"""

from __future__ import annotations

from typing import Any, assert_never

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from assay.errors import InvalidTrackingURIError, StoreUnavailableError
from assay.search.regex import regex_search
from assay.store.sql.dialect import Dialect
from assay.store.uri import mask_uri

__all__ = [
    "WRITE_OPTION",
    "connection_error",
    "create_engine",
    "driver_message",
    "is_memory_sqlite",
]

#: Execution option that marks a connection as a writer: on SQLite its transactions start
#: with BEGIN IMMEDIATE instead of BEGIN (see ``_begin_sqlite``).
WRITE_OPTION = "assay_write"

# WAL lets readers keep reading while one writer writes (the default rollback journal blocks
# every reader during a commit), and it makes each commit one sequential append to the log.
_SQLITE_JOURNAL_MODE = "WAL"
# In WAL mode, NORMAL syncs at checkpoints rather than at every commit. A crash or kill of the
# process loses nothing committed; only a power cut or OS crash can lose the last commits, and
# the database stays consistent either way. FULL would cost one fsync per exported batch.
_SQLITE_SYNCHRONOUS = "NORMAL"
# SQLite ignores foreign keys unless told otherwise, per connection; deleting a trace relies
# on ON DELETE CASCADE to delete its spans, tags and metadata.
_SQLITE_FOREIGN_KEYS = "ON"
# WAL pages (4 KiB each) after which a commit copies the log back into the database (a
# checkpoint, with two fsyncs). SQLite's default, 1,000, means a checkpoint every commit or
# two once traces arrive by the hundred (each trace touches about ten pages of randomly
# keyed indexes); every 10,000, a page written by several commits is copied once, and a
# server ingests about 40% more traces a second. The log grows to about 40 MB before it is
# reused.
_SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000
# Page cache per connection, in KiB (SQLite's default: 2 MiB). A batch of traces inserts
# into a dozen indexes keyed by random ids; with 2 MiB, pages of their upper levels are read
# again from the file for every batch once the database passes a few tens of MB, and
# writing a trace costs about twice as much. Pages are cached as they are read: a
# connection that reads little stays small.
_SQLITE_CACHE_KIB = 16 * 1024
# Several processes (an app's exporter, the server, a notebook) may write the same file.
# Instead of failing at once with "database is locked", a writer waits this long (ms) for the
# lock; batches are short, so the wait is normally a few milliseconds.
_SQLITE_BUSY_TIMEOUT_MS = 30_000

# How long to wait for a PostgreSQL server before reporting it unreachable (seconds); the
# driver's default is to wait forever on a host that drops packets.
_POSTGRES_CONNECT_TIMEOUT_S = 10


def create_engine(uri: str) -> tuple[sa.Engine, Dialect]:
    """A new engine for ``uri`` (already validated by ``assay.store.uri``), and its dialect."""
    url = _parse(uri)
    backend = url.get_backend_name()
    try:
        dialect = Dialect("postgresql" if backend == "postgres" else backend)
    except ValueError:
        raise InvalidTrackingURIError(
            f"Invalid tracking URI {mask_uri(uri)!r}: the SQL store supports sqlite and "
            "postgresql") from None
    match dialect:
        case Dialect.SQLITE:
            return _create_sqlite_engine(uri, url), dialect
        case Dialect.POSTGRESQL:
            return _create_postgres_engine(uri, url), dialect
        case _:
            assert_never(dialect)


def is_memory_sqlite(engine: sa.Engine) -> bool:
    """Whether the engine is an in-memory SQLite database (one connection, shared)."""
    return engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")


def connection_error(uri: str, exc: sa.exc.DBAPIError) -> StoreUnavailableError:
    """The error to raise when the database behind ``uri`` cannot be reached or opened."""
    return StoreUnavailableError(
        f"Cannot use the database at {mask_uri(uri)!r}: {driver_message(exc)}")


def driver_message(exc: sa.exc.DBAPIError) -> str:
    """The database driver's own message, first line only (SQLAlchemy's adds the SQL)."""
    lines = str(exc.orig).strip().splitlines() if exc.orig is not None else []
    return lines[0] if lines else type(exc).__name__


def _parse(uri: str) -> URL:
    try:
        return make_url(uri)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise InvalidTrackingURIError(
            f"Invalid tracking URI {mask_uri(uri)!r}: it cannot be parsed") from exc


def _driver_name(url: URL) -> str:
    # The part after "+" in "dialect+driver"; "" when the URI names no driver. (URL has
    # get_driver_name(), but it loads the dialect, which fails for the "postgres" alias.)
    return url.drivername.partition("+")[2]


def _create_sqlite_engine(uri: str, url: URL) -> sa.Engine:
    driver = _driver_name(url)
    if driver not in ("", "pysqlite"):
        raise InvalidTrackingURIError(
            f"Invalid tracking URI {mask_uri(uri)!r}: the SQLite driver {driver!r} is not "
            "supported; use sqlite:///path/to/file.db")
    url = url.set(drivername="sqlite+pysqlite")
    kwargs: dict[str, Any] = {}
    if url.database in (None, "", ":memory:"):
        # An in-memory database lives and dies with its connection, so every thread must
        # share the one connection; the store serializes access to it with a lock.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = sa.create_engine(url, **kwargs)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy emit BEGIN (see _begin_sqlite): the sqlite3 module's own transaction
    # handling (before Python 3.12) skips BEGIN for SELECT and DDL, which breaks snapshot
    # reads and makes migrations non-transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # PRAGMA takes no bound parameters; these values are the module's own constants.
        # busy_timeout first: switching to WAL needs a lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS:d}")
        cursor.execute(f"PRAGMA journal_mode = {_SQLITE_JOURNAL_MODE}")
        cursor.execute(f"PRAGMA synchronous = {_SQLITE_SYNCHRONOUS}")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {_SQLITE_WAL_AUTOCHECKPOINT_PAGES:d}")
        cursor.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB:d}")  # negative: KiB
        cursor.execute(f"PRAGMA foreign_keys = {_SQLITE_FOREIGN_KEYS}")
    finally:
        cursor.close()
    # SQLite parses "x REGEXP p" but leaves the function to the application. SQLAlchemy
    # registers one with Python's re, which backtracks (a pattern such as ^(a+)+$ takes
    # minutes on a short value) and raises on a bad pattern, failing the whole query; this
    # one matches with RE2, compiles each pattern once and treats a bad one, or a NULL, as
    # no match. Search uses it
    # for RLIKE and for case-insensitive ILIKE (see dialect.like and dialect.regexp).
    dbapi_connection.create_function("regexp", 2, _regexp, deterministic=True)


def _regexp(pattern: object, value: object) -> bool:
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    # RE2 (see assay.search.regex): linear in the value whatever the pattern, so no row can
    # hold the connection, or a lock, for long.
    return regex_search(pattern, value)


def _begin_sqlite(conn: Connection) -> None:
    # A write transaction takes the write lock when it starts. Started as a plain (deferred)
    # BEGIN, it would take a read lock first, and upgrading that to a write lock while another
    # connection writes fails at once with SQLITE_BUSY, without waiting for busy_timeout.
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _create_postgres_engine(uri: str, url: URL) -> sa.Engine:
    driver = _driver_name(url)
    if driver not in ("", "psycopg"):
        raise InvalidTrackingURIError(
            f"Invalid tracking URI {mask_uri(uri)!r}: the PostgreSQL driver {driver!r} is not "
            "supported; Assay uses psycopg 3 (postgresql://…)")
    try:
        import psycopg  # noqa: F401  # only to report its absence clearly
    except ImportError:
        raise InvalidTrackingURIError(
            f"Tracking URI {mask_uri(uri)!r} needs the PostgreSQL driver psycopg, which is not "
            "installed: pip install 'assay[postgres]'") from None
    url = url.set(drivername="postgresql+psycopg")
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = _POSTGRES_CONNECT_TIMEOUT_S
    # pre_ping: a server restart or an idle-connection reaper otherwise surfaces as an error on
    # the next write; a ping on checkout costs one round trip and reconnects instead.
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)

