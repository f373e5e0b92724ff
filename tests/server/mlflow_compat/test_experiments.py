"""MLflow's experiment routes: what ``mlflow.set_experiment`` calls, with MLflow's errors."""

from __future__ import annotations

import pytest

from assay.version import __version__
from server.live import Served
from server.mlflow_compat.conftest import MLFLOW_CLIENT, V2, assert_mlflow_error


def test_set_experiment_finds_or_creates_by_name(served: Served) -> None:
    http = served.http
    missing = http.get(f"{V2}/experiments/get-by-name", params={"experiment_name": "app"})
    assert_mlflow_error(missing, 404, "RESOURCE_DOES_NOT_EXIST", "'app'")
    created = http.post(f"{V2}/experiments/create",
                        json={"name": "app", "artifact_location": "ignored",
                              "tags": [{"key": "team", "value": "search"}]})
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]
    got = http.get(f"{V2}/experiments/get", params={"experiment_id": experiment_id}).json()
    assert got["experiment"]["name"] == "app"
    assert got["experiment"]["tags"] == [{"key": "team", "value": "search"}]
    assert got["experiment"]["lifecycle_stage"] == "active"
    by_name = http.get(f"{V2}/experiments/get-by-name", params={"experiment_name": "app"})
    assert by_name.json() == got
    # MLflow answers a taken name with 400, not Assay's own 409.
    again = http.post(f"{V2}/experiments/create", json={"name": "app"})
    assert_mlflow_error(again, 400, "RESOURCE_ALREADY_EXISTS", "'app'")
    assert http.post("/api/v1/experiments", json={"name": "app"}).status_code == 409


def test_search_pages_through_experiments(served: Served) -> None:
    for name in ("a", "b", "c"):
        served.store.create_experiment(name)
    seen: list[str] = []
    token = None
    while True:
        body = {"max_results": 2} | ({"page_token": token} if token else {})
        page = served.http.post(f"{V2}/experiments/search", json=body).json()
        seen += [e["name"] for e in page["experiments"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == ["c", "b", "a", "Default"]
    got = served.http.get(f"{V2}/experiments/search", params={"max_results": 1}).json()
    assert [e["name"] for e in got["experiments"]] == ["c"]
    refused = served.http.post(f"{V2}/experiments/search", json={"filter": "name = 'a'"})
    assert_mlflow_error(refused, 400, "INVALID_PARAMETER_VALUE", "filter")


def test_the_ajax_api_mirror_answers_the_same(served: Served) -> None:
    served.store.create_experiment("mirrored")
    api = served.http.get(f"{V2}/experiments/get-by-name", params={"experiment_name": "mirrored"})
    ajax = served.http.get("/ajax-api/2.0/mlflow/experiments/get-by-name",
                           params={"experiment_name": "mirrored"})
    assert api.json() == ajax.json()
    # An error there is JSON too, never the web UI's error page.
    missing = served.http.get("/ajax-api/2.0/mlflow/experiments/get",
                              params={"experiment_id": "999"},
                              headers={"Accept": "text/html"})
    assert_mlflow_error(missing, 404, "RESOURCE_DOES_NOT_EXIST", "999")


@pytest.mark.parametrize("body", [
    {}, {"name": ""}, {"name": "   "}, {"name": 5}, {"name": "x", "tags": "nope"},
    {"name": "x", "tags": [{"value": "no key"}]}])
def test_a_bad_create_is_400_naming_the_field(served: Served, body: dict[str, object]) -> None:
    response = served.http.post(f"{V2}/experiments/create", json=body)
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
    assert served.store.find_experiment_by_name("x") is None


def test_an_unknown_mlflow_route_is_endpoint_not_found(served: Served) -> None:
    # The client falls back to older routes on ENDPOINT_NOT_FOUND.
    response = served.http.post(f"{V2}/registered-models/create", json={})
    assert_mlflow_error(response, 404, "ENDPOINT_NOT_FOUND")


def test_version_tells_the_mlflow_client_which_protocol_it_speaks(served: Served) -> None:
    # The client sends spans by OTLP only to a server it reads as MLflow 3.4 or newer.
    assert served.http.get("/version", headers=MLFLOW_CLIENT).text == "3.17.2"
    assert served.http.get("/version").text == __version__
