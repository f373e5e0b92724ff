"""NUL characters sent to every route of a real server on SQLite and PostgreSQL: in a URL path
segment or a query parameter (refused before any route, naming it), and in the JSON bodies
that name or find something (refused by the store's checks, naming the field). Before,
PostgreSQL answered 500 where SQLite stored the NUL. And feedback for the all-zero trace id,
which OTLP refuses, is a 400 rather than a vote kept pending forever."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from assay.server import ServerSettings
from assay.server.openapi import COMMITTED_PATH
from assay.store.sql import SqlStore
from factories import make_trace
from server.live import Served, in_process

NUL = "a\x00b"
ZERO_TRACE_ID = "tr-" + "0" * 32


def assert_400(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 400, (response.request.url, response.text)
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
    for word in words:
        assert word in body["message"], body


def _api_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route in the OpenAPI document, and the UI's pages.

    The committed document, which ``test_openapi`` keeps equal to the app's."""
    spec = json.loads(COMMITTED_PATH.read_text())
    routes = [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]
    return [*routes, ("GET", "/traces/{trace_id}"), ("GET", "/sessions/{session_id}"),
            ("GET", "/experiments/{experiment_id}/traces"),
            ("GET", "/experiments/{experiment_id}/count")]


ROUTES = _api_routes()
WITH_PARAMETERS = [(m, p) for m, p in ROUTES if "{" in p]


def test_a_nul_in_any_path_segment_is_400_naming_it(served: Served) -> None:
    assert len(WITH_PARAMETERS) > 15
    for method, template in WITH_PARAMETERS:
        path = re.sub(r"\{[^}]+\}", "x%00y", template)
        response = served.http.request(method, path, json={})
        assert_400(response, "path segment", "'x\\x00y'", "NUL")


def test_a_nul_in_any_query_parameter_is_400_naming_it(served: Served) -> None:
    for method, template in ROUTES:
        path = re.sub(r"\{[^}]+\}", "x", template)
        response = served.http.request(method, path + "?page_token=ok&session_id=s%00",
                                       json={})
        assert_400(response, "query parameter 'session_id'", "NUL")


def test_the_reported_routes_on_both_databases(served: Served) -> None:
    trace = make_trace()
    served.store.log_traces([trace])
    trace_id = trace.info.trace_id
    http = served.http
    assert_400(http.get("/api/v1/sessions/first-trace", params={"session_id": NUL}),
               "session_id")
    assert_400(http.get(f"/api/v1/traces/tr-{'0' * 31}%00"), "path segment")
    assert_400(http.get("/api/v1/experiments/get-by-name", params={"experiment_name": NUL}),
               "experiment_name")
    # What a person types in a JSON body: refused by the store's checks, naming the field.
    bodies: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/api/v1/experiments", {"name": NUL}, "experiment name"),
        ("POST", "/api/v1/experiments", {"name": "ok", "tags": {NUL: "v"}},
         "experiment tag key"),
        ("PATCH", f"/api/v1/traces/{trace_id}/tags", {"key": NUL, "value": "v"}, "tag key"),
        ("POST", "/api/v1/traces/search", {"experiment_ids": ["0"], "page_token": NUL},
         "page_token"),
        ("POST", "/api/v1/traces/search", {"experiment_ids": ["0"], "run_id": NUL}, "run_id"),
        ("POST", "/api/v1/traces/delete", {"experiment_id": "0", "trace_ids": [NUL]},
         "trace_id"),
        ("POST", "/api/v1/sessions/search", {"experiment_ids": ["0"], "model_id": NUL},
         "model_id"),
        ("POST", "/api/v1/sessions/search", {"experiment_ids": ["0"], "page_token": NUL},
         "page_token"),
        ("POST", f"/api/v1/traces/{trace_id}/feedback", {"name": NUL, "value": True},
         "name"),
        ("POST", f"/api/v1/traces/{trace_id}/feedback",
         {"name": "ok", "value": True, "source": {"source_type": "HUMAN", "source_id": NUL}},
         "source_id"),
        ("POST", "/api/v1/users", {"username": NUL, "role": "viewer"}, "username"),
    ]
    for method, path, body, word in bodies:
        assert_400(http.request(method, path, json=body), word)
    # Free text is kept, its NUL replaced on both databases.
    response = http.patch(f"/api/v1/traces/{trace_id}/tags", json={"key": "k", "value": NUL})
    assert response.status_code == 200, response.text
    assert served.store.get_trace_info(trace_id).tags["k"] == "a\ufffdb"
    assert http.get("/health").status_code == 200


def test_feedback_for_the_all_zero_trace_id_is_400(served: Served) -> None:
    for path in (f"/api/v1/traces/{ZERO_TRACE_ID}/feedback",
                 f"/api/v1/traces/{ZERO_TRACE_ID}/expectations"):
        response = served.http.post(path, json={"name": "helpful", "value": True})
        assert_400(response, "trace_id", ZERO_TRACE_ID, "not all zero")
    assert served.store.count_pending_assessments() == 0
    response = served.http.post(f"/api/v1/traces/{ZERO_TRACE_ID}/feedback-tokens", json={})
    assert_400(response, "trace_id")


def test_signing_in_as_a_name_with_a_nul_is_a_failed_login(sql_store: SqlStore) -> None:
    sql_store.create_user("bob", "member", password="a long password")
    settings = ServerSettings(port=0, backend_store_uri=sql_store.uri, auth=True)
    with in_process(sql_store, settings, headers={"Accept": "text/html"}) as served:
        browser = served.http
        form = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None, form.text
        response = browser.post("/login", data={
            "username": "bob\x00", "password": "a long password", "next": "/",
            "csrf_token": token.group(1)})
        assert response.status_code == 401, response.text
        assert "Wrong username or password." in response.text
