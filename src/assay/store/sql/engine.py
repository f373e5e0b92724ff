"""The SQLAlchemy engine for a tracking URI: driver, pool and per-connection settings.

SQLite gets a set of pragmas and a ``regexp`` function on every new connection and hands
control of BEGIN to SQLAlchemy, so that reads see one snapshot and writes take the write lock
up front.
PostgreSQL goes through the psycopg 3 driver.

Statements run inside :func:`bound_queries` (the server runs each request so) are bounded:
each may run for the bounds' timeout at most, and :meth:`QueryBounds.cancel` stops the one
running (the server calls it when the client goes away). PostgreSQL enforces the timeout
itself (``statement_timeout``) and is cancelled through the driver; on SQLite a progress
handler checks the deadline and the cancel flag every few thousand virtual-machine steps.
A stopped statement raises :class:`~assay.errors.QueryTimeoutError` (see
:func:`database_error`). :func:`narrowed_timeout` gives the statements of a block a shorter
budget (the traces page's count).
"""

from __future__ import annotations

import contextvars
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, assert_never

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from assay.errors import (
    AssayError,
    InvalidParameterError,
    InvalidTrackingURIError,
    QueryTimeoutError,
    StoreUnavailableError,
)
from assay.search.regex import regex_search
from assay.store.sql.dialect import Dialect
from assay.store.uri import mask_uri

__all__ = [
    "POSTGRES_POOL_SIZE",
    "WRITE_OPTION",
    "QueryBounds",
    "bound_queries",
    "connection_error",
    "create_engine",
    "database_error",
    "driver_message",
    "is_memory_sqlite",
    "narrowed_timeout",
    "open_engine",
    "release_engine",
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

#: Connections to PostgreSQL a process keeps at most for one URI (its stores on that URI
#: share them, see :func:`open_engine`): as many as a server's requests that
#: run at once can use without waiting for one in the common case (every request holds one
#: for a few milliseconds), and few enough that several server processes fit PostgreSQL's
#: default of 100 connections. Requests beyond it wait for a connection (30 s at most).
POSTGRES_POOL_SIZE = 20

# SQLite calls the progress handler of a bounded statement every this many virtual-machine
# steps (a few milliseconds of work): often enough to stop within moments, rarely enough
# that the handler (which needs the GIL) costs nothing measurable.
_SQLITE_PROGRESS_STEPS = 10_000
# The connection.info key of the bounds a SQLite connection's progress handler serves.
_BOUNDS_KEY = "assay_bounds"


class QueryBounds:
    """Bounds on the statements run under :func:`bound_queries`: a timeout per statement,
    and a switch that stops the running statement and refuses any later one.

    Args:
        timeout_seconds: how long one statement may run; None for no limit.
    """

    def __init__(self, timeout_seconds: float | None) -> None:
        if timeout_seconds is not None and not timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds!r}")
        self.timeout_seconds = timeout_seconds
        self.cancelled = False
        self.timed_out = False
        self._deadline = math.inf
        self._lock = threading.Lock()
        self._cancel_running: Callable[[], object] | None = None

    def cancel(self) -> None:
        """Stop the statement running under these bounds, if any, and refuse later ones.

        Safe from any thread; on PostgreSQL it sends a cancel request over the network, so
        call it off the event loop.
        """
        with self._lock:
            self.cancelled = True
            # Inside the lock: the statement cannot finish and hand its connection to another
            # request's statement before the cancel request has been sent.
            if self._cancel_running is not None:
                self._cancel_running()

    def _start(self, cancel_running: Callable[[], object] | None) -> None:
        with self._lock:
            if self.cancelled:
                raise QueryTimeoutError("The query was cancelled: its client went away")
            self._cancel_running = cancel_running
        if self.timeout_seconds is not None:
            self._deadline = time.monotonic() + self.timeout_seconds

    def _finish(self) -> None:
        with self._lock:
            self._cancel_running = None

    def _should_stop(self) -> bool:
        # SQLite's progress handler: a true value interrupts the statement.
        if self.cancelled:
            return True
        if time.monotonic() > self._deadline:
            self.timed_out = True
            return True
        return False


_BOUNDS: contextvars.ContextVar[QueryBounds | None] = contextvars.ContextVar(
    "assay_query_bounds", default=None)


@contextmanager
def bound_queries(bounds: QueryBounds) -> Iterator[QueryBounds]:
    """Run the statements of this context (and of threads started with a copy of it, such
    as a web framework's threadpool) under ``bounds``."""
    token = _BOUNDS.set(bounds)
    try:
        yield bounds
    finally:
        _BOUNDS.reset(token)


def database_error(uri: str, exc: sa.exc.OperationalError) -> AssayError:
    """The error to raise for an operational error of the database behind ``uri``.

    A statement stopped by its bounds is a :class:`QueryTimeoutError`; a statement the
    database finds too complex (SQLite's "Expression tree is too large", PostgreSQL's
    program limits) an :class:`InvalidParameterError`, the caller's to fix; anything else
    a :class:`StoreUnavailableError`.
    """
    bounds = _BOUNDS.get()
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    message = driver_message(exc)
    stopped = sqlstate == "57014" or message == "interrupted"  # query_canceled; SQLite's
    if stopped and bounds is not None:
        if bounds.cancelled:
            return QueryTimeoutError("The query was cancelled: its client went away")
        return QueryTimeoutError(
            f"The query ran past the server's statement timeout ({bounds.timeout_seconds:g} "
            "s) and was stopped. Narrow the search: fewer experiments, a shorter time range, "
            "fewer or simpler clauses")
    if sqlstate.startswith("54") or message.startswith(_SQLITE_TOO_COMPLEX):
        return InvalidParameterError(
            f"The request is too complex for the database ({message}); use fewer clauses "
            "or values")
    return connection_error(uri, exc)


