"""The assessment API of the SDK (``assay.log_feedback`` …, ``AssayClient``), on both backends."""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import assay
from assay import _runtime
from assay.client import AssayClient, MlflowClient
from assay.entities import (
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
    Trace,
)
from assay.errors import InvalidParameterError, NotFoundError
from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine
from assay.tracing.live_span import NO_OP_TRACE_ID
from conftest import Backend
from factories import make_trace, new_span_id, new_trace_id
from locks import writes_blocked
from runtimes import read_trace

HUMAN = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="enduser_123")


@assay.trace
def my_chatbot(question: str) -> str:
    return f"An answer to {question}"


def traced_call() -> str:
    my_chatbot("What is MLflow?")
    trace_id = assay.get_last_active_trace_id()
    assert trace_id is not None
    return trace_id


# -- the example -----------------------------------------------------------------

def test_feedback_right_after_the_traced_call_needs_no_flush(rt: _runtime.Runtime) -> None:
    trace_id = traced_call()
    logged = assay.log_feedback(
        trace_id=trace_id, name="user_feedback", value=False,
        rationale="Missing details about key features", source=HUMAN)
    trace = read_trace(trace_id)
    assert trace.data.assessments == [logged]
    assert trace.info.assessments == [logged]
    [feedback] = trace.data.assessments
    assert isinstance(feedback, Feedback)
    assert feedback.value is False and feedback.name == "user_feedback"
    assert feedback.source == HUMAN and feedback.trace_id == trace_id
    assert feedback.rationale == "Missing details about key features"


def test_feedback_waits_for_a_trace_still_queued_for_export(rt: _runtime.Runtime,
                                                            backend: Backend) -> None:
    rt.store()  # opened before the lock
    with writes_blocked(backend.database_uri, "traces"):
        trace_id = traced_call()
        assert rt.exporter.is_pending(trace_id)  # the export cannot write yet
        logged: list[Feedback] = []

        def log() -> None:
            logged.append(assay.log_feedback(trace_id=trace_id, name="thumbs", value=True))

        writer = threading.Thread(target=log)
        writer.start()
        writer.join(timeout=0.3)
        assert writer.is_alive() and not logged  # waiting for the trace, not failing
    writer.join(timeout=30)
    assert len(logged) == 1
    assert not rt.exporter.is_pending(trace_id)
    assert read_trace(trace_id).info.assessments == logged


def test_a_client_on_another_store_logs_there(rt: _runtime.Runtime, tmp_path: Path) -> None:
    other_uri = f"sqlite:///{tmp_path / 'other.db'}"
    other = SqlStore(other_uri)
    try:
        trace_id = traced_call()
        read_trace(trace_id)
        elsewhere = make_trace()
        other.log_traces([elsewhere])
        client = AssayClient(tracking_uri=other_uri)
        logged = client.log_feedback(trace_id=elsewhere.info.trace_id, value=1)
        assert other.get_trace(elsewhere.info.trace_id).info.assessments == [logged]
        with pytest.raises(NotFoundError, match=trace_id):
            client.log_feedback(trace_id=trace_id, value=1)
    finally:
        other.close()


# -- assessments of a running trace ------------------------------------------------------

def test_feedback_inside_the_running_trace_is_written_with_it(rt: _runtime.Runtime,
                                                              backend: Backend) -> None:
    outside = SqlStore(backend.database_uri)
    seen: dict[str, Any] = {}

    @assay.trace
    def answer(question: str) -> str:
        span = assay.get_current_active_span()
        assert span is not None
        trace_id = span.trace_id
        first = assay.log_feedback(trace_id=trace_id, name="guard", value=0.9,
                                   span_id=span.span_id)
        assert first.assessment_id is not None
        assert assay.get_assessment(trace_id, first.assessment_id) == first
        expected = assay.log_expectation(trace_id=trace_id, name="expected", value="Paris")
        with pytest.raises(NotFoundError):  # not written yet: kept with the trace
            outside.get_trace(trace_id)
        seen.update(trace_id=trace_id, first=first, expected=expected)
        return "Paris"

    try:
        answer("Capital of France?")
        trace = read_trace(seen["trace_id"])
        assert trace.info.assessments == [seen["first"], seen["expected"]]
        assert trace.info.assessments[0].span_id == trace.data.spans[0].span_id
        assert outside.get_trace(seen["trace_id"]).info.assessments == trace.info.assessments
    finally:
        outside.close()


