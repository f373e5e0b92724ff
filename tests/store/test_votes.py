"""End users' votes in the SQL store (SQLite and PostgreSQL): one valid per voter, trace and
name, stored or pending. (Votes sent at the same moment: tests/server/test_concurrent_votes.py.)"""

from __future__ import annotations

import dataclasses
import json

import pytest

from assay.entities import AssessmentSource, AssessmentSourceType, Feedback, Trace
from assay.entities._time import now_ms
from assay.entities.assessment import new_assessment_id
from assay.errors import InvalidParameterError
from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine
from assay.store.sql.schema import pending_assessments
from factories import make_trace, new_trace_id


def vote(trace_id: str, value: object = True, user: str = "alice",
         name: str = "thumbs") -> Feedback:
    return Feedback(name=name, value=value, trace_id=trace_id,
                    source=AssessmentSource(AssessmentSourceType.HUMAN, user))


def on_span(feedback: Feedback, trace: Trace) -> Feedback:
    return dataclasses.replace(feedback, span_id=trace.data.spans[0].span_id)


def valid_ids(store: SqlStore, trace_id: str) -> set[str | None]:
    return {a.assessment_id for a in store.get_trace(trace_id).info.assessments if a.valid}


def test_a_vote_overrides_only_the_voters_vote_of_that_name(sql_store: SqlStore) -> None:
    trace = make_trace()
    sql_store.log_traces([trace])
    trace_id = trace.info.trace_id
    first, pending = sql_store.log_vote(vote(trace_id), 3600)
    assert pending is False and first.overrides is None
    bob, _ = sql_store.log_vote(vote(trace_id, user="bob"), 3600)
    comment, _ = sql_store.log_vote(vote(trace_id, "meh", name="comment"), 3600)
    judge = sql_store.log_assessment(Feedback("thumbs", False, trace_id=trace_id))
    of_span = sql_store.log_assessment(on_span(vote(trace_id), trace))

    second, _ = sql_store.log_vote(vote(trace_id, False), 3600)

    assert second.overrides == first.assessment_id
    assert valid_ids(sql_store, trace_id) == {
        second.assessment_id, bob.assessment_id, comment.assessment_id,
        judge.assessment_id, of_span.assessment_id}


def test_valid_votes_left_side_by_side_are_made_invalid_by_the_next_vote(
        sql_store: SqlStore) -> None:
    # What simultaneous votes left before they took turns: the same voter's votes, all valid.
    trace = make_trace()
    sql_store.log_traces([trace])
    trace_id = trace.info.trace_id
    raced = [sql_store.log_assessment(vote(trace_id, n)) for n in range(3)]
    assert len(valid_ids(sql_store, trace_id)) == 3

    latest, _ = sql_store.log_vote(vote(trace_id, 9), 3600)

    assert latest.overrides == raced[-1].assessment_id
    assert valid_ids(sql_store, trace_id) == {latest.assessment_id}


def test_a_vote_before_its_trace_is_kept_and_overrides_the_kept_one(
        sql_store: SqlStore) -> None:
    trace = make_trace()
    trace_id = trace.info.trace_id
    first, pending = sql_store.log_vote(vote(trace_id), 3600)
    second, pending_again = sql_store.log_vote(vote(trace_id, False), 3600)
    assert (pending, pending_again) == (True, True)
    assert second.overrides == first.assessment_id

    sql_store.log_traces([trace])
    third, pending_now = sql_store.log_vote(vote(trace_id, True), 3600)

    assert pending_now is False and third.overrides == second.assessment_id
    assert valid_ids(sql_store, trace_id) == {third.assessment_id}


def test_a_kept_vote_attached_after_the_one_it_overrides_makes_it_invalid(
        sql_store: SqlStore, database_uri: str) -> None:
    # On PostgreSQL a vote can be kept, overriding a kept one, while the trace's transaction
    # attaches that one without seeing the new vote: it is attached later, by itself.
    trace = make_trace()
    trace_id = trace.info.trace_id
    first, _ = sql_store.log_vote(vote(trace_id), 3600)
    sql_store.log_traces([trace])
    assert valid_ids(sql_store, trace_id) == {first.assessment_id}
    late = Feedback("thumbs", False, trace_id=trace_id, overrides=first.assessment_id,
                    source=AssessmentSource(AssessmentSourceType.HUMAN, "alice"),
                    assessment_id=new_assessment_id())
    engine, _ = create_engine(database_uri)
    with engine.begin() as conn:  # the row the racing keeper committed
        conn.execute(pending_assessments.insert(), {
            "assessment_id": late.assessment_id, "trace_id": trace_id,
            "payload": json.dumps(late.to_dictionary()), "received_time_ms": now_ms(),
            "expires_time_ms": now_ms() + 60_000})
    engine.dispose()

    assert sql_store.attach_stored_pending_assessments() == 1

    assert valid_ids(sql_store, trace_id) == {late.assessment_id}


@pytest.mark.parametrize("source", [
    AssessmentSource(AssessmentSourceType.CODE, "alice"),
    AssessmentSource(AssessmentSourceType.HUMAN, None),
])
def test_a_vote_must_be_a_human_with_an_id(sql_store: SqlStore,
                                           source: AssessmentSource) -> None:
    trace_id = new_trace_id()
    with pytest.raises(InvalidParameterError, match="source"):
        sql_store.log_vote(Feedback("thumbs", True, trace_id=trace_id, source=source), 3600)
    assert sql_store.count_pending_assessments() == 0


def test_a_vote_is_about_a_whole_trace(sql_store: SqlStore) -> None:
    trace = make_trace()
    sql_store.log_traces([trace])
    with pytest.raises(InvalidParameterError, match="span_id"):
        sql_store.log_vote(on_span(vote(trace.info.trace_id), trace), 3600)
    assert sql_store.get_trace(trace.info.trace_id).info.assessments == []
