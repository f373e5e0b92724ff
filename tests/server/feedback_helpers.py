"""Helpers of the feedback and pending-assessment server tests: the server with chosen
settings (in process, or live), the server's counters, and spans made by the OpenTelemetry
SDK to send as OTLP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from assay.server import ServerSettings
from assay.store.sql import SqlStore
from server.live import Served, in_process, live

__all__ = ["post_otlp", "recorded_spans", "serving", "serving_live", "stats", "trace_id_of",
           "wait_for"]


@contextmanager
def serving(store: SqlStore, **settings: Any) -> Iterator[Served]:
    """The server over ``store`` with these settings, in this process."""
    with in_process(store, ServerSettings(port=0, backend_store_uri=store.uri,
                                          **settings)) as served:
        yield served


@contextmanager
def serving_live(store: SqlStore, **settings: Any) -> Iterator[Served]:
    """A live server over ``store`` with these settings, on 127.0.0.1."""
    with live(store, ServerSettings(port=0, backend_store_uri=store.uri, **settings)) as served:
        yield served


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.02)


def stats(served: Served) -> dict[str, int]:
    response = served.http.get("/api/v1/server/stats")
    assert response.status_code == 200, response.text
    body: dict[str, int] = response.json()
    return body


def recorded_spans() -> list[ReadableSpan]:
    """A root and a child span made by the OpenTelemetry SDK, kept in memory (not sent)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "pending-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("assay-tests")
    with tracer.start_as_current_span("answer"), tracer.start_as_current_span("llm"):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def trace_id_of(spans: list[ReadableSpan]) -> str:
    context = spans[0].context
    assert context is not None
    return f"tr-{context.trace_id:032x}"


def post_otlp(served: Served, spans: list[ReadableSpan]) -> None:
    response = served.http.post(
        "/v1/traces", content=encode_spans(spans).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf", "x-assay-experiment-id": "0"})
    assert response.status_code == 200, response.text
