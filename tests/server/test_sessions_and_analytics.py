"""Sessions and the feedback summary over HTTP."""

from __future__ import annotations

from assay.entities import Feedback
from factories import BASE_TIME_MS, make_trace
from server.live import Served


def _conversation(served: Served) -> list[str]:
    traces = [make_trace(request_time=BASE_TIME_MS + i,
                         metadata={"mlflow.trace.session": "s-1", "mlflow.trace.user": "u"})
              for i in range(2)]
    traces.append(make_trace(request_time=BASE_TIME_MS + 10,
                             metadata={"mlflow.trace.session": "s-2"}))
    served.store.log_traces(traces)
    return [t.info.trace_id for t in traces]


def test_search_sessions(served: Served) -> None:
    ids = _conversation(served)
    response = served.http.post("/api/v1/sessions/search",
                                json={"experiment_ids": ["0"], "include_spans": False})
    assert response.status_code == 200, response.text
    sessions = response.json()["sessions"]
    assert [s["session_id"] for s in sessions] == ["s-2", "s-1"]
    assert [t["info"]["trace_id"] for t in sessions[1]["traces"]] == ids[:2]
    paged = served.http.post("/api/v1/sessions/search",
                             json={"experiment_ids": ["0"], "max_results": 1}).json()
    assert len(paged["sessions"]) == 1 and paged["next_page_token"]


def test_bad_session_search_is_400(served: Served) -> None:
    for body in ({}, {"experiment_ids": ["0"], "max_results": -1},
                 {"experiment_ids": ["0"], "page_token": "bogus"}):
        response = served.http.post("/api/v1/sessions/search", json=body)
        assert response.status_code == 400, (body, response.text)


def test_feedback_summary(served: Served) -> None:
    ids = _conversation(served)
    for trace_id, value in zip(ids, (True, False), strict=False):
        served.store.log_assessment(Feedback(name="thumbs", value=value, trace_id=trace_id))
    response = served.http.post("/api/v1/analytics/feedback-summary", json={
        "experiment_ids": ["0"], "group_by": "session"})
    assert response.status_code == 200, response.text
    summary = response.json()["summary"]
    assert summary["overall"]["num_traces"] == 3
    assert summary["overall"]["num_traces_with_feedback"] == 2
    assert summary["group_by"] == "session"
    assert len(summary["groups"]) == 2


def test_bad_feedback_summary_is_400(served: Served) -> None:
    for body in ({"experiment_ids": ["0"], "time_bucket": "month"},
                 {"experiment_ids": ["0"], "filter_string": "feedback.x ="},
                 {"experiment_ids": ["0"], "group_by": "nonsense.field"}):
        response = served.http.post("/api/v1/analytics/feedback-summary", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
