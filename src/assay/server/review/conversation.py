"""A trace as an expert reads it: the question, the answer, the documents retrieved, the
tools called, the earlier turns of its conversation, and the feedback already on it.

Everything is read from the trace's spans, decoded once: the root span's inputs are the
request (chat messages ``{"messages": [...]}`` or a list of them, ``{"question": ...}`` and
the like, plain text, else JSON), its outputs the response (text, a chat completion, a
``{"answer": ...}``-like object, else JSON); RETRIEVER spans give the documents (LangChain
``page_content``/``metadata``, ``content``/``text``, or plain strings); TOOL spans the calls.
A trace without spans falls back on its request and response previews.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from assay.entities import Assessment, Span, SpanType, Trace
from assay.search.unparse import quote_string
from assay.server.ui.sessions import conversation_text
from assay.server.ui.span_views import chat_messages
from assay.store.base import Store

__all__ = ["conversation", "earlier_turns", "prior_feedback"]

#: Payloads longer than this are shown cut (the full trace has them whole).
MAX_SHOWN_CHARS = 50_000
#: Most documents and tool calls shown, and earlier turns of the conversation.
MAX_DOCUMENTS = 50
MAX_TOOL_CALLS = 30
MAX_EARLIER_TURNS = 10
# Keys that hold the user's question in a plain request, and the answer in a response.
_QUESTION_KEYS = ("question", "query", "input", "prompt", "user_input", "message", "text")
_ANSWER_KEYS = ("answer", "response", "output", "content", "text", "result")
_DOC_TEXT_KEYS = ("page_content", "content", "text", "document", "chunk")


def conversation(trace: Trace) -> dict[str, Any]:
    """The trace's request, response, documents and tool calls for the item page."""
    spans = trace.data.spans
    root = trace.data.root_span
    if root is None:
        return {
            "request": _preview_request(trace.info.request_preview),
            "response": _text_block(trace.info.response_preview),
            "documents": [], "tool_calls": [], "num_spans": 0,
        }
    return {
        "request": _request(_decoded(root.inputs_json)),
        "response": _response(_decoded(root.outputs_json)),
        "documents": _documents(spans),
        "tool_calls": _tool_calls(spans),
        "num_spans": len(spans),
    }


def earlier_turns(store: Store, trace: Trace) -> list[dict[str, Any]]:
    """The turns of the trace's conversation (its session) before it, oldest first, at
    most :data:`MAX_EARLIER_TURNS` (the latest ones)."""
    info = trace.info
    if not info.session_id:
        return []
    found = store.search_traces(
        [info.experiment_id], max_results=MAX_EARLIER_TURNS, include_spans=False,
        filter_string=(f"trace.session_id = {quote_string(info.session_id)} AND "
                       f"trace.timestamp_ms < {int(info.request_time)}"),
        order_by=["timestamp_ms DESC"])
    return [{"trace_id": t.info.trace_id, "request": _question_of(t.info.request_preview),
             "response": t.info.response_preview or ""} for t in reversed(list(found))]


def prior_feedback(assessments: Sequence[Assessment]) -> list[dict[str, Any]]:
    """The feedback and expectations on the trace that no labeling or evaluation run
    wrote: the end users' votes, developers' notes, and the like. Answers given in a
    session (this one's other reviewers among them) are left out: they are not the
    reviewer's to see."""
    shown = [a for a in assessments if a.valid and a.run_id is None]
    shown.sort(key=lambda a: (a.kind != "feedback", a.name.lower(), -a.create_time_ms))
    return [{"name": a.name, "kind": a.kind, "value": a.value,
             "source_type": a.source.source_type.value, "source_id": a.source.source_id,
             "rationale": a.rationale, "time_ms": a.create_time_ms} for a in shown]


# -- request and response ----------------------------------------------------------------------

def _decoded(text: str | None) -> Any:
    if text is None:
        return None
    if len(text) > MAX_SHOWN_CHARS:
        return text[:MAX_SHOWN_CHARS] + "\u2026"
    try:
        return json.loads(text)
    except ValueError:
        return text


