"""OTLP requests built directly as protobuf: traces of a root and its children, with fresh ids,
for the tests that need many spans, exact sizes or exact ids."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@dataclass(frozen=True)
class OtlpBatch:
    """A request and the Assay ids of the traces in it."""

    request: ExportTraceServiceRequest
    trace_ids: list[str]

    def body(self) -> bytes:
        return self.request.SerializeToString()

    @property
    def num_spans(self) -> int:
        return sum(len(s.spans) for r in self.request.resource_spans for s in r.scope_spans)


def _attribute(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def make_batch(num_traces: int, spans_per_trace: int = 3, service: str = "limits-test",
               root_inputs: str = '{"question": "What is Assay?"}') -> OtlpBatch:
    """``num_traces`` whole traces (a root and ``spans_per_trace - 1`` children each)."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(_attribute("service.name", service))
    scope_spans = resource_spans.scope_spans.add()
    now = time.time_ns()
    trace_ids = []
    for _ in range(num_traces):
        trace_id = os.urandom(16)
        trace_ids.append("tr-" + trace_id.hex())
        root_id = os.urandom(8)
        for i in range(spans_per_trace):
            span = Span(trace_id=trace_id, span_id=root_id if i == 0 else os.urandom(8),
                        parent_span_id=b"" if i == 0 else root_id,
                        name="root" if i == 0 else f"step-{i}",
                        start_time_unix_nano=now + i, end_time_unix_nano=now + 1_000_000)
            if i == 0:
                span.attributes.append(_attribute("mlflow.spanInputs", root_inputs))
            scope_spans.spans.append(span)
    return OtlpBatch(request, trace_ids)
