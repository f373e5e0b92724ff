"""The ``/api/v1/datasets`` routes as a client sends them, on SQLite and PostgreSQL:
hostile requests get a 4xx naming the field and write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from assay.store.sql import SqlStore
from server.live import in_process


@pytest.fixture
def http(sql_store: SqlStore) -> Iterator[httpx.Client]:
    with in_process(sql_store) as served:
        yield served.http


def _refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error_code", "message"}
    for word in words:
        assert word in body["message"], body["message"]


def test_a_dataset_round_trip(http: httpx.Client) -> None:
    created = http.post("/api/v1/datasets", json={"name": "golden", "experiment_ids": ["0"],
                                                  "tags": {"team": "a"}})
    assert created.status_code == 200, created.text
    dataset_id = created.json()["dataset"]["dataset_id"]
    merged = http.post(f"/api/v1/datasets/{dataset_id}/records",
                       json={"records": [{"inputs": {"q": "a"}, "expectations": {"e": 1}}]})
    assert merged.json()["dataset"]["version"] == 1
    records = http.get(f"/api/v1/datasets/{dataset_id}/records", params={"version": 1})
    assert [r["inputs"] for r in records.json()["records"]] == [{"q": "a"}]
    found = http.get("/api/v1/datasets/get-by-name", params={"name": "golden"})
    assert found.json()["dataset"]["num_records"] == 1
    searched = http.post("/api/v1/datasets/search", json={"filter_string": "tags.team = 'a'"})
    assert [d["name"] for d in searched.json()["datasets"]] == ["golden"]
    assert http.delete(f"/api/v1/datasets/{dataset_id}").status_code == 200
    _refused(http.get(f"/api/v1/datasets/{dataset_id}"), 404, dataset_id)


@pytest.mark.parametrize(("body", "words"), [
    ({"name": "x" * 251, "experiment_ids": ["0"]}, ["name"]),
    ({"name": "", "experiment_ids": ["0"]}, ["name"]),
    ({"name": "ok", "experiment_ids": []}, ["experiment_ids"]),
    ({"name": "ok", "experiment_ids": ["0"], "tags": {"k": 1}}, ["tags"]),
    ({"name": "ok", "experiment_ids": ["0"], "owner": "me"}, ["owner"]),
    ({"name": "ok", "experiment_ids": ["0"] * 101}, ["experiment_ids"]),
])
def test_a_hostile_create_is_refused(http: httpx.Client, body: dict[str, Any],
                                     words: list[str]) -> None:
    _refused(http.post("/api/v1/datasets", json=body), 400, *words)
    assert http.post("/api/v1/datasets/search", json={}).json()["datasets"] == []


@pytest.mark.parametrize(("records", "words"), [
    ("everything", ["records"]),
    ([{"inputs": {"q": "fine"}}, {"outputs": "no inputs"}], ["records[1].inputs"]),
    ([{"inputs": {"q": 1}, "expectations": "yes"}], ["records[0].expectations"]),
    ([{"inputs": {"q": 1}, "source": {"source_type": "X"}}], ["records[0].source"]),
    ([{"inputs": {"q": "a\u0000"}}] * 2, []),  # a NUL in JSON is kept, not refused
    ([{"inputs": {"q": i}} for i in range(10_001)], ["records"]),
])
def test_hostile_records_are_refused_and_nothing_is_written(
        http: httpx.Client, records: Any, words: list[str]) -> None:
    dataset_id = http.post("/api/v1/datasets", json={
        "name": "guarded", "experiment_ids": ["0"]}).json()["dataset"]["dataset_id"]
    response = http.post(f"/api/v1/datasets/{dataset_id}/records", json={"records": records})
    dataset = http.get(f"/api/v1/datasets/{dataset_id}").json()["dataset"]
    if not words:
        assert response.status_code == 200 and dataset["num_records"] == 1
        return
    _refused(response, 400, *words)
    assert (dataset["version"], dataset["num_records"]) == (0, 0)


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "words"), [
    ("GET", "/api/v1/datasets/not-an-id", {}, 400, ["dataset_id"]),
    ("GET", "/api/v1/datasets/d-" + "0" * 32, {"params": {"version": -1}}, 400, ["version"]),
    ("GET", "/api/v1/datasets/get-by-name", {}, 400, ["name"]),
    ("GET", "/api/v1/datasets/get-by-name", {"params": {"name": "nope"}}, 404, ["nope"]),
    ("POST", "/api/v1/datasets/search", {"json": {"filter_string": "size > 1"}}, 400,
     ["size"]),
    ("POST", "/api/v1/datasets/search", {"json": {"max_results": 10_001}}, 400,
     ["max_results"]),
    ("POST", "/api/v1/datasets/d-" + "0" * 32 + "/records/delete",
     {"json": {"record_ids": ["x"]}}, 400, ["record_ids"]),
    ("GET", "/api/v1/datasets/d-" + "0" * 32 + "/records", {"params": {"page_token": "zz"}},
     404, []),
])
def test_bad_requests_get_a_4xx_naming_the_field(
        http: httpx.Client, method: str, path: str, kwargs: dict[str, Any], status: int,
        words: list[str]) -> None:
    _refused(http.request(method, path, **kwargs), status, *words)
