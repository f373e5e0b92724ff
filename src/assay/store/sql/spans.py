"""Spans in the SQL store: Span entities to rows and back.

Inputs and outputs are JSON text that goes into the row and comes back out exactly as
recorded, never decoded and encoded again: they can be megabytes, and a round trip must not
change a single character of them (but for a raw NUL character, which no JSON text holds
and PostgreSQL cannot store: it becomes U+FFFD, as in the span's name and status message).

A span's times are nanoseconds since the epoch, each ``0 <= t < 2**63`` (what a BIGINT
holds), with the end, if the span has ended, at or after the start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, TypeGuard

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay import _json
from assay.entities import Span, SpanEvent, SpanStatus, SpanStatusCode
from assay.entities._checks import check_key, fits_int64, may_hold_wide_int, replace_nul
from assay.entities.overview import SpanOutline
from assay.errors import InvalidParameterError, NotFoundError
from assay.store.sql.dialect import Dialect, in_chunks
from assay.store.sql.schema import spans

__all__ = [
    "SPAN_CONFLICT_COLUMNS",
    "SPAN_ROW_COLUMNS",
    "check_span_id",
    "check_span_times",
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
_ZERO_SPAN_ID = "0" * 16
_TIME_LIMIT = 2**63
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

    Raises InvalidParameterError, naming the span and the field, for a span that cannot be
    stored. (The hot path of every write: the common case is tested inline, and the
    functions that name what is wrong are called only when something is.)
    """
    span_id = span.span_id
    if span.trace_id != trace_id:
        raise InvalidParameterError(
            f"Span {span_id!r} has trace_id {span.trace_id!r} but was logged in trace "
            f"{trace_id!r}")
    if type(span_id) is not str or not _SPAN_ID.fullmatch(span_id) or span_id == _ZERO_SPAN_ID:
        check_span_id(span_id, "span_id", trace_id)
    parent_id = span.parent_id
    if parent_id is not None and (type(parent_id) is not str or not _SPAN_ID.fullmatch(parent_id)
                                  or parent_id == _ZERO_SPAN_ID):
        check_span_id(parent_id, f"parent_id of span {span_id!r}", trace_id)
    start = span.start_time_ns
    end = span.end_time_ns
    if not (type(start) is int and 0 <= start < _TIME_LIMIT
            and (end is None or (type(end) is int and start <= end < _TIME_LIMIT))):
        start, end = check_span_times(start, end, f"span {span_id!r} in trace {trace_id!r}")
    status = span.status
    name = span.name
    span_type = span.span_type
    message = status.description or ""
    inputs = span.inputs_json
    outputs = span.outputs_json
    if (type(name) is not str or type(span_type) is not str or type(message) is not str
            or (inputs is not None and type(inputs) is not str)
            or (outputs is not None and type(outputs) is not str)):
        _check_texts((name, span_type, message, inputs, outputs), span_id, trace_id)
    # PostgreSQL cannot store a NUL: free text keeps it as U+FFFD (a JSON text has none).
    if "\x00" in name:
        name = replace_nul(name)
    if "\x00" in span_type:
        span_type = replace_nul(span_type)
    if "\x00" in message:
        message = replace_nul(message)
    if inputs is not None and "\x00" in inputs:
        inputs = replace_nul(inputs)
    if outputs is not None and "\x00" in outputs:
        outputs = replace_nul(outputs)
    attributes = span.attributes
    attributes_json = (_EMPTY_OBJECT if not attributes else _json.dumps(
        attributes if type(attributes) is dict else dict(attributes)))
    events_json = _EMPTY_LIST
    if span.events:
        for event in span.events:
            if not _is_time(event.timestamp_ns):
                raise InvalidParameterError(
                    f"Invalid timestamp_ns {event.timestamp_ns!r} of event {event.name!r} of "
                    f"span {span_id!r} in trace {trace_id!r}: expected nanoseconds since the "
                    "epoch, an int at least 0 and below 2**63")
        events_json = _json.dumps([event.to_dict() for event in span.events])
        if may_hold_wide_int(events_json):
            _check_ints(span, trace_id)
    if attributes and may_hold_wide_int(attributes_json):
        _check_ints(span, trace_id)
    code = status.status_code
    return (
        trace_id,
        span_id,
        parent_id,
        name,
        span_type,
        _CODE_TEXT.get(code) or SpanStatusCode(code).value,
        message,
        start,
        end,
        inputs,
        outputs,
        attributes_json,
        events_json,
    )


def _check_texts(texts: tuple[object, ...], span_id: str, trace_id: str) -> None:
    """InvalidParameterError naming the first of a span's texts (name, span_type, status
    message, inputs_json, outputs_json; the last two may be None) that is not a str."""
    fields = ("name", "span_type", "status message", "inputs_json", "outputs_json")
    for i, (field, text) in enumerate(zip(fields, texts, strict=True)):
        if not isinstance(text, str) and not (i >= 3 and text is None):
            raise InvalidParameterError(
                f"Invalid {field} {text!r} of span {span_id!r} in trace {trace_id!r}: "
                f"expected a str{' or None' if i >= 3 else ''}, got {type(text).__name__}")


def _check_ints(span: Span, trace_id: str) -> None:
    """InvalidParameterError naming the attribute (of the span or of an event) that holds an
    integer outside 64 bits, which OTLP cannot carry nor a BIGINT filter compare."""
    where = f"of span {span.span_id!r} in trace {trace_id!r}"
    for key, value in span.attributes.items():
        if not fits_int64(value):
            raise InvalidParameterError(
                f"Invalid attribute {key[:100]!r} {where}: it holds an integer outside 64 bits")
    for event in span.events:
        if not fits_int64(event.timestamp_ns) or not fits_int64(dict(event.attributes)):
            raise InvalidParameterError(
                f"Invalid attributes of event {event.name[:100]!r} {where}: an integer is "
                "outside 64 bits")


def check_span_id(span_id: object, field: str, trace_id: str) -> str:
    """``span_id`` if it is 16 lowercase hex digits, not all zero (OpenTelemetry's invalid
    id); InvalidParameterError naming ``field`` and the trace otherwise."""
    if (not isinstance(span_id, str) or not _SPAN_ID.fullmatch(span_id)
            or span_id == _ZERO_SPAN_ID):
        raise InvalidParameterError(
            f"Invalid {field} {span_id!r} in trace {trace_id!r}: expected 16 lowercase hex "
            "digits, not all zero")
    return span_id


def check_span_times(start: object, end: object, where: str) -> tuple[int, int | None]:
    """A span's start and end (None: not ended) in nanoseconds since the epoch, if each is an
    int with ``0 <= t < 2**63`` and the end is not before the start; InvalidParameterError
    naming the field and ``where`` (the span) otherwise."""
    if not _is_time(start):
        raise InvalidParameterError(
            f"Invalid start_time_ns {start!r} of {where}: expected nanoseconds since the "
            "epoch, an int at least 0 and below 2**63")
    if end is None:
        return start, None
    if not _is_time(end):
        raise InvalidParameterError(
            f"Invalid end_time_ns {end!r} of {where}: expected nanoseconds since the epoch, "
            "an int at least 0 and below 2**63, or None for a span that has not ended")
    if end < start:
        raise InvalidParameterError(
            f"Invalid end_time_ns {end!r} of {where}: it is before start_time_ns {start!r}")
    return start, end


def _is_time(value: object) -> TypeGuard[int]:
    return type(value) is int and 0 <= value < _TIME_LIMIT


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
