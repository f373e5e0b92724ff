"""A batch of Trace entities as the rows of the trace tables, checked before anything is written.

This is the CPU side of the export hot path, so rows are plain tuples (in the column order
given next to each builder) and each batch is checked and converted in one pass. The SQL
store writes the rows; the REST store builds them only to name what is wrong with a batch
it cannot send, as the SQL store would (this module imports no backend).

Ids and keys (trace id, client request id, tag and metadata keys) holding a NUL character are
refused; free text (previews, tag and metadata values, span names and status messages) has
each NUL replaced by U+FFFD (see :mod:`assay.entities._checks`). Times and durations are ints
with ``0 <= t < 2**63``; a span's end, if it has ended, is at or after its start. Inputs and
outputs are JSON text that goes into the row exactly as recorded, never decoded and encoded
again: they can be megabytes, and a round trip must not change a character of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from assay import _json
from assay.entities import Span, SpanStatusCode, Trace, TraceInfo, TraceState
from assay.entities._checks import check_key, fits_int64, may_hold_wide_int, replace_nul
from assay.entities.trace import metadata_keys
from assay.errors import InvalidParameterError, NotFoundError
from assay.ids import ZERO_TRACE_ID
from assay.store.checks import (
    MAX_KEY_CHARS,
    check_tag_key,
    parse_experiment_id,
    truncate_tag_value,
)

__all__ = [
    "KEY_VALUE_ROW_COLUMNS",
    "SPAN_CONFLICT_COLUMNS",
    "SPAN_ROW_COLUMNS",
    "TRACE_ROW_COLUMNS",
    "TraceRows",
    "check_span_id",
    "check_span_times",
    "is_partial",
    "span_row",
    "trace_rows",
]

#: The columns of a ``traces`` row tuple, in order; all but the first are replaced when a
#: trace is logged again.
TRACE_ROW_COLUMNS = (
    "trace_id", "experiment_id", "request_time_ms", "execution_time_ms", "state", "name",
    "client_request_id", "session_id", "user_id", "request_preview", "response_preview",
    "input_tokens", "output_tokens", "total_tokens", "run_id",
)
#: The columns of a ``trace_tags`` or ``trace_metadata`` row tuple, in order.
KEY_VALUE_ROW_COLUMNS = ("trace_id", "key", "value")
#: A span's identity; a span written again replaces everything else.
SPAN_CONFLICT_COLUMNS = ("trace_id", "span_id")
#: The columns of :func:`span_row`'s tuples, in order.
SPAN_ROW_COLUMNS = (
    *SPAN_CONFLICT_COLUMNS, "parent_id", "name", "span_type", "status_code", "status_message",
    "start_time_ns", "end_time_ns", "inputs", "outputs", "attributes", "events",
)

_MAX_TRACE_ID_CHARS = 64
_BIGINT_LIMIT = 2**63
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_ZERO_SPAN_ID = "0" * 16
_EMPTY_OBJECT = "{}"
_EMPTY_LIST = "[]"
_TOKEN_KEYS = ("input_tokens", "output_tokens", "total_tokens")
_NO_TOKENS = (None, None, None)
# The stored text of each state and status code (a plain lookup: an enum's .value is a slow
# property).
_STATE_TEXT: dict[object, str] = {state: state.value for state in TraceState}
_CODE_TEXT: dict[object, str] = {code: code.value for code in SpanStatusCode}


@dataclass
class TraceRows:
    """The rows of a batch, each table's keyed by its unique key.

    Keying by the unique key means a trace or span given twice in one batch is written once
    (the last one wins), exactly as if it had come in two batches.
    """

    traces: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    tags: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    metadata: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    spans: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    #: Each experiment id the batch logs into, with one of its traces (for error messages).
    experiment_ids: dict[str, str] = field(default_factory=dict)
    #: The ids of the batch's partial traces (see :func:`is_partial`).
    partial: set[str] = field(default_factory=set)


def trace_rows(batch: Sequence[Trace]) -> TraceRows:
    """The rows of every trace in ``batch``; InvalidParameterError naming the first bad one."""
    rows = TraceRows()
    experiment_keys: dict[str, int] = {}
    for trace in batch:
        info = trace.info
        trace_id = _check_trace_id(info.trace_id)
        experiment_id = info.experiment_id
        experiment_key = experiment_keys.get(experiment_id)
        if experiment_key is None:
            experiment_key = _experiment_key(experiment_id, trace_id)
            experiment_keys[experiment_id] = experiment_key
            rows.experiment_ids[experiment_id] = trace_id
        rows.traces[trace_id] = _trace_row(info, trace_id, experiment_key)
        if is_partial(trace):
            rows.partial.add(trace_id)
        else:
            rows.partial.discard(trace_id)  # given twice: the last one wins
        for key, value in info.tags.items():
            check_tag_key(key, trace_id)
            if not isinstance(value, str):
                raise _not_a_string("tag", key, value, trace_id)
            rows.tags[trace_id, key] = (trace_id, key, replace_nul(truncate_tag_value(value)))
        for key, value in info.trace_metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise _not_a_string("metadata", key, value, trace_id)
            check_key(f"metadata key {key[:50]!r} of trace {trace_id!r}", key)
            rows.metadata[trace_id, key] = (trace_id, key, replace_nul(value))
        for span in trace.data.spans:
            rows.spans[trace_id, span.span_id] = span_row(trace_id, span)
    return rows


def is_partial(trace: Trace) -> bool:
    """Whether ``trace`` is partial: IN_PROGRESS, with spans but none of them a root (a span
    with no parent). Its spans are stored; its header only fills in for a trace not yet
    stored, and is replaced when the trace is logged with its root."""
    spans_ = trace.data.spans
    return (trace.info.state == TraceState.IN_PROGRESS and bool(spans_)
            and all(span.parent_id is not None for span in spans_))


def _trace_row(info: TraceInfo, trace_id: str, experiment_key: int) -> tuple[Any, ...]:
    """A ``traces`` row: the values of :data:`TRACE_ROW_COLUMNS`."""
    if not _is_count(info.request_time):
        raise InvalidParameterError(
            f"Invalid request_time {info.request_time!r} of trace {trace_id!r}: expected "
            "milliseconds since the epoch as an int, at least 0 and below 2**63")
    duration = info.execution_duration
    if duration is not None and not _is_count(duration):
        raise InvalidParameterError(
            f"Invalid execution_duration {duration!r} of trace {trace_id!r}: expected "
            "milliseconds as an int, at least 0 and below 2**63, or None")
    client_request_id = info.client_request_id
    if client_request_id is not None and (not isinstance(client_request_id, str)
                                          or len(client_request_id) > MAX_KEY_CHARS):
        raise InvalidParameterError(
            f"Invalid client_request_id of trace {trace_id!r}: expected a string of at most "
            f"{MAX_KEY_CHARS} characters")
    check_key(f"client_request_id of trace {trace_id!r}", client_request_id)
    metadata = info.trace_metadata
    name = info.tags.get(metadata_keys.TRACE_NAME)
    return (
        trace_id,
        experiment_key,
        info.request_time,
        duration,
        _state(info.state, trace_id),
        # The name column mirrors the tag, so it is cut the way the tag's value is.
        replace_nul(truncate_tag_value(name)) if isinstance(name, str) else None,
        client_request_id,
        _projection(metadata.get(metadata_keys.SESSION)),
        _projection(metadata.get(metadata_keys.USER)),
        _preview(info.request_preview, "request_preview", trace_id),
        _preview(info.response_preview, "response_preview", trace_id),
        *_token_usage(metadata.get(metadata_keys.TOKEN_USAGE)),
        _projection(metadata.get(metadata_keys.SOURCE_RUN)),
    )


def _check_trace_id(trace_id: object) -> str:
    if (not isinstance(trace_id, str) or not 0 < len(trace_id) <= _MAX_TRACE_ID_CHARS
            or trace_id == ZERO_TRACE_ID):
        raise InvalidParameterError(
            f"Invalid trace_id {trace_id!r}: expected a string of 1 to {_MAX_TRACE_ID_CHARS} "
            "characters such as 'tr-' followed by 32 hex digits, not all zero")
    check_key("trace_id", trace_id)
    return trace_id


def _preview(value: object, field: str, trace_id: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameterError(
            f"Invalid {field} of trace {trace_id!r}: expected a str or None, got "
            f"{type(value).__name__}")
    return replace_nul(value)


def _experiment_key(experiment_id: str, trace_id: str) -> int:
    key = parse_experiment_id(experiment_id)
    if key is None:
        raise NotFoundError(f"Experiment with ID {experiment_id!r} not found (trace "
                            f"{trace_id!r} was logged into it)")
    return key


def _state(state: TraceState | str, trace_id: str) -> str:
    text = _STATE_TEXT.get(state)
    if text is not None:
        return text
    try:
        return TraceState(state).value
    except ValueError:
        raise InvalidParameterError(
            f"Invalid state {state!r} of trace {trace_id!r}: expected one of "
            f"{', '.join(s.value for s in TraceState)}") from None


def _projection(value: object) -> str | None:
    # The indexed columns keep at most MAX_KEY_CHARS characters (MLflow's limit for a metadata
    # value), so that a PostgreSQL B-tree entry always fits; trace_metadata keeps it whole.
    return replace_nul(value[:MAX_KEY_CHARS]) if isinstance(value, str) else None


def _token_usage(raw: str | None) -> tuple[int | None, int | None, int | None]:
    """The counts in the metadata mlflow.trace.tokenUsage; None for what cannot be read."""
    if not raw or not isinstance(raw, str):
        return _NO_TOKENS  # a value that is not a string is refused with the metadata
    try:
        usage = _json.loads(raw)
    except RecursionError:
        return _NO_TOKENS
    if not isinstance(usage, dict):
        return _NO_TOKENS
    counts = [usage.get(key) for key in _TOKEN_KEYS]
    input_tokens, output_tokens, total_tokens = (c if _is_count(c) else None for c in counts)
    return input_tokens, output_tokens, total_tokens


def _is_count(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an int with ``0 <= value < 2**63`` (and not a bool): a time or a
    duration."""
    return type(value) is int and 0 <= value < _BIGINT_LIMIT


