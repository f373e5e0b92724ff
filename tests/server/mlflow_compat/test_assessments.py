"""MLflow's assessment routes under Assay's rules: overrides keep history, updates follow the
update mask, deletion undoes an override, feedback for a trace not stored yet is kept."""

from __future__ import annotations

from typing import Any

import pytest

from server.live import Served
from server.mlflow_compat.conftest import V3, assert_mlflow_error, otlp_spans, send_spans

HEX = "feed" + "0" * 27 + "5"
TRACE_ID = f"tr-{HEX}"
ASSESSMENTS = f"{V3}/traces/{TRACE_ID}/assessments"


def _feedback(value: Any, **extra: Any) -> dict[str, Any]:
    """An assessment as the client's CreateAssessment carries it."""
    return {"assessment": {
        "assessment_name": "quality", "trace_id": TRACE_ID,
        "source": {"source_type": "LLM_JUDGE", "source_id": "judge"},
        "create_time": "2023-11-14T22:13:21.500Z", "last_update_time": "2023-11-14T22:13:21.500Z",
        "feedback": {"value": value}, **extra}}


@pytest.fixture
def trace_id(served: Served) -> str:
    send_spans(served, served.store.create_experiment("assess"), otlp_spans(HEX))
    return TRACE_ID


def test_create_get_override_update_delete(served: Served, trace_id: str) -> None:
    http = served.http
    created = http.post(ASSESSMENTS, json=_feedback(0.4, rationale="meh"))
    assert created.status_code == 200, created.text
    judged = created.json()["assessment"]
    assert judged["assessment_id"].startswith("a-")
    assert judged["feedback"] == {"value": 0.4}
    assert judged["create_time"] == "2023-11-14T22:13:21.500Z"  # the client's time is kept
    assert http.get(f"{ASSESSMENTS}/{judged['assessment_id']}").json() == created.json()

    # An override (what mlflow.override_feedback sends): the judged one stays, invalid.
    human = {"source_type": "HUMAN", "source_id": "ann"}
    override = http.post(ASSESSMENTS, json=_feedback(
        0.9, source=human, overrides=judged["assessment_id"], valid=True)).json()["assessment"]
    assert override["overrides"] == judged["assessment_id"] and override["valid"] is True
    history = {a.assessment_id: a for a in served.store.get_trace(trace_id).info.assessments}
    assert history[judged["assessment_id"]].valid is False

    # An update in place, of the masked fields only.
    updated = http.patch(f"{ASSESSMENTS}/{override['assessment_id']}", json={
        "assessment": {"assessment_id": override["assessment_id"], "trace_id": trace_id,
                       "assessment_name": "ignored", "rationale": "checked twice",
                       "feedback": {"value": 1.0}},
        "update_mask": "feedback,rationale"}).json()["assessment"]
    assert updated["feedback"] == {"value": 1.0}
    assert updated["rationale"] == "checked twice"
    assert updated["assessment_name"] == "quality"
    renamed = http.patch(f"{ASSESSMENTS}/{override['assessment_id']}", json={
        "assessment": {"assessment_name": "accuracy", "metadata": {"k": "v"}},
        "update_mask": {"paths": ["assessment_name", "metadata"]}}).json()["assessment"]
    assert renamed["assessment_name"] == "accuracy" and renamed["metadata"] == {"k": "v"}
    assert renamed["feedback"] == {"value": 1.0}

    # Deleting the override makes the judged one valid again; deleting twice is fine.
    for _ in range(2):
        deleted = http.request("DELETE", f"{ASSESSMENTS}/{override['assessment_id']}",
                               json={"trace_id": trace_id,
                                     "assessment_id": override["assessment_id"]})
        assert deleted.status_code == 200 and deleted.json() == {}
    left = served.store.get_trace(trace_id).info.assessments
    assert [(a.assessment_id, a.valid) for a in left] == [(judged["assessment_id"], True)]