_SQLITE_TOO_COMPLEX = ("Expression tree is too large", "too many terms in compound SELECT",
                       "parser stack overflow", "too many SQL variables",
                       "LIKE or GLOB pattern too complex", "too many FROM clause terms")


def _before_execute(conn: Connection, cursor: Any, statement: str, parameters: Any,
                    context: Any, executemany: bool) -> None:
    bounds = _BOUNDS.get()
    pooled = conn.connection
    dbapi = pooled.dbapi_connection
    if conn.dialect.name == "sqlite":
        if pooled.info.get(_BOUNDS_KEY) is not bounds:
            # Installed only while bounds are active, so the SDK's and a benchmark's
            # statements run without a handler.
            if bounds is None:
                dbapi.set_progress_handler(None, 0)  # type: ignore[union-attr]
            else:
                dbapi.set_progress_handler(  # type: ignore[union-attr]
                    bounds._should_stop, _SQLITE_PROGRESS_STEPS)
            pooled.info[_BOUNDS_KEY] = bounds
        if bounds is not None:
            bounds._start(None)  # the progress handler sees the cancel flag
        return
    if bounds is not None:
        cancel = getattr(dbapi, "cancel_safe", None) or getattr(dbapi, "cancel", None)
        bounds._start(cancel)


def _after_execute(*_: Any) -> None:
    # After a statement (psycopg has the whole result once execute returns) or its error:
    # nothing runs any more, and the connection may go to another request.
    bounds = _BOUNDS.get()
    if bounds is not None:
        bounds._finish()


def _begin_postgres(conn: Connection) -> None:
    bounds = _BOUNDS.get()
    if bounds is not None and bounds.timeout_seconds is not None:
        # PostgreSQL enforces the timeout itself, so a statement stops even if this process
        # dies; SET LOCAL ends with the transaction. The value is a number of ours.
        conn.exec_driver_sql(
            f"SET LOCAL statement_timeout = {max(1, round(bounds.timeout_seconds * 1000)):d}")


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


@dataclass
class _Shared:
    engine: sa.Engine
    dialect: Dialect
    users: int


# PostgreSQL engines by URI, each with the number of stores of this process using it.
_SHARED: dict[str, _Shared] = {}
_SHARED_LOCK = threading.Lock()


def _forget_shared_engines() -> None:
    # A forked child must not use its parent's connections (their sockets are the parent's):
    # its stores open engines of their own.
    global _SHARED_LOCK
    _SHARED.clear()
    _SHARED_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_shared_engines)


def open_engine(uri: str) -> tuple[sa.Engine, Dialect]:
    """The engine a store opened on ``uri`` uses, and its dialect; give it back with
    :func:`release_engine`.

    On PostgreSQL the stores of one process that are open on the same URI share one engine,
    so one pool of connections (``POSTGRES_POOL_SIZE`` at most): a process that opens
    several stores on one database (an app's tracing and its client, a server's tools) does
    not multiply its connections, and a store opened again finds connections whose caches
    are warm. A SQLite engine is the store's own (an in-memory database is its engine's
    only connection; a file's writers take turns under each store's own lock).
    """
    if _parse(uri).get_backend_name() not in ("postgresql", "postgres"):
        return create_engine(uri)
    with _SHARED_LOCK:
        shared = _SHARED.get(uri)
        if shared is None:
            shared = _SHARED[uri] = _Shared(*create_engine(uri), users=0)
        shared.users += 1
        return shared.engine, shared.dialect


def release_engine(engine: sa.Engine) -> None:
    """Give back an engine from :func:`open_engine`: its connections are closed once no
    store of the process uses it."""
    with _SHARED_LOCK:
        for uri, shared in _SHARED.items():
            if shared.engine is engine:
                shared.users -= 1
                if shared.users > 0:
                    return
                del _SHARED[uri]
                break
    engine.dispose()


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
    event.listen(engine, "before_cursor_execute", _before_execute)
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
    # The pool keeps every connection it opens (no overflow): an overflow connection is closed
    # as soon as it is returned, so a burst of requests above the pool's size opened new
    # backends again and again, and a new backend's first statements (its catalog caches
    # cold) took 100 ms where 2 do on a warm one.
    # use_native_hstore off: Assay has no hstore column, and on SQLAlchemy's first connection
    # looking the type up is a query of its own (1.4 ms of the 6.7 a new store's first
    # connection takes).
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=POSTGRES_POOL_SIZE,
                              max_overflow=0, connect_args=connect_args,
                              use_native_hstore=False)
    event.listen(engine, "begin", _begin_postgres)
    event.listen(engine, "before_cursor_execute", _before_execute)
    event.listen(engine, "after_cursor_execute", _after_execute)
    event.listen(engine, "handle_error", _after_execute)
    return engine


@contextmanager
def narrowed_timeout(seconds: float) -> Iterator[QueryBounds]:
    """Run the statements of this context for at most ``seconds`` each (or the bounds'
    timeout, if shorter): a budget for a statement whose answer is a nicety, such as a
    count beside a page. The request's bounds stay in force (a cancel still stops the
    statement); without bounds, these are the only ones. A statement past the budget
    raises :class:`~assay.errors.QueryTimeoutError`, and the bounds say whether it was
    cancelled instead (``cancelled``)."""
    bounds = _BOUNDS.get()
    if bounds is None:
        with bound_queries(QueryBounds(seconds)) as own:
            yield own
        return
    saved = bounds.timeout_seconds, bounds.timed_out
    bounds.timeout_seconds = seconds if saved[0] is None else min(saved[0], seconds)
    try:
        yield bounds
    finally:
        bounds.timeout_seconds, bounds.timed_out = saved
