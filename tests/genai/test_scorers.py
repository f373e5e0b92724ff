"""Code scorers: ``@scorer`` and ``Scorer``, the fields they declare, what they may return,
and the deterministic built-ins."""

from __future__ import annotations

from typing import Any

import pytest

from assay.entities import Expectation, Feedback
from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
from assay.entities.trace import Trace, TraceData
from assay.errors import InvalidParameterError
from assay.genai.scorers import (
    ExactMatch,
    RegexMatch,
    ResponseLength,
    Scorer,
    ValidJson,
    scorer,
)
from assay.genai.scoring import aggregate
from factories import make_trace


def _trace_with(expectations: dict[str, Any]) -> Trace:
    trace = make_trace()
    for name, value in expectations.items():
        trace.info.assessments.append(Expectation(name, value, trace_id=trace.info.trace_id))
    return Trace(trace.info, TraceData(spans=trace.data.spans))


def test_a_function_scorer_gets_only_the_fields_it_declares() -> None:
    seen: list[dict[str, Any]] = []

    @scorer
    def looks(outputs: Any, expectations: dict[str, Any]) -> bool:
        seen.append({"outputs": outputs, "expectations": expectations})
        return True

    [feedback] = looks.run(inputs={"q": 1}, outputs="a", expectations={"e": 2})
    assert seen == [{"outputs": "a", "expectations": {"e": 2}}]
    assert (feedback.name, feedback.value) == ("looks", True)
    assert feedback.source == AssessmentSource(AssessmentSourceType.CODE, "looks")
    assert looks(outputs="x", expectations={}) is True  # still callable as the function


def test_missing_fields_come_from_the_trace() -> None:
    trace = _trace_with({"expected_response": "a", "other": [1]})

    @scorer
    def everything(inputs: Any, outputs: Any, expectations: Any, trace: Trace) -> str:
        return f"{inputs}|{outputs}|{sorted(expectations.items())}|{trace.info.trace_id}"

    [feedback] = everything.run(trace=trace, expectations={"other": "given"})
    assert feedback.value == (f"{{'question': 'q'}}|{{'answer': 'a'}}|"
                              f"[('expected_response', 'a'), ('other', 'given')]|"
                              f"{trace.info.trace_id}")


@pytest.mark.parametrize(("returned", "value"), [(True, True), (3, 3), (0.5, 0.5),
                                                 ("yes", "yes")])
def test_primitives_become_feedback_named_for_the_scorer(returned: Any, value: Any) -> None:
    @scorer(name="custom name")
    def give(outputs: Any) -> Any:
        return returned

    [feedback] = give.run(outputs="x")
    assert (feedback.name, feedback.value) == ("custom name", value)


def test_feedback_keep_their_names_and_sources_and_unnamed_ones_take_the_scorers() -> None:
    judge = AssessmentSource(AssessmentSourceType.LLM_JUDGE, "openai:/m")

    @scorer
    def several(outputs: Any) -> list[Feedback]:
        return [Feedback(value=1), Feedback("tone", "calm", source=judge, rationale="r")]

    first, second = several.run(outputs="x")
    assert (first.name, first.source.source_id) == ("several", "several")
    assert (second.name, second.source, second.rationale) == ("tone", judge, "r")


@pytest.mark.parametrize(("returned", "message"), [
    (None, "returned None"),
    ({"a": 1}, "returned a dict"),
    ([], "returned an empty list"),
    ([Feedback("same", 1), Feedback("same", 2)], "several Feedback of one name"),
])
def test_a_result_that_is_no_verdict_is_an_error_naming_the_scorer(returned: Any,
                                                                   message: str) -> None:
    @scorer
    def broken(outputs: Any) -> Any:
        return returned

    with pytest.raises(InvalidParameterError, match=message) as caught:
        broken.run(outputs="x")
    assert "'broken'" in str(caught.value)


def test_a_parameter_no_row_gives_is_refused_when_the_scorer_is_made() -> None:
    with pytest.raises(InvalidParameterError, match="takes 'answer', which no row gives"):
        @scorer
        def wrong(answer: str) -> bool:
            return True
    with pytest.raises(InvalidParameterError, match="Invalid aggregation 'avg'"):
        scorer(lambda outputs: 1, name="x", aggregations=["avg"])
    with pytest.raises(InvalidParameterError, match="Invalid scorer name"):
        scorer(lambda outputs: 1, name="a/b")


def test_the_class_form_takes_its_name_from_the_class() -> None:
    class ContainsPlease(Scorer):
        def __call__(self, *, inputs: Any, outputs: Any) -> bool:
            return "please" in str(outputs)

    class Named(Scorer):
        name = "politeness"

        def __call__(self, **fields: Any) -> float:
            return 1.0 if fields["outputs"] else 0.0

    assert ContainsPlease().name == "contains_please"
    assert ContainsPlease().declared_fields == ("inputs", "outputs")
    assert Named().declared_fields == ("inputs", "outputs", "expectations", "trace")
    [feedback] = Named().run(outputs="x")
    assert (feedback.name, feedback.value) == ("politeness", 1.0)
    assert ContainsPlease(name="other").name == "other"


def test_aggregations() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert aggregate("mean", values) == 4.0
    assert aggregate("median", values) == 3.0
    assert aggregate("min", values) == 1.0
    assert aggregate("max", values) == 10.0
    assert aggregate("p90", values) == 10.0
    assert aggregate("p90", [float(i) for i in range(1, 11)]) == 9.0
    assert aggregate("variance", values) == pytest.approx(10.0)
    assert aggregate(lambda v: sum(v), values) == 20.0
    assert aggregate("mean", []) != aggregate("mean", [])  # NaN when there is nothing


def test_passes() -> None:
    plain = scorer(lambda outputs: 1, name="plain")
    assert [plain.passes(v) for v in (True, False, "yes", "No", 2, 0, None)] == [
        True, False, True, False, True, False, False]
    strict = scorer(lambda outputs: 1, name="strict", pass_if=lambda v: v >= 3)
    assert (strict.passes(3), strict.passes(2)) == (True, False)


def test_exact_match() -> None:
    expected = {"expected_response": "Paris"}
    assert ExactMatch()(outputs=" Paris ", expectations=expected) is True
    assert ExactMatch()(outputs="paris", expectations=expected) is False
    assert ExactMatch(ignore_case=True)(outputs="paris", expectations=expected) is True
    with pytest.raises(InvalidParameterError, match="needs expected_response"):
        ExactMatch()(outputs="x", expectations={})


def test_regex_length_and_json() -> None:
    assert RegexMatch(pattern=r"\d{4}")(outputs="in 2024") is True
    assert RegexMatch(pattern=r"^\d+$")(outputs={"a": 1}) is False
    with pytest.raises(InvalidParameterError, match="Invalid pattern"):
        RegexMatch(pattern="(")
    assert ResponseLength()(outputs="four") == 4
    assert ResponseLength(unit="words")(outputs="two words") == 2
    limited = ResponseLength(max_length=3)
    assert (limited.passes(3), limited.passes(4)) == (True, False)
    assert ValidJson()(outputs='{"a": [1]}') is True
    assert ValidJson()(outputs="{a: 1}") is False
    assert ValidJson()(outputs={"a": 1}) is True
