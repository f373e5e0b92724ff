"""Experiments over HTTP: create, get by id and by name, list, and their errors."""

from __future__ import annotations

from server.live import Served


def test_create_then_get_by_id_and_by_name(served: Served) -> None:
    created = served.http.post("/api/v1/experiments",
                               json={"name": "/Shared/app", "tags": {"team": "qa"}})
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]

    by_id = served.http.get(f"/api/v1/experiments/{experiment_id}")
    assert by_id.status_code == 200
    experiment = by_id.json()["experiment"]
    assert experiment["name"] == "/Shared/app"
    assert experiment["tags"] == [{"key": "team", "value": "qa"}]

    by_name = served.http.get("/api/v1/experiments/get-by-name",
                              params={"experiment_name": "/Shared/app"})
    assert by_name.status_code == 200
    assert by_name.json()["experiment"]["experiment_id"] == experiment_id
    assert served.store.get_experiment(experiment_id).tags == {"team": "qa"}


def test_search_experiments_pages(served: Served) -> None:
    for i in range(3):
        served.store.create_experiment(f"exp-{i}")
    first = served.http.get("/api/v1/experiments", params={"max_results": 2}).json()
    assert len(first["experiments"]) == 2
    assert first["next_page_token"]
    rest = served.http.get("/api/v1/experiments", params={
        "max_results": 2, "page_token": first["next_page_token"]}).json()
    names = [e["name"] for e in first["experiments"] + rest["experiments"]]
    assert sorted(names) == ["Default", "exp-0", "exp-1", "exp-2"]
    assert rest["next_page_token"] is None


def test_unknown_experiment_is_404_naming_it(served: Served) -> None:
    response = served.http.get("/api/v1/experiments/424242")
    assert response.status_code == 404
    body = response.json()
    assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "424242" in body["message"]

    by_name = served.http.get("/api/v1/experiments/get-by-name",
                              params={"experiment_name": "nope/none"})
    assert by_name.status_code == 404
    assert "nope/none" in by_name.json()["message"]


def test_duplicate_name_is_409(served: Served) -> None:
    served.store.create_experiment("taken")
    response = served.http.post("/api/v1/experiments", json={"name": "taken"})
    assert response.status_code == 409
    assert response.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert "taken" in response.json()["message"]


def test_bad_create_requests_are_400_and_create_nothing(served: Served) -> None:
    bad = [
        {"name": 5},                                  # wrong type
        {"name": "x", "tags": {"a": 1}},              # a tag value that is not a string
        {"name": "x", "colour": "blue"},              # an unknown field
        {},                                           # no name
        {"name": ""},                                 # an empty name (the store refuses it)
    ]
    for body in bad:
        response = served.http.post("/api/v1/experiments", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert [e.name for e in served.store.search_experiments()] == ["Default"]


def test_bad_query_parameters_are_400(served: Served) -> None:
    for params in ({"max_results": "abc"}, {"max_results": 0}, {"page_token": "garbage!"}):
        response = served.http.get("/api/v1/experiments", params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
