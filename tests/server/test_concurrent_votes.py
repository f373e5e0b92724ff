"""One valid vote per voter, trace and name, however many votes arrive at once (SQLite and
PostgreSQL, over HTTP): simultaneous browser votes, votes racing their trace, and
simultaneous overrides of one feedback. Each race runs several rounds, so that a store that
reads the previous vote and then writes, without a lock, fails it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan

from assay.entities import Assessment, Feedback
from assay.store.sql import SqlStore
from factories import make_trace
from local_http import LOCAL_TLS
from server.feedback_helpers import post_otlp, recorded_spans, serving_live, trace_id_of
from server.live import Served

AT_ONCE = 8
ROUNDS = 4


def at_once(url: str, calls: Sequence[Callable[[httpx.Client], httpx.Response]]
            ) -> list[httpx.Response]:
    """Make the calls from as many threads, each with its own connection, released together."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        with httpx.Client(base_url=url, verify=LOCAL_TLS, timeout=60) as http:
            http.get("/health")  # connected before the race starts
            barrier.wait()
            return call(http)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def voting(token: str, value: Any) -> Callable[[httpx.Client], httpx.Response]:
    return lambda http: http.post("/api/v1/feedback",
                                  json={"token": token, "name": "thumbs", "value": value})


def overriding(path: str, value: Any) -> Callable[[httpx.Client], httpx.Response]:
    return lambda http: http.post(path, json={"value": value})


def sending(served: Served, spans: list[ReadableSpan]
            ) -> Callable[[httpx.Client], httpx.Response]:
    def send(http: httpx.Client) -> httpx.Response:
        post_otlp(Served(served.store, http, served.url), spans)
        return httpx.Response(200)
    return send


def issue(served: Served, trace_id: str, end_user_id: str | None = "alice") -> str:
    response = served.http.post(f"/api/v1/traces/{trace_id}/feedback-tokens",
                                json={"end_user_id": end_user_id})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def votes_of(served: Served, trace_id: str) -> list[Assessment]:
    return [a for a in served.store.get_trace(trace_id).info.assessments if a.name == "thumbs"]


def assert_one_valid(votes: list[Assessment], ids: set[str]) -> Assessment:
    """Exactly one of the votes is valid, the others stay as its history (one chain)."""
    assert {a.assessment_id for a in votes} == ids
    valid = [a for a in votes if a.valid]
    assert len(valid) == 1, f"{len(valid)} valid votes of {len(votes)}"
    # Every vote but the first overrides another one, each overridden once: one chain.
    overridden = [a.overrides for a in votes if a.overrides is not None]
    assert len(overridden) == len(votes) - 1 == len(set(overridden)), [
        (a.assessment_id, a.overrides, a.valid) for a in votes]
    assert valid[0].assessment_id not in overridden
    return valid[0]


def summary_count(served: Served) -> int:
    response = served.http.post("/api/v1/analytics/feedback-summary",
                                json={"experiment_ids": ["0"], "names": ["thumbs"]})
    assert response.status_code == 200, response.text
    count: int = response.json()["summary"]["overall"]["assessments"]["thumbs"]["count"]
    return count


def test_simultaneous_votes_of_one_voter_leave_one_valid(sql_store: SqlStore) -> None:
    with serving_live(sql_store, feedback_rate_limit_per_minute=10_000) as served:
        for round_number in range(ROUNDS):
            trace = make_trace()
            served.store.log_traces([trace])
            trace_id = trace.info.trace_id
            # Half by one token, half by tokens of the same end user (other tabs).
            tokens = [issue(served, trace_id)] * (AT_ONCE // 2) + [
                issue(served, trace_id) for _ in range(AT_ONCE - AT_ONCE // 2)]
            responses = at_once(served.url, [voting(t, i % 2 == 0)
                                             for i, t in enumerate(tokens)])
            assert [r.status_code for r in responses] == [201] * AT_ONCE, responses[0].text
            valid = assert_one_valid(votes_of(served, trace_id),
                                     {r.json()["assessment_id"] for r in responses})
            assert valid.source.source_id == "alice"
            assert summary_count(served) == round_number + 1


def test_simultaneous_anonymous_votes_with_one_token_leave_one_valid(
        sql_store: SqlStore) -> None:
    with serving_live(sql_store, feedback_rate_limit_per_minute=10_000) as served:
        for _ in range(ROUNDS):
            trace = make_trace()
            served.store.log_traces([trace])
            token = issue(served, trace.info.trace_id, end_user_id=None)
            responses = at_once(served.url, [voting(token, i) for i in range(AT_ONCE)])
            assert [r.status_code for r in responses] == [201] * AT_ONCE, responses[0].text
            assert_one_valid(votes_of(served, trace.info.trace_id),
                             {r.json()["assessment_id"] for r in responses})


def test_simultaneous_votes_before_the_trace_leave_one_valid(sql_store: SqlStore) -> None:
    with serving_live(sql_store, feedback_rate_limit_per_minute=10_000) as served:
        for _ in range(ROUNDS):
            spans = recorded_spans()
            trace_id = trace_id_of(spans)
            token = issue(served, trace_id)
            responses = at_once(served.url, [voting(token, i) for i in range(AT_ONCE)])
            assert [r.status_code for r in responses] == [202] * AT_ONCE, responses[0].text
            kept = served.store.list_pending_assessments(trace_id)
            assert sum(a.valid for a in kept) == 1
            post_otlp(served, spans)
            assert_one_valid(votes_of(served, trace_id),
                             {r.json()["assessment_id"] for r in responses})


def test_votes_racing_their_trace_leave_one_valid(sql_store: SqlStore) -> None:
    with serving_live(sql_store, feedback_rate_limit_per_minute=10_000) as served:
        for _ in range(ROUNDS):
            spans = recorded_spans()
            trace_id = trace_id_of(spans)
            token = issue(served, trace_id)
            responses = at_once(served.url, [voting(token, i) for i in range(AT_ONCE)]
                                + [sending(served, spans)])
            votes = responses[:AT_ONCE]
            assert {r.status_code for r in votes} <= {201, 202}, votes[0].text
            # Whatever stayed pending is attached by now, or at the latest by the sweep.
            served.store.attach_stored_pending_assessments()
            assert_one_valid(votes_of(served, trace_id),
                             {r.json()["assessment_id"] for r in votes})


def test_simultaneous_overrides_of_one_feedback_leave_one_valid(sql_store: SqlStore) -> None:
    with serving_live(sql_store) as served:
        for _ in range(ROUNDS):
            trace = make_trace()
            served.store.log_traces([trace])
            trace_id = trace.info.trace_id
            first = served.store.log_assessment(Feedback("thumbs", True, trace_id=trace_id))
            path = f"/api/v1/traces/{trace_id}/assessments/{first.assessment_id}/override"
            responses = at_once(served.url, [overriding(path, i) for i in range(AT_ONCE)])
            assert [r.status_code for r in responses] == [200] * AT_ONCE, responses[0].text
            assert_one_valid(votes_of(served, trace_id),
                             {first.assessment_id or ""}
                             | {r.json()["assessment"]["assessment_id"] for r in responses})
