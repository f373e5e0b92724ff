"""OTLP ingestion: an OpenTelemetry ExportTraceServiceRequest as Assay Trace entities.

Pure functions (no HTTP, no SQL): the server's ``POST /v1/traces`` decodes the body with
:func:`parse_request`, groups the spans by resource with :func:`spans_by_resource` and by
trace with :func:`group_by_trace` and, after merging each trace's already stored spans, builds
the Trace to log with :func:`assemble_trace`.

Span attributes are translated at storage time, first match wins:

==============  =====================================================================
span field      attribute (MLflow, then OpenInference, then OTel GenAI, then Traceloop)
==============  =====================================================================
span type       ``mlflow.spanType``; ``openinference.span.kind``;
                ``gen_ai.operation.name`` (chat → CHAT_MODEL, embeddings → EMBEDDING,
                execute_tool → TOOL, invoke_agent → AGENT, ...); ``traceloop.span.kind``
inputs          ``mlflow.spanInputs``; ``input.value``; ``gen_ai.input.messages``;
                ``traceloop.entity.input``
outputs         ``mlflow.spanOutputs``; ``output.value``; ``gen_ai.output.messages``;
                ``traceloop.entity.output``
token usage     ``mlflow.chat.tokenUsage``; ``gen_ai.usage.input_tokens``/``output_tokens``
                (or ``prompt_tokens``/``completion_tokens``); ``llm.token_count.prompt``/
                ``completion``/``total`` — stored as ``mlflow.chat.tokenUsage``
model           ``mlflow.llm.model``; ``gen_ai.response.model``/``request.model``;
                ``llm.model_name`` — stored as ``mlflow.llm.model``
session         ``mlflow.trace.session``; ``session.id``; ``gen_ai.conversation.id``
user            ``mlflow.trace.user``; ``user.id``
trace tags      root attributes ``mlflow.traceTag.<key>``
==============  =====================================================================

A trace whose root span (a span with no parent) is among its spans gets its header from the
root: request time (root start), duration, state (the root's status), previews, the name tag,
token usage summed over the spans, session and user. A trace without its root is *partial*:
IN_PROGRESS, timed from its earliest span; the store never lets a partial trace overwrite a
stored header (see ``assay.store.sql.traces.log_traces``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as OtlpStatus

from assay import _json
from assay.entities.span import (
    INPUTS_KEY,
    OUTPUTS_KEY,
    TRACE_ID_KEY,
    TYPE_KEY,
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
)
from assay.entities.trace import Trace, TraceData, TraceInfo, TraceState, metadata_keys
from assay.errors import InvalidParameterError
from assay.tracing.assembly import TOKEN_USAGE_KEY, preview, sum_token_usage

__all__ = [
    "JSON",
    "PROTOBUF",
    "ResourceSpans",
    "assemble_trace",
    "decode_any_value",
    "empty_response",
    "experiment_of",
    "group_by_trace",
    "media_type",
    "merge_spans",
    "parse_request",
    "service_name",
    "span_from_otlp",
    "spans_by_resource",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

MODEL_KEY = "mlflow.llm.model"
TRACE_TAG_PREFIX = "mlflow.traceTag."
SERVICE_NAME_KEY = "service.name"

_STATUS = {
    OtlpStatus.STATUS_CODE_UNSET: SpanStatusCode.UNSET,
    OtlpStatus.STATUS_CODE_OK: SpanStatusCode.OK,
    OtlpStatus.STATUS_CODE_ERROR: SpanStatusCode.ERROR,
}

_OPENINFERENCE_KINDS = {
    "LLM": SpanType.LLM, "CHAIN": SpanType.CHAIN, "TOOL": SpanType.TOOL,
    "RETRIEVER": SpanType.RETRIEVER, "RERANKER": SpanType.RERANKER,
    "EMBEDDING": SpanType.EMBEDDING, "AGENT": SpanType.AGENT,
    "GUARDRAIL": SpanType.GUARDRAIL, "EVALUATOR": SpanType.EVALUATOR,
}
_GEN_AI_OPERATIONS = {
    "chat": SpanType.CHAT_MODEL, "text_completion": SpanType.LLM,
    "generate_content": SpanType.LLM, "embeddings": SpanType.EMBEDDING,
    "execute_tool": SpanType.TOOL, "invoke_agent": SpanType.AGENT,
    "create_agent": SpanType.AGENT,
}
_TRACELOOP_KINDS = {
    "workflow": SpanType.WORKFLOW, "task": SpanType.TASK, "agent": SpanType.AGENT,
    "tool": SpanType.TOOL,
}
_INPUT_KEYS = (INPUTS_KEY, "input.value", "gen_ai.input.messages", "traceloop.entity.input")
_OUTPUT_KEYS = (OUTPUTS_KEY, "output.value", "gen_ai.output.messages",
                "traceloop.entity.output")
_MODEL_KEYS = (MODEL_KEY, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
_SESSION_KEYS = (metadata_keys.SESSION, "session.id", "gen_ai.conversation.id")
_USER_KEYS = (metadata_keys.USER, "user.id")
# Token counts: (input, output, total) attribute keys of each convention.
_TOKEN_KEYS = (
    ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.total_tokens"),
    ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", None),
    ("llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total"),
)
# Attributes that become the span's own fields rather than staying attributes.
_FIELD_KEYS = frozenset((INPUTS_KEY, OUTPUTS_KEY, TYPE_KEY, TRACE_ID_KEY))


# -- the wire format -----------------------------------------------------------------------

def parse_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """The request in ``body`` (already decompressed), as protobuf or OTLP JSON.

    InvalidParameterError for another content type or a body that does not parse.
    """
    kind = media_type(content_type)
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise InvalidParameterError(
                f"Invalid OTLP protobuf body: not an ExportTraceServiceRequest ({exc})"
            ) from None
    elif kind == JSON:
        try:
            # OTLP JSON writes trace and span ids as hex, where the protobuf JSON mapping
            # wants base64: convert them before parsing.
            data = json.loads(body)
            _hex_ids_to_base64(data)
            json_format.ParseDict(data, request, ignore_unknown_fields=True)
        except (ValueError, TypeError, json_format.ParseError) as exc:
            raise InvalidParameterError(f"Invalid OTLP JSON body: {exc}") from None
    else:
        raise InvalidParameterError(
            f"Unsupported Content-Type {content_type!r}: expected {PROTOBUF} or {JSON}")
    return request


def empty_response(content_type: str) -> bytes:
    """An empty ExportTraceServiceResponse in the format of a request of ``content_type``."""
    if media_type(content_type) == JSON:
        return b"{}"
    data: bytes = ExportTraceServiceResponse().SerializeToString()
    return data


def media_type(content_type: str) -> str:
    """``application/json; charset=utf-8`` → ``application/json``."""
    return content_type.split(";", 1)[0].strip().lower()


def _hex_ids_to_base64(data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    for resource_spans in _list(data.get("resourceSpans", data.get("resource_spans"))):
        for scope_spans in _list(_dict(resource_spans).get(
                "scopeSpans", _dict(resource_spans).get("scope_spans"))):
            for span in _list(_dict(scope_spans).get("spans")):
                span = _dict(span)
                for key in ("traceId", "trace_id", "spanId", "span_id", "parentSpanId",
                            "parent_span_id"):
                    _convert_id(span, key)
                for link in _list(span.get("links")):
                    for key in ("traceId", "trace_id", "spanId", "span_id"):
                        _convert_id(_dict(link), key)


def _convert_id(obj: dict[str, Any], key: str) -> None:
    value = obj.get(key)
    if isinstance(value, str) and value and len(value) % 2 == 0:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            return  # not hex: leave it for the base64 reading of the protobuf mapping
        obj[key] = base64.b64encode(raw).decode("ascii")


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"expected a JSON array, got {type(value).__name__}")
    return value


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


# -- attributes ------------------------------------------------------------------------------

def decode_any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a Python value (bytes become hex text)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [decode_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


def decode_attributes(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP key-values as a dict."""
    return {kv.key: decode_any_value(kv.value) for kv in attributes}


