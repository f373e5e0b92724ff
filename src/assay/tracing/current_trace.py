"""Changing the running trace: ``update_current_trace`` and trace tags.

Changes to a running trace stay in memory and are written with the trace when its root
span ends; tags of a trace that was already written are changed in the store.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

from assay import _runtime
from assay.entities.trace import TraceState, metadata_keys
from assay.errors import InvalidParameterError
from assay.tracing.tracer import InMemoryTrace, Tracer

__all__ = ["delete_trace_tag", "set_trace_tag", "update_current_trace"]

_log = logging.getLogger("assay")

#: Longest tag key and value; longer values are cut (with "...").
TAG_KEY_MAX = 250
TAG_VALUE_MAX = 4096
#: Longest client request id (it is indexed).
CLIENT_REQUEST_ID_MAX = 250


def _as_str(kind: str, key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    warnings.warn(f"Trace {kind} {key!r} has a {type(value).__name__} value; it is stored "
                  f"as the string {str(value)!r}", UserWarning, stacklevel=4)
    return str(value)


def _check_key(kind: str, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidParameterError(f"Trace {kind} keys must be non-empty strings, "
                                    f"got {key!r}")
    return key


def update_current_trace(tags: Mapping[str, Any] | None = None,
                         metadata: Mapping[str, Any] | None = None,
                         client_request_id: str | None = None,
                         request_preview: str | None = None,
                         response_preview: str | None = None,
                         state: TraceState | str | None = None,
                         model_id: str | None = None,
                         session_id: str | None = None,
                         user: str | None = None,
                         **extra: Any) -> None:
    """Add tags, metadata and other fields to the trace being recorded.

    ``session_id`` and ``user`` are stored as the reserved metadata keys
    ``mlflow.trace.session`` and ``mlflow.trace.user``; any other keyword argument is stored
    as metadata too. Non-string tag or metadata values are stored as strings (with a
    warning). ``state`` takes "OK" or "ERROR"; the previews must be strings. With no trace
    being recorded, this warns and does nothing.
    """
    if request_preview is not None and not isinstance(request_preview, str):
        raise InvalidParameterError(
            f"request_preview must be a str, got {type(request_preview).__name__}")
    if response_preview is not None and not isinstance(response_preview, str):
        raise InvalidParameterError(
            f"response_preview must be a str, got {type(response_preview).__name__}")
    if client_request_id is not None and len(str(client_request_id)) > CLIENT_REQUEST_ID_MAX:
        raise InvalidParameterError(
            f"client_request_id is {len(str(client_request_id))} characters; the limit is "
            f"{CLIENT_REQUEST_ID_MAX}")
    new_state: TraceState | None = None
    if state is not None:
        value = state.value if isinstance(state, TraceState) else state
        if value not in ("OK", "ERROR"):
            raise InvalidParameterError(
                f"state must be either 'OK' or 'ERROR', got {state!r}")
        new_state = TraceState(value)
    trace = Tracer.current_trace()
    if trace is None:
        _log.warning("update_current_trace was called with no trace being recorded; "
                     "call it inside a function decorated with @assay.trace or a "
                     "start_span block")
        return
    new_meta: dict[str, str] = {}
    for key, val in (metadata or {}).items():
        new_meta[_check_key("metadata", key)] = _as_str("metadata", key, val)
    for key, val in extra.items():
        new_meta[key] = _as_str("metadata", key, val)
    if session_id is not None:
        new_meta[metadata_keys.SESSION] = _as_str("metadata", "session_id", session_id)
    if user is not None:
        new_meta[metadata_keys.USER] = _as_str("metadata", "user", user)
    if model_id is not None:
        new_meta[metadata_keys.MODEL_ID] = _as_str("metadata", "model_id", model_id)
    new_tags = {_check_key("tag", k): _cut(_as_str("tag", k, v)) for k, v in
                (tags or {}).items()}
    trace.metadata.update(new_meta)
    trace.tags.update(new_tags)
    if client_request_id is not None:
        trace.client_request_id = str(client_request_id)
    if request_preview is not None:
        trace.request_preview = request_preview
    if response_preview is not None:
        trace.response_preview = response_preview
    if new_state is not None:
        trace.state = new_state


def _cut(value: str) -> str:
    return value if len(value) <= TAG_VALUE_MAX else value[: TAG_VALUE_MAX - 3] + "..."


def _running(trace_id: str) -> InMemoryTrace | None:
    return _runtime.runtime().tracer.find_active_trace(trace_id)


def set_trace_tag(trace_id: str, key: str, value: Any) -> None:
    """Set a tag on a trace, running or already written."""
    key = _check_key("tag", key)
    if len(key) > TAG_KEY_MAX:
        raise InvalidParameterError(
            f"Tag key {key[:40]!r}... is {len(key)} characters; the limit is {TAG_KEY_MAX}")
    text = _cut(_as_str("tag", key, value))
    running = _running(trace_id)
    if running is not None:
        running.tags[key] = text
        return
    _runtime.runtime().readable_store().set_trace_tag(trace_id, key, text)


def delete_trace_tag(trace_id: str, key: str) -> None:
    """Remove a tag from a trace, running or already written."""
    running = _running(trace_id)
    if running is not None:
        running.tags.pop(key, None)
        return
    _runtime.runtime().readable_store().delete_trace_tag(trace_id, key)
