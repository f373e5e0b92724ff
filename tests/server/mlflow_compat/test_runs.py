"""MLflow's run routes over Assay's runs: create, get, update, log, link traces."""

from __future__ import annotations

from typing import Any

import pytest

from server.live import Served
from server.mlflow_compat.conftest import V2, assert_mlflow_error, otlp_spans, send_spans


def _create(served: Served, **body: Any) -> dict[str, Any]:
    response = served.http.post(f"{V2}/runs/create", json=body)
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()["run"]
    return run


def test_a_run_from_start_to_end(served: Served) -> None:
    experiment_id = served.store.create_experiment("runs")
    run = _create(served, experiment_id=experiment_id, start_time=1_700_000_000_000,
                  tags=[{"key": "mlflow.runName", "value": "eval-1"},
                        {"key": "stage", "value": "test"}])
    run_id = run["info"]["run_id"]
    assert run["info"]["run_name"] == "eval-1" and run["info"]["status"] == "RUNNING"
    http = served.http
    assert http.post(f"{V2}/runs/log-batch", json={
        "run_id": run_id, "params": [{"key": "model", "value": "gpt-x"}],
        "metrics": [{"key": "accuracy", "value": 0.5, "timestamp": 1, "step": 0}]}).json() == {}
    assert http.post(f"{V2}/runs/log-metric", json={
        "run_id": run_id, "key": "accuracy", "value": 0.75, "step": 1}).json() == {}
    assert http.post(f"{V2}/runs/log-parameter",
                     json={"run_id": run_id, "key": "seed", "value": "7"}).json() == {}
    assert http.post(f"{V2}/runs/set-tag",
                     json={"run_id": run_id, "key": "owner", "value": "ann"}).json() == {}
    ended = http.post(f"{V2}/runs/update", json={
        "run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_001_000}).json()
    assert ended["run_info"]["status"] == "FINISHED"
    got = http.get(f"{V2}/runs/get", params={"run_id": run_id}).json()["run"]
    assert got["info"]["end_time"] == 1_700_000_001_000
    assert got["data"]["metrics"] == [{"key": "accuracy", "value": 0.75,
                                       "timestamp": 1_700_000_000_000, "step": 0}]
    assert {p["key"]: p["value"] for p in got["data"]["params"]} == {"model": "gpt-x",
                                                                     "seed": "7"}
    assert {t["key"]: t["value"] for t in got["data"]["tags"]} == {
        "mlflow.runName": "eval-1", "stage": "test", "owner": "ann"}
    stored = served.store.get_run(run_id)
    assert stored.data.metrics == {"accuracy": 0.75}


def test_a_run_without_a_name_gets_one(served: Served) -> None:
    run = _create(served, experiment_id="0")
    assert run["info"]["run_name"].startswith("run-")


def test_traces_are_linked_to_a_run(served: Served) -> None:
    experiment_id = served.store.create_experiment("linked")
    hex_id = "ab" * 16
    send_spans(served, experiment_id, otlp_spans(hex_id))
    run_id = _create(served, experiment_id=experiment_id)["info"]["run_id"]
    linked = served.http.post(f"{V2}/traces/link-to-run",
                              json={"run_id": run_id, "trace_ids": [f"tr-{hex_id}"]})
    assert linked.json() == {}
    found = served.store.search_traces([experiment_id], run_id=run_id)
    assert [t.info.trace_id for t in found] == [f"tr-{hex_id}"]


@pytest.mark.parametrize(("path", "body", "status", "code", "words"), [
    ("/runs/create", {}, 400, "INVALID_PARAMETER_VALUE", ["experiment_id"]),
    ("/runs/create", {"experiment_id": "404"}, 404, "RESOURCE_DOES_NOT_EXIST", ["404"]),
    ("/runs/update", {"run_id": "0" * 32, "status": "FINISHED"}, 404,
     "RESOURCE_DOES_NOT_EXIST", ["0" * 32]),
    ("/runs/update", {}, 400, "INVALID_PARAMETER_VALUE", ["run_id"]),
    ("/runs/log-metric", {"run_id": "x", "key": "m", "value": "high"}, 400,
     "INVALID_PARAMETER_VALUE", ["value"]),
    ("/runs/log-batch", {"run_id": "x", "params": [{"key": "p", "value": "v"}] * 101}, 400,
     "INVALID_PARAMETER_VALUE", ["params"]),
])
def test_bad_run_requests_are_refused(served: Served, path: str, body: dict[str, Any],
                                      status: int, code: str, words: list[str]) -> None:
    assert_mlflow_error(served.http.post(f"{V2}{path}", json=body), status, code, *words)


def test_a_bad_status_changes_nothing(served: Served) -> None:
    run_id = _create(served, experiment_id="0")["info"]["run_id"]
    response = served.http.post(f"{V2}/runs/update", json={"run_id": run_id, "status": "DONE"})
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE", "DONE")
    assert served.store.get_run(run_id).info.status == "RUNNING"
    missing = served.http.get(f"{V2}/runs/get", params={"run_id": "f" * 32})
    assert_mlflow_error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
