"""Spans as the trace page shows them: the tree beside its timeline, and one span's details
(inputs and outputs, chat messages as a conversation, attributes, events, exceptions).

The tree is built from the spans' ids alone, so a trace of thousands of spans costs a list
of small dicts; only the selected span's payloads are decoded and shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from assay.entities import Span, SpanStatusCode
from assay.entities.overview import SpanOutline
from assay.entities.span import CHUNK_EVENT_PREFIX, CHUNK_VALUE_KEY
from assay.server.ui.templating import format_duration

__all__ = ["chat_messages", "span_detail", "span_rows_html", "span_tree", "trace_start_ns"]

#: Payloads longer than this are shown cut, with a note (the JSON form has them whole).
MAX_SHOWN_CHARS = 200_000
_EXCEPTION_EVENT = "exception"
# Where a chunk's text is, in the shapes streams take: OpenAI chat and completions chunks,
# the Responses API's deltas, and plain {"content"|"text"|"delta": "..."} events.
_TEXT_KEYS = ("content", "text", "delta", "token")


def span_tree(spans: Sequence[SpanOutline]) -> list[dict[str, Any]]:
    """The spans depth first (children by start time), each with its depth, its place on
    the timeline (``left``/``width`` in percent of the trace) and how many spans it holds.

    A span whose parent is not in the trace is shown as a root.
    """
    if not spans:
        return []
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanOutline]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s.start_time_ns, s.span_id))
    start = min(s.start_time_ns for s in spans)
    end = max((s.end_time_ns or s.start_time_ns) for s in spans)
    total = max(end - start, 1)
    rows: list[dict[str, Any]] = []
    parents: list[int] = []  # the row index of each row's parent (-1 for a root)
    # Iterative depth-first walk: a deep trace must not hit Python's recursion limit.
    stack: list[tuple[SpanOutline, int, int]] = [
        (s, 0, -1) for s in reversed(children.get(None, []))]
    while stack:
        span, depth, parent_row = stack.pop()
        kids = children.get(span.span_id, [])
        duration_ns = span.duration_ns
        offset = span.start_time_ns - start
        rows.append({
            "span_id": span.span_id,
            "parent_id": span.parent_id if span.parent_id in ids else None,
            "name": span.name,
            "span_type": span.span_type,
            "status": span.status_code,
            "is_error": span.status_code == SpanStatusCode.ERROR.value,
            "depth": depth,
            "num_children": len(kids),
            "num_descendants": 0,
            "errors_below": 0,
            "start_offset_ms": offset / 1e6,
            "duration_ms": None if duration_ns is None else duration_ns / 1e6,
            "left": round(100 * offset / total, 3),
            "width": round(max(100 * (duration_ns or 0) / total, 0.25), 3),
        })
        parents.append(parent_row)
        row = len(rows) - 1
        stack.extend((kid, depth + 1, row) for kid in reversed(kids))
    # Children come after their parents: summing from the end counts every subtree once.
    for row in range(len(rows) - 1, -1, -1):
        if parents[row] >= 0:
            above = rows[parents[row]]
            above["num_descendants"] += rows[row]["num_descendants"] + 1
            above["errors_below"] += rows[row]["errors_below"] + rows[row]["is_error"]
    return rows


def span_rows_html(rows: Sequence[Mapping[str, Any]], selected: str | None,
                   type_labels: Mapping[str, str], fold: bool) -> Markup:
    """The ``<li>`` rows of the span tree (drawn here rather than in the template: a trace
    of thousands of spans renders in milliseconds this way)."""
    parts: list[str] = []
    for r in rows:
        span_id = escape(r["span_id"])
        name = escape(r["name"])
        kind = escape(r["span_type"])
        classes = "span-row"
        if r["span_id"] == selected:
            classes += " selected"
        mark = ""
        if r["is_error"]:
            classes += " is-error"
            mark = ('<span class="error-mark" role="img" aria-label="failed" '
                    'title="This span failed">!</span>')
        elif r["errors_below"]:
            classes += " has-error-below"
            failed = r["errors_below"]
            mark = (f'<span class="error-dot" role="img" aria-label="{failed} failed inside" '
                    f'title="{failed} span{"" if failed == 1 else "s"} inside failed"></span>')
        parent = f' data-parent="{escape(r["parent_id"])}"' if r["parent_id"] else ""
        if r["num_children"]:
            toggle = (f'<button type="button" class="fold" aria-expanded="true" aria-label='
                      f'"Spans under {name} ({r["num_descendants"]})" data-fold-toggle hidden>'
                      "\u25be</button>")
        else:
            toggle = '<span class="fold-spacer"></span>'
        count = (f'<span class="fold-count muted small" hidden>+{r["num_descendants"]}</span>'
                 if fold and r["num_descendants"] else "")
        label = escape(type_labels.get(r["span_type"], r["span_type"][:6]))
        duration = ("\u2026" if r["duration_ms"] is None
                    else escape(format_duration(r["duration_ms"])))
        parts.append(
            f'<li class="{classes}" data-span="{span_id}" data-depth="{r["depth"]}"{parent}>'
            f'<span class="span-name" style="padding-left: {r["depth"] * 14}px">{toggle}'
            f'<a href="?span={span_id}#span-panel" data-select-span="{span_id}" '
            f'title="{name} ({kind})"><span class="type-badge type-{escape(kind.lower())}">'
            f'{label}</span> {name}</a>{mark}{count}</span>'
            f'<span class="span-dur num">{duration}</span>'
            f'<span class="span-bar" aria-hidden="true"><span style="left: {r["left"]}%; '
            f'width: {r["width"]}%"></span></span></li>')
    return Markup("\n".join(parts))


def span_detail(span: Span, trace_start_ns: int | None = None) -> dict[str, Any]:
    """Everything about one span, decoded: inputs, outputs (and the chat messages in them),
    attributes, events and the exceptions among them."""
    inputs, inputs_cut = _decoded(span.inputs_json)
    outputs, outputs_cut = _decoded(span.outputs_json)
    events: list[dict[str, Any]] = [
        {"name": e.name, "time_ms": e.timestamp_ns / 1e6 if e.timestamp_ns else None,
         "attributes": dict(e.attributes)} for e in span.events
        if not e.name.startswith(CHUNK_EVENT_PREFIX)]
    exceptions = [{
        "type": str(e.attributes.get("exception.type") or "Exception"),
        "message": str(e.attributes.get("exception.message") or ""),
        "stacktrace": str(e.attributes.get("exception.stacktrace") or ""),
    } for e in span.events if e.name == _EXCEPTION_EVENT]
    duration_ns = span.duration_ns
    status_message = span.status.description or ""
    # The status of a span that raised is usually its exception's "Type: message", already
    # shown with the exception: say it once.
    said = [f"{e['type']}: {e['message']}" for e in exceptions] + [
        e["message"] for e in exceptions]
    return {
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "name": span.name,
        "span_type": span.span_type,
        "status": span.status.status_code.value,
        "status_message": status_message,
        "status_message_shown": status_message if status_message not in said else "",
        "start_time_ms": span.start_time_ns / 1e6,
        "start_offset_ms": (None if trace_start_ns is None
                            else (span.start_time_ns - trace_start_ns) / 1e6),
        "duration_ms": None if duration_ns is None else duration_ns / 1e6,
        "inputs": inputs,
        "outputs": outputs,
        "inputs_cut": inputs_cut,
        "outputs_cut": outputs_cut,
        "inputs_chat": chat_messages(inputs),
        "outputs_chat": chat_messages(outputs),
        "attributes": {k: v for k, v in sorted(span.attributes.items())},
        "events": [e for e in events if e["name"] != _EXCEPTION_EVENT],
        "stream": stream_of(span),
        "exceptions": exceptions,
    }


def stream_of(span: Span) -> dict[str, Any] | None:
    """A streamed span's chunk events as one stream: the text they carry, joined, and each
    chunk decoded (for the raw view); None when the span has no chunk events."""
    chunks: list[Any] = []
    times: list[int] = []
    for event in span.events:
        if not event.name.startswith(CHUNK_EVENT_PREFIX):
            continue
        raw = event.attributes.get(CHUNK_VALUE_KEY)
        try:
            chunks.append(json.loads(raw) if isinstance(raw, str) else raw)
        except ValueError:
            chunks.append(raw)
        if event.timestamp_ns:
            times.append(event.timestamp_ns)
    if not chunks:
        return None
    pieces = [chunk_text(c) for c in chunks]
    return {
        "count": len(chunks),
        "text": "".join(p for p in pieces if p is not None),
        "with_text": sum(p is not None for p in pieces),
        "duration_ms": (max(times) - min(times)) / 1e6 if len(times) > 1 else None,
        "chunks": [json.dumps(c, ensure_ascii=False, separators=(",", ":"), default=str)
                   if not isinstance(c, str) else c for c in chunks],
    }


def chunk_text(chunk: Any) -> str | None:
    """The text one streamed chunk adds, or None when it carries none (a start or end
    marker, usage, a tool call)."""
    if isinstance(chunk, str):
        return chunk
    if not isinstance(chunk, Mapping):
        return None
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        first = choices[0]
        delta = first.get("delta")
        if isinstance(delta, Mapping) and isinstance(delta.get("content"), str):
            return str(delta["content"])
        if isinstance(first.get("text"), str):  # completions
            return str(first["text"])
        return None
    for key in _TEXT_KEYS:
        if isinstance(chunk.get(key), str):
            return str(chunk[key])
    return None


def _decoded(text: str | None) -> tuple[Any, bool]:
    """A payload's value, or its text cut to :data:`MAX_SHOWN_CHARS` when it is longer."""
    if text is None:
        return None, False
    if len(text) > MAX_SHOWN_CHARS:
        return text[:MAX_SHOWN_CHARS], True
    try:
        return json.loads(text), False
    except ValueError:
        return text, False