def test_every_rule_holds_inside_a_running_trace(rt: _runtime.Runtime) -> None:
    ids: dict[str, str] = {}
    with assay.start_span("conversation") as span:
        trace_id = span.trace_id
        a = assay.log_feedback(trace_id=trace_id, name="q", value=1, metadata={"x": "1"},
                               idempotency_key="once")
        again = assay.log_feedback(trace_id=trace_id, name="q", value=99,
                                   idempotency_key="once")
        assert again == a
        b = assay.override_feedback(trace_id=trace_id, assessment_id=str(a.assessment_id),
                                    value=2)
        c = assay.override_feedback(trace_id=trace_id, assessment_id=str(b.assessment_id),
                                    value=3, rationale="final")
        assay.update_assessment(trace_id, str(c.assessment_id),
                                Feedback(name="q", value=4, metadata={"y": "2"}))
        assay.delete_assessment(trace_id, str(b.assessment_id))  # spliced out
        with pytest.raises(InvalidParameterError, match="no span"):
            assay.log_feedback(trace_id=trace_id, value=1, span_id=new_span_id())
        ids.update(a=str(a.assessment_id), c=str(c.assessment_id))
    got = read_trace(trace_id).info.assessments
    assert [(x.assessment_id, x.value, x.valid, x.overrides) for x in got] == [
        (ids["a"], 1, False, None), (ids["c"], 4, True, ids["a"])]
    assert got[1].rationale == "final" and got[1].metadata == {"y": "2"}
    assert got[1].source.source_type is AssessmentSourceType.HUMAN


def test_a_span_that_is_not_recorded_makes_logging_a_no_op(rt: _runtime.Runtime) -> None:
    assay.tracing.disable()
    try:
        with assay.start_span("off") as span:
            assert span.trace_id == NO_OP_TRACE_ID
            feedback = assay.log_feedback(trace_id=span.trace_id, name="x", value=True)
            expectation = assay.log_expectation(trace_id=span.trace_id, name="y", value=1)
    finally:
        assay.tracing.enable()
    assert feedback.assessment_id is None and feedback.trace_id == NO_OP_TRACE_ID
    assert expectation.assessment_id is None
    assay.delete_assessment(NO_OP_TRACE_ID, "a-" + "0" * 32)
    overridden = assay.override_feedback(trace_id=NO_OP_TRACE_ID,
                                         assessment_id="a-" + "0" * 32, value=False)
    assert overridden.assessment_id is None
    assert len(AssayClient().search_traces(["0"])) == 0


# -- many at once ------------------------------------------------------------------------

