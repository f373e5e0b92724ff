"""``ToolCallCorrectness`` and ``ToolCallEfficiency`` on an agent's real traces: a traced
agent calls tools (TOOL spans) inside ``assay.genai.evaluate``, and the judges (the tests'
judge server, through the openai client) read the calls from each row's trace; against
expected tool calls, without them, a repeated call, no call at all, and a row without a
trace."""

from __future__ import annotations

from typing import Any

import pytest

import assay
from assay import _runtime
from assay.entities.span import SpanType
from assay.errors import InvalidParameterError
from assay.genai import evaluate
from assay.genai.scorers import ToolCallCorrectness, ToolCallEfficiency, get_all_scorers
from genai.judge_server import JudgeServer


@assay.trace(span_type=SpanType.TOOL)
def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "celsius": 21}


@assay.trace(span_type=SpanType.TOOL)
def get_time(city: str) -> str:
    return "12:00"


def agent(question: str) -> str:
    if "twice" in question:  # a wasteful agent: the same call again
        get_weather(city="Paris")
        get_weather(city="Paris")
        return "21 degrees"
    if "time" in question:
        return f"It is {get_time(city='Oslo')}"
    if "weather" in question:
        return f"{get_weather(city='Paris')['celsius']} degrees"
    return "Hello!"


def test_the_tool_call_judges_read_the_agents_calls(rt: _runtime.Runtime,
                                                    judge: JudgeServer) -> None:
    data = [
        {"inputs": {"question": "weather in Paris?"},
         "expectations": {"expected_tool_calls": [{"name": "get_weather",
                                                   "arguments": {"city": "Paris"}}]}},
        {"inputs": {"question": "time in Oslo?"},
         "expectations": {"expected_tool_calls": ["get_weather"]}},
        {"inputs": {"question": "weather twice?"}},
        {"inputs": {"question": "hi"}},
    ]
    result = evaluate(data=data, predict_fn=agent,
                      scorers=[ToolCallCorrectness(), ToolCallEfficiency()])
    by_question = {row.inputs["question"]: row for row in result.rows}

    def verdict(question: str, name: str) -> tuple[Any, str | None]:
        [feedback] = [f for f in by_question[question].feedback if f.name == name]
        return feedback.value, feedback.rationale

    assert verdict("weather in Paris?", "tool_call_correctness") == (
        "yes", "every expected call was made")
    assert verdict("time in Oslo?", "tool_call_correctness") == (
        "no", "not called: weather")
    assert verdict("weather twice?", "tool_call_efficiency")[0] == "no"
    assert verdict("weather in Paris?", "tool_call_efficiency")[0] == "yes"
    assert verdict("hi", "tool_call_efficiency") == ("yes", "no tool was called")
    # Without expected calls the test judge fails a repeated call under either name.
    assert verdict("weather twice?", "tool_call_correctness")[0] == "no"
    assert result.metrics["tool_call_correctness/mean"] == pytest.approx(2 / 4)
    assert result.metrics["tool_call_efficiency/mean"] == pytest.approx(3 / 4)

    prompts = [p for p in judge.prompts() if "<expected_tool_calls>" in p]
    assert len(prompts) == 2
    [paris] = [p for p in prompts if "weather in Paris" in p]
    assert '1. get_weather({"city": "Paris"}) -> {"celsius": 21, "city": "Paris"}' in paris
    # Efficiency asked no judge for the row without a call: 3 of the 4 rows.
    assert sum("efficiently" in p for p in judge.prompts()) == 3


def test_a_tool_judge_needs_a_trace(judge: JudgeServer) -> None:
    with pytest.raises(InvalidParameterError, match="needs the row's trace"):
        ToolCallCorrectness()(inputs={"q": "x"}, outputs="y")
    with pytest.raises(InvalidParameterError, match="needs the row's trace"):
        ToolCallEfficiency()(inputs={"q": "x"}, outputs="y")
    names = {s.name for s in get_all_scorers()}
    assert {"tool_call_correctness", "tool_call_efficiency"} <= names