def _not_a_string(what: str, key: object, value: object, trace_id: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"Invalid {what} {key!r} on trace {trace_id!r}: keys and values must be strings, got "
        f"{type(key).__name__} and {type(value).__name__}")


# -- spans ----------------------------------------------------------------------------------

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
    if not (type(start) is int and 0 <= start < _BIGINT_LIMIT
            and (end is None or (type(end) is int and start <= end < _BIGINT_LIMIT))):
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
            if not _is_count(event.timestamp_ns):
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
    names = ("name", "span_type", "status message", "inputs_json", "outputs_json")
    for i, (name, text) in enumerate(zip(names, texts, strict=True)):
        if not isinstance(text, str) and not (i >= 3 and text is None):
            raise InvalidParameterError(
                f"Invalid {name} {text!r} of span {span_id!r} in trace {trace_id!r}: "
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
    if not _is_count(start):
        raise InvalidParameterError(
            f"Invalid start_time_ns {start!r} of {where}: expected nanoseconds since the "
            "epoch, an int at least 0 and below 2**63")
    if end is None:
        return start, None
    if not _is_count(end):
        raise InvalidParameterError(
            f"Invalid end_time_ns {end!r} of {where}: expected nanoseconds since the epoch, "
            "an int at least 0 and below 2**63, or None for a span that has not ended")
    if end < start:
        raise InvalidParameterError(
            f"Invalid end_time_ns {end!r} of {where}: it is before start_time_ns {start!r}")
    return start, end
