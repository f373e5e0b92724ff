"""The committed OpenAPI document matches the app; every route is in it."""

from __future__ import annotations

from assay.server.openapi import COMMITTED_PATH, openapi_document, render

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
    }
    documented = {(path, method) for path, item in paths.items() for method in item}
    assert documented == expected
    for path, method in expected - {("/health", "get"), ("/version", "get")}:
        responses = paths[path][method]["responses"]
        assert {"400", "404"} <= set(responses), (path, method)
