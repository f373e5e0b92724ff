"""Two ``assay server`` processes over one PostgreSQL schema serve the same data: what is
written through one is read through the other, and the same writes sent through both at once
land exactly once (traces and spans, experiments created on first use, idempotent feedback)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local_http import LOCAL_TLS
from server.otlp_requests import PROTOBUF, OtlpBatch, make_batch
from server.processes import ServerProcess


@pytest.fixture
def two_servers(empty_postgres_uri: str,
                tmp_path: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Clients of two server processes started at once on a fresh (unmigrated) schema."""
    servers = [ServerProcess(empty_postgres_uri, tmp_path) for _ in range(2)]
    try:
        urls = [server.wait_ready() for server in servers]
        with httpx.Client(base_url=urls[0], verify=LOCAL_TLS, timeout=60) as a, \
                httpx.Client(base_url=urls[1], verify=LOCAL_TLS, timeout=60) as b:
            yield a, b
        for server in servers:
            assert server.stop(timeout=60) == 0, server.output()
    finally:
        for server in servers:
            server.kill()


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def send(http: httpx.Client, batch: OtlpBatch, experiment_id: str | None = None) -> None:
    headers = PROTOBUF | {"Content-Encoding": "gzip"}
    if experiment_id is not None:
        headers["x-assay-experiment-id"] = experiment_id
    response = http.post("/v1/traces", content=gzip.compress(batch.body()), headers=headers)
    assert response.status_code == 200, response.text


def search(http: httpx.Client, experiment_id: str) -> dict[str, int]:
    """Every trace of the experiment, read through ``http``: trace id -> number of spans."""
    found: dict[str, int] = {}
    token = None
    while True:
        page = ok(http.post("/api/v1/traces/search", json={
            "experiment_ids": [experiment_id], "max_results": 1000, "page_token": token}))
        for trace in page["traces"]:
            found[trace["info"]["trace_id"]] = len(trace["data"]["spans"])
        token = page["next_page_token"]
        if not token:
            return found


def at_once(*calls: Callable[[], None]) -> None:
    """Run the calls in threads, released together; re-raise the first failure."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], None]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def test_written_through_one_read_through_the_other(
        two_servers: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = two_servers
    experiment_id = ok(a.post("/api/v1/experiments", json={
        "name": "shared", "tags": {"team": "qa"}}))["experiment_id"]
    seen = ok(b.get(f"/api/v1/experiments/{experiment_id}"))["experiment"]
    assert (seen["name"], seen["tags"]) == ("shared", [{"key": "team", "value": "qa"}])
    assert ok(b.get("/api/v1/experiments/get-by-name",
                    params={"experiment_name": "shared"}))["experiment"]["experiment_id"] \
        == experiment_id

    batch = make_batch(25)
    send(a, batch, experiment_id)
    assert search(b, experiment_id) == dict.fromkeys(batch.trace_ids, 3)

    trace_id = batch.trace_ids[0]
    feedback = ok(a.post(f"/api/v1/traces/{trace_id}/feedback", json={
        "name": "thumbs", "value": False, "rationale": "wrong city",
        "source": {"source_type": "HUMAN", "source_id": "user-1"}}))["assessment"]
    read = ok(b.get(f"/api/v1/traces/{trace_id}/assessments/"
                    f"{feedback['assessment_id']}"))["assessment"]
    assert (read["feedback"]["value"], read["rationale"]) == (False, "wrong city")

    override = ok(b.post(
        f"/api/v1/traces/{trace_id}/assessments/{feedback['assessment_id']}/override",
        json={"value": True, "rationale": "checked again",
              "source": {"source_type": "HUMAN", "source_id": "expert"}}))["assessment"]
    trace = ok(a.get(f"/api/v1/traces/{trace_id}"))["trace"]
    by_id = {x["assessment_id"]: x for x in trace["info"]["assessments"]}
    assert by_id[feedback["assessment_id"]]["valid"] is False
    assert by_id[override["assessment_id"]]["valid"] is True
    assert by_id[override["assessment_id"]]["overrides"] == feedback["assessment_id"]

    ok(b.patch(f"/api/v1/traces/{trace_id}/tags", json={"key": "reviewed", "value": "yes"}))
    assert ok(a.get(f"/api/v1/traces/{trace_id}",
                    params={"include_spans": False}))["trace"]["info"]["tags"]["reviewed"] \
        == "yes"


def test_the_same_writes_through_both_land_once(
        two_servers: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = two_servers
    # Spans sent twice, through both servers at the same moment: stored once.
    batches = [make_batch(40, service="both-at-once") for _ in range(4)]
    at_once(*(lambda batch=batch, http=http: send(http, batch)
              for batch in batches for http in (a, b)))
    # Both servers met the service name first: one experiment of that name.
    found = ok(a.get("/api/v1/experiments"))["experiments"]
    named = [e for e in found if e["name"] == "both-at-once"]
    assert len(named) == 1, found
    experiment_id = named[0]["experiment_id"]
    expected = {t: 3 for batch in batches for t in batch.trace_ids}
    assert search(a, experiment_id) == expected
    assert search(b, experiment_id) == expected

    # A retried feedback (same idempotency key) through both at once: one assessment.
    trace_id = batches[0].trace_ids[0]
    answers: list[str] = []

    def log(http: httpx.Client) -> None:
        answer = ok(http.post(f"/api/v1/traces/{trace_id}/feedback", json={
            "name": "thumbs", "value": True, "idempotency_key": "click-1",
            "source": {"source_type": "HUMAN", "source_id": "user-7"}}))
        answers.append(answer["assessment"]["assessment_id"])

    at_once(*(lambda http=http: log(http) for http in (a, b, a, b)))
    assert len(set(answers)) == 1, answers
    assessments = ok(b.get(f"/api/v1/traces/{trace_id}"))["trace"]["info"]["assessments"]
    assert [x["assessment_id"] for x in assessments] == answers[:1]

    # Different feedback through both at once: every one lands, once.
    targets = batches[1].trace_ids[:10]

    def log_all(http: httpx.Client, who: str) -> None:
        for target in targets:
            ok(http.post(f"/api/v1/traces/{target}/feedback", json={
                "name": "stars", "value": 4,
                "source": {"source_type": "HUMAN", "source_id": who}}))

    at_once(lambda: log_all(a, "user-a"), lambda: log_all(b, "user-b"))
    for target in targets:
        info = ok(a.get(f"/api/v1/traces/{target}",
                        params={"include_spans": False}))["trace"]["info"]
        assert sorted(x["source"]["source_id"] for x in info["assessments"]) == [
            "user-a", "user-b"]
