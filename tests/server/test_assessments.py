"""Assessments over HTTP: log feedback and expectations, get, update, override, delete."""

from __future__ import annotations

from typing import Any

from factories import make_trace, new_trace_id
from server.live import Served


def _trace(served: Served, **kwargs: Any) -> str:
    trace = make_trace(**kwargs)
    served.store.log_traces([trace])
    return trace.info.trace_id


def _feedback(served: Served, trace_id: str, **body: Any) -> dict[str, Any]:
    response = served.http.post(f"/api/v1/traces/{trace_id}/feedback", json=body)
    assert response.status_code == 200, response.text
    assessment: dict[str, Any] = response.json()["assessment"]
    return assessment


def test_log_feedback_and_get_it(served: Served) -> None:
    trace_id = _trace(served)
    stored = _feedback(served, trace_id, name="user_feedback", value=True,
                       source={"source_type": "HUMAN", "source_id": "u1"},
                       rationale="helpful", metadata={"channel": "web", "stars": 5})
    assert stored["assessment_id"].startswith("a-")
    assert stored["feedback"] == {"value": True}
    assert stored["source"] == {"source_type": "HUMAN", "source_id": "u1"}
    assert stored["metadata"] == {"channel": "web", "stars": "5"}

    got = served.http.get(f"/api/v1/traces/{trace_id}/assessments/{stored['assessment_id']}")
    assert got.status_code == 200
    assert got.json()["assessment"] == stored
    (in_store,) = served.store.get_trace(trace_id).info.assessments
    assert in_store.value is True and in_store.source.source_id == "u1"


def test_log_feedback_with_an_error_on_a_span(served: Served) -> None:
    trace = make_trace()
    served.store.log_traces([trace])
    span_id = trace.data.spans[1].span_id
    stored = _feedback(served, trace.info.trace_id, name="judge", span_id=span_id,
                       error={"error_code": "TimeoutError", "error_message": "slow"})
    assert stored["span_id"] == span_id
    assert stored["feedback"]["error"]["error_code"] == "TimeoutError"


def test_idempotency_key_stores_once(served: Served) -> None:
    trace_id = _trace(served)
    first = _feedback(served, trace_id, value=1, idempotency_key="click-1")
    second = _feedback(served, trace_id, value=1, idempotency_key="click-1")
    assert first["assessment_id"] == second["assessment_id"]
    assert len(served.store.get_trace(trace_id).info.assessments) == 1


def test_log_expectation(served: Served) -> None:
    trace_id = _trace(served)
    response = served.http.post(f"/api/v1/traces/{trace_id}/expectations", json={
        "name": "expected_facts", "value": ["a", "b"]})
    assert response.status_code == 200, response.text
    assessment = response.json()["assessment"]
    assert assessment["source"]["source_type"] == "HUMAN"
    (stored,) = served.store.get_trace(trace_id).info.assessments
    assert stored.kind == "expectation" and stored.value == ["a", "b"]


def test_update_changes_only_the_fields_given(served: Served) -> None:
    trace_id = _trace(served)
    stored = _feedback(served, trace_id, name="quality", value=2, rationale="meh",
                       metadata={"a": "1"})
    url = f"/api/v1/traces/{trace_id}/assessments/{stored['assessment_id']}"
    response = served.http.patch(url, json={"value": 4, "metadata": {"b": "2"}})
    assert response.status_code == 200, response.text
    updated = response.json()["assessment"]
    assert updated["feedback"] == {"value": 4}
    assert updated["assessment_name"] == "quality"
    assert updated["rationale"] == "meh"
    assert updated["metadata"] == {"a": "1", "b": "2"}
    assert served.store.get_assessment(trace_id, stored["assessment_id"]).value == 4


def test_override_keeps_history(served: Served) -> None:
    trace_id = _trace(served)
    old = _feedback(served, trace_id, name="correct", value=False,
                    source={"source_type": "LLM_JUDGE", "source_id": "gpt"})
    response = served.http.post(
        f"/api/v1/traces/{trace_id}/assessments/{old['assessment_id']}/override",
        json={"value": True, "rationale": "the judge was wrong"})
    assert response.status_code == 200, response.text
    new = response.json()["assessment"]
    assert new["overrides"] == old["assessment_id"]
    assert new["assessment_name"] == "correct"
    assert new["source"]["source_type"] == "HUMAN"
    valid = {a.assessment_id: a.valid for a in served.store.get_trace(trace_id).info.assessments}
    assert valid == {old["assessment_id"]: False, new["assessment_id"]: True}