def test_an_expectation_with_a_serialized_value(served: Served, trace_id: str) -> None:
    body = {"assessment": {
        "assessment_name": "expected_facts", "trace_id": trace_id,
        "source": {"source_type": "HUMAN", "source_id": "ann"},
        "expectation": {"serialized_value": {"serialization_format": "JSON_FORMAT",
                                             "value": '["a","b"]'}}}}
    created = served.http.post(ASSESSMENTS, json=body).json()["assessment"]
    assert served.store.get_assessment(trace_id, created["assessment_id"]).value == ["a", "b"]
    assert created["expectation"] == body["assessment"]["expectation"]


def test_feedback_before_its_trace_is_kept_and_attached(served: Served) -> None:
    created = served.http.post(ASSESSMENTS, json=_feedback(True))
    assert created.status_code == 200, created.text
    assessment_id = created.json()["assessment"]["assessment_id"]
    send_spans(served, served.store.create_experiment("later"), otlp_spans(HEX))
    stored = served.store.get_trace(TRACE_ID).info.assessments
    assert [a.assessment_id for a in stored] == [assessment_id]


def test_the_path_names_the_trace(served: Served, trace_id: str) -> None:
    body = _feedback(1)
    body["assessment"]["trace_id"] = "tr-" + "7" * 32
    created = served.http.post(ASSESSMENTS, json=body).json()["assessment"]
    assert created["trace_id"] == trace_id


@pytest.mark.parametrize(("body", "words"), [
    ({}, ["assessment"]),
    ({"assessment": {"assessment_name": "q"}}, ["feedback"]),
    ({"assessment": {"assessment_name": "q", "feedback": {"value": 1},
                     "source": {"source_type": "ROBOT"}}}, ["ROBOT"]),
    ({"assessment": {"assessment_name": "", "feedback": {"value": 1}}}, ["name"]),
    ({"assessment": {"assessment_name": "q", "feedback": {"value": 1},
                     "span_id": "not-a-span"}}, ["span"]),
    ({"assessment": {"assessment_name": "q", "feedback": {"value": 1},
                     "overrides": "a-" + "0" * 32}}, ["a-" + "0" * 32]),
])
def test_a_bad_create_is_a_4xx_and_stores_nothing(served: Served, trace_id: str,
                                                   body: dict[str, Any],
                                                   words: list[str]) -> None:
    response = served.http.post(ASSESSMENTS, json=body)
    assert 400 <= response.status_code < 500, response.text
    for word in words:
        assert word in response.json()["message"], response.text
    assert served.store.get_trace(trace_id).info.assessments == []


def test_a_bad_update_is_400_and_changes_nothing(served: Served, trace_id: str) -> None:
    created = served.http.post(ASSESSMENTS, json=_feedback(0.5)).json()["assessment"]
    path = f"{ASSESSMENTS}/{created['assessment_id']}"
    for body, words in (
            ({"assessment": {"rationale": "x"}, "update_mask": "valid"}, ["valid"]),
            ({"assessment": {}, "update_mask": "feedback"}, ["feedback"]),
            ({"assessment": {"feedback": {"value": 2}}, "update_mask": {"paths": "x"}},
             ["update_mask"]),
            ({"assessment": {"metadata": "x"}, "update_mask": "metadata"}, ["metadata"]),
            ({"assessment": {"expectation": {"value": 1}}, "update_mask": "expectation"},
             ["feedback", "kind"])):
        assert_mlflow_error(served.http.patch(path, json=body), 400,
                            "INVALID_PARAMETER_VALUE", *words)
    stored = served.store.get_assessment(trace_id, created["assessment_id"])
    assert stored.value == 0.5 and stored.rationale is None
    missing = served.http.patch(f"{ASSESSMENTS}/a-{'0' * 32}",
                                json={"assessment": {"rationale": "x"},
                                      "update_mask": "rationale"})
    assert_mlflow_error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
