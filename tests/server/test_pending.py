"""Feedback that arrives before its trace, over HTTP (SQLite and PostgreSQL): kept (202), then
attached with its id when the trace comes, whether through the store or OTLP; the sweep that
expires it and the counters at /api/v1/server/stats."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import pytest

from assay.entities import Feedback
from assay.entities._time import now_ms
from assay.server.pending_sweep import pending_sweeps
from assay.server.stats import ServerCounters
from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine
from assay.store.sql.schema import pending_assessments
from factories import make_trace, new_trace_id
from locks import writes_blocked
from server.feedback_helpers import (
    post_otlp,
    recorded_spans,
    serving,
    stats,
    trace_id_of,
    wait_for,
)
from server.live import Served


def test_feedback_before_its_trace_is_kept_then_attached_by_the_store(served: Served) -> None:
    trace = make_trace()
    trace_id = trace.info.trace_id
    response = served.http.post(f"/api/v1/traces/{trace_id}/feedback", json={
        "name": "thumbs", "value": True, "rationale": "quick",
        "source": {"source_type": "HUMAN", "source_id": "u1"}})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["pending"] is True
    kept = body["assessment"]
    assert kept["assessment_id"].startswith("a-") and kept["trace_id"] == trace_id
    expectation = served.http.post(f"/api/v1/traces/{trace_id}/expectations",
                                   json={"name": "answer", "value": "42"})
    assert expectation.status_code == 202, expectation.text
    assert stats(served)["pending_assessments"] == 2

    served.store.log_traces([trace])

    stored = served.store.get_trace(trace_id).info.assessments
    assert [a.assessment_id for a in stored] == [
        kept["assessment_id"], expectation.json()["assessment"]["assessment_id"]]
    assert isinstance(stored[0], Feedback) and stored[0].rationale == "quick"
    got = served.http.get(f"/api/v1/traces/{trace_id}/assessments/{kept['assessment_id']}")
    assert got.status_code == 200 and got.json()["pending"] is False
    assert got.json()["assessment"]["feedback"] == {"value": True}
    assert stats(served)["pending_assessments"] == 0
    # With the trace stored, feedback is logged at once, as before.
    now = served.http.post(f"/api/v1/traces/{trace_id}/feedback", json={"value": 1})
    assert now.status_code == 200 and now.json()["pending"] is False


def test_feedback_before_its_trace_is_attached_when_otlp_brings_it(served: Served) -> None:
    spans = recorded_spans()
    trace_id = trace_id_of(spans)
    first = served.http.post(f"/api/v1/traces/{trace_id}/feedback",
                             json={"name": "stars", "value": 4, "idempotency_key": "k1"})
    retried = served.http.post(f"/api/v1/traces/{trace_id}/feedback",
                               json={"name": "stars", "value": 4, "idempotency_key": "k1"})
    assert first.status_code == retried.status_code == 202
    assert first.json()["assessment"] == retried.json()["assessment"]

    post_otlp(served, spans)

    trace = served.store.get_trace(trace_id)
    assert len(trace.data.spans) == 2
    assert [(a.assessment_id, a.name, a.value) for a in trace.info.assessments] == [
        (first.json()["assessment"]["assessment_id"], "stars", 4)]
    assert stats(served)["pending_assessments"] == 0


def test_a_trace_id_of_another_form_is_400_when_not_stored(served: Served) -> None:
    for trace_id in ("tr-123", "not-a-trace", "tr-" + "A" * 32):
        response = served.http.post(f"/api/v1/traces/{trace_id}/feedback", json={"value": 1})
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "trace_id" in response.json()["message"]
    assert stats(served)["pending_assessments"] == 0


def test_session_feedback_still_needs_its_trace(served: Served) -> None:
    trace_id = new_trace_id()
    response = served.http.post(f"/api/v1/traces/{trace_id}/feedback", json={
        "value": 1, "metadata": {"mlflow.trace.session": "s1"}})
    assert response.status_code == 404, response.text
    assert trace_id in response.json()["message"]
    assert stats(served)["pending_assessments"] == 0


def test_bad_feedback_for_a_missing_trace_is_400_and_keeps_nothing(served: Served) -> None:
    trace_id = new_trace_id()
    for body in ({"name": "", "value": 1}, {"value": 1, "span_id": "xyz"},
                 {"value": 1, "surprise": 1}, {"value": 1, "rationale": "x" * 10_001}):
        response = served.http.post(f"/api/v1/traces/{trace_id}/feedback", json=body)
        assert response.status_code == 400, (body, response.text)
    assert stats(served)["pending_assessments"] == 0


def test_expired_feedback_is_dropped_at_start_counted_and_logged(
        sql_store: SqlStore, caplog: pytest.LogCaptureFixture) -> None:
    gone = sql_store.keep_pending_assessment(Feedback("thumbs", True, trace_id=new_trace_id()),
                                             0.001)
    # The store read its clock (now_ms) for the expiry before this: 1 ms after it at most.
    expires_by = now_ms() + 1
    kept = sql_store.keep_pending_assessment(Feedback("thumbs", True, trace_id=new_trace_id()),
                                             3600)
    while now_ms() <= expires_by:  # past the first one's expiry, on the store's clock
        time.sleep(0.001)
    caplog.set_level(logging.WARNING, logger="assay.server.pending_sweep")
    with serving(sql_store) as served:
        wait_for(lambda: stats(served)["pending_expired"] == 1)
        assert stats(served)["pending_assessments"] == 1
    assert sql_store.list_pending_assessments(gone.trace_id or "") == []
    assert sql_store.list_pending_assessments(kept.trace_id or "") == [kept]
    warnings = [r for r in caplog.records if r.name == "assay.server.pending_sweep"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    message = warnings[0].getMessage()
    assert "Dropped 1 pending assessment" in message
    assert (gone.trace_id or "") not in message and "thumbs" not in message


def test_pending_ttl_setting_sets_the_expiry(sql_store: SqlStore) -> None:
    with serving(sql_store, pending_feedback_ttl_seconds=120) as served:
        trace_id = new_trace_id()
        before = int(time.time() * 1000)
        response = served.http.post(f"/api/v1/traces/{trace_id}/feedback", json={"value": 1})
        assert response.status_code == 202
        after = int(time.time() * 1000)
    assert sql_store.expire_pending_assessments(before + 119_000) == 0
    assert sql_store.expire_pending_assessments(after + 120_000) == 1


def test_the_sweep_attaches_what_a_trace_missed(sql_store: SqlStore,
                                                database_uri: str) -> None:
    # A trace written at the very moment its feedback was kept can leave it pending; the
    # sweep at start (and each minute) attaches it.
    trace = make_trace()
    sql_store.log_traces([trace])
    missed = Feedback("thumbs", True, trace_id=trace.info.trace_id,
                      assessment_id="a-" + "2" * 32)
    engine, _ = create_engine(database_uri)
    try:
        with engine.begin() as conn:
            conn.execute(pending_assessments.insert(), {
                "assessment_id": missed.assessment_id, "trace_id": trace.info.trace_id,
                "payload": json.dumps(missed.to_dictionary()), "received_time_ms": 0,
                "expires_time_ms": 2**62})
    finally:
        engine.dispose()
    with serving(sql_store) as served:
        wait_for(lambda: stats(served)["pending_assessments"] == 0)
        assert stats(served)["pending_expired"] == 0
    assert [a.assessment_id for a in sql_store.get_trace(trace.info.trace_id).info.assessments
            ] == [missed.assessment_id]


def test_a_sweep_in_progress_ends_before_the_sweeps_do(sql_store: SqlStore,
                                                      database_uri: str) -> None:
    # A sweep runs in a worker thread, which cancelling cannot stop: the server closes its
    # store after the sweeps end, so their end must wait for the thread. (It did not, and a
    # sweep that outlived its server wrote through a closed SQLite store and crashed the
    # process.) Here the sweep waits for a lock that is let go only after the end has begun.
    sql_store.keep_pending_assessment(Feedback("thumbs", True, trace_id=new_trace_id()), 0.001)
    expires_by = now_ms() + 1
    while now_ms() <= expires_by:  # past its expiry, on the store's clock
        time.sleep(0.001)
    counters = ServerCounters()
    let_go = threading.Event()
    ended_after_the_lock: list[bool] = []

    async def sweep_then_end() -> None:
        async with pending_sweeps(sql_store, counters, interval=3600):
            await asyncio.sleep(0.3)  # the sweep has begun and waits for the lock
            threading.Timer(0.3, let_go.set).start()
        ended_after_the_lock.append(let_go.is_set())

    with writes_blocked(database_uri, "pending_assessments"):
        ending = threading.Thread(target=asyncio.run, args=(sweep_then_end(),))
        ending.start()
        let_go.wait(5)
    ending.join(10)
    assert ended_after_the_lock == [True]
    assert counters.snapshot().pending_expired == 1
