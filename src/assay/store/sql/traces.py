"""Traces in the SQL store: log whole traces in batches, read, page through and delete them.

``log_traces`` is the hot path of the background exporter. A batch of traces becomes one list
of rows per table and one upsert per table (see ``dialect.upsert_many``), so the number of
statements does not grow with the number of traces. Reads load the tags, metadata and spans
of a whole page with one query per table.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay.entities import Trace, TraceData, TraceInfo, TraceState
from assay.entities._checks import check_key
from assay.errors import InvalidParameterError, NotFoundError
from assay.store.checks import check_delete_arguments, parse_experiment_id
from assay.store.sql.dialect import Dialect, in_chunks, upsert_many
from assay.store.sql.experiments import missing_experiment_ids
from assay.store.sql.schema import spans, trace_metadata, trace_tags, traces
from assay.store.sql.spans import load_spans
from assay.store.sql.trace_tags import load_key_values, trace_not_found
from assay.store.trace_rows import (
    KEY_VALUE_ROW_COLUMNS,
    SPAN_CONFLICT_COLUMNS,
    SPAN_ROW_COLUMNS,
    TRACE_ROW_COLUMNS,
    TraceRows,
    is_partial,
    trace_rows,
)

__all__ = [
    "delete_traces", "get_trace", "get_trace_info", "is_partial", "load_traces",
    "log_traces",
]

_PAGE_KIND = "traces"
_TRACE_COLUMNS = (
    traces.c.trace_id, traces.c.experiment_id, traces.c.request_time_ms,
    traces.c.execution_time_ms, traces.c.state, traces.c.client_request_id,
    traces.c.request_preview, traces.c.response_preview,
)
_K = TypeVar("_K", str, tuple[str, str])
#: Columns of a trace's row that a header without them leaves as they are.
_KEPT_TRACE_COLUMNS = ("client_request_id", "session_id", "user_id", "run_id")


# -- writing -----------------------------------------------------------------------------

def log_traces(conn: Connection, dialect: Dialect, batch: Sequence[Trace],
               rows: TraceRows | None = None) -> None:
    """Upsert whole traces: their rows, tags, metadata and spans, one statement per table.

    Everything is checked before anything is written, so a bad trace fails the batch with an
    InvalidParameterError (or NotFoundError for an unknown experiment) naming it. A partial
    trace (see :func:`is_partial`) adds its spans but never replaces a stored header.

    ``rows``: ``trace_rows(batch)``, when the caller has built them already. Building them is
    most of the CPU of a write, so a caller that serializes writers (SQLite's single writer)
    builds them before it takes its turn.
    """
    if rows is None:
        rows = trace_rows(batch)
    if not rows.traces:
        return
    missing = missing_experiment_ids(conn, list(rows.experiment_ids))
    if missing:
        raise NotFoundError(f"Experiment with ID {missing[0]!r} not found (trace "
                            f"{rows.experiment_ids[missing[0]]!r} was logged into it)")
    # A partial trace (spans without their root, as OTLP ingestion logs them) never
    # overwrites a stored header: its row, tags and metadata are only added when absent.
    # A whole one replaces the row, but not a client request id, session, user or run with
    # nothing: metadata keys are never removed either, and a header sent apart from the
    # spans (MLflow's StartTraceV3) may be written while the spans' own is on its way.
    _write_header_rows(conn, dialect, traces, ("trace_id",), TRACE_ROW_COLUMNS, rows.traces,
                       rows.partial, kept=_KEPT_TRACE_COLUMNS)
    for table, table_rows in ((trace_tags, rows.tags), (trace_metadata, rows.metadata)):
        _write_header_rows(conn, dialect, table, ("trace_id", "key"), KEY_VALUE_ROW_COLUMNS,
                           table_rows, rows.partial)
    upsert_many(conn, dialect, spans, SPAN_CONFLICT_COLUMNS, SPAN_ROW_COLUMNS,
                _in_key_order(rows.spans))


def _write_header_rows(conn: Connection, dialect: Dialect, table: sa.Table,
                       conflict_columns: tuple[str, ...], columns: tuple[str, ...],
                       rows: dict[_K, tuple[Any, ...]], partial: set[str],
                       kept: tuple[str, ...] = ()) -> None:
    """Upsert the rows of whole traces; insert those of partial ones only where absent.

    Rows go in key order: two PostgreSQL transactions upserting overlapping batches then
    lock rows in the same order and cannot deadlock.
    """
    whole, part = _split(rows, partial)
    upsert_many(conn, dialect, table, conflict_columns, columns, _in_key_order(whole),
                kept=kept)
    upsert_many(conn, dialect, table, conflict_columns, columns, _in_key_order(part),
                replace=False)


def delete_traces(conn: Connection, dialect: Dialect, experiment_id: str,
                  max_timestamp_millis: int | None, max_traces: int | None,
                  trace_ids: Sequence[str] | None) -> int:
    """Delete traces of one experiment, with everything attached; return how many went.

    MLflow's rules: give ``max_timestamp_millis`` (traces at or before it) or ``trace_ids``,
    not both; ``max_traces`` (only with the timestamp) keeps to the oldest N of those.
    """
    check_delete_arguments(max_timestamp_millis, max_traces, trace_ids)
    for trace_id in trace_ids or ():
        check_key("trace_ids[]", trace_id)
    key = parse_experiment_id(experiment_id)
    if key is None:
        return 0
    in_experiment = traces.c.experiment_id == key
    # Spans, tags and metadata go with their trace through ON DELETE CASCADE.
    if trace_ids:
        return sum(
            conn.execute(traces.delete().where(in_experiment, traces.c.trace_id.in_(chunk)))
            .rowcount
            for chunk in in_chunks(sorted(set(trace_ids)), dialect))
    assert max_timestamp_millis is not None  # by the checks above
    where = [in_experiment, traces.c.request_time_ms <= max_timestamp_millis]
    if max_traces is not None:
        oldest = (sa.select(traces.c.id).where(*where)
                  .order_by(traces.c.request_time_ms, traces.c.trace_id).limit(max_traces))
        where = [traces.c.id.in_(oldest.scalar_subquery())]
    return conn.execute(traces.delete().where(*where)).rowcount


# -- reading -----------------------------------------------------------------------------


def get_trace_info(conn: Connection, dialect: Dialect, trace_id: str) -> TraceInfo:
    """The header of a stored trace; NotFoundError naming the id otherwise."""
    if not isinstance(trace_id, str):
        raise InvalidParameterError(
            f"Invalid trace_id {trace_id!r}: expected a string, got {type(trace_id).__name__}")
    check_key("trace_id", trace_id)
    row = conn.execute(sa.select(*_TRACE_COLUMNS).where(traces.c.trace_id == trace_id)).first()
    if row is None:
        raise trace_not_found(trace_id)
    return _to_trace_infos(conn, dialect, [row._mapping])[0]


def get_trace(conn: Connection, dialect: Dialect, trace_id: str,
              include_spans: bool) -> Trace:
    """A stored trace, spans root first then by start time; NotFoundError otherwise."""
    info = get_trace_info(conn, dialect, trace_id)
    spans_of = load_spans(conn, dialect, [trace_id]) if include_spans else {}
    return Trace(info=info, data=TraceData(spans=spans_of.get(trace_id, [])))


def load_traces(conn: Connection, dialect: Dialect, trace_ids: Sequence[str],
                include_spans: bool) -> dict[str, Trace]:
    """The stored traces with these ids, by id (ids that name no trace are left out)."""
    for trace_id in trace_ids:
        check_key("trace_ids[]", trace_id)
    rows = []
    for chunk in in_chunks(list(trace_ids), dialect):
        rows += [row._mapping for row in conn.execute(
            sa.select(*_TRACE_COLUMNS).where(traces.c.trace_id.in_(chunk)))]
    infos = _to_trace_infos(conn, dialect, rows)
    spans_of = load_spans(conn, dialect, [i.trace_id for i in infos]) if include_spans else {}
    return {info.trace_id: Trace(info=info, data=TraceData(spans=spans_of.get(info.trace_id, [])))
            for info in infos}


# -- helpers -----------------------------------------------------------------------------

def _to_trace_infos(conn: Connection, dialect: Dialect,
                    rows: Sequence[RowMapping]) -> list[TraceInfo]:
    trace_ids = [row["trace_id"] for row in rows]
    tags = load_key_values(conn, dialect, trace_tags, trace_ids)
    metadata = load_key_values(conn, dialect, trace_metadata, trace_ids)
    return [
        TraceInfo(
            trace_id=row["trace_id"],
            experiment_id=str(row["experiment_id"]),
            request_time=row["request_time_ms"],
            state=TraceState(row["state"]),
            execution_duration=row["execution_time_ms"],
            request_preview=row["request_preview"],
            response_preview=row["response_preview"],
            client_request_id=row["client_request_id"],
            trace_metadata=metadata[row["trace_id"]],
            tags=tags[row["trace_id"]],
            assessments=[],
        )
        for row in rows
    ]


def _split(rows: dict[_K, tuple[Any, ...]], partial: set[str],
           ) -> tuple[dict[_K, tuple[Any, ...]], dict[_K, tuple[Any, ...]]]:
    """Rows of whole traces and rows of partial ones (the trace id is each row's first value)."""
    if not partial:
        return rows, {}
    whole: dict[_K, tuple[Any, ...]] = {}
    part: dict[_K, tuple[Any, ...]] = {}
    for key, row in rows.items():
        (part if row[0] in partial else whole)[key] = row
    return whole, part


def _in_key_order(rows: dict[_K, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [rows[key] for key in sorted(rows)]