def chat_messages(value: Any) -> list[dict[str, str]] | None:
    """The chat messages in a payload, as ``{role, content}`` with text content, or None
    when it holds none.

    Recognised: a list of messages; ``{"messages": [...]}`` (a chat request);
    ``{"choices": [{"message": ...}]}`` (a chat completion); ``{"message": ...}``.
    """
    candidates: Any = None
    if isinstance(value, list):
        candidates = value
    elif isinstance(value, Mapping):
        if isinstance(value.get("messages"), list):
            candidates = value["messages"]
        elif isinstance(value.get("choices"), list):
            candidates = [c.get("message") for c in value["choices"] if isinstance(c, Mapping)]
        elif isinstance(value.get("message"), Mapping):
            candidates = [value["message"]]
    if not candidates:
        return None
    messages = [m for m in (_message(c) for c in candidates) if m is not None]
    return messages if len(messages) == len(candidates) else None


def _message(item: Any) -> dict[str, str] | None:
    if not isinstance(item, Mapping) or not isinstance(item.get("role"), str):
        return None
    content = item.get("content")
    text = _content_text(content)
    if text is None:
        calls = item.get("tool_calls")
        if not calls:
            return None
        text = json.dumps(calls, indent=2, ensure_ascii=False)
    return {"role": item["role"], "content": text}


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if content is None:
        return None
    if isinstance(content, list):
        parts = [_part_text(p) for p in content]
        return "\n".join(p for p in parts if p)
    return json.dumps(content, ensure_ascii=False)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Mapping):
        if isinstance(part.get("text"), str):
            return str(part["text"])
        kind = part.get("type")
        return f"[{kind}]" if isinstance(kind, str) else ""
    return ""


def trace_start_ns(spans: Iterable[SpanOutline]) -> int | None:
    """When the first span of a trace started (None without spans)."""
    return min((s.start_time_ns for s in spans), default=None)
