"""The assessment entities: MLflow's constructors and JSON form, and the checks they make."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
    Trace,
    TraceInfo,
)
from assay.entities import assessment as assessment_module
from assay.errors import InvalidParameterError
from factories import make_trace, new_span_id, new_trace_id
from store.test_assessments import same_json


def test_mlflow_defaults() -> None:
    feedback = Feedback()
    assert feedback.name == "feedback" and feedback.value is None
    assert feedback.source == AssessmentSource(AssessmentSourceType.CODE, "default")
    assert feedback.valid is True and feedback.metadata == {}
    assert feedback.create_time_ms == feedback.last_update_time_ms > 0
    expectation = Expectation("expected_response", "Paris")
    assert expectation.source == AssessmentSource(AssessmentSourceType.HUMAN, "default")
    assert expectation.feedback is None and expectation.expectation is not None
    assert expectation.expectation.value == "Paris"
    assert Feedback(value=1).feedback.value == 1


def test_source_types_in_any_case_and_nothing_else() -> None:
    assert AssessmentSource("human", "u").source_type is AssessmentSourceType.HUMAN
    assert AssessmentSource(" Llm_Judge ").source_type is AssessmentSourceType.LLM_JUDGE
    assert AssessmentSource(AssessmentSourceType.CODE).source_type == "CODE"
    with pytest.warns(FutureWarning, match="AI_JUDGE") as warned:
        assert AssessmentSource("AI_JUDGE").source_type is AssessmentSourceType.LLM_JUDGE
        assert Feedback(source="ai_judge").source.source_type is AssessmentSourceType.LLM_JUDGE
    assert [w.filename for w in warned] == [__file__, __file__]  # the caller's lines
    for bad in ("ROBOT", "", 3, None):
        with pytest.raises(InvalidParameterError, match="HUMAN, LLM_JUDGE, CODE"):
            AssessmentSource(bad)  # type: ignore[arg-type]
    assert Feedback(source="llm_judge").source.source_type is AssessmentSourceType.LLM_JUDGE


def test_errors_from_exceptions_strings_and_objects() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        feedback = Feedback(name="judge", error=exc)
    assert feedback.error_code == "KeyError" and feedback.error_message == "'missing'"
    assert feedback.error is not None and "Traceback" in str(feedback.error.stack_trace)
    assert Feedback(error="judge down").error == AssessmentError("ASSESSMENT_ERROR",
                                                                 "judge down")
    with pytest.raises(InvalidParameterError, match="error"):
        Feedback(error=42)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="only a Feedback"):
        Expectation("x", 1, error=AssessmentError("E"))  # type: ignore[arg-type]


def test_a_long_stack_trace_keeps_its_end() -> None:
    stack = "frame\n" * 5_000 + "the last line"
    error = AssessmentError("E", "m", stack)
    assert error.stack_trace is not None and len(error.stack_trace) == 10_000
    assert error.stack_trace.startswith("[Stack trace is truncated]")
    assert error.stack_trace.endswith("the last line")


def test_metadata_values_become_strings_and_give_the_run() -> None:
    feedback = Feedback(value=1, metadata={"n": 3, "ok": True, "x": 0.5, "s": "t",
                                           "mlflow.assessment.sourceRunId": "run-9"})
    assert feedback.metadata == {"n": "3", "ok": "True", "x": "0.5", "s": "t",
                                 "mlflow.assessment.sourceRunId": "run-9"}
    assert feedback.run_id == "run-9"
    with pytest.raises(InvalidParameterError, match=r"metadata\['none'\]"):
        Feedback(metadata={"none": None})
    with pytest.raises(InvalidParameterError, match="NUL"):
        Feedback(metadata={"k": "a\x00b"})


def test_limits_are_enforced_with_the_field_named() -> None:
    Feedback(rationale="x" * 10_000)
    with pytest.raises(InvalidParameterError, match=r"Invalid rationale: .*10,001.*10,000"):
        Feedback(rationale="x" * 10_001)
    with pytest.raises(InvalidParameterError, match="Invalid name"):
        Feedback(name="n" * 251)
    deep: Any = 1
    for _ in range(70):
        deep = [deep]
    with pytest.raises(InvalidParameterError, match="nested deeper"):
        Feedback(value=deep)
    with pytest.raises(InvalidParameterError, match="lone surrogate"):
        Feedback(value="\ud800")
    with pytest.raises(InvalidParameterError, match="Invalid value"):
        Feedback(value=(1, 2))  # tuples would come back as lists
    with pytest.raises(InvalidParameterError, match="create_time_ms"):
        Feedback(create_time_ms=-1)


def test_assessments_are_frozen() -> None:
    feedback = Feedback(value=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        feedback.value = False  # type: ignore[misc]
    assert dataclasses.replace(feedback, valid=False).valid is False
    # Same name, value and time, but another kind of assessment.
    expectation: Assessment = Expectation("feedback", True,
                                          create_time_ms=feedback.create_time_ms)
    assert feedback != expectation


def test_the_json_form_is_mlflows() -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    feedback = Feedback(name="correct", value=True, trace_id=trace_id, span_id=span_id,
                        source=AssessmentSource("HUMAN", "bob"), rationale="right",
                        metadata={"k": "v"}, create_time_ms=1_767_225_600_123,
                        overrides="a-" + "0" * 32, assessment_id="a-" + "1" * 32)
    assert feedback.to_dictionary() == {
        "assessment_id": "a-" + "1" * 32, "assessment_name": "correct", "trace_id": trace_id,
        "span_id": span_id, "source": {"source_type": "HUMAN", "source_id": "bob"},
        "create_time": "2026-01-01T00:00:00.123Z",
        "last_update_time": "2026-01-01T00:00:00.123Z",
        "feedback": {"value": True}, "rationale": "right", "metadata": {"k": "v"},
        "overrides": "a-" + "0" * 32, "valid": True,
    }
    scalar = Expectation("answer", 42).to_dictionary()["expectation"]
    assert scalar == {"value": 42}
    listed = Expectation("facts", ["a", 1]).to_dictionary()["expectation"]
    assert listed == {"serialized_value": {"serialization_format": "JSON_FORMAT",
                                           "value": '["a",1]'}}


def test_reading_mlflows_json() -> None:
    mlflow_dict = {
        "assessment_id": "a-0123456789abcdef0123456789abcdef", "assessment_name": "facts",
        "trace_id": "tr-0123456789abcdef0123456789abcdef",
        "source": {"source_type": "LLM_JUDGE", "source_id": "openai:/gpt-4o"},
        "create_time": "2025-06-01T10:00:00.5Z", "last_update_time": "2025-06-01T10:00:01Z",
        "expectation": {"serialized_value": {"serialization_format": "JSON_FORMAT",
                                             "value": '{"n": 4, "tags": ["x"]}'}},
    }
    read = Assessment.from_dictionary(mlflow_dict)
    assert isinstance(read, Expectation)
    assert same_json(read.value, {"n": 4, "tags": ["x"]})
    assert read.create_time_ms == 1_748_772_000_500 and read.valid is True
    assert read.source.source_type is AssessmentSourceType.LLM_JUDGE
    with pytest.raises(InvalidParameterError, match="no 'feedback' entry"):
        Feedback.from_dictionary(mlflow_dict)
    with pytest.raises(InvalidParameterError):
        Assessment.from_dictionary({"assessment_name": "x"})


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=16,
)


@given(value=JSON_VALUES)
def test_every_allowed_value_survives_the_json_form(value: Any) -> None:
    feedback = Feedback(name="v", value=value)
    assert same_json(Assessment.from_dictionary(feedback.to_dictionary()).value, value)
    if value is not None:
        expectation = Expectation("v", value)
        assert same_json(Assessment.from_dictionary(expectation.to_dictionary()).value, value)


def test_trace_search_assessments() -> None:
    trace = make_trace()
    span_id = trace.data.spans[1].span_id
    old = Feedback(name="q", value=1, valid=False)
    new = Feedback(name="q", value=2, overrides="a-x", span_id=span_id)
    expected = Expectation("answer", "Paris")
    trace.info.assessments.extend([old, new, expected])
    assert trace.data.assessments is trace.info.assessments
    assert trace.search_assessments() == [new, expected]
    assert trace.search_assessments(all=True) == [old, new, expected]
    assert trace.search_assessments("q", all=True) == [old, new]
    assert trace.search_assessments(span_id=span_id) == [new]
    assert trace.search_assessments(type="expectation") == [expected]
    assert trace.search_assessments(type="feedback", all=True) == [old, new]
    with pytest.raises(ValueError, match="Invalid type 'label'"):
        trace.search_assessments(type="label")  # type: ignore[arg-type]
    again = Trace.from_dict(trace.to_dict())
    assert again.info.assessments == [old, new, expected]
    assert TraceInfo.from_dict(trace.info.to_dict()) == trace.info


def test_the_module_documents_its_limits() -> None:
    assert assessment_module.MAX_RATIONALE_CHARS == 10_000
    assert assessment_module.MAX_NAME_CHARS == 250
