"""MLflow's label schema and dataset routes over Assay's: the JSON the client reads, and
bad input refused in MLflow's shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.live import Served
from server.mlflow_compat.conftest import V3, assert_mlflow_error

LS = f"{V3}/label-schemas"
DS = f"{V3}/datasets"


def test_a_label_schema_is_created_read_listed_updated_and_deleted(served: Served) -> None:
    experiment_id = served.store.create_experiment("schemas")
    created = served.http.post(f"{LS}/create", json={
        "experiment_id": experiment_id, "name": "accuracy", "type": "FEEDBACK",
        "input": {"categorical": {"options": ["right", "wrong"]}},
        "instruction": "Right?", "enable_comment": True})
    assert created.status_code == 200, created.text
    schema = created.json()["label_schema"]
    assert schema["type"] == "FEEDBACK" and schema["is_default"] is False
    assert schema["input"] == {"categorical": {"options": ["right", "wrong"],
                                               "multi_select": False}}
    schema_id = schema["schema_id"]
    assert served.http.get(f"{LS}/get", params={"schema_id": schema_id}).json() == {
        "label_schema": schema}
    by_name = served.http.get(f"{LS}/get-by-name",
                              params={"experiment_id": experiment_id, "name": "accuracy"})
    assert by_name.json()["label_schema"]["schema_id"] == schema_id
    served.http.post(f"{LS}/create", json={
        "experiment_id": experiment_id, "name": "facts", "type": "EXPECTATION",
        "input": {"text": {}}})
    first = served.http.get(f"{LS}/list", params={"experiment_id": experiment_id,
                                                  "max_results": 1}).json()
    rest = served.http.get(f"{LS}/list", params={
        "experiment_id": experiment_id, "page_token": first["next_page_token"]}).json()
    assert [s["name"] for s in first["label_schemas"] + rest["label_schemas"]] == [
        "accuracy", "facts"]
    updated = served.http.patch(f"{LS}/update", json={
        "schema_id": schema_id, "instruction": "Is it right?",
        "input": {"categorical": {"options": ["right", "wrong", "unsure"]}}}).json()
    assert updated["label_schema"]["instruction"] == "Is it right?"
    assert served.store.get_label_schema(schema_id=schema_id).input.parameters()["options"] == [
        "right", "wrong", "unsure"]
    deleted = served.http.request("DELETE", f"{LS}/delete", json={"schema_id": schema_id})
    assert deleted.json() == {}
    assert_mlflow_error(served.http.get(f"{LS}/get", params={"schema_id": schema_id}),
                        404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "words"), [
    ("POST", "/create", {"experiment_id": "0", "name": "x", "type": "FEEDBACK"}, 400,
     "INVALID_PARAMETER_VALUE", ["input"]),
    ("POST", "/create", {"experiment_id": "0", "name": "x", "type": "OPINION",
                         "input": {"text": {}}}, 400, "INVALID_PARAMETER_VALUE", ["OPINION"]),
    ("POST", "/create", {"experiment_id": "0", "name": "x",
                         "type": "LABEL_SCHEMA_TYPE_UNSPECIFIED", "input": {"text": {}}},
     400, "INVALID_PARAMETER_VALUE", ["type"]),
    ("POST", "/create", {"experiment_id": "0", "name": "x", "type": "FEEDBACK",
                         "input": {"slider": {}}}, 400, "INVALID_PARAMETER_VALUE", ["slider"]),
    ("POST", "/create", {"experiment_id": "0", "name": "x" * 251, "type": "FEEDBACK",
                         "input": {"text": {}}}, 400, "INVALID_PARAMETER_VALUE", ["name"]),
    ("POST", "/create", {"experiment_id": "404", "name": "x", "type": "FEEDBACK",
                         "input": {"text": {}}}, 404, "RESOURCE_DOES_NOT_EXIST", []),
    ("GET", "/get", None, 400, "INVALID_PARAMETER_VALUE", ["schema_id"]),
    ("GET", "/get?schema_id=ls-missing", None, 404, "RESOURCE_DOES_NOT_EXIST", []),
    ("GET", "/get-by-name?experiment_id=0", None, 400, "INVALID_PARAMETER_VALUE", ["name"]),
    ("GET", "/list?experiment_id=0&page_token=garbage", None, 400,
     "INVALID_PARAMETER_VALUE", []),
    ("PATCH", "/update", {"name": "y"}, 400, "INVALID_PARAMETER_VALUE", ["schema_id"]),
    ("DELETE", "/delete", {}, 400, "INVALID_PARAMETER_VALUE", ["schema_id"]),
])
def test_bad_label_schema_requests_are_refused(served: Served, method: str, path: str,
                                               body: dict[str, Any] | None, status: int,
                                               code: str, words: list[str]) -> None:
    response = served.http.request(method, f"{LS}{path}", json=body)
    assert_mlflow_error(response, status, code, *words)


def test_a_schema_of_the_same_name_is_refused_as_mlflow_refuses_it(served: Served) -> None:
    body = {"experiment_id": "0", "name": "twice", "type": "FEEDBACK", "input": {"text": {}}}
    assert served.http.post(f"{LS}/create", json=body).status_code == 200
    assert_mlflow_error(served.http.post(f"{LS}/create", json=body), 400,
                        "RESOURCE_ALREADY_EXISTS", "twice")


def test_a_dataset_is_created_filled_read_searched_and_deleted(served: Served) -> None:
    experiment_id = served.store.create_experiment("datasets")
    created = served.http.post(f"{DS}/create", json={
        "name": "golden", "experiment_ids": [experiment_id],
        "tags": json.dumps({"team": "qa"})})
    assert created.status_code == 200, created.text
    dataset = created.json()["dataset"]
    dataset_id = dataset["dataset_id"]
    assert json.loads(dataset["tags"]) == {"team": "qa"}
    assert dataset["experiment_ids"] == [experiment_id]
    records = [{"inputs": {"q": "a"}, "expectations": {"answer": "1"}},
               {"inputs": {"q": "b"}}]
    upserted = served.http.post(f"{DS}/{dataset_id}/records",
                                json={"records": json.dumps(records)}).json()
    assert upserted == {"inserted_count": 2, "updated_count": 0}
    again = served.http.post(f"{DS}/{dataset_id}/records", json={"records": json.dumps(
        [{"inputs": {"q": "a"}, "expectations": {"facts": ["x"]}}])}).json()
    assert again == {"inserted_count": 0, "updated_count": 1}
    page = served.http.get(f"{DS}/{dataset_id}/records", params={"max_results": 1}).json()
    first = json.loads(page["records"])
    rest = json.loads(served.http.get(f"{DS}/{dataset_id}/records", params={
        "page_token": page["next_page_token"]}).json()["records"])
    read = first + rest
    assert [r["inputs"] for r in read] == [{"q": "a"}, {"q": "b"}]
    assert read[0]["expectations"] == {"answer": "1", "facts": ["x"]}
    assert read[0]["dataset_record_id"] and read[0]["dataset_id"] == dataset_id
    got = served.http.get(f"{DS}/{dataset_id}").json()["dataset"]
    assert json.loads(got["profile"]) == {"num_records": 2}
    assert served.http.get(f"{DS}/{dataset_id}/experiment-ids").json() == {
        "experiment_ids": [experiment_id]}
    found = served.http.post(f"{DS}/search", json={"experiment_ids": [experiment_id],
                                                   "filter_string": "name = 'golden'"})
    assert [d["dataset_id"] for d in found.json()["datasets"]] == [dataset_id]
    removed = served.http.request("DELETE", f"{DS}/{dataset_id}/records", json={
        "dataset_record_ids": [read[1]["dataset_record_id"], "dr-" + "0" * 32]}).json()
    assert removed == {"deleted_count": 1}
    assert served.http.request("DELETE", f"{DS}/{dataset_id}").json() == {}
    assert_mlflow_error(served.http.get(f"{DS}/{dataset_id}"), 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "words"), [
    ("POST", "/create", {"experiment_ids": ["0"]}, 400, "INVALID_PARAMETER_VALUE", ["name"]),
    ("POST", "/create", {"name": "d", "tags": "{not json"}, 400, "INVALID_PARAMETER_VALUE",
     ["tags"]),
    ("POST", "/create", {"name": "d", "tags": "[1]"}, 400, "INVALID_PARAMETER_VALUE",
     ["tags"]),
    ("POST", "/create", {"name": "d", "experiment_ids": ["404"]}, 404,
     "RESOURCE_DOES_NOT_EXIST", []),
    ("POST", "/search", {"filter_string": "name ="}, 400, "INVALID_PARAMETER_VALUE", []),
    ("GET", "/d-missing", None, 400, "INVALID_PARAMETER_VALUE", ["dataset_id"]),
    ("GET", f"/d-{'0' * 32}", None, 404, "RESOURCE_DOES_NOT_EXIST", []),
    ("POST", f"/d-{'0' * 32}/records", {"records": "[]"}, 404, "RESOURCE_DOES_NOT_EXIST",
     []),
    ("GET", f"/d-{'0' * 32}/records?page_token=garbage", None, 404,
     "RESOURCE_DOES_NOT_EXIST", []),
    ("DELETE", f"/d-{'0' * 32}/records", {}, 400, "INVALID_PARAMETER_VALUE",
     ["dataset_record_ids"]),
])
def test_bad_dataset_requests_are_refused(served: Served, method: str, path: str,
                                          body: dict[str, Any] | None, status: int,
                                          code: str, words: list[str]) -> None:
    response = served.http.request(method, f"{DS}{path}", json=body)
    assert_mlflow_error(response, status, code, *words)


@pytest.mark.parametrize("records", ["not json", "{}", "[1]", '[{"inputs": "text"}]',
                                     '[{"outputs": 1}]'])
def test_bad_records_are_refused_and_nothing_is_stored(served: Served, records: str) -> None:
    dataset_id = served.http.post(f"{DS}/create", json={
        "name": "strict", "experiment_ids": ["0"]}).json()[
        "dataset"]["dataset_id"]
    response = served.http.post(f"{DS}/{dataset_id}/records", json={"records": records})
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
    assert served.store.get_dataset(dataset_id=dataset_id).num_records == 0
