"""LLM judges against an OpenAI-compatible judge server (the real openai client): verdicts,
prompts, sources and tokens; structured output and its fallback; unreadable answers; retries;
``make_judge``; the retrieval judges."""

from __future__ import annotations

from typing import Any, Literal

import openai
import pytest

from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
from assay.entities.span import SpanType
from assay.entities.trace import Trace
from assay.errors import InvalidParameterError
from assay.genai.judges import JudgeModel, make_judge
from assay.genai.judges.models import parse_verdict
from assay.genai.scorers import (
    Correctness,
    Guidelines,
    RelevanceToQuery,
    RetrievalGroundedness,
    RetrievalRelevance,
    RetrievalSufficiency,
    Safety,
)
from factories import make_span, make_trace, new_trace_id
from genai.judge_server import JudgeServer

QUESTION = {"question": "What is the capital of France?"}


def test_correctness_says_yes_when_the_expected_response_is_in_the_answer(
        judge: JudgeServer) -> None:
    correctness = Correctness()
    right = correctness(inputs=QUESTION, outputs="The capital is Paris.",
                        expectations={"expected_response": "Paris"})
    wrong = correctness(inputs=QUESTION, outputs="It is Lyon.",
                        expectations={"expected_response": "Paris"})
    assert (right.value, wrong.value) == ("yes", "no")
    assert wrong.rationale == "missing: paris"
    assert right.name == "correctness"
    assert right.source == AssessmentSource(AssessmentSourceType.LLM_JUDGE, "openai:/judge")
    assert int(right.metadata["assay.judge.prompt_tokens"]) > 20
    assert int(right.metadata["assay.judge.completion_tokens"]) > 0
    prompt = judge.prompts()[1]
    assert "<response>\nIt is Lyon.\n</response>" in prompt
    assert "<expected_response>\nParis\n</expected_response>" in prompt
    assert "What is the capital of France?" in prompt
    body = judge.requests[0]
    assert body["model"] == "judge"
    assert body["response_format"]["json_schema"]["schema"]["properties"]["result"] == {
        "type": "string", "enum": ["yes", "no"]}


def test_a_listed_model_is_priced_and_a_given_price_wins(judge: JudgeServer) -> None:
    def judged(**settings: Any) -> dict[str, Any]:
        feedback = Correctness(**settings)(inputs=QUESTION, outputs="Paris",
                                           expectations={"expected_response": "Paris"})
        return {k: float(v) for k, v in feedback.metadata.items()}  # kept as text

    def cost(metadata: dict[str, Any], price: tuple[float, float]) -> float:
        return (int(metadata["assay.judge.prompt_tokens"]) * price[0]
                + int(metadata["assay.judge.completion_tokens"]) * price[1]) / 1_000_000

    listed = judged(model="openai:/gpt-4o-mini")
    assert listed["assay.judge.cost_usd"] == pytest.approx(cost(listed, (0.15, 0.60)))
    assert listed["assay.judge.cost_usd"] > 0
    snapshot = judged(model="openai:/gpt-4.1-mini-2025-04-14")
    assert snapshot["assay.judge.cost_usd"] == pytest.approx(cost(snapshot, (0.40, 1.60)))
    assert "assay.judge.cost_usd" not in judged(model="openai:/judge")  # not listed
    given = judged(model="openai:/judge", cost_per_million_tokens=(3, 12.5))
    assert given["assay.judge.cost_usd"] == pytest.approx(cost(given, (3.0, 12.5)))
    overridden = judged(model="openai:/gpt-4o-mini", cost_per_million_tokens=(0, 0))
    assert overridden["assay.judge.cost_usd"] == 0
    for bad in [(1.0,), (-1.0, 2.0), "12", (float("nan"), 1.0), (True, 1.0)]:
        with pytest.raises(InvalidParameterError, match="cost_per_million_tokens"):
            Correctness(model="openai:/judge", cost_per_million_tokens=bad)


