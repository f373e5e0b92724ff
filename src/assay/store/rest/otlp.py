"""Whole traces as one OTLP ExportTraceServiceRequest: how the SDK sends traces to a server.

It is plain OTLP, so the server's ``POST /v1/traces`` takes it like any other sender's,
with three conventions that make the round trip exact (see :mod:`assay.ingest`):

* each experiment's traces are one ResourceSpans whose resource carries
  ``assay.experiment_id``;
* the resource says ``assay.attribute_encoding = "json"``: every span and event attribute is
  the JSON text of its value (as MLflow's exporter writes its own ``mlflow.*`` attributes),
  so lists, objects and numbers come back as they were; inputs and outputs travel as
  ``mlflow.spanInputs``/``mlflow.spanOutputs`` and the span type as ``mlflow.spanType``;
* the root span carries the trace's header as ``assay.trace.info`` (MLflow's TraceInfoV3
  JSON: metadata, tags, previews, client request id, and the assessments logged while the
  trace ran), so the server stores what the SDK built rather than re-deriving it.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as OtlpStatus

from assay import _json
from assay.entities import Trace
from assay.entities.span import INPUTS_KEY, OUTPUTS_KEY, TYPE_KEY, Span, SpanStatusCode
from assay.version import __version__

__all__ = [
    "ATTRIBUTE_ENCODING_KEY",
    "EXPERIMENT_ID_KEY",
    "JSON_ENCODING",
    "TRACE_INFO_KEY",
    "encode_traces",
]

#: Resource attribute: the experiment of the resource's traces.
EXPERIMENT_ID_KEY = "assay.experiment_id"
#: Resource attribute: how span and event attribute values are written.
ATTRIBUTE_ENCODING_KEY = "assay.attribute_encoding"
#: Its value when every attribute value is JSON text.
JSON_ENCODING = "json"
#: Root span attribute: the trace's header as JSON.
TRACE_INFO_KEY = "assay.trace.info"

_STATUS = {
    SpanStatusCode.UNSET: OtlpStatus.STATUS_CODE_UNSET,
    SpanStatusCode.OK: OtlpStatus.STATUS_CODE_OK,
    SpanStatusCode.ERROR: OtlpStatus.STATUS_CODE_ERROR,
}


def encode_traces(traces: Sequence[Trace]) -> bytes:
    """The traces as a serialized ExportTraceServiceRequest (protobuf)."""
    request = ExportTraceServiceRequest()
    scopes: dict[str, ScopeSpans] = {}
    for trace in traces:
        experiment_id = trace.info.experiment_id
        scope = scopes.get(experiment_id)
        if scope is None:
            resource_spans = request.resource_spans.add()
            for key, value in ((EXPERIMENT_ID_KEY, experiment_id),
                               (ATTRIBUTE_ENCODING_KEY, JSON_ENCODING),
                               ("telemetry.sdk.name", "assay"),
                               ("telemetry.sdk.version", __version__)):
                attribute = resource_spans.resource.attributes.add()
                attribute.key = key
                attribute.value.string_value = value
            scope = resource_spans.scope_spans.add()
            scope.scope.name = "assay"
            scope.scope.version = __version__
            scopes[experiment_id] = scope
        trace_id = trace.info.trace_id
        if not all(span.trace_id == trace_id for span in trace.data.spans):
            raise ValueError(f"a span of trace {trace_id!r} belongs to another trace")
        root = trace.data.root_span
        info_json = _json.dumps(trace.info.to_dict())
        for span in trace.data.spans:
            _encode_span(scope.spans.add(), span, info_json if span is root else None)
    data: bytes = request.SerializeToString()
    return data


def _encode_span(out: OtlpSpan, span: Span, info_json: str | None) -> None:
    out.trace_id = bytes.fromhex(span.trace_id.removeprefix("tr-"))
    out.span_id = bytes.fromhex(span.span_id)
    if span.parent_id:
        out.parent_span_id = bytes.fromhex(span.parent_id)
    out.name = span.name
    out.start_time_unix_nano = span.start_time_ns
    if span.end_time_ns is not None:
        out.end_time_unix_nano = span.end_time_ns
    out.status.code = _STATUS[span.status.status_code]
    if span.status.description:
        out.status.message = span.status.description
    attributes = out.attributes
    for key, value in span.attributes.items():
        attribute = attributes.add()
        attribute.key = key
        attribute.value.string_value = _json.dumps(value)
    attribute = attributes.add()
    attribute.key = TYPE_KEY
    attribute.value.string_value = _json.dumps(span.span_type)
    for key, text in ((INPUTS_KEY, span.inputs_json), (OUTPUTS_KEY, span.outputs_json)):
        if text is not None:
            attribute = attributes.add()
            attribute.key = key
            attribute.value.string_value = text
    if info_json is not None:
        attribute = attributes.add()
        attribute.key = TRACE_INFO_KEY
        attribute.value.string_value = info_json
    for event in span.events:
        out_event = out.events.add()
        out_event.name = event.name
        out_event.time_unix_nano = event.timestamp_ns
        for key, value in event.attributes.items():
            attribute = out_event.attributes.add()
            attribute.key = key
            attribute.value.string_value = _json.dumps(value)
