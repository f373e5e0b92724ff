"""OTLP ingestion: an OpenTelemetry ExportTraceServiceRequest as Assay Trace entities.

Pure functions (no HTTP, no SQL): the server's ``POST /v1/traces`` decodes the body with
:func:`parse_request`, reads and checks the spans, grouped by resource, with
:func:`read_spans` (which sets aside the ones that cannot be stored) and by trace with
:func:`group_by_trace` and, after merging each trace's already stored spans, builds the Trace
to log with :func:`assemble_trace`; a request with rejected spans is answered with
:func:`partial_success_response`.

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
trace header    root attribute ``assay.trace.info`` (what Assay's SDK sends; see below)
experiment      resource attribute ``assay.experiment_id``, else the request's header,
                else the experiment named after ``service.name``
==============  =====================================================================

Assay's own SDK sends whole traces (:mod:`assay.store.rest.otlp`): its resources say
``assay.attribute_encoding = "json"`` (every attribute value is JSON text, decoded here) and
each root span carries the trace's header as ``assay.trace.info``, which is then stored as
sent (metadata, tags, previews, client request id, assessments logged while it ran).

Every span is checked as it is read (:func:`read_spans`): ids of the right length and not all
zero, start and end times in nanoseconds below ``2**63`` (what the database's BIGINT holds)
and the end not before the start (an end of 0 means the span has not ended), event times
below ``2**63``, and integers in JSON-encoded attributes within 64 bits. A span that
fails is *rejected*, with a reason naming its trace id, span id and field, and the other spans
are kept; the server answers those with OTLP's partial success. NaN and infinite doubles,
which OTLP allows and JSON cannot hold, are kept as the strings ``nan``, ``inf`` and ``-inf``.

A trace whose root span (a span with no parent) is among its spans gets its header from the
root: request time (root start), duration, state (the root's status), previews, the name tag,
token usage summed over the spans, session and user. A trace without its root is *partial*:
IN_PROGRESS, timed from its earliest span; the store never lets a partial trace overwrite a
stored header (see ``assay.store.sql.traces.log_traces``).
"""

from __future__ import annotations

import base64
import dataclasses
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
from assay.entities._checks import MAX_METADATA_KEY_CHARS as MAX_TAG_KEY_CHARS
from assay.entities._checks import check_key, fits_int64, may_hold_wide_int
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
from assay.store.rest.otlp import (
    ATTRIBUTE_ENCODING_KEY,
    EXPERIMENT_ID_KEY,
    JSON_ENCODING,
    TRACE_INFO_KEY,
)
from assay.tracing.assembly import TOKEN_USAGE_KEY, preview, sum_token_usage

