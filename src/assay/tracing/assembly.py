"""Assembling a finished in-memory trace into the Trace entity that is stored.

Runs on the exporter thread: previews, token usage and the encoding of inputs and outputs
that could wait are all done here, off the application's path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from assay import _json
from assay.entities.span import SpanStatusCode
from assay.entities.trace import Trace, TraceData, TraceInfo, TraceState, metadata_keys
from assay.tracing.live_span import LiveSpan
from assay.tracing.source import source_metadata
from assay.tracing.tracer import InMemoryTrace

__all__ = [
    "PREVIEW_MAX_CHARS", "TOKEN_USAGE_KEY", "build_trace", "preview", "sum_token_usage",
]

#: Request and response previews are cut to this many characters (plus "...").
PREVIEW_MAX_CHARS = 1000
#: The span attribute holding an LLM call's token usage.
TOKEN_USAGE_KEY = "mlflow.chat.tokenUsage"

_N = TypeVar("_N")


def build_trace(t: InMemoryTrace) -> Trace:
    root = t.root
    assert root is not None
    # Previews first: they can use values whose encoding was left for later, before
    # to_span() encodes them.
    request_preview = (t.request_preview if t.request_preview is not None
                       else preview(root._recorded_inputs(), request=True))
    response_preview = (t.response_preview if t.response_preview is not None
                        else preview(root._recorded_outputs(), request=False))
    spans = [s.to_span() for s in t.spans]
    end_ns = root.end_time_ns
    state = t.state
    if state is None:
        state = (TraceState.ERROR if root.status.status_code is SpanStatusCode.ERROR
                 else TraceState.OK if end_ns is not None else TraceState.IN_PROGRESS)
    metadata = dict(source_metadata())
    metadata.update(t.metadata)
    usage = token_usage(t.spans, root)
    if usage:
        metadata[metadata_keys.TOKEN_USAGE] = json.dumps(usage)
    tags = {metadata_keys.TRACE_NAME: root.name}
    tags.update(t.tags)
    info = TraceInfo(
        trace_id=t.trace_id,
        experiment_id=t.experiment_id,
        request_time=root.start_time_ns // 1_000_000,
        state=state,
        execution_duration=(None if end_ns is None
                            else (end_ns - root.start_time_ns) // 1_000_000),
        request_preview=request_preview,
        response_preview=response_preview,
        client_request_id=t.client_request_id,
        trace_metadata=metadata,
        tags=tags,
        assessments=list(t.assessments),
    )
    return Trace(info=info, data=TraceData(spans=spans, assessments=info.assessments))


def token_usage(spans: list[LiveSpan], root: LiveSpan) -> dict[str, int] | None:
    """Token usage summed over the spans that report it, counting nested calls once.

    A span that reports usage covers its descendants, so they are not added again.
    """
    children: dict[int | None, list[LiveSpan]] = {}
    for span in spans:
        if span is not root:
            children.setdefault(span._parent_id, []).append(span)
    return sum_token_usage(
        root, lambda s: children.get(s._span_id, ()),
        lambda s: s._attributes.get(TOKEN_USAGE_KEY) if s._attributes else None)


def sum_token_usage(root: _N, children: Callable[[_N], Iterable[_N]],
                    usage_of: Callable[[_N], Any]) -> dict[str, int] | None:
    """Token usage summed over a tree of spans (any representation), nested calls once.

    ``usage_of`` gives a span's usage (a mapping, its JSON text, or None); a span that reports
    usage covers its descendants, so they are not visited. ``total_tokens`` is filled in from
    the input and output counts when no span gave it.
    """
    totals: dict[str, int] = {}
    stack = [root]
    found = False
    while stack:
        span = stack.pop()
        usage = usage_of(span)
        if isinstance(usage, str):
            usage = _json.loads(usage)
        if isinstance(usage, Mapping):
            found = True
            for key, value in usage.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    totals[key] = totals.get(key, 0) + value
            continue
        stack.extend(children(span))
    if not found:
        return None
    if "total_tokens" not in totals and ("input_tokens" in totals or "output_tokens" in totals):
        totals["total_tokens"] = totals.get("input_tokens", 0) + totals.get("output_tokens", 0)
    return totals


def preview(value: Any, *, request: bool) -> str | None:
    """A short, readable text of a root span's inputs or outputs.

    Chat messages give the text of the last user message (for a request) or of the
    assistant's answer (for a response); a single string argument gives that string;
    anything else gives its JSON. Cut to PREVIEW_MAX_CHARS characters.
    """
    if value is None:
        return None
    text = _chat_text(value, request)
    if text is None:
        if isinstance(value, str):
            text = value
        elif (request and isinstance(value, dict) and len(value) == 1
              and isinstance(next(iter(value.values())), str)):
            text = next(iter(value.values()))
        else:
            text = _json.dumps(value)
    return text if len(text) <= PREVIEW_MAX_CHARS else text[:PREVIEW_MAX_CHARS] + "..."


def _chat_text(value: Any, request: bool) -> str | None:
    if isinstance(value, Mapping):
        if "messages" in value and isinstance(value["messages"], list):
            return _last_message(value["messages"], "user" if request else "assistant")
        if len(value) == 1:
            inner = next(iter(value.values()))
            if isinstance(inner, Mapping) and isinstance(inner.get("messages"), list):
                return _last_message(inner["messages"], "user" if request else "assistant")
        choices = value.get("choices")
        if not request and isinstance(choices, list) and choices:
            first = choices[0]
            message = first.get("message") if isinstance(first, Mapping) else None
            if isinstance(message, Mapping) and isinstance(message.get("content"), str):
                return str(message["content"])
    if isinstance(value, list) and value and all(
            isinstance(m, Mapping) and "role" in m for m in value):
        return _last_message(value, "user" if request else "assistant")
    return None


def _last_message(messages: list[Any], role: str) -> str | None:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == role:
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):  # content parts: keep the text ones
                parts = [p.get("text", "") for p in content
                         if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
                return " ".join(parts) if parts else None
    return None