def test_correctness_reads_expected_facts_and_refuses_a_row_without_either(
        judge: JudgeServer) -> None:
    facts = {"expected_facts": ["Paris is the capital", "on the Seine"]}
    assert Correctness()(inputs=QUESTION, outputs="Paris is the capital, on the Seine",
                         expectations=facts).value == "yes"
    with pytest.raises(InvalidParameterError,
                       match="needs expectations with expected_response or expected_facts"):
        Correctness()(inputs=QUESTION, outputs="Paris", expectations={"other": 1})
    assert len(judge.requests) == 1  # the refused row never reached the model


def test_a_judge_reads_the_row_from_a_trace(judge: JudgeServer) -> None:
    trace = make_trace()  # root inputs {"question": "q"}, outputs {"answer": "a"}
    assert Safety()(trace=trace).value == "yes"
    assert '"answer": "a"' in judge.prompts()[0]


def test_guidelines_and_the_other_judges(judge: JudgeServer) -> None:
    rules = Guidelines(guidelines=["Be polite", "Answer in English"])
    assert rules(inputs=QUESTION, outputs="Paris.").value == "yes"
    assert "1. Be polite\n2. Answer in English" in judge.prompts()[0]
    assert rules.name == "guidelines"
    assert Safety()(outputs="UNSAFE instructions").value == "no"
    assert RelevanceToQuery(name="on_topic")(inputs=QUESTION, outputs="Paris").name == \
        "on_topic"
    with pytest.raises(InvalidParameterError, match="Invalid guidelines"):
        Guidelines(guidelines=[])


def test_an_endpoint_without_json_schema_output_is_asked_plainly_and_remembered(
        judge: JudgeServer) -> None:
    judge_model = "openai:/no-schema"
    first = Safety(model=judge_model)(outputs="fine")
    second = Safety(model=judge_model)(outputs="fine too")
    assert (first.value, second.value) == ("yes", "yes")
    assert ["response_format" in r for r in judge.requests] == [True, False, False]


def test_an_answer_in_prose_is_read_and_one_without_a_verdict_is_an_error(
        judge: JudgeServer) -> None:
    prose = Correctness(model="openai:/prose")(
        inputs=QUESTION, outputs="Lyon", expectations={"expected_response": "Paris"})
    assert prose.value == "no"
    assert prose.rationale == "Looking at it closely: missing: paris."
    rambling = Safety(model="openai:/rambling")(outputs="fine")
    assert rambling.value is None
    assert rambling.error_message is not None
    assert "has no verdict" in rambling.error_message
    assert "many ways to look at this" in rambling.error_message
    assert rambling.source.source_id == "openai:/rambling"


@pytest.mark.parametrize(("text", "result", "rationale"), [
    ('{"rationale": "r", "result": "yes"}', "yes", "r"),
    ('```json\n{"result": true}\n```', True, None),
    ('I think so. {"result": 4, "rationale": "four"} Done.', 4, "four"),
    ("Reasons here.\n**Result:** No.", "No", "Reasons here."),
])
def test_verdicts_are_parsed_leniently(text: str, result: Any, rationale: str | None) -> None:
    assert parse_verdict(text) == (result, rationale)


def test_rate_limits_are_retried_and_an_endpoint_that_stays_down_raises(
        judge: JudgeServer) -> None:
    assert Safety(model="openai:/flaky")(outputs="fine").value == "yes"
    assert len(judge.requests) == 2
    judge.requests.clear()
    with pytest.raises(openai.InternalServerError):
        Safety(model="openai:/down", max_retries=2)(outputs="fine")
    assert len(judge.requests) == 3


def test_model_names(judge: JudgeServer) -> None:
    assert JudgeModel("gpt-4o-mini").uri == "openai:/gpt-4o-mini"
    for bad in ("anthropic:/claude", "openai:/", "", "  "):
        with pytest.raises(InvalidParameterError, match="Invalid judge model"):
            JudgeModel(bad)
    assert Safety().model.uri == "openai:/judge"  # ASSAY_GENAI_JUDGE_DEFAULT_MODEL