__all__ = [
    "JSON",
    "PROTOBUF",
    "ReceivedSpans",
    "RejectedSpan",
    "ResourceSpans",
    "SpanError",
    "assemble_trace",
    "decode_any_value",
    "describe_rejections",
    "empty_response",
    "experiment_of",
    "group_by_trace",
    "is_whole_trace",
    "media_type",
    "merge_spans",
    "parse_request",
    "partial_success_response",
    "read_spans",
    "sent_header_over",
    "service_name",
    "span_from_otlp",
    "spans_by_resource",
    "stored_header_kept",
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
# Attributes that hold JSON text to keep as text, never decoded.
_TEXT_KEYS = frozenset((INPUTS_KEY, OUTPUTS_KEY, TRACE_INFO_KEY))
# Any of these among a span's attributes and it may report token usage, or a model.
_TOKEN_ATTRIBUTE_KEYS = frozenset(
    (TOKEN_USAGE_KEY, *(key for keys in _TOKEN_KEYS for key in keys if key is not None)))
_MODEL_KEY_SET = frozenset(_MODEL_KEYS)
_INPUT_KEY_SET = frozenset(_INPUT_KEYS)
_OUTPUT_KEY_SET = frozenset(_OUTPUT_KEYS)
_SESSION_OR_USER_KEYS = frozenset((*_SESSION_KEYS, *_USER_KEYS))
_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
# Times are nanoseconds since the epoch stored in BIGINT columns: below 2**63.
_TIME_LIMIT = 2**63
# How many rejected spans a partial-success answer names (it counts them all).
MAX_NAMED_REJECTIONS = 10
_STATUSES = {code: SpanStatus(code) for code in SpanStatusCode}


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
        except RecursionError:
            raise InvalidParameterError(
                "Invalid OTLP JSON body: nested too deeply to decode") from None
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


def partial_success_response(content_type: str, rejected: Sequence[RejectedSpan]) -> bytes:
    """An ExportTraceServiceResponse whose ``partial_success`` counts the rejected spans and
    names the first :data:`MAX_NAMED_REJECTIONS` of them, in the request's format."""
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = len(rejected)
    response.partial_success.error_message = describe_rejections(rejected)
    if media_type(content_type) == JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    data: bytes = response.SerializeToString()
    return data


def describe_rejections(rejected: Sequence[RejectedSpan]) -> str:
    """``"2 spans rejected: span … of trace …: why; span …"``, naming at most
    :data:`MAX_NAMED_REJECTIONS` of them."""
    named = "; ".join(r.describe() for r in rejected[:MAX_NAMED_REJECTIONS])
    more = len(rejected) - MAX_NAMED_REJECTIONS
    plural = "span" if len(rejected) == 1 else "spans"
    return (f"{len(rejected)} {plural} rejected: {named}"
            + (f"; and {more} more" if more > 0 else ""))


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


@dataclass(frozen=True)
class RejectedSpan:
    """A span the server did not store, and why (the reason names the field)."""

    trace_id: str
    span_id: str
    reason: str

    def describe(self) -> str:
        return f"span {self.span_id} of trace {self.trace_id}: {self.reason}"


@dataclass(frozen=True)
class ReceivedSpans:
    """The spans of a request: the good ones by resource, and the rejected ones."""

    groups: list[ResourceSpans]
    rejected: list[RejectedSpan]


class SpanError(InvalidParameterError):
    """A span of an OTLP request that cannot be stored; the message names its trace id, span
    id and the field."""

    def __init__(self, span: OtlpSpan, reason: str) -> None:
        self.rejection = RejectedSpan(_hex_id("tr-", span.trace_id), _hex_id("", span.span_id),
                                      reason)
        super().__init__(f"Invalid {self.rejection.describe()}")


def _hex_id(prefix: str, raw: bytes) -> str:
    return prefix + raw[:32].hex() if raw else "(none)"


def read_spans(request: ExportTraceServiceRequest,
               check_span: Callable[[OtlpSpan], None] | None = None) -> ReceivedSpans:
    """Every span of the request, translated and grouped by the resource that sent it; the
    spans that cannot be stored (see the module doc, and ``check_span``, which raises
    InvalidParameterError for a span the caller refuses) are set aside as rejected."""
    groups: list[ResourceSpans] = []
    rejected: list[RejectedSpan] = []
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        json_attributes = resource.get(ATTRIBUTE_ENCODING_KEY) == JSON_ENCODING
        spans = []
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    if check_span is not None:
                        check_span(span)
                    spans.append(span_from_otlp(span, json_attributes=json_attributes))
                except SpanError as exc:
                    rejected.append(exc.rejection)
                except InvalidParameterError as exc:
                    rejected.append(SpanError(span, exc.message).rejection)
        if spans:
            groups.append(ResourceSpans(resource, spans))
    return ReceivedSpans(groups, rejected)


def spans_by_resource(request: ExportTraceServiceRequest) -> list[ResourceSpans]:
    """Every span of the request, translated, grouped by the resource that sent it;
    InvalidParameterError naming the first span that cannot be stored."""
    received = read_spans(request)
    if received.rejected:
        raise InvalidParameterError(f"Invalid {received.rejected[0].describe()}")
    return received.groups


def span_from_otlp(span: OtlpSpan, *, json_attributes: bool = False) -> Span:
    """One OTLP span as an Assay Span, its attributes translated (see the module doc).

    ``json_attributes``: every string attribute value is the JSON text of the value (what
    Assay's SDK sends), rather than only MLflow's ``mlflow.*`` ones.

    SpanError (an InvalidParameterError) naming the trace id, span id and field for a span
    that cannot be stored (see the module doc).
    """
    trace_id = span.trace_id
    span_id = span.span_id
    parent = span.parent_span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE_ID:
        raise SpanError(span, f"invalid trace_id {trace_id[:32].hex()!r}: expected 16 bytes, "
                              "not all zero")
    if len(span_id) != 8 or span_id == _ZERO_SPAN_ID:
        raise SpanError(span, f"invalid span_id {span_id[:32].hex()!r}: expected 8 bytes, "
                              "not all zero")
    if parent and len(parent) != 8:
        raise SpanError(span, f"invalid parent_span_id {parent[:32].hex()!r}: expected 8 "
                              "bytes")
    start = span.start_time_unix_nano
    end = span.end_time_unix_nano
    if start >= _TIME_LIMIT:
        raise SpanError(span, f"invalid start_time_unix_nano {start}: expected nanoseconds "
                              "since the epoch, below 2**63")
    if end and not start <= end < _TIME_LIMIT:
        raise SpanError(span, f"invalid end_time_unix_nano {end}: "
                        + ("it is before start_time_unix_nano " + str(start) if end < start
                           else "expected nanoseconds since the epoch, below 2**63")
                        + " (0 for a span that has not ended)")
    for event in span.events:
        if event.time_unix_nano >= _TIME_LIMIT:
            raise SpanError(span, f"invalid time_unix_nano {event.time_unix_nano} of event "
                                  f"{event.name[:100]!r}: expected nanoseconds since the "
                                  "epoch, below 2**63")
    attributes = _span_attributes(span, json_attributes)
    span_type = _span_type(attributes)
    if json_attributes:  # Assay's SDK: inputs and outputs are the recorded text, as is
        inputs_json = _text_or_none(attributes.pop(INPUTS_KEY, None))
        outputs_json = _text_or_none(attributes.pop(OUTPUTS_KEY, None))
    else:
        inputs_json = outputs_json = None
        if not _INPUT_KEY_SET.isdisjoint(attributes):
            inputs_json = _payload(attributes, _INPUT_KEYS, "input.mime_type")
        if not _OUTPUT_KEY_SET.isdisjoint(attributes):
            outputs_json = _payload(attributes, _OUTPUT_KEYS, "output.mime_type")
    if not _TOKEN_ATTRIBUTE_KEYS.isdisjoint(attributes):
        usage = _token_usage(attributes)
        if usage is not None:
            attributes[TOKEN_USAGE_KEY] = usage
    if MODEL_KEY not in attributes and not _MODEL_KEY_SET.isdisjoint(attributes):
        model = _first(attributes, _MODEL_KEYS)
        if model is not None:
            attributes[MODEL_KEY] = model
    if not _FIELD_KEYS.isdisjoint(attributes):
        for key in _FIELD_KEYS:
            attributes.pop(key, None)
    status = span.status
    code = _STATUS.get(status.code, SpanStatusCode.UNSET)
    message = status.message
    return Span(
        trace_id="tr-" + trace_id.hex(),
        span_id=span_id.hex(),
        parent_id=parent.hex() if parent and parent != _ZERO_SPAN_ID else None,
        name=span.name,
        start_time_ns=start,
        end_time_ns=end or None,
        span_type=span_type,
        # Statuses are immutable: the common ones are shared rather than made per span.
        status=_STATUSES[code] if not message else SpanStatus(code, message),
        inputs_json=inputs_json,
        outputs_json=outputs_json,
        attributes=attributes,
        events=tuple(SpanEvent(e.name, e.time_unix_nano,
                               _event_attributes(span, e, json_attributes))
                     for e in span.events) if span.events else (),
    )


def _span_attributes(span: OtlpSpan, json_attributes: bool) -> dict[str, Any]:
    """A span's attributes as a dict, JSON text decoded where the sender wrote JSON: every
    string value with ``json_attributes``, else the ``mlflow.*`` ones (MLflow's exporter
    writes those as JSON). Inputs, outputs and the trace header stay text.

    SpanError for JSON holding an integer outside 64 bits."""
    decoded: dict[str, Any] = {}
    for kv in span.attributes:
        key = kv.key
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            text = value.string_value
            if (json_attributes or key.startswith("mlflow.")) and key not in _TEXT_KEYS:
                decoded[key] = _loads(text)
                if may_hold_wide_int(text) and not fits_int64(decoded[key]):
                    raise SpanError(span, f"invalid attribute {key[:100]!r}: its JSON holds an "
                                          "integer outside 64 bits")
            else:
                decoded[key] = text
        elif kind == "int_value":
            decoded[key] = value.int_value
        else:
            decoded[key] = decode_any_value(value)
    return decoded


def _event_attributes(span: OtlpSpan, event: OtlpSpan.Event,
                      json_attributes: bool) -> dict[str, Any]:
    decoded = decode_attributes(event.attributes)
    if not json_attributes:
        return decoded
    for key, value in decoded.items():
        if isinstance(value, str):
            decoded[key] = _loads(value)
            if may_hold_wide_int(value) and not fits_int64(decoded[key]):
                raise SpanError(span, f"invalid attribute {key[:100]!r} of event "
                                      f"{event.name[:100]!r}: its JSON holds an integer "
                                      "outside 64 bits")
    return decoded


def _loads(text: str) -> Any:
    """The value of JSON text; text that is not JSON, or nests too deep to decode, as is."""
    try:
        return _json.loads(text)
    except RecursionError:
        return text


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


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None if value is None else _json.dumps(value)


def _is_json(text: str) -> bool:
    """Whether ``text`` is JSON (nesting too deep to decode counts as not JSON)."""
    return _loads(text) is not text


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
    if root is not None and isinstance(root.attributes.get(TRACE_INFO_KEY), str):
        return _sent_trace(experiment_id, root, ordered)
    metadata: dict[str, str] = {metadata_keys.SCHEMA_VERSION: "3"}
    # Session and user: the root's first, else the earliest span that has one.
    session = user = None
    for span in ordered:
        attributes = span.attributes
        if _SESSION_OR_USER_KEYS.isdisjoint(attributes):
            continue
        if session is None:
            session = _first(attributes, _SESSION_KEYS)
        if user is None:
            user = _first(attributes, _USER_KEYS)
        if session is not None and user is not None:
            break
    if session is not None:
        metadata[metadata_keys.SESSION] = session
    if user is not None:
        metadata[metadata_keys.USER] = user
    if root is None:
        info = TraceInfo(trace_id=trace_id, experiment_id=experiment_id,
                         request_time=min(s.start_time_ns for s in spans) // 1_000_000,
                         state=TraceState.IN_PROGRESS, execution_duration=None,
                         trace_metadata=metadata)
        return Trace(info=info, data=TraceData(spans=ordered))
    if any(TOKEN_USAGE_KEY in span.attributes for span in ordered):
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
            tag = key.removeprefix(TRACE_TAG_PREFIX)
            if len(tag) > MAX_TAG_KEY_CHARS:
                raise InvalidParameterError(
                    f"Invalid attribute {key[:100]!r} of the root span of trace {trace_id}: "
                    f"a tag key is at most {MAX_TAG_KEY_CHARS} characters long")
            check_key(f"tag key {tag[:100]!r} (attribute {TRACE_TAG_PREFIX}…) of the root "
                      f"span of trace {trace_id}", tag)
            tags[tag] = value if isinstance(value, str) else _json.dumps(value)
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
        request_preview=_preview(root.inputs_json, request=True),
        response_preview=_preview(root.outputs_json, request=False),
        trace_metadata=metadata,
        tags=tags,
    )
    return Trace(info=info, data=TraceData(spans=ordered))


