"""MLflow's trace routes: StartTraceV3 merged with spans that came by OTLP (in either
order), reads with spans as OTLP JSON, search, tags and deletion, and hostile input."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from assay.entities import TraceState
from server.live import Served
from server.mlflow_compat.conftest import (
    CHILD_SPAN,
    ROOT_SPAN,
    V2,
    V3,
    assert_mlflow_error,
    otlp_spans,
    send_spans,
    start_trace,
    trace_info,
)

HEX = "c0ffee" + "0" * 25 + "1"
TRACE_ID = f"tr-{HEX}"


def _by_key(attributes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["key"]: a["value"] for a in attributes}


@pytest.mark.parametrize("order", ["spans first", "header first", "header between"])
def test_a_trace_is_whole_whatever_comes_first(served: Served, order: str) -> None:
    experiment_id = served.store.create_experiment("merge")
    if order == "spans first":
        send_spans(served, experiment_id, otlp_spans(HEX))
    elif order == "header between":  # the child ended and was sent before the root
        send_spans(served, experiment_id, otlp_spans(HEX, root=False))
    answer = start_trace(served.http, trace_info(HEX, experiment_id))
    assert answer.status_code == 200, answer.text
    returned = answer.json()["trace"]["trace_info"]
    # The client reads its spans from the store, and uploads no traces.json.
    assert returned["tags"]["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert returned["trace_id"] == TRACE_ID
    if order == "header first":
        send_spans(served, experiment_id, otlp_spans(HEX))
    elif order == "header between":
        send_spans(served, experiment_id, otlp_spans(HEX, child=False))

    trace = served.store.get_trace(TRACE_ID)
    info = trace.info
    assert {s.span_id for s in trace.data.spans} == {ROOT_SPAN, CHILD_SPAN}
    assert info.experiment_id == experiment_id
    assert info.client_request_id == "req-7"
    assert info.state is TraceState.OK
    assert info.request_time == 1_700_000_000_000
    assert info.execution_duration == 51
    assert info.user_id == "u-7" and info.session_id == "s-7"
    assert info.tags["env"] == "test" and info.name == "chat"
    # Searchable by what only the header said (the session and user are columns).
    for text in ("metadata.`mlflow.trace.user` = 'u-7'", "trace.session_id = 's-7'",
                 "trace.client_request_id = 'req-7'", "tags.env = 'test'"):
        found = served.store.search_traces([experiment_id], filter_string=text)
        assert [t.info.trace_id for t in found] == [TRACE_ID], text


def test_start_trace_again_updates_without_duplicates(served: Served) -> None:
    experiment_id = served.store.create_experiment("again")
    send_spans(served, experiment_id, otlp_spans(HEX))
    feedback = {"assessment_name": "thumbs", "trace_id": TRACE_ID,
                "source": {"source_type": "HUMAN", "source_id": "u-7"},
                "create_time": "2023-11-14T22:13:21Z", "last_update_time": "2023-11-14T22:13:21Z",
                "feedback": {"value": True}, "assessment_id": "a-" + "1" * 32, "valid": True}
    info = trace_info(HEX, experiment_id, assessments=[feedback])
    for _ in range(2):  # the client retries a request that timed out
        assert start_trace(served.http, info).status_code == 200
    stored = served.store.get_trace(TRACE_ID).info
    assert [a.name for a in stored.assessments] == ["thumbs"]
    assert stored.assessments[0].value is True


def test_a_trace_stays_in_the_experiment_it_was_first_stored_in(served: Served) -> None:
    first = served.store.create_experiment("first")
    other = served.store.create_experiment("other")
    send_spans(served, first, otlp_spans(HEX))
    answer = start_trace(served.http, trace_info(HEX, other))
    location = answer.json()["trace"]["trace_info"]["trace_location"]
    assert location["mlflow_experiment"]["experiment_id"] == first


def test_get_answers_spans_as_otlp_json(served: Served) -> None:
    experiment_id = served.store.create_experiment("read")
    send_spans(served, experiment_id, otlp_spans(HEX))
    start_trace(served.http, trace_info(HEX, experiment_id))

    info = served.http.get(f"{V3}/traces/{TRACE_ID}").json()["trace"]
    assert "spans" not in info
    assert info["trace_info"]["execution_duration"] == "0.051s"
    assert info["trace_info"]["request_time"] == "2023-11-14T22:13:20.000Z"
    assert info["trace_info"]["trace_metadata"]["mlflow.trace.user"] == "u-7"

    got = served.http.get(f"{V3}/traces/get",
                          params={"trace_id": TRACE_ID, "allow_partial": "false"}).json()
    spans = {s["name"]: s for s in got["trace"]["spans"]}
    root, child = spans["chat"], spans["llm"]
    assert base64.b64decode(root["trace_id"]).hex() == HEX
    assert base64.b64decode(root["span_id"]).hex() == ROOT_SPAN
    assert base64.b64decode(child["parent_span_id"]).hex() == ROOT_SPAN
    assert "parent_span_id" not in root
    assert root["start_time_unix_nano"] == "1700000000000000000"
    assert root["status"]["code"] == "STATUS_CODE_OK"
    attributes = _by_key(child["attributes"])
    # Values as values (the client encodes each to JSON itself), not JSON text.
    assert attributes["mlflow.spanType"] == {"string_value": "LLM"}
    assert attributes["mlflow.traceRequestId"] == {"string_value": TRACE_ID}
    assert attributes["mlflow.spanInputs"] == {"kvlist_value": {"values": [
        {"key": "messages", "value": {"array_value": {"values": [{"kvlist_value": {"values": [
            {"key": "role", "value": {"string_value": "user"}},
            {"key": "content", "value": {"string_value": "hi"}}]}}]}}}]}}
    assert attributes["mlflow.spanOutputs"] == {"kvlist_value": {"values": [
        {"key": "choices", "value": {"array_value": {"values": [
            {"int_value": "1"}, {"double_value": 2.5}, {"bool_value": True}, {}]}}}]}}


def test_batch_gets_keep_the_order_asked_and_skip_unknown_ids(served: Served) -> None:
    experiment_id = served.store.create_experiment("batch")
    other_hex = "d" * 32
    for hex_id in (HEX, other_hex):
        send_spans(served, experiment_id, otlp_spans(hex_id))
    ids = [f"tr-{other_hex}", "tr-" + "9" * 32, TRACE_ID]
    got = served.http.get(f"{V3}/traces/batchGet", params={"trace_ids": ids}).json()
    assert [t["trace_info"]["trace_id"] for t in got["traces"]] == [ids[0], ids[2]]
    assert all(len(t["spans"]) == 2 for t in got["traces"])
    elsewhere = served.http.get(f"{V3}/traces/batchGet",
                                params={"trace_ids": ids, "experiment_ids": ["0"]}).json()
    assert elsewhere == {"traces": []}
    infos = served.http.post(f"{V3}/traces/batchGetInfos", json={"trace_ids": ids}).json()
    assert [i["trace_id"] for i in infos["trace_infos"]] == [ids[0], ids[2]]
    too_many = served.http.get(f"{V3}/traces/batchGet",
                               params={"trace_ids": [TRACE_ID] * 101})
    assert_mlflow_error(too_many, 400, "INVALID_PARAMETER_VALUE", "trace_ids")


def test_search_filters_orders_and_pages(served: Served) -> None:
    experiment_id = served.store.create_experiment("search")
    ids = []
    for n in range(3):
        hex_id = f"{n + 1:032x}"
        send_spans(served, experiment_id, otlp_spans(hex_id))
        info = trace_info(hex_id, experiment_id,
                          request_time=f"2023-11-14T22:13:2{n}Z",
                          trace_metadata={"mlflow.trace.user": f"u-{n % 2}"})
        start_trace(served.http, info)
        ids.append(f"tr-{hex_id}")
    location = [{"type": "MLFLOW_EXPERIMENT",
                 "mlflow_experiment": {"experiment_id": experiment_id}}]
    pages: list[list[str]] = []
    token = None
    while True:
        body: dict[str, Any] = {"locations": location, "max_results": 2,
                                "order_by": ["timestamp_ms ASC"]}
        if token:
            body["page_token"] = token
        page = served.http.post(f"{V3}/traces/search", json=body).json()
        assert all(t["tags"]["mlflow.trace.spansLocation"] == "TRACKING_STORE"
                   for t in page["traces"])
        pages.append([t["trace_id"] for t in page["traces"]])
        token = page.get("next_page_token")
        if not token:
            break
    assert pages == [ids[:2], ids[2:]]
    found = served.http.post(f"{V3}/traces/search", json={
        "locations": location, "filter": "metadata.`mlflow.trace.user` = 'u-0'"}).json()
    assert sorted(t["trace_id"] for t in found["traces"]) == [ids[0], ids[2]]


@pytest.mark.parametrize(("body", "words"), [
    ({}, ["locations"]),
    ({"locations": []}, ["locations"]),
    ({"locations": [{"type": "UC_SCHEMA"}]}, ["locations[0]"]),
    ({"locations": [{"mlflow_experiment": {"experiment_id": "0"}}], "max_results": 501},
     ["max_results"]),
    ({"locations": [{"mlflow_experiment": {"experiment_id": "0"}}], "filter": "tags.x =="},
     ["=="]),
    ({"locations": [{"mlflow_experiment": {"experiment_id": "0"}}], "order_by": ["nope"]},
     ["nope"]),
    ({"locations": [{"mlflow_experiment": {"experiment_id": "0"}}], "page_token": "forged"},
     ["page_token"]),
])
def test_a_bad_search_is_400_naming_the_field(served: Served, body: dict[str, Any],
                                               words: list[str]) -> None:
    response = served.http.post(f"{V3}/traces/search", json=body)
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE", *words)


def test_tags_through_the_v2_and_v3_paths(served: Served) -> None:
    experiment_id = served.store.create_experiment("tags")
    send_spans(served, experiment_id, otlp_spans(HEX))
    for prefix in (V2, V3):
        assert served.http.patch(f"{prefix}/traces/{TRACE_ID}/tags",
                                 json={"key": "k", "value": prefix}).json() == {}
        assert served.store.get_trace_info(TRACE_ID).tags["k"] == prefix
        deleted = served.http.request("DELETE", f"{prefix}/traces/{TRACE_ID}/tags",
                                      content=json.dumps({"key": "k"}),
                                      headers={"Content-Type": "application/json"})
        assert deleted.json() == {}
        assert "k" not in served.store.get_trace_info(TRACE_ID).tags
    missing = served.http.patch(f"{V3}/traces/tr-{'9' * 32}/tags", json={"key": "k", "value": "v"})
    assert_mlflow_error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    no_key = served.http.request("DELETE", f"{V3}/traces/{TRACE_ID}/tags")
    assert_mlflow_error(no_key, 400, "INVALID_PARAMETER_VALUE", "key")


def test_delete_traces_by_id_and_by_age(served: Served) -> None:
    experiment_id = served.store.create_experiment("delete")
    ids = []
    for n in range(1, 4):
        send_spans(served, experiment_id, otlp_spans(f"{n:032x}"))
        ids.append(f"tr-{n:032x}")
    by_id = served.http.post(f"{V3}/traces/delete-traces",
                             json={"experiment_id": experiment_id, "request_ids": [ids[0]]})
    assert by_id.json() == {"traces_deleted": 1}
    by_age = served.http.post(f"{V2}/traces/delete-traces",
                              json={"experiment_id": experiment_id,
                                    "max_timestamp_millis": "1800000000000", "max_traces": 1})
    assert by_age.json() == {"traces_deleted": 1}
    assert len(served.store.search_traces([experiment_id])) == 1
    both = served.http.post(f"{V3}/traces/delete-traces",
                            json={"experiment_id": experiment_id, "request_ids": [ids[2]],
                                  "max_timestamp_millis": 1})
    assert_mlflow_error(both, 400, "INVALID_PARAMETER_VALUE")
    assert len(served.store.search_traces([experiment_id])) == 1


@pytest.mark.parametrize(("body", "words"), [
    ({}, ["trace"]),
    ({"trace": {}}, ["trace_info"]),
    ({"trace": {"trace_info": {}}}, ["trace_id"]),
    ({"trace": {"trace_info": {"trace_id": TRACE_ID}}}, ["request_time"]),
    ({"trace": {"trace_info": {"trace_id": TRACE_ID, "request_time": "yesterday"}}},
     ["trace_info"]),
    ({"trace": {"trace_info": {"trace_id": "", "request_time": 1}}}, ["trace_id"]),
    ({"trace": {"trace_info": {"trace_id": TRACE_ID, "request_time": 1, "state": "DONE"}}},
     ["DONE"]),
    ({"trace": {"trace_info": {"trace_id": TRACE_ID, "request_time": 1,
                               "trace_metadata": {"k": 5}}}}, ["k"]),
    ({"trace": {"trace_info": {"trace_id": TRACE_ID, "request_time": 1,
                               "execution_duration": "soon"}}}, ["trace_info"]),
])
def test_a_bad_start_trace_is_400_and_stores_nothing(served: Served, body: dict[str, Any],
                                                      words: list[str]) -> None:
    response = served.http.post(f"{V3}/traces", json=body)
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE", *words)
    assert list(served.store.search_traces(["0"])) == []


def test_start_trace_in_an_unknown_experiment_is_404(served: Served) -> None:
    response = start_trace(served.http, trace_info(HEX, "424242"))
    assert_mlflow_error(response, 404, "RESOURCE_DOES_NOT_EXIST", "424242")


def test_reading_an_unknown_trace_is_404(served: Served) -> None:
    unknown = "tr-" + "9" * 32
    for path, params in ((f"{V3}/traces/{unknown}", {}),
                         (f"{V3}/traces/get", {"trace_id": unknown})):
        assert_mlflow_error(served.http.get(path, params=params), 404,
                            "RESOURCE_DOES_NOT_EXIST", unknown)