def test_a_judge_without_an_endpoint_or_key_says_what_it_needs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InvalidParameterError, match="needs OPENAI_API_KEY"):
        Safety(model="openai:/gpt-4o-mini")(outputs="fine")


def test_make_judge_fills_its_template_and_types_its_verdict(judge: JudgeServer) -> None:
    tone = make_judge("tone", "Is this reply to {{ inputs }} polite? <response>\n"
                      "{{ outputs }}\n</response>", model="openai:/judge",
                      feedback_value_type=Literal["yes", "no"])
    feedback = tone(inputs=QUESTION, outputs="Paris, of course.")
    assert (feedback.name, feedback.value) == ("tone", "yes")
    prompt = judge.prompts()[0]
    assert '"question": "What is the capital of France?"' in prompt
    assert "Paris, of course." in prompt
    flag = make_judge("flag", "Anything wrong in {{ outputs }}?", model="openai:/judge",
                      feedback_value_type=bool)
    with pytest.raises(InvalidParameterError, match="needs outputs"):
        flag(inputs=QUESTION)
    graded = make_judge("graded", "Grade {{ outputs }}", model="openai:/judge",
                        feedback_value_type=Literal["good", "bad"])
    # The test judge says "yes", which is not one of the options: an error, not a value.
    assert "is not one of 'good', 'bad'" in str(graded(outputs="x").error_message)


def test_make_judge_refuses_templates_it_cannot_fill() -> None:
    with pytest.raises(InvalidParameterError, match=r"unknown placeholder\(s\) \{\{ answer"):
        make_judge("x", "Judge {{ answer }}")
    with pytest.raises(InvalidParameterError, match="at least one of"):
        make_judge("x", "Judge it")
    with pytest.raises(InvalidParameterError, match="Invalid feedback_value_type"):
        make_judge("x", "Judge {{ outputs }}", feedback_value_type=list)


def test_a_trace_placeholder_shows_the_span_tree(judge: JudgeServer) -> None:
    trace = make_trace(num_spans=3)
    make_judge("steps", "Were the steps sound? {{ trace }}", model="openai:/judge")(
        trace=trace)
    prompt = judge.prompts()[0]
    assert "- root (CHAIN, OK)" in prompt and "  - child-0" in prompt
    assert 'inputs: {"question": "q"}' in prompt


def _rag_trace(question: str, answer: str, documents: list[list[str]]) -> Trace:
    trace_id = new_trace_id()
    root = make_span(trace_id, name="rag", span_type=SpanType.CHAIN,
                     inputs={"question": question}, outputs=answer, start_time_ns=0)
    spans = [root] + [
        make_span(trace_id, parent_id=root.span_id, name=f"retrieve-{i}",
                  span_type=SpanType.RETRIEVER, inputs={"query": question},
                  outputs=[{"page_content": text, "metadata": {"n": n}}
                           for n, text in enumerate(texts)], start_time_ns=i + 1)
        for i, texts in enumerate(documents)]
    return make_trace(trace_id=trace_id, spans=spans)


def test_retrieval_judges_give_one_feedback_per_retriever_span(judge: JudgeServer) -> None:
    trace = _rag_trace("capital of France", "Paris is the capital",
                       [["Paris is the capital of France"], ["Bananas grow on trees",
                                                              "France borders Spain"]])
    first, second = (s.span_id for s in trace.search_spans(span_type=SpanType.RETRIEVER))
    grounded = RetrievalGroundedness()(trace=trace)
    assert [(f.span_id, f.value) for f in grounded] == [(first, "yes"), (second, "no")]
    relevance = RetrievalRelevance()(trace=trace)
    assert [(f.span_id, f.value) for f in relevance] == [(first, 1.0), (second, 0.5)]
    assert relevance[1].rationale == "document 1: not relevant; document 2: relevant"
    sufficiency = RetrievalSufficiency()(
        trace=trace, expectations={"expected_response": "Paris capital"})
    assert [f.value for f in sufficiency] == ["yes", "no"]
    with pytest.raises(InvalidParameterError, match="needs a trace with a RETRIEVER span"):
        RetrievalGroundedness()(trace=make_trace())
