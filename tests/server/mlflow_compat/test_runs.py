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


def test_a_runs_inputs_are_accepted_not_kept(served: Served) -> None:
    """What ``mlflow.genai.evaluate`` logs of its data: checked, answered, not stored."""
    run_id = _create(served, experiment_id="0")["info"]["run_id"]
    dataset = {"name": "eval-data", "digest": "3f2a", "source_type": "code",
               "source": "{}", "schema": "{}", "profile": "{}"}
    logged = served.http.post(f"{V2}/runs/log-inputs", json={
        "run_id": run_id, "models": [{"model_id": "m-1"}],
        "datasets": [{"dataset": dataset,
                      "tags": [{"key": "mlflow.data.context", "value": "eval"}]}]})
    assert logged.status_code == 200 and logged.json() == {}
    got = served.http.get(f"{V2}/runs/get", params={"run_id": run_id}).json()["run"]
    assert got["inputs"] == {}


@pytest.mark.parametrize(("path", "body", "status", "code", "words"), [
    ("/runs/log-inputs", {"run_id": "0" * 32}, 404, "RESOURCE_DOES_NOT_EXIST", ["0" * 32]),
    ("/runs/log-inputs", {"run_id": "x", "datasets": [{"dataset": {"name": "d"}}]}, 400,
     "INVALID_PARAMETER_VALUE", ["digest"]),
    ("/runs/log-inputs", {"datasets": []}, 400, "INVALID_PARAMETER_VALUE", ["run_id"]),
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


def test_runs_are_searched_with_a_filter_an_order_and_pages(served: Served) -> None:
    experiment_id = served.store.create_experiment("searched")
    ids = []
    for i, accuracy in enumerate([0.5, 0.9, 0.7]):
        run_id = _create(served, experiment_id=experiment_id, run_name=f"eval-{i}",
                         start_time=1_700_000_000_000 + i)["info"]["run_id"]
        served.http.post(f"{V2}/runs/log-batch", json={
            "run_id": run_id, "metrics": [{"key": "accuracy", "value": accuracy}],
            "tags": [{"key": "stage", "value": "test" if i else "dev"}]})
        ids.append(run_id)
    found = served.http.post(f"{V2}/runs/search", json={
        "experiment_ids": [experiment_id], "filter": "metrics.accuracy > 0.6",
        "order_by": ["metrics.accuracy DESC"], "run_view_type": "ACTIVE_ONLY"}).json()
    assert [r["info"]["run_id"] for r in found["runs"]] == [ids[1], ids[2]]
    assert "next_page_token" not in found
    pages, token = [], None
    while True:
        body: dict[str, Any] = {"experiment_ids": [experiment_id], "max_results": 2,
                                "order_by": ["start_time ASC"]}
        if token:
            body["page_token"] = token
        page = served.http.post(f"{V2}/runs/search", json=body).json()
        pages.append([r["info"]["run_id"] for r in page["runs"]])
        token = page.get("next_page_token")
        if not token:
            break
    assert pages == [ids[:2], ids[2:]]


def test_a_metric_history_is_its_latest_value(served: Served) -> None:
    run_id = _create(served, experiment_id="0")["info"]["run_id"]
    served.http.post(f"{V2}/runs/log-metric", json={"run_id": run_id, "key": "loss",
                                                     "value": 2.0, "step": 0})
    served.http.post(f"{V2}/runs/log-metric", json={"run_id": run_id, "key": "loss",
                                                     "value": 1.0, "step": 1})
    history = served.http.get(f"{V2}/metrics/get-history",
                              params={"run_id": run_id, "metric_key": "loss"}).json()
    assert [(m["key"], m["value"], m["step"]) for m in history["metrics"]] == [("loss", 1.0, 0)]
    none = served.http.get(f"{V2}/metrics/get-history",
                           params={"run_uuid": run_id, "metric_key": "other"}).json()
    assert none == {"metrics": []}


def test_a_labeling_sessions_run_is_deleted_an_evaluations_is_kept(served: Served) -> None:
    from assay.entities.labeling import LabelingSessionInfo
    from assay.entities.run import new_run_id

    session = served.store.create_labeling_session(LabelingSessionInfo(
        run_id=new_run_id(), experiment_id="0", name="review"))
    assert served.http.post(f"{V2}/runs/delete", json={"run_id": session.run_id}).json() == {}
    assert_mlflow_error(served.http.get(f"{V2}/runs/get", params={"run_id": session.run_id}),
                        404, "RESOURCE_DOES_NOT_EXIST")
    evaluation = _create(served, experiment_id="0")["info"]["run_id"]
    assert_mlflow_error(served.http.post(f"{V2}/runs/delete", json={"run_id": evaluation}),
                        400, "INVALID_PARAMETER_VALUE", evaluation, "evaluation")
    assert served.store.get_run(evaluation).info.run_id == evaluation
    assert_mlflow_error(served.http.post(f"{V2}/runs/restore", json={"run_id": evaluation}),
                        400, "INVALID_PARAMETER_VALUE", "deleted")


@pytest.mark.parametrize(("path", "body", "status", "code", "words"), [
    ("/runs/search", {}, 400, "INVALID_PARAMETER_VALUE", ["experiment_ids"]),
    ("/runs/search", {"experiment_ids": ["0"], "filter": "metrics.x >"}, 400,
     "INVALID_PARAMETER_VALUE", []),
    ("/runs/search", {"experiment_ids": ["0"], "order_by": ["nonsense.x"]}, 400,
     "INVALID_PARAMETER_VALUE", []),
    ("/runs/search", {"experiment_ids": ["0"], "run_view_type": "DELETED_ONLY"}, 400,
     "INVALID_PARAMETER_VALUE", ["run_view_type"]),
    ("/runs/search", {"experiment_ids": ["0"], "page_token": "garbage"}, 400,
     "INVALID_PARAMETER_VALUE", []),
    ("/runs/search", {"experiment_ids": ["0"], "max_results": 50_001}, 400,
     "INVALID_PARAMETER_VALUE", ["max_results"]),
    ("/runs/delete", {}, 400, "INVALID_PARAMETER_VALUE", ["run_id"]),
    ("/runs/delete", {"run_id": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST", []),
    ("/runs/restore", {"run_id": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST", []),
])
def test_bad_search_delete_and_restore_requests_are_refused(
        served: Served, path: str, body: dict[str, Any], status: int, code: str,
        words: list[str]) -> None:
    assert_mlflow_error(served.http.post(f"{V2}{path}", json=body), status, code, *words)


def test_a_bad_metric_history_request_is_refused(served: Served) -> None:
    assert_mlflow_error(served.http.get(f"{V2}/metrics/get-history",
                                        params={"run_id": "f" * 32}),
                        400, "INVALID_PARAMETER_VALUE", "metric_key")
    assert_mlflow_error(served.http.get(f"{V2}/metrics/get-history", params={"metric_key": "m"}),
                        400, "INVALID_PARAMETER_VALUE", "run_id")