def test_fifty_threads_giving_feedback_on_one_trace_all_land(rt: _runtime.Runtime) -> None:
    trace_id = traced_call()
    errors: list[BaseException] = []
    start = threading.Barrier(50)

    def vote(i: int) -> None:
        start.wait()
        try:
            assay.log_feedback(trace_id=trace_id, name="thumbs", value=i % 2 == 0,
                               source=AssessmentSource("HUMAN", f"user-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=vote, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    found = read_trace(trace_id).search_assessments("thumbs")
    assert len(found) == 50
    assert {a.source.source_id for a in found} == {f"user-{i}" for i in range(50)}
    assert sum(a.value is True for a in found) == 25


def test_feedback_racing_the_end_of_its_trace_is_never_lost(rt: _runtime.Runtime) -> None:
    # The app hands each trace id to a rater thread while the trace is still running, so
    # the rater's feedback lands at every moment of the trace's life: running, ending,
    # queued, being written, written.
    ids: queue.Queue[str | None] = queue.Queue()
    logged: list[Feedback] = []
    errors: list[BaseException] = []

    def rater() -> None:
        while (trace_id := ids.get()) is not None:
            try:
                logged.append(assay.log_feedback(trace_id=trace_id, name="r", value=1))
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=rater)
    thread.start()
    trace_ids = []
    for i in range(150):
        with assay.start_span(f"turn-{i}") as span:
            trace_ids.append(span.trace_id)
            ids.put(span.trace_id)
    ids.put(None)
    thread.join(timeout=60)
    assert errors == []
    assert len(logged) == 150
    page = AssayClient().search_traces(["0"], max_results=500, include_spans=False)
    assert len(page) == 150
    assert all(len(trace.info.assessments) == 1 for trace in page)


def test_a_retried_call_with_an_idempotency_key_stores_one(rt: _runtime.Runtime) -> None:
    trace_id = traced_call()
    first = assay.log_feedback(trace_id=trace_id, name="vote", value=True,
                               idempotency_key="req-42")
    retry = assay.log_feedback(trace_id=trace_id, name="vote", value=True,
                               idempotency_key="req-42")
    assert retry == first
    expectation = assay.log_expectation(trace_id=trace_id, name="answer", value="Paris",
                                        idempotency_key="req-43")
    assert assay.log_expectation(trace_id=trace_id, name="answer", value="Paris",
                                 idempotency_key="req-43") == expectation
    assert len(read_trace(trace_id).info.assessments) == 2


# -- the lifecycle -----------------------------------------------------------------------

def test_override_defaults_to_a_human_source_and_keeps_history(rt: _runtime.Runtime) -> None:
    trace_id = traced_call()
    judge = AssessmentSource("LLM_JUDGE", "openai:/gpt-4o-mini")
    original = assay.log_feedback(trace_id=trace_id, name="correct", value=False,
                                  source=judge, span_id=read_trace(trace_id).data.spans[0].span_id)
    corrected = assay.override_feedback(trace_id=trace_id,
                                        assessment_id=str(original.assessment_id),
                                        value=True, rationale="The judge missed it")
    assert corrected.source == AssessmentSource(AssessmentSourceType.HUMAN, "default")
    assert corrected.name == "correct" and corrected.span_id == original.span_id
    assert corrected.overrides == original.assessment_id
    trace = read_trace(trace_id)
    assert [a.valid for a in trace.info.assessments] == [False, True]
    assert trace.search_assessments("correct") == [corrected]
    assert assay.get_assessment(trace_id, str(original.assessment_id)).valid is False
    assay.delete_assessment(trace_id, str(corrected.assessment_id))
    assert read_trace(trace_id).search_assessments("correct") == [
        assay.get_assessment(trace_id, str(original.assessment_id))]
    assert assay.get_assessment(trace_id, str(original.assessment_id)).valid is True


def test_only_feedback_can_be_overridden(rt: _runtime.Runtime) -> None:
    trace_id = traced_call()
    expected = assay.log_expectation(trace_id=trace_id, name="answer", value="Paris")
    with pytest.raises(InvalidParameterError, match="is not a feedback assessment"):
        assay.override_feedback(trace_id=trace_id, assessment_id=str(expected.assessment_id),
                                value="Lyon")


def test_update_in_place_through_the_client(rt: _runtime.Runtime) -> None:
    client = MlflowClient()
    trace_id = traced_call()
    logged = client.log_feedback(trace_id=trace_id, name="rating", value=3,
                                 metadata={"ui": "stars"}, source="human")
    updated = client.update_assessment(trace_id, str(logged.assessment_id),
                                       Feedback(name="rating", value=5, metadata={"v": "2"}))
    assert updated.value == 5 and updated.metadata == {"ui": "stars", "v": "2"}
    assert updated.source == AssessmentSource("HUMAN", "default")
    assert client.get_assessment(trace_id, str(logged.assessment_id)) == updated
    with pytest.raises(InvalidParameterError, match="Cannot update expectation value"):
        client.update_assessment(trace_id, str(logged.assessment_id),
                                 Expectation("rating", 1))


def test_log_assessment_takes_assessment_objects(rt: _runtime.Runtime) -> None:
    trace_id = traced_call()
    expectation = Expectation(name="expected_response", value={"answer": "Paris"},
                              metadata={"mlflow.assessment.sourceRunId": "run-1"})
    logged = assay.log_assessment(trace_id, expectation)
    assert isinstance(logged, Expectation)
    assert logged.run_id == "run-1" and logged.trace_id == trace_id
    failed = assay.log_assessment(trace_id, Feedback(
        name="judge", error=AssessmentError("RATE_LIMIT_EXCEEDED", "try later"),
        source=AssessmentSourceType.LLM_JUDGE))
    assert isinstance(failed, Feedback) and failed.error_code == "RATE_LIMIT_EXCEEDED"
    trace = read_trace(trace_id)
    assert trace.search_assessments(type="expectation") == [logged]
    assert trace.search_assessments(type="feedback") == [failed]
    assert Trace.from_dict(trace.to_dict()).info.assessments == [logged, failed]


# -- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"value": object()}, "value"),
    ({"value": {1, 2}}, "value"),
    ({"value": float("nan")}, "value"),
    ({"value": {"a": [1, b"bytes"]}}, r"value\['a'\]\[1\]"),
    ({"value": {1: "int key"}}, "value"),
    ({"rationale": "x" * 10_001}, "rationale"),
    ({"metadata": {"k": ["not", "a", "string"]}}, r"metadata\['k'\]"),
    ({"metadata": {"": "v"}}, "metadata key"),
    ({"metadata": "k=v"}, "metadata"),
    ({"span_id": "not-a-span"}, "span_id"),
])
def test_bad_feedback_is_refused_naming_the_field(rt: _runtime.Runtime, kwargs: dict[str, Any],
                                                  field: str) -> None:
    trace_id = traced_call()
    with pytest.raises(ValueError, match=f"Invalid {field}"):
        assay.log_feedback(trace_id=trace_id, **{"value": True, **kwargs})
    assert read_trace(trace_id).info.assessments == []


