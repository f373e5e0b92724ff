"""Requests as the stock mlflow client sends them, for the tests of MLflow's protocol."""

from __future__ import annotations

import json
from typing import Any

import httpx

from server.live import Served

V2 = "/api/2.0/mlflow"
V3 = "/api/3.0/mlflow"
#: What the stock Python client says it is.
MLFLOW_CLIENT = {"User-Agent": "mlflow-python-client/3.17.2"}

ROOT_SPAN = "00000000000000a1"
CHILD_SPAN = "00000000000000b2"


def otlp_spans(trace_hex: str, *, root: bool = True, child: bool = True) -> dict[str, Any]:
    """OTLP JSON with a root and a child span as the mlflow client sends them (its own
    attributes as JSON text, nothing of a session or user)."""
    def span(span_id: str, parent: str | None, name: str, start: int, end: int,
             inputs: Any, outputs: Any, span_type: str) -> dict[str, Any]:
        attributes = [
            {"key": "mlflow.traceRequestId", "value": {"stringValue": f'"tr-{trace_hex}"'}},
            {"key": "mlflow.spanType", "value": {"stringValue": json.dumps(span_type)}},
            {"key": "mlflow.spanInputs", "value": {"stringValue": json.dumps(inputs)}},
            {"key": "mlflow.spanOutputs", "value": {"stringValue": json.dumps(outputs)}},
        ]
        d: dict[str, Any] = {"traceId": trace_hex, "spanId": span_id, "name": name,
                             "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
                             "status": {"code": 1}, "attributes": attributes}
        if parent:
            d["parentSpanId"] = parent
        return d

    base = 1_700_000_000_000_000_000
    spans = []
    if root:
        spans.append(span(ROOT_SPAN, None, "chat", base, base + 51_000_000,
                          {"question": "hi"}, "hello", "CHAIN"))
    if child:
        spans.append(span(CHILD_SPAN, ROOT_SPAN, "llm", base + 1_000_000, base + 50_000_000,
                          {"messages": [{"role": "user", "content": "hi"}]},
                          {"choices": [1, 2.5, True, None]}, "LLM"))
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]}


def send_spans(served: Served, experiment_id: str, body: dict[str, Any]) -> None:
    response = served.http.post(
        "/v1/traces", content=json.dumps(body),
        headers={"Content-Type": "application/json", "x-mlflow-experiment-id": experiment_id})
    assert response.status_code == 200, response.text


def trace_info(trace_hex: str, experiment_id: str, **extra: Any) -> dict[str, Any]:
    """A TraceInfoV3 as the client's StartTraceV3 carries it."""
    return {
        "trace_id": f"tr-{trace_hex}",
        "client_request_id": "req-7",
        "trace_location": {"type": "MLFLOW_EXPERIMENT",
                           "mlflow_experiment": {"experiment_id": experiment_id}},
        "request_preview": '{"question": "hi"}',
        "response_preview": '"hello"',
        "request_time": "2023-11-14T22:13:20Z",
        "execution_duration": "0.051s",
        "state": "OK",
        "trace_metadata": {"mlflow.trace.user": "u-7", "mlflow.trace.session": "s-7",
                           "mlflow.trace_schema.version": "3"},
        "tags": {"mlflow.traceName": "chat", "env": "test"},
        **extra,
    }


def start_trace(http: httpx.Client, info: dict[str, Any]) -> httpx.Response:
    return http.post(f"{V3}/traces", json={"trace": {"trace_info": info, "spans": []}},
                     headers=MLFLOW_CLIENT)


def assert_mlflow_error(response: httpx.Response, status: int, code: str,
                        *words: str) -> None:
    """An error as MLflow answers it: the status, ``error_code`` and a message naming what
    is wrong."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    for word in words:
        assert word in body["message"], body
