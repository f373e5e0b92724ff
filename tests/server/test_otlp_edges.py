"""POST /v1/traces with spans that cannot be stored, over a real server on SQLite and
PostgreSQL: times of 2**63 ns and more, an end before its start, ids of the wrong length or
all zeros, integers outside 64 bits, NaN doubles, NULs. A bad span is rejected alone (OTLP's
partial success, naming its trace id, span id and field) and every good trace is stored; a
request with nothing to store is a 400 that writes nothing; both databases answer the same.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
from collections.abc import Callable

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from assay.entities import SpanEvent, Trace
from assay.errors import NotFoundError
from assay.store.rest.otlp import encode_traces
from factories import make_span, make_trace, new_trace_id
from server.live import Served
from server.otlp_requests import PROTOBUF, OtlpBatch, make_batch

TOO_LATE = 2**63


def partial_success(response: httpx.Response) -> tuple[int, str]:
    """The rejected span count and the message of a 200 answer (0 and "" when empty)."""
    assert response.status_code == 200, response.text
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(response.content)
    return answer.partial_success.rejected_spans, answer.partial_success.error_message


def span_of(batch: OtlpBatch, index: int) -> OtlpSpan:
    span: OtlpSpan = batch.request.resource_spans[0].scope_spans[0].spans[index]
    return span


def stored_ids(served: Served, trace_ids: list[str]) -> set[str]:
    return set(served.store.find_traces(trace_ids))


def post(served: Served, batch: OtlpBatch) -> httpx.Response:
    return served.http.post("/v1/traces", content=batch.body(), headers=PROTOBUF)


def test_fifty_good_traces_and_one_bad_span_store_the_fifty(served: Served) -> None:
    # The reported fault: on SQLite a 500 that stored nothing and reset the connection,
    # on PostgreSQL a 400 that stored nothing either.
    good = make_batch(50)
    bad = make_batch(1)
    bad_span = span_of(bad, 1)
    bad_span.start_time_unix_nano = TOO_LATE
    good.request.resource_spans[0].scope_spans[0].spans.append(bad_span)
    rejected, message = partial_success(post(served, good))
    assert rejected == 1
    for word in (bad.trace_ids[0], bad_span.span_id.hex(), "start_time_unix_nano",
                 str(TOO_LATE)):
        assert word in message, message
    assert stored_ids(served, good.trace_ids) == set(good.trace_ids)
    assert all(len(t.data.spans) == 3
               for t in served.store.find_traces(good.trace_ids).values())
    assert stored_ids(served, bad.trace_ids) == set()
    assert served.http.get("/health").status_code == 200


def _set(field: str, value: object) -> Callable[[OtlpSpan], None]:
    def change(span: OtlpSpan) -> None:
        setattr(span, field, value)
    return change


def _add_event_at(time_ns: int) -> Callable[[OtlpSpan], None]:
    def change(span: OtlpSpan) -> None:
        span.events.add(name="late", time_unix_nano=time_ns)
    return change


def _add_attribute(key: str, text: str) -> Callable[[OtlpSpan], None]:
    def change(span: OtlpSpan) -> None:
        span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=text)))
    return change


# (what is wrong, how to make a child span so, a word the reason must hold)
BAD_SPANS = [
    ("start of 2**63", _set("start_time_unix_nano", TOO_LATE), "start_time_unix_nano"),
    ("start of 2**64 - 1", _set("start_time_unix_nano", 2**64 - 1), "start_time_unix_nano"),
    ("end of 2**63", _set("end_time_unix_nano", TOO_LATE), "end_time_unix_nano"),
    ("end before start", _set("end_time_unix_nano", 1), "before start_time_unix_nano"),
    ("event at 2**63", _add_event_at(TOO_LATE), "time_unix_nano"),
    ("short trace id", _set("trace_id", b"\x01" * 8), "trace_id"),
    ("zero trace id", _set("trace_id", bytes(16)), "trace_id"),
    ("zero span id", _set("span_id", bytes(8)), "span_id"),
    ("long span id", _set("span_id", b"\x02" * 9), "span_id"),
    ("short parent id", _set("parent_span_id", b"\x03" * 4), "parent_span_id"),
    ("JSON integer of 2**64", _add_attribute("mlflow.count", str(2**64)), "'mlflow.count'"),
    ("JSON integer below -2**63", _add_attribute("mlflow.deep", json.dumps({"a": [-2**63 - 1]})),
     "'mlflow.deep'"),
]


@pytest.mark.parametrize(("change", "word"), [case[1:] for case in BAD_SPANS],
                         ids=[case[0] for case in BAD_SPANS])
def test_a_bad_span_is_rejected_alone(served: Served, change: Callable[[OtlpSpan], None],
                                      word: str) -> None:
    batch = make_batch(2)
    bad = span_of(batch, 4)  # a child of the second trace
    change(bad)
    span_id = bad.span_id.hex()  # named as sent, however wrong
    rejected, message = partial_success(post(served, batch))
    assert rejected == 1
    assert word in message and span_id in message, message
    first = served.store.get_trace(batch.trace_ids[0])
    assert len(first.data.spans) == 3
    if batch.trace_ids[1] in message:  # the bad span's trace id was readable: named
        second = served.store.get_trace(batch.trace_ids[1])
        assert [s.span_id for s in second.data.spans] == [span_of(batch, 3).span_id.hex(),
                                                          span_of(batch, 5).span_id.hex()]


def test_a_request_with_nothing_to_store_is_400_and_writes_nothing(served: Served) -> None:
    batch = make_batch(2)
    for index in range(6):
        span_of(batch, index).end_time_unix_nano = TOO_LATE
    response = post(served, batch)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "6 spans rejected" in body["message"] and "end_time_unix_nano" in body["message"]
    assert stored_ids(served, batch.trace_ids) == set()
    with pytest.raises(NotFoundError):
        served.store.get_trace(batch.trace_ids[0])


def test_an_answer_names_ten_spans_and_counts_them_all(served: Served) -> None:
    batch = make_batch(13)
    for index in range(0, 39, 3):  # every root
        span_of(batch, index).start_time_unix_nano = TOO_LATE
    batch.request.resource_spans[0].scope_spans[0].spans.extend(make_batch(1).request
                                                                .resource_spans[0]
                                                                .scope_spans[0].spans)
    rejected, message = partial_success(post(served, batch))
    assert rejected == 13
    assert message.startswith("13 spans rejected: ") and message.endswith("; and 3 more")
    assert message.count("start_time_unix_nano") == 10
    # Each trace without its root is stored as what came: a partial trace of two spans.
    assert all(len(t.data.spans) == 2
               for t in served.store.find_traces(batch.trace_ids).values())


def test_json_answer_is_otlp_json(served: Served) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "cd" * 16, "spanId": "01" * 8, "name": "good",
         "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000000000001"},
        {"traceId": "ef" * 16, "spanId": "02" * 8, "name": "late",
         "startTimeUnixNano": str(TOO_LATE)},
    ]}]}]}
    response = served.http.post("/v1/traces", content=json.dumps(body),
                                headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    answer = response.json()["partialSuccess"]
    assert answer["rejectedSpans"] == "1"  # an int64, a string in OTLP JSON
    assert "tr-" + "ef" * 16 in answer["errorMessage"]
    assert set(served.store.find_traces(["tr-" + "cd" * 16, "tr-" + "ef" * 16])) == {
        "tr-" + "cd" * 16}
    # Beyond 64 bits the body itself does not parse: a 400 that writes nothing.
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["startTimeUnixNano"] = str(2**64)
    response = served.http.post("/v1/traces", content=json.dumps(body),
                                headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text


def test_nan_and_infinite_doubles_are_kept_as_names(served: Served) -> None:
    batch = make_batch(1)
    root = span_of(batch, 0)
    for key, value in (("score", math.nan), ("high", math.inf), ("low", -math.inf)):
        root.attributes.append(KeyValue(key=key, value=AnyValue(double_value=value)))
    root.attributes.append(KeyValue(key="mlflow.json_nan", value=AnyValue(string_value="NaN")))
    assert partial_success(post(served, batch)) == (0, "")
    stored = served.store.get_trace(batch.trace_ids[0]).data.spans[0].attributes
    assert (stored["score"], stored["high"], stored["low"], stored["mlflow.json_nan"]) == (
        "nan", "inf", "-inf", "nan")


def test_nul_in_free_text_becomes_a_replacement_character(served: Served) -> None:
    batch = make_batch(1)
    root = span_of(batch, 0)
    root.name = "ro\x00ot"
    root.status.code = Status.STATUS_CODE_ERROR
    root.status.message = "bad\x00 thing"
    root.attributes.append(KeyValue(key="session.id", value=AnyValue(string_value="s\x00-1")))
    root.attributes.append(KeyValue(key="k\x00ey", value=AnyValue(string_value="v\x00al")))
    root.events.add(name="ev\x00ent", time_unix_nano=root.start_time_unix_nano)
    assert partial_success(post(served, batch)) == (0, "")
    trace = served.store.get_trace(batch.trace_ids[0])
    stored = trace.data.spans[0]
    assert stored.name == "ro\ufffdot"
    assert stored.status.description == "bad\ufffd thing"
    # JSON keeps a NUL as an escape: attributes and events come back exactly.
    assert stored.attributes["k\x00ey"] == "v\x00al"
    assert stored.events[0].name == "ev\x00ent"
    assert trace.info.tags["mlflow.traceName"] == "ro\ufffdot"
    assert trace.info.trace_metadata["mlflow.trace.session"] == "s\ufffd-1"


def test_nul_in_a_tag_key_or_service_name_rejects_the_spans(served: Served) -> None:
    batch = make_batch(2)
    span_of(batch, 0).attributes.append(
        KeyValue(key="mlflow.traceTag.a\x00b", value=AnyValue(string_value="v")))
    rejected, message = partial_success(post(served, batch))
    assert rejected == 3 and "tag key" in message and "NUL" in message  # the trace's spans
    assert stored_ids(served, batch.trace_ids) == {batch.trace_ids[1]}
    batch = make_batch(1, service="svc\x00name")
    response = post(served, batch)
    assert response.status_code == 400, response.text
    assert "experiment name" in response.json()["message"]
    assert "NUL" in response.json()["message"]
    assert stored_ids(served, batch.trace_ids) == set()


def test_json_encoded_event_attributes_are_checked_too(served: Served) -> None:
    # What Assay's SDK sends: every attribute is JSON text, events' too.
    trace_id = new_trace_id()
    wide = make_trace(trace_id=trace_id, spans=[
        make_span(trace_id, events=[SpanEvent("e", 1, {"n": 2**64})])])
    good = make_trace()
    body = gzip.compress(encode_traces([good, wide]))
    response = served.http.post("/v1/traces", content=body,
                                headers=PROTOBUF | {"Content-Encoding": "gzip"})
    rejected, message = partial_success(response)
    assert rejected == 1 and "'n' of event 'e'" in message and trace_id in message, message
    assert set(served.store.find_traces([trace_id, good.info.trace_id])) == {
        good.info.trace_id}


def test_what_only_the_store_refuses_rejects_that_trace_alone(served: Served) -> None:
    # Traces as Assay's SDK sends them carry their header; a header the store refuses (a
    # negative duration) fails the batch's write, and the traces are then written one by one.
    good = make_trace()
    negative = make_trace()
    negative = Trace(info=dataclasses.replace(negative.info, execution_duration=-5),
                     data=negative.data)
    elsewhere = make_trace(experiment_id="987654")  # no such experiment
    body = gzip.compress(encode_traces([good, negative, elsewhere]))
    response = served.http.post("/v1/traces", content=body,
                                headers=PROTOBUF | {"Content-Encoding": "gzip"})
    rejected, message = partial_success(response)
    assert rejected == 6, message  # both bad traces' three spans
    assert "execution_duration" in message and negative.info.trace_id in message
    assert "987654" in message and elsewhere.info.trace_id in message
    assert set(served.store.find_traces([t.info.trace_id for t in (good, negative, elsewhere)])
               ) == {good.info.trace_id}
