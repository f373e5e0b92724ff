"""POST /v1/traces: OTLP/HTTP from the real OpenTelemetry SDK and exporter, over SQLite and
PostgreSQL; protobuf, JSON and gzip; the experiment from a header or service.name; attribute
mapping (MLflow, OTel GenAI, OpenInference); spans sent twice; traces split over requests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, Tracer

from assay.entities import Trace, TraceState
from assay.entities.span import SpanStatusCode, SpanType
from server.live import Served

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@contextmanager
def otel(served: Served, headers: dict[str, str] | None = None, service: str = "otlp-test",
         compression: Compression = Compression.NoCompression) -> Iterator[Tracer]:
    """A tracer of a private TracerProvider exporting each span to the server as it ends."""
    exporter = OTLPSpanExporter(endpoint=f"{served.url}/v1/traces", headers=headers or {},
                                compression=compression, timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider.get_tracer("assay-tests")
    finally:
        provider.shutdown()


def recorded(build: Any) -> list[ReadableSpan]:
    """The spans ``build(tracer)`` makes, kept in memory instead of exported."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "otlp-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    build(provider.get_tracer("assay-tests"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def post_spans(served: Served, spans: Sequence[ReadableSpan], experiment_id: str) -> None:
    response = served.http.post(
        "/v1/traces", content=encode_spans(spans).SerializeToString(),
        headers=PROTOBUF | {"x-assay-experiment-id": experiment_id})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    ExportTraceServiceResponse().ParseFromString(response.content)


def trace_id_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"tr-{span.context.trace_id:032x}"


def only_trace(served: Served, experiment_id: str) -> Trace:
    traces = list(served.store.search_traces([experiment_id]))
    assert len(traces) == 1, traces
    return traces[0]


def _chat_trace(tracer: Tracer) -> None:
    """A root CHAIN span (MLflow attributes) over an OpenInference LLM span and a GenAI chat
    span, with session, user, a trace tag, an event and an error-free status."""
    with tracer.start_as_current_span("agent") as root:
        root.set_attributes({
            "mlflow.spanType": json.dumps("CHAIN"),
            "mlflow.spanInputs": json.dumps({"messages": [
                {"role": "user", "content": "What is Assay?"}]}),
            "mlflow.spanOutputs": json.dumps("A tracing platform."),
            "session.id": "sess-1",
            "user.id": "alice",
            "mlflow.traceTag.env": "prod",
        })
        root.add_event("started", {"step": 1})
        with tracer.start_as_current_span("openinference-llm") as llm:
            llm.set_attributes({
                "openinference.span.kind": "LLM",
                "input.value": "plain prompt",
                "output.value": json.dumps({"answer": 42}),
                "output.mime_type": "application/json",
                "llm.token_count.prompt": 10,
                "llm.token_count.completion": 5,
                "llm.token_count.total": 15,
                "llm.model_name": "gpt-x",
            })
        with tracer.start_as_current_span("chat gpt-y") as chat:
            chat.set_attributes({
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-y",
                "gen_ai.usage.input_tokens": 7,
                "gen_ai.usage.output_tokens": 3,
                "gen_ai.conversation.id": "ignored-root-wins",
            })
        with tracer.start_as_current_span("embed") as embed:
            embed.set_attribute("gen_ai.operation.name", "embeddings")
        with tracer.start_as_current_span("lookup") as tool:
            tool.set_attributes({"gen_ai.operation.name": "execute_tool",
                                 "mlflow.chat.tokenUsage": json.dumps(
                                     {"input_tokens": 1, "output_tokens": 1,
                                      "total_tokens": 2})})
        root.set_status(Status(StatusCode.OK))


@pytest.mark.live_server
def test_real_exporter_maps_every_field(served: Served) -> None:
    experiment_id = served.store.create_experiment("otlp")
    with otel(served, {"x-assay-experiment-id": experiment_id}) as tracer:
        _chat_trace(tracer)

    trace = only_trace(served, experiment_id)
    info = trace.info
    by_name = {s.name: s for s in trace.data.spans}
    root = by_name["agent"]
    assert info.trace_id.startswith("tr-") and len(info.trace_id) == 35
    assert info.state is TraceState.OK
    assert info.request_time == root.start_time_ns // 1_000_000
    assert root.end_time_ns is not None
    assert info.execution_duration == (root.end_time_ns - root.start_time_ns) // 1_000_000
    assert info.request_preview == "What is Assay?"
    assert info.response_preview == "A tracing platform."
    assert info.name == "agent"
    assert info.tags["env"] == "prod"
    assert info.session_id == "sess-1"
    assert info.user_id == "alice"
    # 15 (OpenInference) + 10 (GenAI) + 2 (MLflow)
    assert info.token_usage == {"input_tokens": 18, "output_tokens": 9, "total_tokens": 27}

    assert root.parent_id is None and len(root.span_id) == 16
    assert root.span_type == SpanType.CHAIN
    assert root.inputs == {"messages": [{"role": "user", "content": "What is Assay?"}]}
    assert root.outputs == "A tracing platform."
    assert root.status.status_code is SpanStatusCode.OK
    assert [(e.name, dict(e.attributes)) for e in root.events] == [("started", {"step": 1})]
    assert root.attributes["session.id"] == "sess-1"

    llm = by_name["openinference-llm"]
    assert llm.parent_id == root.span_id
    assert llm.span_type == SpanType.LLM
    assert llm.inputs == "plain prompt"
    assert llm.outputs == {"answer": 42}
    assert llm.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert llm.attributes["mlflow.llm.model"] == "gpt-x"
    assert llm.attributes["llm.token_count.prompt"] == 10

    chat = by_name["chat gpt-y"]
    assert chat.span_type == SpanType.CHAT_MODEL
    assert chat.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    assert chat.attributes["mlflow.llm.model"] == "gpt-y"
    assert by_name["embed"].span_type == SpanType.EMBEDDING
    assert by_name["lookup"].span_type == SpanType.TOOL

    # Readable over Assay's own API too, and findable by session.
    got = served.http.get(f"/api/v1/traces/{info.trace_id}")
    assert got.status_code == 200, got.text
    found = served.store.search_traces(
        [experiment_id], filter_string="metadata.`mlflow.trace.session` = 'sess-1'")
    assert [t.info.trace_id for t in found] == [info.trace_id]


@pytest.mark.live_server
def test_gzip_mlflow_header_error_status_and_genai_session(served: Served) -> None:
    experiment_id = served.store.create_experiment("gz")
    with otel(served, {"x-mlflow-experiment-id": experiment_id},
              compression=Compression.Gzip) as tracer, \
            tracer.start_as_current_span("root") as root:
        root.set_attribute("gen_ai.conversation.id", "conv-9")
        root.set_status(Status(StatusCode.ERROR, "boom"))
    trace = only_trace(served, experiment_id)
    assert trace.info.state is TraceState.ERROR
    assert trace.info.session_id == "conv-9"
    assert trace.info.token_usage is None
    span = trace.data.spans[0]
    assert span.status.status_code is SpanStatusCode.ERROR
    assert span.status.description == "boom"
    assert span.span_type == SpanType.UNKNOWN


@pytest.mark.live_server
def test_experiment_from_service_name_created_once(served: Served) -> None:
    for _ in range(2):
        with otel(served, service="billing-agent") as tracer, \
                tracer.start_as_current_span("root"):
            pass
    experiment = served.store.find_experiment_by_name("billing-agent")
    assert experiment is not None
    assert len(list(served.store.search_traces([experiment.experiment_id]))) == 2


def test_no_header_no_service_name_goes_to_default(served: Served) -> None:
    body = _json_body(service=None)
    response = served.http.post("/v1/traces", content=json.dumps(body),
                                headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert only_trace(served, "0").info.trace_id == "tr-" + "ab" * 16


def _json_body(service: str | None = "json-svc") -> dict[str, Any]:
    resource: dict[str, Any] = {"attributes": []}
    if service is not None:
        resource["attributes"].append({"key": "service.name",
                                       "value": {"stringValue": service}})
    return {"resourceSpans": [{
        "resource": resource,
        "scopeSpans": [{"scope": {"name": "handwritten"}, "spans": [
            {"traceId": "ab" * 16, "spanId": "01" * 8, "name": "root",
             "kind": 1, "startTimeUnixNano": "1700000000000000000",
             "endTimeUnixNano": "1700000000250000000",
             "status": {"code": 1},
             "attributes": [
                 {"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}},
                 {"key": "input.value", "value": {"stringValue": "hi"}},
                 {"key": "output.value", "value": {"stringValue": "hello"}},
                 {"key": "session.id", "value": {"stringValue": "s-json"}},
                 {"key": "tags", "value": {"arrayValue": {"values": [
                     {"stringValue": "a"}, {"intValue": "2"}]}}},
             ]},
            {"traceId": "ab" * 16, "spanId": "02" * 8, "parentSpanId": "01" * 8,
             "name": "child", "startTimeUnixNano": "1700000000100000000",
             "endTimeUnixNano": "1700000000200000000",
             "attributes": [
                 {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                 {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "4"}},
                 {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "6"}},
             ]},
        ]}],
    }]}


def test_json_body(served: Served) -> None:
    experiment_id = served.store.create_experiment("json")
    response = served.http.post(
        "/v1/traces", content=json.dumps(_json_body()),
        headers={"Content-Type": "application/json", "x-assay-experiment-id": experiment_id})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    trace = only_trace(served, experiment_id)
    assert trace.info.trace_id == "tr-" + "ab" * 16
    assert trace.info.request_time == 1_700_000_000_000
    assert trace.info.execution_duration == 250
    assert trace.info.state is TraceState.OK
    assert trace.info.request_preview == "hi"
    assert trace.info.response_preview == "hello"
    assert trace.info.session_id == "s-json"
    assert trace.info.token_usage == {"input_tokens": 4, "output_tokens": 6,
                                      "total_tokens": 10}
    root, child = trace.data.spans
    assert root.span_id == "01" * 8 and child.parent_id == "01" * 8
    assert root.span_type == SpanType.CHAIN and child.span_type == SpanType.CHAT_MODEL
    assert root.attributes["tags"] == ["a", 2]


def test_gzipped_json_body(served: Served) -> None:
    experiment_id = served.store.create_experiment("json-gz")
    response = served.http.post(
        "/v1/traces", content=gzip.compress(json.dumps(_json_body()).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip",
                 "x-assay-experiment-id": experiment_id})
    assert response.status_code == 200, response.text
    assert len(only_trace(served, experiment_id).data.spans) == 2


def test_span_sent_twice_is_stored_once(served: Served) -> None:
    experiment_id = served.store.create_experiment("twice")
    spans = recorded(_chat_trace)
    post_spans(served, spans, experiment_id)
    post_spans(served, spans, experiment_id)
    trace = only_trace(served, experiment_id)
    assert len(trace.data.spans) == len(spans) == 5
    assert trace.info.token_usage == {"input_tokens": 18, "output_tokens": 9,
                                      "total_tokens": 27}


def test_trace_split_child_first_then_root(served: Served) -> None:
    experiment_id = served.store.create_experiment("split")
    spans = recorded(_chat_trace)
    root = next(s for s in spans if s.parent is None)
    children = [s for s in spans if s.parent is not None]
    post_spans(served, children[:2], experiment_id)
    partial = served.store.get_trace(trace_id_of(root))
    assert partial.info.state is TraceState.IN_PROGRESS
    assert len(partial.data.spans) == 2
    post_spans(served, [root], experiment_id)
    post_spans(served, children[2:], experiment_id)  # after the root: must not regress it
    trace = only_trace(served, experiment_id)
    assert trace.info.state is TraceState.OK
    assert len(trace.data.spans) == 5
    assert trace.info.request_preview == "What is Assay?"
    assert trace.info.name == "agent"
    assert trace.info.session_id == "sess-1"
    assert trace.info.tags["env"] == "prod"
    assert trace.info.token_usage == {"input_tokens": 18, "output_tokens": 9,
                                      "total_tokens": 27}
    assert root.start_time is not None
    assert trace.info.request_time == root.start_time // 1_000_000


@pytest.mark.live_server
def test_real_exporter_sends_children_before_root(served: Served) -> None:
    # SimpleSpanProcessor exports each span as it ends: every child in its own request,
    # then the root last.
    experiment_id = served.store.create_experiment("per-span")
    with otel(served, {"x-assay-experiment-id": experiment_id}) as tracer:
        _chat_trace(tracer)
    trace = only_trace(served, experiment_id)
    assert trace.info.state is TraceState.OK and len(trace.data.spans) == 5


def test_partial_trace_never_overwrites_a_whole_one(served: Served) -> None:
    # The store-level rule on its own (as when a child's request races the root's).
    from assay import ingest

    experiment_id = served.store.create_experiment("rule")
    spans = recorded(_chat_trace)
    request = encode_spans(spans)
    translated = [s for g in ingest.spans_by_resource(request) for s in g.spans]
    trace_id = translated[0].trace_id
    whole = ingest.assemble_trace(trace_id, experiment_id, translated)
    partial = ingest.assemble_trace(trace_id, experiment_id,
                                    [s for s in translated if s.parent_id is not None])
    assert partial.info.state is TraceState.IN_PROGRESS
    served.store.log_traces([whole])
    served.store.log_traces([partial])
    assert served.store.get_trace_info(trace_id).state is TraceState.OK
    assert served.store.get_trace_info(trace_id).request_preview == "What is Assay?"


def test_bad_bodies_are_400(served: Served) -> None:
    cases: list[tuple[bytes, dict[str, str]]] = [
        (b"\xff\xff\xff not protobuf", PROTOBUF),
        (b"{not json", {"Content-Type": "application/json"}),
        (b'{"resourceSpans": 3}', {"Content-Type": "application/json"}),
        (b"not gzip", PROTOBUF | {"Content-Encoding": "gzip"}),
    ]
    for body, headers in cases:
        response = served.http.post("/v1/traces", content=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # A form's content type (what a page on another site can send) needs a CSRF token first.
    response = served.http.post("/v1/traces", content=b"plain",
                                headers={"Content-Type": "text/plain"})
    assert response.status_code == 403 and response.json()["error_code"] == "CSRF_FAILED"
    bad_id = _json_body()
    # Every span bad: nothing to store, so a 400 (one bad span among good ones is a partial
    # success, see test_otlp_edges.py).
    for span in bad_id["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        span["traceId"] = "abcd"
    response = served.http.post("/v1/traces", content=json.dumps(bad_id),
                                headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "trace_id" in response.json()["message"]


def test_unknown_experiment_is_404(served: Served) -> None:
    response = served.http.post(
        "/v1/traces", content=json.dumps(_json_body()),
        headers={"Content-Type": "application/json", "x-assay-experiment-id": "987654"})
    assert response.status_code == 404, response.text
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_empty_request_is_ok(served: Served) -> None:
    response = served.http.post("/v1/traces", content=b"", headers=PROTOBUF)
    assert response.status_code == 200, response.text


def test_unknown_experiment_stays_404_known_one_is_remembered(served: Served) -> None:
    headers = {"Content-Type": "application/json", "x-assay-experiment-id": "987655"}
    for _ in range(2):  # an id found missing is not remembered as anything
        response = served.http.post("/v1/traces", content=json.dumps(_json_body()),
                                    headers=headers)
        assert response.status_code == 404, response.text
    experiment_id = served.store.create_experiment("remembered")
    for _ in range(2):
        response = served.http.post(
            "/v1/traces", content=json.dumps(_json_body()),
            headers=headers | {"x-assay-experiment-id": experiment_id})
        assert response.status_code == 200, response.text
    assert only_trace(served, experiment_id).info.trace_id == "tr-" + "ab" * 16


def test_one_trace_over_two_resources_in_one_request(served: Served) -> None:
    experiment_id = served.store.create_experiment("two-resources")
    body = _json_body()
    resource = body["resourceSpans"][0]
    root, child = resource["scopeSpans"][0]["spans"]
    body["resourceSpans"] = [
        {"resource": resource["resource"], "scopeSpans": [{"spans": [child]}]},
        {"resource": resource["resource"], "scopeSpans": [{"spans": [root]}]},
    ]
    response = served.http.post(
        "/v1/traces", content=json.dumps(body),
        headers={"Content-Type": "application/json", "x-assay-experiment-id": experiment_id})
    assert response.status_code == 200, response.text
    trace = only_trace(served, experiment_id)
    assert [s.name for s in trace.data.spans] == ["root", "child"]
    assert trace.info.state is TraceState.OK
    assert trace.info.token_usage == {"input_tokens": 4, "output_tokens": 6,
                                      "total_tokens": 10}


def test_json_nested_too_deeply_is_kept_as_text(served: Served) -> None:
    # Valid JSON that Python cannot decode (RecursionError): a value kept as text, not a 500.
    experiment_id = served.store.create_experiment("deep")
    deep = "[" * 100_000 + "]" * 100_000
    body = _json_body()
    attributes = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    attributes += [{"key": "mlflow.deep", "value": {"stringValue": deep}},
                   {"key": "mlflow.spanInputs", "value": {"stringValue": deep}}]
    response = served.http.post(
        "/v1/traces", content=json.dumps(body),
        headers={"Content-Type": "application/json", "x-assay-experiment-id": experiment_id})
    assert response.status_code == 200, response.text
    root = only_trace(served, experiment_id).data.spans[0]
    assert root.attributes["mlflow.deep"] == deep
    assert root.inputs == deep


def test_json_body_nested_too_deeply_is_400(served: Served) -> None:
    body = b'{"resourceSpans": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = served.http.post("/v1/traces", content=body,
                                headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.json()["message"]
