"""Sessions (``assay.search_sessions``) and feedback on a whole session, on both backends."""

from __future__ import annotations

import time

import pytest

import assay
from assay import _runtime
from assay.entities import Session
from assay.errors import InvalidParameterError, NotFoundError
from runtimes import read_trace


@assay.trace
def chat(message: str, session_id: str, run_id: str | None = None,
         model_id: str | None = None) -> str:
    metadata = {"mlflow.sourceRun": run_id} if run_id else {}
    assay.update_current_trace(session_id=session_id, user="jane", metadata=metadata,
                               model_id=model_id)
    return f"reply to {message}"


def turn(message: str, session_id: str, **kwargs: str) -> str:
    # Each turn starts in a millisecond of its own, so that the order of turns is defined.
    start_ms = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 == start_ms:
        pass
    chat(message, session_id, **kwargs)
    trace_id = assay.get_last_active_trace_id()
    assert trace_id is not None
    return trace_id


def test_sessions_come_newest_first_with_their_turns_in_order(rt: _runtime.Runtime) -> None:
    a1 = turn("hi", "session-a")
    b1 = turn("hello", "session-b")
    a2 = turn("and then?", "session-a")
    c1 = turn("hey", "session-c")
    assay.trace(lambda: None)()  # a trace without a session is in none
    sessions = assay.search_sessions()
    assert [s.id for s in sessions] == ["session-c", "session-a", "session-b"]
    a = sessions[1]
    assert isinstance(a, Session) and len(a) == 2
    assert [t.info.trace_id for t in a] == [a1, a2]
    assert a[0].data.spans[0].inputs["message"] == "hi" and a[1].data.spans[0].name == "chat"
    assert sessions[2].traces[0].info.trace_id == b1
    assert sessions[0][0].info.trace_id == c1
    first_page = assay.search_sessions(max_results=2)
    assert [s.id for s in first_page] == ["session-c", "session-a"]
    assert [s.id for s in assay.search_sessions(max_results=2,
                                                page_token=first_page.token)] == ["session-b"]


def test_sessions_of_a_run_or_a_model(rt: _runtime.Runtime) -> None:
    turn("q1", "s-run", run_id="run-1")
    turn("q2", "s-run")
    turn("q3", "s-other", run_id="run-2", model_id="model-7")
    [of_run] = assay.search_sessions(run_id="run-1")
    assert of_run.id == "s-run" and len(of_run) == 2  # the whole session
    assert [s.id for s in assay.search_sessions(model_id="model-7")] == ["s-other"]
    assert assay.search_sessions(run_id="nope") == []


def test_sessions_of_other_experiments(rt: _runtime.Runtime) -> None:
    turn("q", "default-session")
    experiment = assay.set_experiment("support-bot")
    turn("q", "bot-session")
    assert [s.id for s in assay.search_sessions()] == ["bot-session"]
    assert [s.id for s in assay.search_sessions(locations=["0"])] == ["default-session"]
    both = assay.AssayClient().search_sessions([experiment.experiment_id, "0"])
    assert {s.id for s in both} == {"bot-session", "default-session"}


def test_feedback_on_a_whole_session(rt: _runtime.Runtime) -> None:
    first = turn("I need a refund", "conv-1")
    second = turn("It arrived broken", "conv-1")
    other = turn("hello", "conv-2")
    rating = assay.log_feedback(session_id="conv-1", name="conversation_rating", value=4,
                                source="HUMAN")
    assert rating.trace_id == first  # stored on the first turn
    assert rating.session_id == "conv-1"
    assert rating.metadata == {"mlflow.trace.session": "conv-1"}
    assert read_trace(first).info.assessments == [rating]
    assert read_trace(second).data.assessments == [rating]
    assert read_trace(other).info.assessments == []
    [session] = [s for s in assay.search_sessions() if s.id == "conv-1"]
    assert session.assessments == [rating]
    # MLflow's way: the metadata key on a trace of the session.
    resolved = assay.log_feedback(trace_id=second, name="resolved", value=True,
                                  metadata={"mlflow.trace.session": "conv-1"})
    assert read_trace(first).search_assessments("resolved") == [resolved]
    # Overridden and deleted through any trace of the session.
    better = assay.override_feedback(trace_id=second, assessment_id=str(rating.assessment_id),
                                     value=5)
    assert better.session_id == "conv-1" and better.trace_id == first
    assert read_trace(second).search_assessments("conversation_rating") == [better]
    assay.delete_assessment(second, str(better.assessment_id))
    assert read_trace(second).search_assessments("conversation_rating")[0].value == 4


def test_session_feedback_checks_its_session(rt: _runtime.Runtime) -> None:
    trace_id = turn("hi", "conv-1")
    with pytest.raises(InvalidParameterError, match="not part of that session"):
        assay.log_feedback(trace_id=trace_id, session_id="conv-2", value=1)
    with pytest.raises(InvalidParameterError, match="differs from session_id"):
        assay.log_feedback(session_id="conv-1", value=1,
                           metadata={"mlflow.trace.session": "conv-2"})
    with pytest.raises(NotFoundError, match="Session with ID 'conv-404' not found"):
        assay.log_feedback(session_id="conv-404", value=1)
    assert read_trace(trace_id).info.assessments == []
    expectation = assay.log_expectation(session_id="conv-1", name="goal", value="refund")
    assert read_trace(trace_id).info.assessments == [expectation]