def sent_header_over(stored: TraceInfo | None, sent: TraceInfo) -> TraceInfo:
    """The header to log when a client sends a trace's header apart from its spans (MLflow's
    ``StartTraceV3``, at the trace's end), given what is stored of the trace.

    The sent header wins for what the client knows best (times, state, previews, client
    request id), its metadata and tags are added to the stored ones (sent keys winning),
    and the trace stays in the experiment it was first stored in.
    """
    if stored is None:
        return sent
    return dataclasses.replace(
        sent, experiment_id=stored.experiment_id,
        client_request_id=sent.client_request_id or stored.client_request_id,
        request_preview=(sent.request_preview if sent.request_preview is not None
                         else stored.request_preview),
        response_preview=(sent.response_preview if sent.response_preview is not None
                          else stored.response_preview),
        trace_metadata={**stored.trace_metadata, **sent.trace_metadata},
        tags={**stored.tags, **sent.tags})


def stored_header_kept(assembled: Trace, stored: TraceInfo) -> Trace:
    """``assembled`` (a trace built from its spans, :func:`assemble_trace`) keeping what
    a header sent apart (:func:`sent_header_over`) said: the client request id, the
    metadata and tags the spans do not give (the user and session of an MLflow client's
    trace among them), and the previews when the spans give none."""
    info = assembled.info
    kept = dataclasses.replace(
        info, client_request_id=info.client_request_id or stored.client_request_id,
        trace_metadata={**stored.trace_metadata, **info.trace_metadata},
        tags={**stored.tags, **info.tags},
        request_preview=(info.request_preview if info.request_preview is not None
                         else stored.request_preview),
        response_preview=(info.response_preview if info.response_preview is not None
                          else stored.response_preview))
    return dataclasses.replace(assembled, info=kept)


