"""Entities survive their JSON forms unchanged."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from assay.entities import (
    Experiment,
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    Trace,
    TraceData,
    TraceInfo,
    TraceState,
)


def make_span(**overrides: object) -> Span:
    fields: dict[str, object] = dict(
        trace_id="tr-" + "ab" * 16, span_id="0123456789abcdef", parent_id=None,
        name="root", start_time_ns=1_700_000_000_000_000_000,
        end_time_ns=1_700_000_000_500_000_000, span_type=SpanType.CHAIN,
        status=SpanStatus(SpanStatusCode.OK), inputs_json='{"q":"hi"}',
        outputs_json='"answer"', attributes={"k": [1, 2], "s": "v"},
        events=(SpanEvent("exception", 5, {"exception.message": "x"}),))
    fields.update(overrides)
    return Span(**fields)  # type: ignore[arg-type]


def test_span_dict_is_mlflow_shaped_and_round_trips() -> None:
    span = make_span()
    d = span.to_dict()
    assert d["trace_id"] == "q6urq6urq6urq6urq6urqw=="  # base64 of the 16 id bytes
    assert d["span_id"] == "ASNFZ4mrze8="
    assert d["parent_span_id"] is None
    assert d["status"] == {"code": "STATUS_CODE_OK", "message": ""}
    assert d["attributes"]["mlflow.spanType"] == '"CHAIN"'
    assert d["attributes"]["mlflow.spanInputs"] == '{"q":"hi"}'
    assert d["attributes"]["k"] == "[1,2]"
    assert Span.from_dict(json.loads(json.dumps(d))) == span
    assert span.inputs == {"q": "hi"} and span.outputs == "answer"


def test_span_from_dict_accepts_hex_ids() -> None:
    d = make_span(parent_id="fedcba9876543210").to_dict()
    d["span_id"], d["parent_span_id"] = "0123456789abcdef", "fedcba9876543210"
    span = Span.from_dict(d)
    assert (span.span_id, span.parent_id) == ("0123456789abcdef", "fedcba9876543210")


def test_trace_round_trips_through_json() -> None:
    info = TraceInfo(
        trace_id="tr-" + "ab" * 16, experiment_id="7", request_time=1_700_000_000_123,
        state=TraceState.ERROR, execution_duration=500, request_preview="hi",
        response_preview="answer", client_request_id="req-1",
        trace_metadata={"mlflow.trace.session": "s1", "mlflow.trace.user": "u1"},
        tags={"mlflow.traceName": "root"})
    trace = Trace(info=info, data=TraceData(spans=[make_span()]))
    d = trace.to_dict()
    assert d["info"]["request_time"] == "2023-11-14T22:13:20.123Z"
    assert d["info"]["trace_location"] == {
        "type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "7"}}
    again = Trace.from_json(trace.to_json())
    assert again.info == info
    assert again.data.spans == trace.data.spans
    assert (again.info.session_id, again.info.user_id, again.info.name) == ("s1", "u1", "root")
    assert again.data.request == '{"q":"hi"}'
    assert again.search_spans(span_type="CHAIN")[0].name == "root"
    assert again.search_spans(name="missing") == []


def test_trace_info_reads_the_rest_duration_form() -> None:
    info = TraceInfo.from_dict({"trace_id": "tr-1", "request_time": "2024-01-01T00:00:00Z",
                                "execution_duration": "0.051s", "state": "OK",
                                "trace_location": {"mlflow_experiment": {"experiment_id": 3}}})
    assert info.execution_duration == 51
    assert info.experiment_id == "3"
    assert info.request_time == 1_704_067_200_000


def test_experiment_round_trips() -> None:
    exp = Experiment("3", "/Shared/app", 1, 2, tags={"team": "x"})
    assert Experiment.from_dict(exp.to_dict()) == exp


def test_span_status_coercion() -> None:
    assert SpanStatus.coerce("ok").status_code is SpanStatusCode.OK
    assert SpanStatus.coerce("STATUS_CODE_ERROR").status_code is SpanStatusCode.ERROR
    assert "LLM" in SpanType.all() and len(SpanType.all()) == 15


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@given(inputs=json_values, outputs=json_values, name=st.text(min_size=1))
def test_any_json_inputs_round_trip(inputs: object, outputs: object, name: str) -> None:
    span = make_span(inputs_json=json.dumps(inputs), outputs_json=json.dumps(outputs),
                     name=name)
    again = Span.from_dict(json.loads(json.dumps(span.to_dict())))
    assert again.inputs == inputs and again.outputs == outputs and again.name == name
