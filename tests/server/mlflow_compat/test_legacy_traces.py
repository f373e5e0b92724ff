"""The deprecated v2 trace routes the 3.x client falls back to on a server without v3:
start and end a trace, get its info, search."""

from __future__ import annotations

from typing import Any

import pytest

from assay.entities import TraceState
from server.live import Served
from server.mlflow_compat.conftest import V2, assert_mlflow_error, otlp_spans, send_spans


def _pairs(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["key"]: item["value"] for item in items}


def test_a_trace_is_started_ended_read_and_found_the_v2_way(served: Served) -> None:
    experiment_id = served.store.create_experiment("legacy")
    started = served.http.post(f"{V2}/traces", json={
        "experiment_id": experiment_id, "timestamp_ms": 1_700_000_000_000,
        "request_metadata": [{"key": "mlflow.trace.user", "value": "u-1"}],
        "tags": [{"key": "env", "value": "test"}]})
    assert started.status_code == 200, started.text
    info = started.json()["trace_info"]
    request_id = info["request_id"]
    assert info["status"] == "IN_PROGRESS" and info["experiment_id"] == experiment_id
    ended = served.http.patch(f"{V2}/traces/{request_id}", json={
        "timestamp_ms": 1_700_000_000_250, "status": "OK",
        "request_metadata": [{"key": "mlflow.trace.session", "value": "s-1"}],
        "tags": [{"key": "reviewed", "value": "no"}]}).json()["trace_info"]
    assert ended["status"] == "OK" and ended["execution_time_ms"] == 250
    assert {"mlflow.trace.user": "u-1", "mlflow.trace.session": "s-1"}.items() <= _pairs(
        ended["request_metadata"]).items()
    assert {"env": "test", "reviewed": "no"}.items() <= _pairs(ended["tags"]).items()
    got = served.http.get(f"{V2}/traces/{request_id}/info").json()["trace_info"]
    assert got == ended
    stored = served.store.get_trace_info(request_id)
    assert stored.state is TraceState.OK and stored.user_id == "u-1"
    assert stored.session_id == "s-1"

    hex_id = "ab" * 16
    send_spans(served, experiment_id, otlp_spans(hex_id))
    found = served.http.get(f"{V2}/traces", params={
        "experiment_ids": [experiment_id], "max_results": 1,
        "order_by": ["timestamp_ms ASC"]}).json()
    assert [t["request_id"] for t in found["traces"]] == [request_id]
    rest = served.http.get(f"{V2}/traces", params={
        "experiment_ids": [experiment_id], "max_results": 1, "order_by": ["timestamp_ms ASC"],
        "page_token": found["next_page_token"]}).json()
    assert [t["request_id"] for t in rest["traces"]] == [f"tr-{hex_id}"]
    filtered = served.http.get(f"{V2}/traces", params={
        "experiment_ids": [experiment_id], "filter": "tags.reviewed = 'no'"}).json()
    assert [t["request_id"] for t in filtered["traces"]] == [request_id]


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), [
    ("POST", "/traces", {"timestamp_ms": 1}, 400, ["experiment_id"]),
    ("POST", "/traces", {"experiment_id": "404", "timestamp_ms": 1}, 404, ["404"]),
    ("POST", "/traces", {"experiment_id": "0", "timestamp_ms": -1}, 400, ["timestamp_ms"]),
    ("PATCH", "/traces/tr-" + "0" * 32, {"timestamp_ms": 1}, 404, []),
    ("GET", "/traces/tr-" + "0" * 32 + "/info", None, 404, []),
    ("GET", "/traces", None, 400, ["experiment_ids"]),
    ("GET", "/traces?experiment_ids=0&filter=tags.x%20%3D", None, 400, []),
    ("GET", "/traces?experiment_ids=0&max_results=501", None, 400, ["max_results"]),
])
def test_bad_v2_trace_requests_are_refused(served: Served, method: str, path: str,
                                           body: dict[str, Any] | None, status: int,
                                           words: list[str]) -> None:
    response = served.http.request(method, f"{V2}{path}", json=body)
    code = "RESOURCE_DOES_NOT_EXIST" if status == 404 else "INVALID_PARAMETER_VALUE"
    assert_mlflow_error(response, status, code, *words)


def test_ending_with_a_bad_status_or_time_changes_nothing(served: Served) -> None:
    experiment_id = served.store.create_experiment("legacy-bad")
    request_id = served.http.post(f"{V2}/traces", json={
        "experiment_id": experiment_id, "timestamp_ms": 1000}).json()["trace_info"]["request_id"]
    assert_mlflow_error(served.http.patch(f"{V2}/traces/{request_id}", json={
        "timestamp_ms": 2000, "status": "DONE"}), 400, "INVALID_PARAMETER_VALUE", "DONE")
    assert_mlflow_error(served.http.patch(f"{V2}/traces/{request_id}", json={
        "timestamp_ms": 10}), 400, "INVALID_PARAMETER_VALUE", "timestamp_ms")
    assert served.store.get_trace_info(request_id).state is TraceState.IN_PROGRESS
