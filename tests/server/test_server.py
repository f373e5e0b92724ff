"""The server itself over HTTP: health, version, the access log, routing and body errors."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from assay.server.access_log import ACCESS_LOGGER
from assay.server.settings import ServerSettings
from assay.store.sql import SqlStore
from assay.version import __version__
from local_http import LOCAL_TLS
from server.live import Served, in_process


def test_health_and_version(served: Served) -> None:
    health = served.http.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    version = served.http.get("/version")
    assert version.status_code == 200
    assert version.text == __version__


def test_health_is_503_when_the_store_does_not_answer(served: Served) -> None:
    served.store.close()
    response = served.http.get("/health")
    assert response.status_code == 503
    assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"


def test_malformed_json_is_400_with_its_position(served: Served) -> None:
    response = served.http.post("/api/v1/experiments", content=b'{"name": ',
                                headers={"content-type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["message"].startswith("Malformed JSON body")
    assert "position 9" in body["message"]
    assert [e.name for e in served.store.search_experiments()] == ["Default"]


@pytest.mark.parametrize("content", [b"[1, 2]", b'"name"', b"name=x"])
def test_a_body_that_is_not_a_json_object_is_400(served: Served, content: bytes) -> None:
    response = served.http.post("/api/v1/traces/search", content=content,
                                headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_missing_body_is_400(served: Served) -> None:
    response = served.http.post("/api/v1/traces/search")
    assert response.status_code == 400
    assert response.json()["message"] == "Missing JSON body"


def test_unknown_route_and_wrong_method(served: Served) -> None:
    missing = served.http.get("/api/v1/nothing-here", params={"token": "s3cret"})
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert "/api/v1/nothing-here" in missing.json()["message"]
    assert "s3cret" not in missing.text
    wrong = served.http.put("/health")
    assert wrong.status_code == 405
    assert wrong.json()["error_code"] == "METHOD_NOT_ALLOWED"


def test_access_log_has_one_line_per_request_without_query_string(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        served.http.get("/api/v1/experiments", params={"page_token": "s3cret"})
        served.http.get("/api/v1/experiments/999")
        # The line is written once the response is sent, so it may trail the client a bit.
        deadline = time.monotonic() + 10
        while len(lines := [r for r in caplog.records if r.name == ACCESS_LOGGER]) < 2 \
                and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(lines) == 2
    first, second = lines
    assert (first.method, first.path) == ("GET", "/api/v1/experiments")  # type: ignore[attr-defined]
    assert second.status == 404  # type: ignore[attr-defined]
    assert isinstance(second.duration_ms, float)  # type: ignore[attr-defined]
    assert "status=404" in second.getMessage()
    assert all("s3cret" not in r.getMessage() for r in caplog.records)


@pytest.mark.live_server
def test_concurrent_requests_are_served(served: Served) -> None:
    import concurrent.futures

    def create(i: int) -> int:
        with httpx.Client(base_url=served.url, verify=LOCAL_TLS, timeout=30) as http:
            return http.post("/api/v1/experiments", json={"name": f"e{i}"}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(create, range(16))) == [200] * 16
    assert len(served.store.search_experiments()) == 17


def test_apps_in_one_process_share_routes_but_not_their_store_or_settings(
        sql_store: SqlStore, tmp_path: Path) -> None:
    # The routes are built once per process (assay.server.app._routes); what a request
    # reaches must still be its own app's store and settings.
    other = SqlStore(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        with in_process(sql_store) as first, in_process(
                other, ServerSettings(port=0, max_request_bytes=1_000)) as second:
            created = first.http.post("/api/v1/experiments", json={"name": "only-first"})
            assert created.status_code == 200, created.text
            names = {e.name for e in sql_store.search_experiments()}
            assert "only-first" in names
            assert "only-first" not in {e.name for e in other.search_experiments()}
            big = {"name": "x" * 2_000}
            assert first.http.post("/api/v1/experiments", json=big).status_code != 413
            assert second.http.post("/api/v1/experiments", json=big).status_code == 413
    finally:
        other.close()
