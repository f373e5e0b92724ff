"""Pending assessments in the SQL store (SQLite and PostgreSQL): feedback kept for a trace that
has not arrived, attached when it is written, expired and counted; signing keys and
feedback tokens issued by the store."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable

import pytest

from assay.entities import AssessmentSource, AssessmentSourceType, Expectation, Feedback
from assay.entities._time import now_ms
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.feedback_tokens import FEEDBACK_TOKEN_PURPOSE, verify_token
from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine
from assay.store.sql.schema import pending_assessments
from factories import make_trace, new_trace_id


def vote(trace_id: str, value: object = True, user: str = "u1", name: str = "thumbs",
         **kwargs: object) -> Feedback:
    return Feedback(name=name, value=value, trace_id=trace_id,
                    source=AssessmentSource(AssessmentSourceType.HUMAN, user), **kwargs)  # type: ignore[arg-type]


def test_kept_assessment_is_attached_with_its_id_when_the_trace_arrives(
        sql_store: SqlStore) -> None:
    trace = make_trace()
    trace_id = trace.info.trace_id
    kept = sql_store.keep_pending_assessment(
        vote(trace_id, rationale="fast", metadata={"page": "chat"}), 3600)
    expectation = sql_store.keep_pending_assessment(
        Expectation("answer", {"facts": ["a"]}, trace_id=trace_id), 3600)
    assert kept.assessment_id is not None and kept.assessment_id.startswith("a-")
    assert sql_store.count_pending_assessments() == 2
    assert [a.assessment_id for a in sql_store.list_pending_assessments(trace_id)] == [
        kept.assessment_id, expectation.assessment_id]

    sql_store.log_traces([trace])

    stored = sql_store.get_trace(trace_id).info.assessments
    assert [(a.assessment_id, a.kind, a.value, a.valid) for a in stored] == [
        (kept.assessment_id, "feedback", True, True),
        (expectation.assessment_id, "expectation", {"facts": ["a"]}, True)]
    assert stored[0].rationale == "fast" and stored[0].metadata == {"page": "chat"}
    assert stored[0].source == AssessmentSource(AssessmentSourceType.HUMAN, "u1")
    assert stored[0].create_time_ms == kept.create_time_ms
    assert sql_store.get_assessment(trace_id, kept.assessment_id).value is True
    assert sql_store.count_pending_assessments() == 0
    assert sql_store.list_pending_assessments(trace_id) == []
    # Written again, the trace gets nothing twice.
    sql_store.log_traces([trace])
    assert len(sql_store.get_trace(trace_id).info.assessments) == 2


def test_a_second_pending_vote_overrides_the_first(sql_store: SqlStore) -> None:
    trace = make_trace()
    trace_id = trace.info.trace_id
    first = sql_store.keep_pending_assessment(vote(trace_id, True), 3600)
    other_user = sql_store.keep_pending_assessment(vote(trace_id, True, user="u2"), 3600)
    second = sql_store.keep_pending_assessment(
        vote(trace_id, False, overrides=first.assessment_id), 3600)
    # Overriding the first again supersedes the newest of its chain: one stays valid.
    third = sql_store.keep_pending_assessment(
        vote(trace_id, True, overrides=first.assessment_id), 3600)
    assert (second.overrides, third.overrides) == (first.assessment_id, second.assessment_id)
    assert [a.valid for a in sql_store.list_pending_assessments(trace_id)] == [
        False, True, False, True]

    sql_store.log_traces([trace])

    stored = {a.assessment_id: a for a in sql_store.get_trace(trace_id).info.assessments}
    assert stored[first.assessment_id].valid is False
    assert stored[second.assessment_id].valid is False
    assert stored[second.assessment_id].overrides == first.assessment_id
    assert stored[third.assessment_id].valid is True
    assert stored[third.assessment_id].value is True
    assert stored[other_user.assessment_id].valid is True
    # History works as for any override: deleting the newest makes the one before valid.
    sql_store.delete_assessment(trace_id, third.assessment_id or "")
    assert sql_store.get_assessment(trace_id, second.assessment_id or "").valid is True


def test_a_batch_attaches_to_each_of_its_traces(sql_store: SqlStore) -> None:
    batch = [make_trace() for _ in range(5)]
    ids = {}
    for trace in batch[1:4]:
        ids[trace.info.trace_id] = sql_store.keep_pending_assessment(
            vote(trace.info.trace_id), 3600).assessment_id
    elsewhere = sql_store.keep_pending_assessment(vote(new_trace_id()), 3600)
    sql_store.log_traces(batch)
    for trace in batch:
        stored = sql_store.get_trace(trace.info.trace_id).info.assessments
        assert [a.assessment_id for a in stored] == (
            [ids[trace.info.trace_id]] if trace.info.trace_id in ids else [])
    assert sql_store.count_pending_assessments() == 1
    assert sql_store.list_pending_assessments(elsewhere.trace_id or "") == [elsewhere]


def test_a_refused_batch_keeps_its_pending_assessments(sql_store: SqlStore) -> None:
    good = make_trace()
    kept = sql_store.keep_pending_assessment(vote(good.info.trace_id), 3600)
    with pytest.raises(NotFoundError):
        sql_store.log_traces([good, make_trace(experiment_id="424242")])
    assert sql_store.list_pending_assessments(good.info.trace_id) == [kept]
    sql_store.log_traces([good])
    assert [a.assessment_id for a in sql_store.get_trace(good.info.trace_id).info.assessments
            ] == [kept.assessment_id]


def test_keeping_for_a_stored_trace_is_refused(sql_store: SqlStore) -> None:
    trace = make_trace()
    sql_store.log_traces([trace])
    with pytest.raises(AlreadyExistsError, match="is stored"):
        sql_store.keep_pending_assessment(vote(trace.info.trace_id), 3600)
    assert sql_store.count_pending_assessments() == 0


@pytest.mark.parametrize("bad, message", [
    (lambda: vote("tr-123"), "trace_id"),
    (lambda: vote("TR-" + "A" * 32), "trace_id"),
    (lambda: vote(new_trace_id(), metadata={"mlflow.trace.session": "s1"}), "session"),
])
def test_bad_pending_assessments_are_refused(sql_store: SqlStore, bad: Callable[[], Feedback],
                                             message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        sql_store.keep_pending_assessment(bad(), 3600)
    assert sql_store.count_pending_assessments() == 0


@pytest.mark.parametrize("expires_in", [0, -1, 400 * 86400, float("nan"), True, "60"])
def test_expiry_out_of_range_is_refused(sql_store: SqlStore, expires_in: object) -> None:
    with pytest.raises(InvalidParameterError, match="expires_in_seconds"):
        sql_store.keep_pending_assessment(vote(new_trace_id()), expires_in)  # type: ignore[arg-type]


def test_overriding_what_is_not_pending_is_not_found(sql_store: SqlStore) -> None:
    trace_id = new_trace_id()
    with pytest.raises(NotFoundError, match="a-" + "0" * 32):
        sql_store.keep_pending_assessment(vote(trace_id, overrides="a-" + "0" * 32), 3600)
    expectation = sql_store.keep_pending_assessment(Expectation("n", 1, trace_id=trace_id),
                                                    3600)
    with pytest.raises(InvalidParameterError, match="its own kind"):
        sql_store.keep_pending_assessment(vote(trace_id, overrides=expectation.assessment_id),
                                          3600)


def test_an_idempotency_key_keeps_one(sql_store: SqlStore) -> None:
    trace_id = new_trace_id()
    first = sql_store.keep_pending_assessment(vote(trace_id, idempotency_key="click-1"), 3600)
    again = sql_store.keep_pending_assessment(vote(trace_id, idempotency_key="click-1"), 3600)
    assert again == first
    assert sql_store.count_pending_assessments() == 1
    stored = make_trace()
    sql_store.log_traces([stored])
    sql_store.log_assessment(vote(stored.info.trace_id, idempotency_key="click-2"))
    with pytest.raises(AlreadyExistsError, match="click-2"):
        sql_store.keep_pending_assessment(vote(trace_id, idempotency_key="click-2"), 3600)


def test_expired_assessments_are_dropped_and_counted(sql_store: SqlStore) -> None:
    soon = make_trace()
    later = make_trace()
    sql_store.keep_pending_assessment(vote(soon.info.trace_id), 60)
    sql_store.keep_pending_assessment(vote(soon.info.trace_id, user="u2"), 60)
    kept = sql_store.keep_pending_assessment(vote(later.info.trace_id), 3600)
    assert sql_store.expire_pending_assessments() == 0
    assert sql_store.expire_pending_assessments(now_ms() + 61_000) == 2
    assert sql_store.expire_pending_assessments(now_ms() + 61_000) == 0
    assert sql_store.count_pending_assessments() == 1
    sql_store.log_traces([soon, later])
    assert sql_store.get_trace(soon.info.trace_id).info.assessments == []
    assert [a.assessment_id for a in sql_store.get_trace(later.info.trace_id).info.assessments
            ] == [kept.assessment_id]


def test_traces_written_while_votes_are_kept_miss_none(sql_store: SqlStore) -> None:
    # Votes and their traces race: whichever comes second, each vote ends up on its trace,
    # at once or (in a window of one commit on PostgreSQL) at the server's next sweep.
    traces = [make_trace(num_spans=1) for _ in range(150)]
    logged: list[str] = []
    kept: list[str] = []
    failures: list[BaseException] = []

    def keep() -> None:
        try:
            for trace in traces:
                try:
                    kept.append(sql_store.keep_pending_assessment(
                        vote(trace.info.trace_id), 3600).assessment_id or "")
                except AlreadyExistsError:
                    kept.append(sql_store.log_assessment(
                        vote(trace.info.trace_id)).assessment_id or "")
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    def log() -> None:
        try:
            for trace in traces:
                sql_store.log_traces([trace])
                logged.append(trace.info.trace_id)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=keep), threading.Thread(target=log)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    sql_store.attach_stored_pending_assessments()  # what the sweep does
    assert sql_store.count_pending_assessments() == 0
    for trace, assessment_id in zip(traces, kept, strict=True):
        stored = sql_store.get_trace(trace.info.trace_id).info.assessments
        assert [a.assessment_id for a in stored] == [assessment_id]


def test_signing_key_is_created_once_and_shared(sql_store: SqlStore,
                                               database_uri: str) -> None:
    key = sql_store.signing_key(FEEDBACK_TOKEN_PURPOSE)
    assert isinstance(key, bytes) and len(key) == 32
    assert sql_store.signing_key(FEEDBACK_TOKEN_PURPOSE) == key
    assert sql_store.signing_key("csrf") != key
    other = SqlStore(database_uri)
    try:
        assert other.signing_key(FEEDBACK_TOKEN_PURPOSE) == key
    finally:
        other.close()
    with pytest.raises(InvalidParameterError, match="purpose"):
        sql_store.signing_key("Not A Purpose")


def test_signing_key_created_at_once_by_two_processes_is_one(database_uri: str) -> None:
    stores = [SqlStore(database_uri) for _ in range(4)]
    keys: list[bytes] = []
    try:
        barrier = threading.Barrier(len(stores))

        def first_use(store: SqlStore) -> None:
            barrier.wait()
            keys.append(store.signing_key("race"))

        threads = [threading.Thread(target=first_use, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for store in stores:
            store.close()
    assert len(keys) == 4 and len(set(keys)) == 1


def test_create_feedback_token_signs_with_the_stored_key(sql_store: SqlStore) -> None:
    trace = make_trace()
    token = sql_store.create_feedback_token(trace.info.trace_id, names=["thumbs"],
                                            end_user_id="u1", expires_in=60)
    key = sql_store.signing_key(FEEDBACK_TOKEN_PURPOSE)
    claims = verify_token(key, token)
    assert (claims.trace_id, claims.names, claims.end_user_id, claims.experiment_id) == (
        trace.info.trace_id, ("thumbs",), "u1", None)
    assert 59_000 <= claims.expires_at_ms - now_ms() <= 60_000
    sql_store.log_traces([trace])
    stored_claims = verify_token(key, sql_store.create_feedback_token(trace.info.trace_id))
    assert stored_claims.experiment_id == "0" and stored_claims.names is None
    with pytest.raises(InvalidParameterError, match="expires_in"):
        sql_store.create_feedback_token(trace.info.trace_id, expires_in=31 * 86400)
    with pytest.raises(InvalidParameterError, match="trace_id"):
        sql_store.create_feedback_token("not-a-trace")


def test_a_pending_row_that_cannot_be_read_never_blocks_its_trace(
        sql_store: SqlStore, database_uri: str) -> None:
    trace = make_trace()
    kept = sql_store.keep_pending_assessment(vote(trace.info.trace_id), 3600)
    engine, _ = create_engine(database_uri)
    try:
        with engine.begin() as conn:
            conn.execute(pending_assessments.insert(), {
                "assessment_id": "a-" + "f" * 32, "trace_id": trace.info.trace_id,
                "payload": '{"assessment_name": "thumbs"}', "received_time_ms": now_ms(),
                "expires_time_ms": now_ms() + 60_000})
    finally:
        engine.dispose()
    assert sql_store.list_pending_assessments(trace.info.trace_id) == [kept]
    sql_store.log_traces([trace])
    assert [a.assessment_id for a in sql_store.get_trace(trace.info.trace_id).info.assessments
            ] == [kept.assessment_id]
    assert sql_store.count_pending_assessments() == 0


def _orphan(database_uri: str, trace_id: str, assessment: Feedback) -> None:
    """A pending row for a stored trace: what a trace written at the very moment its vote
    was kept leaves behind."""
    engine, _ = create_engine(database_uri)
    try:
        with engine.begin() as conn:
            conn.execute(pending_assessments.insert(), {
                "assessment_id": assessment.assessment_id, "trace_id": trace_id,
                "payload": json.dumps(assessment.to_dictionary()),
                "received_time_ms": now_ms(), "expires_time_ms": now_ms() + 60_000})
    finally:
        engine.dispose()


def test_what_a_trace_missed_is_attached_by_the_sweep(sql_store: SqlStore,
                                                      database_uri: str) -> None:
    trace = make_trace()
    sql_store.log_traces([trace])
    missed = dataclasses.replace(vote(trace.info.trace_id), assessment_id="a-" + "1" * 32)
    _orphan(database_uri, trace.info.trace_id, missed)
    sql_store.keep_pending_assessment(vote(new_trace_id()), 3600)  # still waiting: stays
    assert sql_store.attach_stored_pending_assessments() == 1
    assert sql_store.attach_stored_pending_assessments() == 0
    assert [a.assessment_id for a in sql_store.get_trace(trace.info.trace_id).info.assessments
            ] == [missed.assessment_id]
    assert sql_store.count_pending_assessments() == 1
