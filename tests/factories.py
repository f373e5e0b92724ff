"""Builders of entities for tests: ``make_trace()`` and ``make_span()`` with sensible defaults.

Every argument has a default, so a test names only what it is about; ids are random, so
traces built by separate calls never collide.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from assay.entities import (
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    Trace,
    TraceData,
    TraceInfo,
    TraceState,
)

__all__ = ["BASE_TIME_MS", "make_span", "make_trace", "new_span_id", "new_trace_id"]

#: 2025-01-01T00:00:00Z: the default request time of made traces.
BASE_TIME_MS = 1_735_689_600_000


def new_trace_id() -> str:
    """A fresh trace id, ``tr-`` and 32 hex digits."""
    return "tr-" + secrets.token_hex(16)


def new_span_id() -> str:
    """A fresh span id, 16 hex digits."""
    return secrets.token_hex(8)


def make_span(
    trace_id: str,
    *,
    span_id: str | None = None,
    parent_id: str | None = None,
    name: str = "span",
    start_time_ns: int = BASE_TIME_MS * 1_000_000,
    end_time_ns: int | None = BASE_TIME_MS * 1_000_000 + 5_000_000,
    span_type: str = SpanType.UNKNOWN,
    status: SpanStatus | None = None,
    inputs: Any = None,
    outputs: Any = None,
    inputs_json: str | None = None,
    outputs_json: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    events: Sequence[SpanEvent] = (),
) -> Span:
    """A finished span of ``trace_id``; inputs/outputs are encoded unless given as JSON."""
    if inputs_json is None and inputs is not None:
        inputs_json = json.dumps(inputs, ensure_ascii=False)
    if outputs_json is None and outputs is not None:
        outputs_json = json.dumps(outputs, ensure_ascii=False)
    return Span(
        trace_id=trace_id,
        span_id=span_id or new_span_id(),
        parent_id=parent_id,
        name=name,
        start_time_ns=start_time_ns,
        end_time_ns=end_time_ns,
        span_type=span_type,
        status=status or SpanStatus(SpanStatusCode.OK),
        inputs_json=inputs_json,
        outputs_json=outputs_json,
        attributes=dict(attributes or {}),
        events=tuple(events),
    )


def make_trace(
    *,
    experiment_id: str = "0",
    trace_id: str | None = None,
    request_time: int = BASE_TIME_MS,
    execution_duration: int | None = 5,
    state: TraceState = TraceState.OK,
    name: str | None = "root",
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
    client_request_id: str | None = None,
    request_preview: str | None = None,
    response_preview: str | None = None,
    spans: Sequence[Span] | None = None,
    num_spans: int = 3,
) -> Trace:
    """A trace with a root span and ``num_spans - 1`` children, unless ``spans`` is given.

    ``name`` becomes the tag mlflow.traceName (and the root span's name); ``None`` sets no
    such tag.
    """
    trace_id = trace_id or new_trace_id()
    if spans is None:
        start_ns = request_time * 1_000_000
        root = make_span(trace_id, name=name or "root", start_time_ns=start_ns,
                         end_time_ns=start_ns + (execution_duration or 0) * 1_000_000,
                         span_type=SpanType.CHAIN, inputs={"question": "q"},
                         outputs={"answer": "a"})
        children = [
            make_span(trace_id, parent_id=root.span_id, name=f"child-{i}",
                      start_time_ns=start_ns + i + 1, end_time_ns=start_ns + i + 2,
                      span_type=SpanType.LLM, inputs={"i": i}, outputs={"o": i},
                      attributes={"index": i})
            for i in range(num_spans - 1)
        ]
        spans = [root, *children] if num_spans > 0 else []
    all_tags = {} if name is None else {"mlflow.traceName": name}
    all_tags.update(tags or {})
    info = TraceInfo(
        trace_id=trace_id,
        experiment_id=experiment_id,
        request_time=request_time,
        state=state,
        execution_duration=execution_duration,
        request_preview=request_preview,
        response_preview=response_preview,
        client_request_id=client_request_id,
        trace_metadata=dict(metadata or {}),
        tags=all_tags,
    )
    return Trace(info=info, data=TraceData(spans=list(spans)))