def _text_block(value: Any) -> dict[str, Any] | None:
    """A value as one block: ``{"kind": "text", "text"}`` or ``{"kind": "json", "text"}``."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"kind": "text", "text": value}
    return {"kind": "json", "text": _pretty(value)}


def _request(value: Any) -> dict[str, Any] | None:
    """The request: the question (the last user message, or the question-like field), the
    messages before it (system prompt, earlier turns) and other fields."""
    messages = chat_messages(value)
    if messages:
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"),
                        default=None)
        if last_user is not None:
            other = ({k: v for k, v in value.items() if k != "messages"}
                     if isinstance(value, Mapping) else {})
            return {"kind": "chat", "question": messages[last_user]["content"],
                    "context": messages[:last_user], "after": messages[last_user + 1:],
                    "fields": _fields(other)}
        return {"kind": "chat", "question": None, "context": messages, "after": [],
                "fields": []}
    if isinstance(value, Mapping):
        for key in _QUESTION_KEYS:
            if isinstance(value.get(key), str):
                rest = {k: v for k, v in value.items() if k != key}
                return {"kind": "chat", "question": value[key], "context": [], "after": [],
                        "fields": _fields(rest)}
        if len(value) == 1:
            ((_, only),) = value.items()
            if isinstance(only, str):
                return {"kind": "chat", "question": only, "context": [], "after": [],
                        "fields": []}
    if isinstance(value, str):
        return {"kind": "chat", "question": value, "context": [], "after": [], "fields": []}
    block = _text_block(value)
    return None if block is None else {**block, "fields": []}


def _preview_request(preview: str | None) -> dict[str, Any] | None:
    shown = conversation_text(preview)
    if shown is None:
        return None
    if shown["kind"] == "messages":
        return _request({"messages": shown["messages"]})
    if shown["kind"] == "text":
        return {"kind": "chat", "question": shown["text"], "context": [], "after": [],
                "fields": []}
    return {"kind": "json", "text": shown["text"], "fields": []}


def _response(value: Any) -> dict[str, Any] | None:
    messages = chat_messages(value)
    if messages:
        return {"kind": "text", "text": "\n\n".join(m["content"] for m in messages)}
    if isinstance(value, Mapping):
        for key in _ANSWER_KEYS:
            if isinstance(value.get(key), str):
                return {"kind": "text", "text": value[key]}
    return _text_block(value)


def _fields(values: Mapping[str, Any]) -> list[dict[str, str]]:
    """Other fields of a request (model, temperature, ids), short."""
    shown = []
    for key, value in list(values.items())[:20]:
        text = value if isinstance(value, str) else json.dumps(
            value, ensure_ascii=False, default=str)
        shown.append({"key": str(key), "value": text if len(text) <= 300
                      else text[:299] + "\u2026"})
    return shown


def _question_of(preview: str | None) -> str:
    shown = _preview_request(preview)
    if shown is None:
        return ""
    return str(shown.get("question") or shown.get("text") or "")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


# -- documents and tools -----------------------------------------------------------------------

def _documents(spans: Sequence[Span]) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for span in spans:
        if span.span_type != SpanType.RETRIEVER:
            continue
        found = _decoded(span.outputs_json)
        if isinstance(found, Mapping):
            found = found.get("documents") or found.get("results") or [found]
        if not isinstance(found, list):
            found = [] if found is None else [found]
        query = _query_of(_decoded(span.inputs_json))
        for rank, item in enumerate(found, start=1):
            if len(documents) >= MAX_DOCUMENTS:
                return documents
            documents.append({**_document(item), "rank": rank, "retriever": span.name,
                              "query": query})
    return documents


def _document(item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return {"text": item, "metadata": {}, "id": None, "title": _title(item)}
    if not isinstance(item, Mapping):
        text = _pretty(item)
        return {"text": text, "metadata": {}, "id": None, "title": _title(text)}
    found = next((item[k] for k in _DOC_TEXT_KEYS if isinstance(item.get(k), str)), None)
    raw_metadata = item.get("metadata")
    metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, Mapping) else {}
    rest = {k: v for k, v in item.items()
            if k not in (*_DOC_TEXT_KEYS, "metadata") and v is not None}
    meta = {str(k): (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False,
                                                             default=str))
            for k, v in {**rest, **metadata}.items()}
    text = str(found) if found is not None else _pretty(item)
    doc_id = meta.get("id") or meta.get("doc_id") or meta.get("source")
    # The id is shown as the document's badge; a source stays among the metadata too.
    shown = {k: v for k, v in meta.items() if k not in ("id", "doc_id") or v != doc_id}
    return {"text": text, "metadata": shown, "id": doc_id, "title": _title(text)}


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 110 else line[:109] + "\u2026"


def _query_of(inputs: Any) -> str | None:
    if isinstance(inputs, str):
        return inputs
    if isinstance(inputs, Mapping):
        for key in ("query", "question", "input", "text"):
            if isinstance(inputs.get(key), str):
                return str(inputs[key])
    return None


def _tool_calls(spans: Sequence[Span]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for span in spans:
        if span.span_type != SpanType.TOOL:
            continue
        if len(calls) >= MAX_TOOL_CALLS:
            break
        calls.append({"name": span.name, "status": span.status.status_code.value,
                      "arguments": _text_block(_decoded(span.inputs_json)),
                      "result": _text_block(_decoded(span.outputs_json))})
    return calls