def test_override_of_an_expectation_is_400_and_writes_nothing(served: Served) -> None:
    trace_id = _trace(served)
    expectation = served.http.post(f"/api/v1/traces/{trace_id}/expectations",
                                   json={"name": "answer", "value": "42"}).json()["assessment"]
    response = served.http.post(
        f"/api/v1/traces/{trace_id}/assessments/{expectation['assessment_id']}/override",
        json={"value": "43"})
    assert response.status_code == 400
    assert expectation["assessment_id"] in response.json()["message"]
    assert len(served.store.get_trace(trace_id).info.assessments) == 1


def test_delete_is_idempotent_and_restores_what_it_overrode(served: Served) -> None:
    trace_id = _trace(served)
    old = _feedback(served, trace_id, value=False)
    new = served.http.post(
        f"/api/v1/traces/{trace_id}/assessments/{old['assessment_id']}/override",
        json={"value": True}).json()["assessment"]
    url = f"/api/v1/traces/{trace_id}/assessments/{new['assessment_id']}"
    assert served.http.delete(url).status_code == 200
    assert served.http.delete(url).status_code == 200
    (left,) = served.store.get_trace(trace_id).info.assessments
    assert left.assessment_id == old["assessment_id"] and left.valid


def test_unknown_ids_are_404_naming_them(served: Served) -> None:
    trace_id = _trace(served)
    missing_trace = new_trace_id()
    missing = "a-" + "0" * 32
    # Feedback and expectations on a trace not stored yet are kept for it (test_pending.py).
    cases = [
        served.http.get(f"/api/v1/traces/{missing_trace}/assessments/{missing}"),
        served.http.delete(f"/api/v1/traces/{missing_trace}/assessments/{missing}"),
    ]
    for response in cases:
        assert response.status_code == 404, response.text
        assert missing_trace in response.json()["message"]
    for response in (
        served.http.get(f"/api/v1/traces/{trace_id}/assessments/{missing}"),
        served.http.patch(f"/api/v1/traces/{trace_id}/assessments/{missing}",
                          json={"value": 1}),
        served.http.post(f"/api/v1/traces/{trace_id}/assessments/{missing}/override",
                         json={"value": 1}),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert missing in response.json()["message"]


def test_bad_assessments_are_400_and_write_nothing(served: Served) -> None:
    trace = make_trace()
    served.store.log_traces([trace])
    trace_id = trace.info.trace_id
    feedback_url = f"/api/v1/traces/{trace_id}/feedback"
    for body in (
        {"name": 7, "value": 1},                                # a name that is not a string
        {"name": "", "value": 1},                               # an empty name
        {"value": 1, "span_id": "xyz"},                         # a malformed span id
        {"value": 1, "span_id": "0123456789abcdef"},            # a span not in the trace
        {"value": 1, "source": {"source_type": "ROBOT"}},        # an unknown source type
        {"value": 1, "metadata": {"k": [1]}},                   # a metadata value not scalar
        {"value": 1, "rationale": "x" * 10_001},                # too long a rationale
        {"value": 1, "surprise": 1},                            # an unknown field
    ):
        response = served.http.post(feedback_url, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    expectation = served.http.post(f"/api/v1/traces/{trace_id}/expectations",
                                   json={"name": "n", "value": None})
    assert expectation.status_code == 400
    assert served.store.get_trace(trace_id).info.assessments == []


def test_bad_update_is_400_and_changes_nothing(served: Served) -> None:
    trace_id = _trace(served)
    expectation = served.http.post(f"/api/v1/traces/{trace_id}/expectations",
                                   json={"name": "answer", "value": "42"}).json()["assessment"]
    url = f"/api/v1/traces/{trace_id}/assessments/{expectation['assessment_id']}"
    for body in ({"error": {"error_code": "E"}}, {"name": ""}, {"value": None},
                 {"metadata": "x"}):
        response = served.http.patch(url, json=body)
        assert response.status_code == 400, (body, response.text)
    stored = served.store.get_assessment(trace_id, expectation["assessment_id"])
    assert (stored.name, stored.value) == ("answer", "42")