# -- spans -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResourceSpans:
    """The spans of one resource (one service), with the resource's attributes."""

    resource: dict[str, Any]
    spans: list[Span]


def spans_by_resource(request: ExportTraceServiceRequest) -> list[ResourceSpans]:
    """Every span of the request, translated, grouped by the resource that sent it."""
    groups: list[ResourceSpans] = []
    for resource_spans in request.resource_spans:
        spans = [span_from_otlp(span)
                 for scope_spans in resource_spans.scope_spans
                 for span in scope_spans.spans]
        if spans:
            groups.append(ResourceSpans(decode_attributes(resource_spans.resource.attributes),
                                        spans))
    return groups


def span_from_otlp(span: OtlpSpan) -> Span:
    """One OTLP span as an Assay Span, its attributes translated (see the module doc)."""
    if len(span.trace_id) != 16 or not any(span.trace_id):
        raise InvalidParameterError(
            f"Invalid trace_id {span.trace_id.hex()!r} of span {span.name!r}: expected 16 "
            "bytes, not all zero")
    if len(span.span_id) != 8 or not any(span.span_id):
        raise InvalidParameterError(
            f"Invalid span_id {span.span_id.hex()!r} of span {span.name!r}: expected 8 "
            "bytes, not all zero")
    parent = span.parent_span_id
    if parent and len(parent) != 8:
        raise InvalidParameterError(
            f"Invalid parent_span_id {parent.hex()!r} of span {span.name!r}: expected 8 bytes")
    attributes = decode_attributes(span.attributes)
    for key, value in attributes.items():
        # MLflow's exporter writes every mlflow.* attribute as JSON text.
        if key.startswith("mlflow.") and key not in (INPUTS_KEY, OUTPUTS_KEY) \
                and isinstance(value, str):
            attributes[key] = _json.loads(value)
    span_type = _span_type(attributes)
    inputs_json = _payload(attributes, _INPUT_KEYS, "input.mime_type")
    outputs_json = _payload(attributes, _OUTPUT_KEYS, "output.mime_type")
    usage = _token_usage(attributes)
    if usage is not None:
        attributes[TOKEN_USAGE_KEY] = usage
    if MODEL_KEY not in attributes:
        model = _first(attributes, _MODEL_KEYS)
        if model is not None:
            attributes[MODEL_KEY] = model
    for key in _FIELD_KEYS:
        attributes.pop(key, None)
    return Span(
        trace_id="tr-" + span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=parent.hex() if parent and any(parent) else None,
        name=span.name,
        start_time_ns=span.start_time_unix_nano,
        end_time_ns=span.end_time_unix_nano or None,
        span_type=span_type,
        status=SpanStatus(_STATUS.get(span.status.code, SpanStatusCode.UNSET),
                          span.status.message),
        inputs_json=inputs_json,
        outputs_json=outputs_json,
        attributes=attributes,
        events=tuple(SpanEvent(e.name, e.time_unix_nano, decode_attributes(e.attributes))
                     for e in span.events),
    )


