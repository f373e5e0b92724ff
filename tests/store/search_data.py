"""A small store for the search tests: five traces (t0-t4) chosen so that every operator on
every field has something to match and something to miss.

=====  ==========  =====  ====  ======  ===========  =======  =====  ====================
trace  status      time   exec  name    request id   session  user   notes
=====  ==========  =====  ====  ======  ===========  =======  =====  ====================
t0     OK          1000   10    alpha   req-a        s1       alice  run-1, env=prod
t1     ERROR       2000   20    beta    req-b        s1       bob    run-2, env=staging
t2     IN_PROGRESS 3000   -     -       -            -        -      no tags, no feedback
t3     OK          4000   40    gamma   REQ-C        s2       alice  env=Prod, overridden
t4     OK          5000   5     delta%_ req-%        s2       carol  env=prod, lists
=====  ==========  =====  ====  ======  ===========  =======  =====  ====================

Feedback: ``correct`` (t0 true, t1 false, t3 true overridden by false), ``score`` (t0 4,
t1 2.5, t4 5), ``rating`` (t0 the string "4", t1 the number 4), ``label`` (t0 "yes", t1
"no", t3 "YES", t4 the list ["a", "b"]), ``judge`` (t3: an error, no value), and the
session-level ``session_quality`` = "good" on session s2 (t3 and t4). Expectation
``answer`` = "42" on t0.
"""

from __future__ import annotations

from assay.entities import Expectation, Feedback, Span, SpanStatus, SpanStatusCode, TraceState
from assay.store.base import Store
from factories import make_span, make_trace

__all__ = ["ALL", "build", "tid"]

ALL = frozenset({"t0", "t1", "t2", "t3", "t4"})


def tid(label: str) -> str:
    """The trace id of ``t0`` … ``t4``: they end in their number, and none is all zeros
    (an id no trace may have)."""
    return f"tr-a{int(label[1:]):031x}"


def _spans(label: str, *specs: tuple[str, str, str, dict[str, object]],
           inputs: object = None) -> list[Span]:
    trace_id = tid(label)
    root_name, root_type, root_status, root_attrs = specs[0]
    root = make_span(trace_id, name=root_name, span_type=root_type,
                     status=SpanStatus(SpanStatusCode(root_status)), attributes=root_attrs,
                     inputs=inputs)
    children = [make_span(trace_id, parent_id=root.span_id, name=name, span_type=kind,
                          status=SpanStatus(SpanStatusCode(status)), attributes=attrs)
                for name, kind, status, attrs in specs[1:]]
    return [root, *children]


def build(store: Store) -> None:
    """Log t0-t4 and their assessments into experiment "0" of ``store``."""
    store.log_traces([
        make_trace(trace_id=tid("t0"), request_time=1000, execution_duration=10, name="alpha",
                   client_request_id="req-a", tags={"env": "prod", "team": "x'y"},
                   metadata={"mlflow.trace.session": "s1", "mlflow.trace.user": "alice",
                             "mlflow.sourceRun": "run-1", "model": "gpt-4"},
                   spans=_spans("t0", ("chain", "CHAIN", "OK", {}),
                                ("llm-call", "LLM", "OK",
                                 {"model": "gpt-4", "temperature": 0.5, "stream": True}),
                                inputs={"q": "hello world"})),
        make_trace(trace_id=tid("t1"), request_time=2000, execution_duration=20, name="beta",
                   state=TraceState.ERROR, client_request_id="req-b",
                   tags={"env": "staging", "emoji": "😀 ü"},
                   metadata={"mlflow.trace.session": "s1", "mlflow.trace.user": "bob",
                             "mlflow.sourceRun": "run-2", "model": "claude"},
                   spans=_spans("t1", ("chain", "CHAIN", "ERROR", {}),
                                ("retrieve", "RETRIEVER", "OK", {"top_k": 3, "a.b": "dot"}))),
        make_trace(trace_id=tid("t2"), request_time=3000, execution_duration=None, name=None,
                   state=TraceState.IN_PROGRESS, tags={"path": "C:\\dir"},
                   spans=_spans("t2", ("agent", "AGENT", "UNSET", {}))),
        make_trace(trace_id=tid("t3"), request_time=4000, execution_duration=40, name="gamma",
                   client_request_id="REQ-C", tags={"env": "Prod"},
                   metadata={"mlflow.trace.session": "s2", "mlflow.trace.user": "alice",
                             "model": "gpt-4o"},
                   spans=_spans("t3", ("chain", "CHAIN", "OK", {}),
                                ("llm-call", "TOOL", "OK", {}),
                                ("other", "LLM", "OK", {"model": "gpt-4o"}))),
        make_trace(trace_id=tid("t4"), request_time=5000, execution_duration=5,
                   name="delta%_x", client_request_id="req-%",
                   tags={"env": "prod", "dotted.key": "v.1"},
                   metadata={"mlflow.trace.session": "s2", "mlflow.trace.user": "carol"},
                   spans=_spans("t4", ("chain", "CHAIN", "OK", {}))),
    ])

    def feedback(label: str, name: str, value: object = None, **kwargs: object) -> str:
        logged = store.log_assessment(Feedback(name, value, trace_id=tid(label),
                                               **kwargs))  # type: ignore[arg-type]
        assert logged.assessment_id is not None
        return logged.assessment_id

    feedback("t0", "correct", True)
    feedback("t1", "correct", False)
    overridden = feedback("t3", "correct", True)
    feedback("t3", "correct", False, overrides=overridden)
    feedback("t0", "score", 4)
    feedback("t1", "score", 2.5)
    feedback("t4", "score", 5)
    feedback("t0", "rating", "4")
    feedback("t1", "rating", 4)
    feedback("t0", "label", "yes")
    feedback("t1", "label", "no")
    feedback("t3", "label", "YES")
    feedback("t4", "label", ["a", "b"])
    feedback("t3", "judge", error="the judge timed out")
    feedback("t3", "session_quality", "good", metadata={"mlflow.trace.session": "s2"})
    store.log_assessment(Expectation("answer", "42", trace_id=tid("t0")))
