"""The SQL store: experiments, traces, spans and assessments in SQLite or PostgreSQL.

:class:`SqlStore` implements :class:`~assay.store.base.Store` on SQLAlchemy Core. It owns the
engine and the transactions; the SQL itself lives in one module per resource
(``experiments``, ``traces``, ``trace_tags``, ``spans``, ``assessments``, ``sessions``, …),
whose functions take a Connection.

On SQLite, writes from the threads of one process go through one lock (SQLite has a single
writer anyway; taking turns in-process beats waiting on the file lock), and an in-memory
database, being a single shared connection, serializes reads too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities import Assessment, Experiment, Session, Trace, TraceInfo
from assay.entities.analytics import FeedbackSummary
from assay.errors import AssayError, InvalidParameterError, StoreUnavailableError
from assay.paging import PagedList
from assay.store.base import Store
from assay.store.sql import analytics, experiments, search, sessions, trace_tags
from assay.store.sql import assessments as sql_assessments
from assay.store.sql import traces as sql_traces
from assay.store.sql.dialect import has_single_writer, is_transient_open_error
from assay.store.sql.engine import (
    WRITE_OPTION,
    connection_error,
    create_engine,
    driver_message,
    is_memory_sqlite,
)
from assay.store.sql.migrations import upgrade_schema
from assay.store.uri import mask_uri, validate_uri

__all__ = ["SqlStore"]


#: How long opening a new SQLite file keeps trying while other connections set it up.
_OPEN_RETRY_SECONDS = 10.0


class SqlStore(Store):
    """A :class:`~assay.store.base.Store` on a SQL database named by a tracking URI.

    Opening it creates or upgrades the schema when needed. ``sqlite:///:memory:`` works across
    threads; ``postgresql://`` and ``postgres://`` URIs use the psycopg 3 driver.

    Raises:
        InvalidTrackingURIError: the URI is not one the SQL store can use.
        AssayError: the database cannot be reached or opened (the message names the URI,
            with any password masked).
    """

    def __init__(self, uri: str) -> None:
        uri = validate_uri(uri)
        self.uri = mask_uri(uri)
        self._engine, self._dialect = create_engine(uri)
        self._closed = False
        self._write_lock: threading.Lock | None = None
        self._read_lock: threading.Lock | None = None
        if has_single_writer(self._dialect):
            self._write_lock = threading.Lock()
        if is_memory_sqlite(self._engine):
            # One connection shared by every thread: readers must take turns with writers.
            self._read_lock = self._write_lock
        try:
            self._upgrade_schema()
        except sa.exc.DBAPIError as exc:
            self._engine.dispose()
            raise connection_error(uri, exc) from None
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"SqlStore({self.uri!r})"

    def _upgrade_schema(self) -> None:
        # When several connections open a brand-new SQLite file at once, switching it to WAL
        # and WAL recovery can answer "database is locked" at once, without waiting for
        # busy_timeout (SQLite documents these cases). They are short, so try again a little.
        deadline = time.monotonic() + _OPEN_RETRY_SECONDS
        while True:
            try:
                upgrade_schema(self._engine, self._dialect)
                return
            except sa.exc.OperationalError as exc:
                if not is_transient_open_error(self._dialect, exc) \
                        or time.monotonic() > deadline:
                    raise
                self._engine.dispose()
                time.sleep(0.05)

    # -- experiments ---------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        with self._writing() as conn:
            return experiments.create_experiment(conn, name, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._reading() as conn:
            return experiments.get_experiment(conn, experiment_id)

    def find_experiment_by_name(self, name: str) -> Experiment | None:
        with self._reading() as conn:
            return experiments.find_experiment_by_name(conn, name)

    def search_experiments(self, max_results: int = 1000,
                           page_token: str | None = None) -> PagedList[Experiment]:
        with self._reading() as conn:
            return experiments.list_experiments(conn, max_results, page_token)

    # -- traces --------------------------------------------------------------------------
    def log_traces(self, traces: Sequence[Trace]) -> None:
        if not traces:
            return
        try:
            with self._writing() as conn:
                sql_traces.log_traces(conn, self._dialect, traces)
                # Assessments logged while a trace was running come inside it.
                sql_assessments.log_trace_assessments(conn, self._dialect, traces)
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            # What validation let through and the database refused (a value of the wrong
            # type, a missing name); the whole batch was rolled back.
            raise InvalidParameterError(f"Cannot store the traces: {driver_message(exc)}") from exc

    def get_trace(self, trace_id: str, include_spans: bool = True) -> Trace:
        with self._reading() as conn:
            trace = sql_traces.get_trace(conn, self._dialect, trace_id, include_spans)
            return sql_assessments.with_assessments(conn, self._dialect, [trace])[0]

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        with self._reading() as conn:
            info = sql_traces.get_trace_info(conn, self._dialect, trace_id)
            return sql_assessments.with_assessments(conn, self._dialect, [Trace(info)])[0].info

    def search_traces(self, experiment_ids: Sequence[str], max_results: int = 100,
                      page_token: str | None = None, include_spans: bool = True,
                      filter_string: str | None = None, order_by: Sequence[str] | None = None,
                      run_id: str | None = None,
                      model_id: str | None = None) -> PagedList[Trace]:
        with self._reading() as conn:
            page = search.search_traces(conn, self._dialect, experiment_ids, max_results,
                                        page_token, include_spans, filter_string, order_by,
                                        run_id, model_id)
            return PagedList(sql_assessments.with_assessments(conn, self._dialect, page),
                             page.token)

    def get_feedback_summary(self, experiment_ids: Sequence[str],
                             filter_string: str | None = None,
                             names: Sequence[str] | None = None, group_by: str | None = None,
                             time_bucket: str | None = None) -> FeedbackSummary:
        with self._reading() as conn:
            return analytics.get_feedback_summary(conn, self._dialect, experiment_ids,
                                                  filter_string, names, group_by, time_bucket)

    def delete_traces(self, experiment_id: str, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None,
                      trace_ids: Sequence[str] | None = None) -> int:
        with self._writing() as conn:
            return sql_traces.delete_traces(conn, self._dialect, experiment_id,
                                            max_timestamp_millis, max_traces, trace_ids)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        with self._writing() as conn:
            trace_tags.set_trace_tag(conn, self._dialect, trace_id, key, value)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        with self._writing() as conn:
            trace_tags.delete_trace_tag(conn, trace_id, key)

    # -- sessions ------------------------------------------------------------------------
    def search_sessions(self, experiment_ids: Sequence[str], max_results: int = 100,
                        page_token: str | None = None, include_spans: bool = True,
                        run_id: str | None = None,
                        model_id: str | None = None) -> PagedList[Session]:
        with self._reading() as conn:
            return sessions.list_sessions(conn, self._dialect, experiment_ids, max_results,
                                          page_token, include_spans, run_id, model_id)

    def find_session_trace_id(self, session_id: str) -> str | None:
        with self._reading() as conn:
            return sql_assessments.find_session_trace_id(conn, session_id)

    # -- assessments ---------------------------------------------------------------------
    def log_assessment(self, assessment: Assessment) -> Assessment:
        with self._writing_checked("the assessment") as conn:
            return sql_assessments.log_assessment(conn, self._dialect, assessment)

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        with self._reading() as conn:
            return sql_assessments.get_assessment(conn, trace_id, assessment_id)

    def update_assessment(self, trace_id: str, assessment_id: str,
                          assessment: Assessment) -> Assessment:
        with self._writing_checked("the assessment") as conn:
            return sql_assessments.update_assessment(conn, trace_id, assessment_id, assessment)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        with self._writing() as conn:
            sql_assessments.delete_assessment(conn, trace_id, assessment_id)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close every connection; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

    # -- transactions --------------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection in a read transaction (one snapshot), rolled back at the end."""
        self._check_open()
        with _hold(self._read_lock):
            try:
                with self._engine.connect() as conn:
                    yield conn
            except sa.exc.OperationalError as exc:
                raise self._unavailable(exc) from None

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed if the block raises nothing."""
        self._check_open()
        with _hold(self._write_lock):
            try:
                with self._engine.connect() as conn:
                    conn.execution_options(**{WRITE_OPTION: True})
                    with conn.begin():
                        yield conn
            except sa.exc.OperationalError as exc:
                raise self._unavailable(exc) from None

    @contextmanager
    def _writing_checked(self, what: str) -> Iterator[Connection]:
        """:meth:`_writing`, with what the database refused despite the checks (a trace
        deleted meanwhile, say) reported as an InvalidParameterError; nothing is written."""
        try:
            with self._writing() as conn:
                yield conn
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            raise InvalidParameterError(f"Cannot store {what}: {driver_message(exc)}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise AssayError(f"The store for {self.uri!r} is closed")

    def _unavailable(self, exc: sa.exc.OperationalError) -> StoreUnavailableError:
        return connection_error(self.uri, exc)


def _hold(lock: threading.Lock | None) -> AbstractContextManager[object]:
    return nullcontext() if lock is None else lock

