"""Data the analytics pages' tests share: an experiment for the dashboard, one for the
sessions pages. Each function writes through the store of a test server and returns what
the tests look for."""

from __future__ import annotations

import json

from assay.entities import (
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
    TraceState,
)
from factories import BASE_TIME_MS, make_trace
from server.live import Served

DAY_MS = 86_400_000
MONDAY_MS = 1_736_157_600_000  # 2025-01-06T10:00:00Z
# Thumbs per trace (None: none); traces 10 and 11 have no feedback at all.
THUMBS = [True, True, True, False, True, False, False, False, True, False, None, None]
STARS = {0: 5, 1: 4, 3: 1, 6: 2}
ISSUES = {3: "wrong", 6: "wrong", 7: "slow"}


def human(source_id: str) -> AssessmentSource:
    """A person as the source of an assessment."""
    return AssessmentSource(AssessmentSourceType.HUMAN, source_id)


def seed_dashboard(served: Served) -> tuple[str, list[str]]:
    """Twelve traces over three days: users u1 (0-5), u2 (6-9) and none (10, 11); app
    versions v1 (0-5) and v2 (6-11); thumbs 5 up and 5 down; stars; issue categories."""
    store = served.store
    eid = store.create_experiment("shop-bot")
    traces = []
    for i in range(12):
        metadata = {"app_version": "v1" if i < 6 else "v2",
                    "environment": "prod" if i % 2 == 0 else "staging"}
        if i < 10:
            metadata["mlflow.trace.user"] = "u1" if i < 6 else "u2"
        when = MONDAY_MS + (0 if i < 4 else 2 * DAY_MS) + i * 60_000
        traces.append(make_trace(experiment_id=eid, request_time=when, metadata=metadata,
                                 request_preview=f"question {i}",
                                 response_preview=f"answer {i}"))
    store.log_traces(traces)
    ids = [t.info.trace_id for t in traces]
    for i, thumbs in enumerate(THUMBS):
        if thumbs is not None:
            store.log_assessment(Feedback(name="thumbs", value=thumbs, trace_id=ids[i],
                                          source=human(f"end-user-{i}")))
    for i, stars in STARS.items():
        store.log_assessment(Feedback(name="stars", value=stars, trace_id=ids[i]))
    for i, issue in ISSUES.items():
        store.log_assessment(Feedback(name="issue", value=issue, trace_id=ids[i]))
    # Expectations are not feedback: they change no figure.
    store.log_assessment(Expectation(name="expected", value="x", trace_id=ids[10]))
    return eid, ids


ODD_ID = "team/a b?c"  # a slash, a space and a question mark: all URL-encoded


def seed_sessions(served: Served) -> tuple[str, list[str]]:
    """Session s-1 (three turns by u1, a thumbs down with a comment on the second, the
    third failed, a session rating), session ODD_ID (one turn with chat messages as its
    request), and a trace outside any session."""
    store = served.store
    eid = store.create_experiment("chat")
    turns = [make_trace(experiment_id=eid, request_time=BASE_TIME_MS + i * 60_000,
                        execution_duration=1500,
                        metadata={"mlflow.trace.session": "s-1", "mlflow.trace.user": "u1"},
                        request_preview=f"Question {i + 1}?",
                        response_preview=None if i == 2 else f"Answer {i + 1}.",
                        state=TraceState.ERROR if i == 2 else TraceState.OK)
             for i in range(3)]
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello <there>"}]
    odd = make_trace(experiment_id=eid, request_time=BASE_TIME_MS + 3_600_000,
                     metadata={"mlflow.trace.session": ODD_ID, "mlflow.trace.user": "u2"},
                     request_preview=json.dumps(messages), response_preview="Hi.")
    loner = make_trace(experiment_id=eid, request_time=BASE_TIME_MS + 7_200_000)
    store.log_traces([*turns, odd, loner])
    ids = [t.info.trace_id for t in turns]
    store.log_assessment(Feedback(name="thumbs", value=True, trace_id=ids[0],
                                  source=human("u1")))
    store.log_assessment(Feedback(name="thumbs", value=False, trace_id=ids[1],
                                  rationale="Too vague", source=human("u1")))
    store.log_assessment(Feedback(name="conversation_rating", value=4, trace_id=ids[0],
                                  metadata={"mlflow.trace.session": "s-1"},
                                  source=human("u1")))
    return eid, [*ids, odd.info.trace_id]
