"""Spans in the SQL store: rows back to Span entities.

Spans are written as the rows :func:`assay.store.trace_rows.span_row` builds (and checks).
Inputs and outputs come back out exactly as recorded, never decoded and encoded again: they
can be megabytes, and a round trip must not change a single character of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay.entities import Span, SpanEvent, SpanStatus, SpanStatusCode
from assay.entities._checks import check_key
from assay.entities.overview import SpanOutline
from assay.errors import NotFoundError
from assay.store.sql.dialect import Dialect, in_chunks
from assay.store.sql.schema import spans

__all__ = ["get_span", "list_span_outlines", "load_spans"]

_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_EMPTY_OBJECT = "{}"
_EMPTY_LIST = "[]"

_SPAN_COLUMNS = (
    spans.c.trace_id, spans.c.span_id, spans.c.parent_id, spans.c.name, spans.c.span_type,
    spans.c.status_code, spans.c.status_message, spans.c.start_time_ns, spans.c.end_time_ns,
    spans.c.inputs, spans.c.outputs, spans.c.attributes, spans.c.events,
)


def load_spans(conn: Connection, dialect: Dialect,
               trace_ids: list[str]) -> dict[str, list[Span]]:
    """The spans of each trace, root first, then by start time.

    One query per chunk of ids, however many traces there are. Every id in ``trace_ids`` has
    an entry (empty when the trace has no spans).
    """
    found: dict[str, list[Span]] = {trace_id: [] for trace_id in trace_ids}
    for chunk in in_chunks(trace_ids, dialect):
        query = (sa.select(*_SPAN_COLUMNS)
                 .where(spans.c.trace_id.in_(chunk))
                 .order_by(spans.c.trace_id, spans.c.parent_id.is_not(None),
                           spans.c.start_time_ns, spans.c.id))
        for row in conn.execute(query):
            found[row.trace_id].append(_to_span(row._mapping))
    return found


def get_span(conn: Connection, trace_id: str, span_id: str) -> Span:
    """One span of a trace; NotFoundError naming both ids otherwise."""
    check_key("trace_id", trace_id)
    row = None
    if isinstance(span_id, str) and _SPAN_ID.fullmatch(span_id):
        row = conn.execute(sa.select(*_SPAN_COLUMNS)
                           .where(spans.c.trace_id == trace_id, spans.c.span_id == span_id)
                           ).first()
    if row is None:
        raise NotFoundError(f"Span {span_id!r} not found in trace {trace_id!r}")
    return _to_span(row._mapping)


def list_span_outlines(conn: Connection, trace_id: str) -> list[SpanOutline]:
    """The outlines of a trace's spans (no payloads), root first, then by start time."""
    check_key("trace_id", trace_id)
    s = spans
    query = (sa.select(s.c.span_id, s.c.parent_id, s.c.name, s.c.span_type, s.c.status_code,
                       s.c.start_time_ns, s.c.end_time_ns)
             .where(s.c.trace_id == trace_id)
             .order_by(s.c.parent_id.is_not(None), s.c.start_time_ns, s.c.id))
    return [SpanOutline(*row) for row in conn.execute(query)]


def _to_span(row: RowMapping) -> Span:
    return Span(
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        parent_id=row["parent_id"],
        name=row["name"],
        start_time_ns=row["start_time_ns"],
        end_time_ns=row["end_time_ns"],
        span_type=row["span_type"],
        status=SpanStatus(SpanStatusCode(row["status_code"]), row["status_message"]),
        inputs_json=row["inputs"],
        outputs_json=row["outputs"],
        attributes=_decode_object(row["attributes"]),
        events=tuple(_decode_events(row["events"])),
    )


def _decode_object(text: str) -> dict[str, Any]:
    if text == _EMPTY_OBJECT:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _decode_events(text: str) -> Iterable[SpanEvent]:
    if text == _EMPTY_LIST:
        return ()
    value = json.loads(text)
    if not isinstance(value, list):
        return ()
    return (SpanEvent.from_dict(event) for event in value if isinstance(event, dict))
