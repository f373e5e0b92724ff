"""A batch of Trace entities as the rows of the trace tables, checked before anything is written.

This is the CPU side of the export hot path, so rows are plain tuples (in the column order
given next to each builder) and each batch is checked and converted in one pass.

Ids and keys (trace id, client request id, tag and metadata keys) holding a NUL character are
refused; free text (previews, tag and metadata values) has each NUL replaced by U+FFFD (see
:mod:`assay.entities._checks`). Times and durations are ints with ``0 <= t < 2**63``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assay import _json
from assay.entities import Trace, TraceInfo, TraceState
from assay.entities._checks import check_key, replace_nul
from assay.entities.trace import metadata_keys
from assay.errors import InvalidParameterError, NotFoundError
from assay.ids import ZERO_TRACE_ID
from assay.store.sql.experiments import parse_experiment_id
from assay.store.sql.schema import MAX_KEY_CHARS
from assay.store.sql.spans import span_row
from assay.store.sql.trace_tags import check_tag_key, truncate_tag_value

__all__ = [
    "KEY_VALUE_ROW_COLUMNS",
    "TRACE_ROW_COLUMNS",
    "TraceRows",
    "is_bigint",
    "is_partial",
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

_MAX_TRACE_ID_CHARS = 64
_BIGINT_LIMIT = 2**63
_TOKEN_KEYS = ("input_tokens", "output_tokens", "total_tokens")
_NO_TOKENS = (None, None, None)
# The stored text of each state (a plain lookup: an enum's .value is a slow property).
_STATE_TEXT: dict[object, str] = {state: state.value for state in TraceState}


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


def is_bigint(value: object) -> bool:
    """Whether ``value`` is an int that fits a BIGINT column (and not a bool)."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and -_BIGINT_LIMIT <= value < _BIGINT_LIMIT)


def _is_count(value: object) -> bool:
    """Whether ``value`` is an int with ``0 <= value < 2**63`` (and not a bool)."""
    return type(value) is int and 0 <= value < _BIGINT_LIMIT


def _not_a_string(what: str, key: object, value: object, trace_id: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"Invalid {what} {key!r} on trace {trace_id!r}: keys and values must be strings, got "
        f"{type(key).__name__} and {type(value).__name__}")