def test_an_expectation_needs_a_value(rt: _runtime.Runtime) -> None:
    trace_id = traced_call()
    with pytest.raises(ValueError, match="Invalid value of expectation 'answer'"):
        assay.log_expectation(trace_id=trace_id, name="answer", value=None)
    assert read_trace(trace_id).info.assessments == []


def test_a_wrong_source_type_lists_the_allowed_ones(rt: _runtime.Runtime) -> None:
    trace_id = traced_call()
    with pytest.raises(ValueError, match="expected one of HUMAN, LLM_JUDGE, CODE"):
        assay.log_feedback(trace_id=trace_id, value=True, source="ROBOT")
    with pytest.raises(ValueError, match=r"'ROBOT'.*HUMAN, LLM_JUDGE, CODE"):
        AssessmentSource(source_type="ROBOT", source_id="r2d2")


def test_unknown_ids_are_not_found_and_named(rt: _runtime.Runtime) -> None:
    missing_trace = new_trace_id()
    with pytest.raises(NotFoundError, match=f"Trace with ID '{missing_trace}' not found"):
        assay.log_feedback(trace_id=missing_trace, value=True)
    with pytest.raises(LookupError, match=missing_trace):
        assay.get_assessment(missing_trace, "a-" + "0" * 32)
    trace_id = traced_call()
    missing = "a-" + "9" * 32
    with pytest.raises(NotFoundError, match=f"Assessment with ID '{missing}' not found"):
        assay.get_assessment(trace_id, missing)
    with pytest.raises(NotFoundError, match=missing):
        assay.override_feedback(trace_id=trace_id, assessment_id=missing, value=1)
    with pytest.raises(NotFoundError, match=missing):
        assay.update_assessment(trace_id, missing, Feedback(value=1))
    assay.delete_assessment(trace_id, missing)  # idempotent


def test_a_span_of_another_trace_is_a_clear_error(rt: _runtime.Runtime) -> None:
    trace_id = traced_call()
    other_span = read_trace(traced_call()).data.spans[0].span_id
    with pytest.raises(InvalidParameterError,
                       match=f"span_id '{other_span}': trace '{trace_id}' has no span"):
        assay.log_feedback(trace_id=trace_id, value=True, span_id=other_span)


def test_log_feedback_needs_a_trace_or_a_session(rt: _runtime.Runtime) -> None:
    with pytest.raises(ValueError, match="trace_id"):
        assay.log_feedback(value=True)


def test_the_numeric_projection_is_what_sql_aggregates(rt: _runtime.Runtime,
                                                       backend: Backend) -> None:
    trace_id = traced_call()
    for value in (True, False, True, 4, "text"):
        assay.log_feedback(trace_id=trace_id, name="mixed", value=value)
    first = assay.log_feedback(trace_id=trace_id, name="stars", value=1)
    assay.override_feedback(trace_id=trace_id, assessment_id=str(first.assessment_id),
                            value=5)
    engine, _ = create_engine(backend.database_uri)
    try:
        with engine.connect() as conn:
            average = conn.execute(sa.text(
                "SELECT name, AVG(numeric_value) FROM assessments WHERE valid "
                "GROUP BY name ORDER BY name")).all()
    finally:
        engine.dispose()
    assert [(name, float(avg)) for name, avg in average] == [("mixed", 1.5), ("stars", 5.0)]
