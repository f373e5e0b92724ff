"""What an experiment holds at a glance, on SQLite and PostgreSQL: trace counts, the newest
trace, traces with feedback (their own or their session's), assessment names, one span."""

from __future__ import annotations

import pytest

from assay.entities import AssessmentSource, Expectation, Feedback, Trace
from assay.entities.overview import AssessmentName, ExperimentStats
from assay.errors import NotFoundError
from assay.store.sql import SqlStore
from factories import BASE_TIME_MS, make_trace


def _session_trace(experiment_id: str, session: str, minute: int) -> Trace:
    return make_trace(experiment_id=experiment_id, request_time=BASE_TIME_MS + minute * 60_000,
                      metadata={"mlflow.trace.session": session})


def test_experiment_stats_count_traces_and_feedback(sql_store: SqlStore) -> None:
    store = sql_store
    app = store.create_experiment("app")
    other = store.create_experiment("other")
    traces = [make_trace(experiment_id=app, request_time=BASE_TIME_MS + i) for i in range(4)]
    session = [_session_trace(app, "s1", m) for m in (10, 11, 12)]
    store.log_traces([*traces, *session])
    store.log_traces([make_trace(experiment_id=other)])
    ids = [t.info.trace_id for t in traces]
    # Two feedbacks on one trace count it once; an overridden one does not count.
    store.log_assessment(Feedback(name="thumbs", value=True, trace_id=ids[0]))
    store.log_assessment(Feedback(name="stars", value=4, trace_id=ids[0]))
    old = store.log_assessment(Feedback(name="thumbs", value=False, trace_id=ids[1]))
    store.log_assessment(Feedback(name="thumbs", value=True, trace_id=ids[1],
                                  overrides=old.assessment_id))
    gone = store.log_assessment(Feedback(name="thumbs", value=False, trace_id=ids[2]))
    store.delete_assessment(ids[2], gone.assessment_id or "")
    # An expectation is not feedback.
    store.log_assessment(Expectation(name="expected", value="x", trace_id=ids[3]))
    # Feedback on the session counts for each of its three traces.
    store.log_assessment(Feedback(name="conversation", value=5,
                                  trace_id=session[0].info.trace_id,
                                  metadata={"mlflow.trace.session": "s1"},
                                  source=AssessmentSource("HUMAN", "u")))

    stats = store.get_experiment_stats([app, other, "424242", "not-an-id"])
    assert stats[app] == ExperimentStats(app, 7, BASE_TIME_MS + 12 * 60_000, 5)
    assert stats[app].feedback_rate == pytest.approx(5 / 7)
    assert stats[other].num_traces == 1
    assert stats[other].num_traces_with_feedback == 0
    assert stats["424242"] == ExperimentStats("424242", 0, None, 0)
    assert stats["424242"].feedback_rate is None
    assert stats["not-an-id"].num_traces == 0
    assert store.get_experiment_stats([]) == {}


def test_assessment_names_of_an_experiment(sql_store: SqlStore) -> None:
    store = sql_store
    app = store.create_experiment("app")
    other = store.create_experiment("other")
    trace = make_trace(experiment_id=app)
    store.log_traces([trace, make_trace(experiment_id=other, trace_id=None)])
    tid = trace.info.trace_id
    for name in ("zeta", "alpha", "alpha", "Beta"):
        store.log_assessment(Feedback(name=name, value=1, trace_id=tid))
    store.log_assessment(Expectation(name="expected_answer", value="x", trace_id=tid))
    old = store.log_assessment(Feedback(name="only_overridden", value=1, trace_id=tid))
    store.log_assessment(Feedback(name="replacement", value=2, trace_id=tid,
                                  overrides=old.assessment_id))
    # Only valid assessments name columns: the overridden one's name is gone.
    names = store.list_assessment_names(app)
    # In the database's name order (its collation decides where "Beta" goes).
    assert [n.name for n in names if n.name != "Beta"] == [
        "alpha", "expected_answer", "replacement", "zeta"]
    assert set(names) == {
        AssessmentName("feedback", "Beta"), AssessmentName("feedback", "alpha"),
        AssessmentName("expectation", "expected_answer"),
        AssessmentName("feedback", "replacement"), AssessmentName("feedback", "zeta")}
    assert len(names) == 5
    assert store.list_assessment_names(app, max_results=2) == names[:2]
    assert len(names[:2]) == 2
    assert store.list_assessment_names(other) == []
    assert store.list_assessment_names("nope") == []


def test_get_span(sql_store: SqlStore) -> None:
    trace = make_trace(num_spans=3)
    sql_store.log_traces([trace])
    wanted = trace.data.spans[1]
    assert sql_store.get_span(trace.info.trace_id, wanted.span_id) == wanted
    with pytest.raises(NotFoundError, match="Span 'ffffffffffffffff' not found in trace"):
        sql_store.get_span(trace.info.trace_id, "ffffffffffffffff")
    with pytest.raises(NotFoundError):
        sql_store.get_span(trace.info.trace_id, "'; drop table spans; --")
