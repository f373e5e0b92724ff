"""Traces over HTTP: search (filters, order, pages, spans or not), get, delete, tags."""

from __future__ import annotations

from typing import Any

from factories import BASE_TIME_MS, make_trace, new_trace_id
from server.live import Served


def _seed(served: Served, n: int = 3) -> list[str]:
    traces = [make_trace(request_time=BASE_TIME_MS + i * 1000, name=f"t{i}",
                         tags={"i": str(i)}, num_spans=2) for i in range(n)]
    served.store.log_traces(traces)
    return [t.info.trace_id for t in traces]


def test_search_filters_orders_and_pages(served: Served) -> None:
    ids = _seed(served, 5)
    body = {"experiment_ids": ["0"], "filter_string": "tags.i != '0'",
            "order_by": ["timestamp_ms ASC"], "max_results": 3}
    first = served.http.post("/api/v1/traces/search", json=body)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [t["info"]["trace_id"] for t in page["traces"]] == ids[1:4]
    assert len(page["traces"][0]["data"]["spans"]) == 2
    second = served.http.post("/api/v1/traces/search",
                              json=body | {"page_token": page["next_page_token"]}).json()
    assert [t["info"]["trace_id"] for t in second["traces"]] == ids[4:]
    assert second["next_page_token"] is None


def test_search_without_spans_returns_headers_only(served: Served) -> None:
    _seed(served, 1)
    page = served.http.post("/api/v1/traces/search", json={
        "experiment_ids": ["0"], "include_spans": False}).json()
    assert page["traces"][0]["data"]["spans"] == []
    assert page["traces"][0]["info"]["tags"]["mlflow.traceName"] == "t0"


def test_bad_filter_is_400_with_its_position(served: Served) -> None:
    response = served.http.post("/api/v1/traces/search", json={
        "experiment_ids": ["0"], "filter_string": "trace.nonsense = 1"})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["position"] == 6
    assert body["fragment"] == "nonsense"
    assert "position 6" in body["message"]

    bad_order = served.http.post("/api/v1/traces/search", json={
        "experiment_ids": ["0"], "order_by": ["timestamp_ms SIDEWAYS"]})
    assert bad_order.status_code == 400
    assert "position" in bad_order.json()


def test_bad_search_requests_are_400(served: Served) -> None:
    bodies: list[dict[str, Any]] = [
                 {"experiment_ids": []}, {"experiment_ids": "0"},
                 {"experiment_ids": ["0"], "max_results": "10"},
                 {"experiment_ids": ["0"], "max_results": 0},
                 {"experiment_ids": ["0"], "include_spans": "yes"},
                 {"experiment_ids": ["0"], "page_token": "not-a-token"}]
    for body in bodies:
        response = served.http.post("/api/v1/traces/search", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_get_trace_with_and_without_spans(served: Served) -> None:
    (trace_id,) = _seed(served, 1)
    full = served.http.get(f"/api/v1/traces/{trace_id}")
    assert full.status_code == 200
    trace = full.json()["trace"]
    assert trace["info"]["trace_id"] == trace_id
    assert {s["name"] for s in trace["data"]["spans"]} == {"t0", "child-0"}
    header = served.http.get(f"/api/v1/traces/{trace_id}", params={"include_spans": "false"})
    assert header.json()["trace"]["data"]["spans"] == []


def test_unknown_trace_is_404_naming_it(served: Served) -> None:
    missing = new_trace_id()
    for response in (served.http.get(f"/api/v1/traces/{missing}"),
                     served.http.patch(f"/api/v1/traces/{missing}/tags",
                                       json={"key": "k", "value": "v"}),
                     served.http.delete(f"/api/v1/traces/{missing}/tags/k")):
        assert response.status_code == 404, response.text
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert missing in response.json()["message"]


def test_set_and_delete_a_tag(served: Served) -> None:
    (trace_id,) = _seed(served, 1)
    response = served.http.patch(f"/api/v1/traces/{trace_id}/tags",
                                 json={"key": "review/status", "value": "done"})
    assert response.status_code == 200
    assert response.json() == {}
    assert served.store.get_trace_info(trace_id).tags["review/status"] == "done"

    deleted = served.http.delete(f"/api/v1/traces/{trace_id}/tags/review/status")
    assert deleted.status_code == 200
    assert "review/status" not in served.store.get_trace_info(trace_id).tags
    again = served.http.delete(f"/api/v1/traces/{trace_id}/tags/review/status")
    assert again.status_code == 404
    assert "review/status" in again.json()["message"]


def test_bad_tag_requests_are_400_and_change_nothing(served: Served) -> None:
    (trace_id,) = _seed(served, 1)
    before = served.store.get_trace_info(trace_id).tags
    for body in ({"key": "k"}, {"key": "k", "value": 3}, {"key": "", "value": "v"},
                 {"key": "k", "value": "v", "extra": True}):
        response = served.http.patch(f"/api/v1/traces/{trace_id}/tags", json=body)
        assert response.status_code == 400, (body, response.text)
    assert served.store.get_trace_info(trace_id).tags == before


def test_delete_traces_by_id_and_by_age(served: Served) -> None:
    ids = _seed(served, 4)
    by_id = served.http.post("/api/v1/traces/delete",
                             json={"experiment_id": "0", "trace_ids": [ids[3]]})
    assert by_id.status_code == 200
    assert by_id.json() == {"traces_deleted": 1}
    by_age = served.http.post("/api/v1/traces/delete", json={
        "experiment_id": "0", "max_timestamp_millis": BASE_TIME_MS + 1000})
    assert by_age.json() == {"traces_deleted": 2}
    left = served.store.search_traces(["0"])
    assert [t.info.trace_id for t in left] == [ids[2]]


def test_bad_delete_requests_are_400_and_delete_nothing(served: Served) -> None:
    ids = _seed(served, 2)
    for body in ({"experiment_id": "0"},  # neither ids nor a time
                 {"experiment_id": "0", "trace_ids": ids, "max_timestamp_millis": 1},
                 {"experiment_id": "0", "trace_ids": ids[0]},
                 {"experiment_id": 0, "trace_ids": ids},
                 {"experiment_id": "0", "max_timestamp_millis": "soon"}):
        response = served.http.post("/api/v1/traces/delete", json=body)
        assert response.status_code == 400, (body, response.text)
    assert len(served.store.search_traces(["0"])) == 2
