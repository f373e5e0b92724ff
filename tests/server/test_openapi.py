"""The committed OpenAPI document matches the app; every route is in it with the statuses it
answers and the constraints its input has; the app answers as the document says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from assay.server import ServerSettings, create_app
from assay.server.openapi import COMMITTED_PATH, openapi_document, render
from assay.store.sql import SqlStore

REGENERATE = ".venv/bin/python -m assay.server.openapi > src/assay/server/openapi.json"


def test_committed_openapi_document_is_current() -> None:
    assert COMMITTED_PATH.read_text() == render(openapi_document()), (
        f"src/assay/server/openapi.json is stale; regenerate it with: {REGENERATE}")


def test_every_route_is_documented_with_its_errors() -> None:
    paths = openapi_document()["paths"]
    expected = {
        ("/health", "get"), ("/version", "get"),
        ("/api/v1/experiments", "post"), ("/api/v1/experiments", "get"),
        ("/api/v1/experiments/get-by-name", "get"), ("/api/v1/experiments/{experiment_id}", "get"),
        ("/api/v1/traces/search", "post"), ("/api/v1/traces/delete", "post"),
        ("/api/v1/traces/{trace_id}", "get"), ("/api/v1/traces/{trace_id}/tags", "patch"),
        ("/api/v1/traces/{trace_id}/tags/{key}", "delete"),
        ("/api/v1/traces/{trace_id}/feedback", "post"),
        ("/api/v1/traces/{trace_id}/expectations", "post"),
        ("/api/v1/traces/{trace_id}/assessments/{assessment_id}", "get"),
        ("/api/v1/traces/{trace_id}/assessments/{assessment_id}", "patch"),
        ("/api/v1/traces/{trace_id}/assessments/{assessment_id}", "delete"),
        ("/api/v1/traces/{trace_id}/assessments/{assessment_id}/override", "post"),
        ("/api/v1/traces/{trace_id}/assessments", "post"),
        ("/api/v1/traces/{trace_id}/assessments/{assessment_id}", "put"),
        ("/api/v1/sessions/search", "post"), ("/api/v1/sessions/first-trace", "get"),
        ("/api/v1/analytics/feedback-summary", "post"),
        ("/v1/traces", "post"),
        ("/api/v1/traces/{trace_id}/feedback-tokens", "post"), ("/api/v1/feedback", "post"),
        ("/api/v1/server/stats", "get"),
        ("/api/v1/users/me", "get"), ("/api/v1/users", "get"), ("/api/v1/users", "post"),
        ("/api/v1/users/{username}", "patch"), ("/api/v1/users/{username}/keys", "post"),
        ("/api/v1/users/{username}/keys", "get"), ("/api/v1/keys/{key_id}", "delete"),
        ("/api/v1/label-schemas", "post"), ("/api/v1/label-schemas/{schema_id}", "get"),
        ("/api/v1/label-schemas/{schema_id}", "patch"),
        ("/api/v1/label-schemas/{schema_id}", "delete"),
        ("/api/v1/experiments/{experiment_id}/label-schemas", "get"),
        ("/api/v1/runs", "post"),
        ("/api/v1/runs/{run_id}", "get"),
        ("/api/v1/runs/{run_id}", "patch"),
        ("/api/v1/runs/{run_id}/traces", "post"),
        ("/api/v1/runs/search", "post"),
        ("/api/v1/labeling-sessions", "post"), ("/api/v1/labeling-sessions/{run_id}", "get"),
        ("/api/v1/labeling-sessions/{run_id}", "delete"),
        ("/api/v1/experiments/{experiment_id}/labeling-sessions", "get"),
        ("/api/v1/labeling-sessions/{run_id}/reviewers", "put"),
        ("/api/v1/labeling-sessions/{run_id}/items", "post"),
        ("/api/v1/labeling-sessions/{run_id}/items/remove", "post"),
        ("/api/v1/labeling-sessions/{run_id}/next", "post"),
        ("/api/v1/labeling-sessions/{run_id}/items/{trace_id}", "get"),
        ("/api/v1/labeling-sessions/{run_id}/items/{trace_id}/answers", "post"),
        ("/api/v1/labeling-sessions/{run_id}/items/{trace_id}/skip", "post"),
        ("/api/v1/labeling-sessions/{run_id}/progress", "get"),
        ("/api/v1/labeling-sessions/{run_id}/answers", "get"),
        ("/api/v1/labeling-sessions/{run_id}/items/{trace_id}/adjudication", "put"),
        ("/api/v1/labeling-sessions/{run_id}/gold", "get"),
        ("/api/v1/gold-labels/query", "post"),
        ("/api/v1/trace-labeling-sessions/query", "post"),
        ("/api/v1/labeling-sessions/{run_id}/routing-rules", "post"),
        ("/api/v1/labeling-sessions/{run_id}/routing-rules", "get"),
        ("/api/v1/labeling-sessions/{run_id}/routing-rules/{rule_id}", "delete"),
        ("/api/v1/datasets", "post"), ("/api/v1/datasets/search", "post"),
        ("/api/v1/datasets/get-by-name", "get"), ("/api/v1/datasets/{dataset_id}", "get"),
        ("/api/v1/datasets/{dataset_id}", "delete"),
        ("/api/v1/datasets/{dataset_id}/records", "post"),
        ("/api/v1/datasets/{dataset_id}/records", "get"),
        ("/api/v1/datasets/{dataset_id}/records/delete", "post"),
        ("/api/v1/evaluations/compare", "get"), ("/api/v1/evaluations/compare/flips", "get"),
        ("/api/v1/evaluations/judge-agreement", "get"),
        ("/api/v1/evaluations/judge-agreement/disagreements", "get"),
        ("/api/v1/review-queues", "post"), ("/api/v1/review-queues/user-queue", "post"),
        ("/api/v1/review-queues/{queue_id}", "get"),
        ("/api/v1/review-queues/{queue_id}", "patch"),
        ("/api/v1/review-queues/{queue_id}", "delete"),
        ("/api/v1/experiments/{experiment_id}/review-queues", "get"),
        ("/api/v1/review-queues/{queue_id}/items", "post"),
        ("/api/v1/review-queues/{queue_id}/items", "get"),
        ("/api/v1/review-queues/{queue_id}/items/remove", "post"),
        ("/api/v1/review-queues/{queue_id}/items/{item_id}/status", "put"),
    }
    documented = {(path, method) for path, item in paths.items() for method in item}
    assert documented == expected
    for path, method in expected - {("/health", "get"), ("/version", "get")}:
        responses = paths[path][method]["responses"]
        assert {"400", "404"} <= set(responses), (path, method)


def _client(tmp_path: Path) -> Iterator[TestClient]:
    store = SqlStore(f"sqlite:///{tmp_path / 'openapi.db'}")
    app = create_app(ServerSettings(port=0, backend_store_uri=store.uri), store)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        yield http
    store.close()


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    """A client of the app over a fresh SQLite file (in-process)."""
    yield from _client(tmp_path)


def test_a_method_a_path_does_not_have_is_405_listing_every_method_it_has(
        http: httpx.Client) -> None:
    for path, item in openapi_document()["paths"].items():
        if path == "/api/v1/feedback":
            continue  # OPTIONS there is the CORS preflight
        concrete = path.replace("{", "x").replace("}", "")
        response = http.request("OPTIONS", concrete)
        assert response.status_code == 405, path
        allowed = set(response.headers["allow"].split(", "))
        # HEAD comes with every GET.
        assert allowed - {"HEAD"} == {method.upper() for method in item}, (
            path, response.headers["allow"])


def test_request_constraints_are_in_the_document() -> None:
    schemas = openapi_document()["components"]["schemas"]

    def field(model: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = schemas[model]["properties"][name]
        first: dict[str, Any] = found.get("anyOf", [found])[0]
        return first

    assert field("CreateExperimentRequest", "name")["minLength"] == 1
    assert field("CreateFeedbackRequest", "name")["minLength"] == 1
    assert field("CreateExpectationRequest", "name")["minLength"] == 1
    assert field("FeedbackSummaryRequest", "names")["items"]["minLength"] == 1
    assert field("CreateUserRequest", "username")["pattern"].startswith("^[A-Za-z0-9]")
    for model in ("SearchTracesRequest", "SearchSessionsRequest"):
        assert schemas[model]["properties"]["page_token"]["minLength"] == 1
        assert field(model, "run_id")["minLength"] == 1
    [page_token] = [p for p in openapi_document()["paths"]["/api/v1/experiments"]["get"]
                    ["parameters"] if p["name"] == "page_token"]
    assert page_token["schema"]["minLength"] == 1
    assert {"oneOf", "anyOf"} & set(schemas["DeleteTracesRequest"])
    assert "anyOf" in schemas["UpdateUserRequest"]


def test_what_the_document_refuses_is_refused_naming_the_field(http: httpx.Client) -> None:
    for path, body, named in [
        ("/api/v1/experiments", {"name": ""}, "name"),
        ("/api/v1/traces/search", {"experiment_ids": ["0"], "page_token": ""}, "page_token"),
        ("/api/v1/sessions/search", {"experiment_ids": ["0"], "model_id": ""}, "model_id"),
    ]:
        response = http.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        assert named in response.json()["message"], (path, response.text)
    response = http.get("/api/v1/experiments", params={"page_token": ""})
    assert response.status_code == 400
    assert "page_token" in response.json()["message"]


def test_an_integer_written_with_a_zero_fraction_is_that_integer(http: httpx.Client) -> None:
    for path in ("/api/v1/traces/search", "/api/v1/sessions/search"):
        response = http.post(path, json={"experiment_ids": ["0"], "max_results": 136.0})
        assert response.status_code == 200, (path, response.text)
        response = http.post(path, json={"experiment_ids": ["0"], "max_results": 136.5})
        assert response.status_code == 400, (path, response.text)
        assert "'max_results'" in response.json()["message"]