def _preview(text: str | None, *, request: bool) -> str | None:
    return None if text is None else preview(_loads(text), request=request)


def is_whole_trace(spans: Sequence[Span]) -> bool:
    """Whether these spans are a whole trace as Assay's SDK sends it (root with header)."""
    return any(s.parent_id is None and TRACE_INFO_KEY in s.attributes for s in spans)


def _sent_trace(experiment_id: str, root: Span, ordered: list[Span]) -> Trace:
    """The trace whose header came with its root (``assay.trace.info``), as sent."""
    attributes = dict(root.attributes)
    header = _loads(attributes.pop(TRACE_INFO_KEY))
    if not isinstance(header, dict):
        raise InvalidParameterError(
            f"Invalid {TRACE_INFO_KEY} on the root span of trace {root.trace_id!r}: expected "
            "a JSON object")
    try:
        info = TraceInfo.from_dict({**header, "trace_id": root.trace_id,
                                    "experiment_id": experiment_id, "trace_location": None})
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"Invalid {TRACE_INFO_KEY} on the root span of trace {root.trace_id!r}: {exc}"
        ) from None
    # A span sent twice (the same trace twice in one request) is kept once, root first.
    by_id = {s.span_id: s for s in ordered[1:] if s.span_id != root.span_id}
    spans = [dataclasses.replace(root, attributes=attributes), *by_id.values()]
    return Trace(info=info, data=TraceData(spans=spans))


def service_name(resource: Mapping[str, Any]) -> str | None:
    """The resource's ``service.name``, if it names something."""
    value = resource.get(SERVICE_NAME_KEY)
    return value if isinstance(value, str) and value.strip() else None


def experiment_of(resource: Mapping[str, Any], header_id: str | None,
                  by_name: Callable[[str], str]) -> str:
    """The experiment of a resource's spans: the resource's ``assay.experiment_id``, else the
    header's, else the one named after the service (``by_name`` finds or creates it), else
    the default experiment "0"."""
    own = resource.get(EXPERIMENT_ID_KEY)
    if isinstance(own, str) and own.strip():
        return own.strip()
    if header_id:
        return header_id
    name = service_name(resource)
    return by_name(name) if name is not None else "0"
