"""Spans in the SQL store: Span entities to rows and back.

Inputs and outputs are JSON text that goes into the row and comes back out exactly as
recorded, never decoded and encoded again: they can be megabytes, and a round trip must not
change a single character of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay import _json
from assay.entities import Span, SpanEvent, SpanStatus, SpanStatusCode
from assay.entities.overview import SpanOutline
from assay.errors import InvalidParameterError, NotFoundError
from assay.store.sql.dialect import Dialect, in_chunks
from assay.store.sql.schema import spans

__all__ = [
    "SPAN_CONFLICT_COLUMNS",
    "SPAN_ROW_COLUMNS",
    "get_span",
    "list_span_outlines",
    "load_spans",
    "span_row",
]

#: A span's identity; a span written again replaces everything else.
SPAN_CONFLICT_COLUMNS = ("trace_id", "span_id")
#: The columns of :func:`span_row`'s tuples, in order.
SPAN_ROW_COLUMNS = (
    *SPAN_CONFLICT_COLUMNS, "parent_id", "name", "span_type", "status_code", "status_message",
    "start_time_ns", "end_time_ns", "inputs", "outputs", "attributes", "events",
)

_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_EMPTY_OBJECT = "{}"
_EMPTY_LIST = "[]"
# The stored text of each status code (a plain lookup: an enum's .value is a slow property).
_CODE_TEXT: dict[object, str] = {code: code.value for code in SpanStatusCode}

_SPAN_COLUMNS = (
    spans.c.trace_id, spans.c.span_id, spans.c.parent_id, spans.c.name, spans.c.span_type,
    spans.c.status_code, spans.c.status_message, spans.c.start_time_ns, spans.c.end_time_ns,
    spans.c.inputs, spans.c.outputs, spans.c.attributes, spans.c.events,
)


def span_row(trace_id: str, span: Span) -> tuple[Any, ...]:
    """The ``spans`` row (values of :data:`SPAN_ROW_COLUMNS`) of a span of ``trace_id``.

    Raises InvalidParameterError, naming the span, for a span that cannot be stored.
    """
    if span.trace_id != trace_id:
        raise InvalidParameterError(
            f"Span {span.span_id!r} has trace_id {span.trace_id!r} but was logged in trace "
            f"{trace_id!r}")
    if not isinstance(span.span_id, str) or not _SPAN_ID.fullmatch(span.span_id):
        raise InvalidParameterError(
            f"Invalid span_id {span.span_id!r} in trace {trace_id!r}: expected 16 lowercase "
            "hex digits")
    if span.parent_id is not None and (
            not isinstance(span.parent_id, str) or not _SPAN_ID.fullmatch(span.parent_id)):
        raise InvalidParameterError(
            f"Invalid parent_id {span.parent_id!r} of span {span.span_id!r} in trace "
            f"{trace_id!r}: expected 16 lowercase hex digits or None")
    status = span.status
    code = status.status_code
    attributes = span.attributes
    return (
        trace_id,
        span.span_id,
        span.parent_id,
        span.name,
        span.span_type,
        _CODE_TEXT.get(code) or SpanStatusCode(code).value,
        status.description or "",
        span.start_time_ns,
        span.end_time_ns,
        span.inputs_json,
        span.outputs_json,
        (_EMPTY_OBJECT if not attributes
         else _json.dumps(attributes if type(attributes) is dict else dict(attributes))),
        _json.dumps([event.to_dict() for event in span.events]) if span.events else _EMPTY_LIST,
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