def _span_type(attributes: Mapping[str, Any]) -> str:
    value = attributes.get(TYPE_KEY)
    if isinstance(value, str) and value:
        return value
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_KINDS:
        return _OPENINFERENCE_KINDS[kind.upper()]
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation.lower() in _GEN_AI_OPERATIONS:
        return _GEN_AI_OPERATIONS[operation.lower()]
    if isinstance(operation, str) and operation:
        return SpanType.LLM
    kind = attributes.get("traceloop.span.kind")
    if isinstance(kind, str) and kind.lower() in _TRACELOOP_KINDS:
        return _TRACELOOP_KINDS[kind.lower()]
    return SpanType.UNKNOWN


def _payload(attributes: Mapping[str, Any], keys: Sequence[str], mime_key: str) -> str | None:
    """Inputs or outputs as JSON text, from the first of ``keys`` that is set.

    MLflow's, GenAI's and Traceloop's attributes hold JSON text, kept as it is; OpenInference's
    ``input.value``/``output.value`` are JSON only when their mime type says so, otherwise
    plain text (encoded as a JSON string).
    """
    for key in keys:
        value = attributes.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            plain = key.endswith("put.value") and attributes.get(mime_key) != JSON
            if not plain and _is_json(value):
                return value
        return _json.dumps(value)
    return None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _token_usage(attributes: Mapping[str, Any]) -> dict[str, int] | None:
    usage = attributes.get(TOKEN_USAGE_KEY)
    if isinstance(usage, Mapping):
        return {k: v for k, v in usage.items() if _is_count(v)}
    for input_key, output_key, total_key in _TOKEN_KEYS:
        counts = {"input_tokens": attributes.get(input_key),
                  "output_tokens": attributes.get(output_key),
                  "total_tokens": attributes.get(total_key) if total_key else None}
        found = {k: v for k, v in counts.items() if isinstance(v, int) and _is_count(v)}
        if found:
            if "total_tokens" not in found:
                found["total_tokens"] = (found.get("input_tokens", 0)
                                         + found.get("output_tokens", 0))
            return found
    return None


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _first(attributes: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return None


# -- traces ----------------------------------------------------------------------------------

def merge_spans(stored: Sequence[Span], received: Sequence[Span]) -> list[Span]:
    """The spans of a trace: the stored ones, replaced by a received span of the same id."""
    by_id = {s.span_id: s for s in stored}
    by_id.update((s.span_id, s) for s in received)
    return list(by_id.values())


def group_by_trace(spans: Iterable[Span]) -> dict[str, list[Span]]:
    """Spans by trace id, in the order they came."""
    groups: dict[str, list[Span]] = {}
    for span in spans:
        groups.setdefault(span.trace_id, []).append(span)
    return groups


def assemble_trace(trace_id: str, experiment_id: str, spans: Sequence[Span]) -> Trace:
    """The Trace to log for ``spans`` (all the known spans of one trace, at least one).

    With its root (a span with no parent), the header comes from the root; without, the
    trace is partial: IN_PROGRESS, timed from its earliest span.
    """
    ordered = sorted(spans, key=lambda s: (s.parent_id is not None, s.start_time_ns))
    root = ordered[0] if ordered[0].parent_id is None else None
    metadata: dict[str, str] = {metadata_keys.SCHEMA_VERSION: "3"}
    # Session and user: the root's first, else the earliest span that has one.
    for meta_key, keys in ((metadata_keys.SESSION, _SESSION_KEYS),
                           (metadata_keys.USER, _USER_KEYS)):
        for span in ordered:
            value = _first(span.attributes, keys)
            if value is not None:
                metadata[meta_key] = value
                break
    if root is None:
        info = TraceInfo(trace_id=trace_id, experiment_id=experiment_id,
                         request_time=min(s.start_time_ns for s in spans) // 1_000_000,
                         state=TraceState.IN_PROGRESS, execution_duration=None,
                         trace_metadata=metadata)
        return Trace(info=info, data=TraceData(spans=ordered))
    children: dict[str, list[Span]] = {}
    for span in ordered:
        if span.parent_id is not None:
            children.setdefault(span.parent_id, []).append(span)
    usage = sum_token_usage(root, lambda s: children.get(s.span_id, ()),
                            lambda s: s.attributes.get(TOKEN_USAGE_KEY))
    if usage:
        metadata[metadata_keys.TOKEN_USAGE] = json.dumps(usage)
    tags = {metadata_keys.TRACE_NAME: root.name}
    for key, value in root.attributes.items():
        if key.startswith(TRACE_TAG_PREFIX) and len(key) > len(TRACE_TAG_PREFIX):
            tags[key.removeprefix(TRACE_TAG_PREFIX)] = (
                value if isinstance(value, str) else _json.dumps(value))
    end_ns = root.end_time_ns
    state = (TraceState.ERROR if root.status.status_code is SpanStatusCode.ERROR
             else TraceState.OK if end_ns is not None else TraceState.IN_PROGRESS)
    info = TraceInfo(
        trace_id=trace_id,
        experiment_id=experiment_id,
        request_time=root.start_time_ns // 1_000_000,
        state=state,
        execution_duration=(None if end_ns is None
                            else max(0, end_ns - root.start_time_ns) // 1_000_000),
        request_preview=preview(root.inputs, request=True),
        response_preview=preview(root.outputs, request=False),
        trace_metadata=metadata,
        tags=tags,
    )
    return Trace(info=info, data=TraceData(spans=ordered))


def service_name(resource: Mapping[str, Any]) -> str | None:
    """The resource's ``service.name``, if it names something."""
    value = resource.get(SERVICE_NAME_KEY)
    return value if isinstance(value, str) and value.strip() else None


def experiment_of(resource: Mapping[str, Any], header_id: str | None,
                  by_name: Callable[[str], str]) -> str:
    """The experiment of a resource's spans: the header's, else the one named after the
    service (``by_name`` finds or creates it), else the default experiment "0"."""
    if header_id:
        return header_id
    name = service_name(resource)
    return by_name(name) if name is not None else "0"
