"""The server's limits, over HTTP: body size (Content-Length, chunked, decompressed), gzip and
deflate on every route, spans per OTLP request, attribute and assessment value sizes, and
the settings and flags that set them. A refused request writes nothing; a span with an
attribute over the limit is rejected alone (OTLP's partial success)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from assay.cli import build_parser
from assay.errors import InvalidParameterError, NotFoundError
from assay.server.settings import ServerSettings
from assay.store.sql import SqlStore
from local_http import LOCAL_TLS
from server.bombs import zeros_bomb
from server.live import LiveServer, Served
from server.otlp_requests import PROTOBUF, make_batch

KIB = 1024
MIB = 1024 * KIB
LIMITS = ServerSettings(port=0, max_request_bytes=256 * KIB, max_spans_per_request=50,
                        max_attribute_bytes=4 * KIB)


@pytest.fixture
def limited(sql_store: SqlStore) -> Iterator[Served]:
    """A server with small limits (256 KiB bodies, 50 spans, 4 KiB attributes)."""
    live = LiveServer(sql_store, LIMITS)
    live.start()
    try:
        with httpx.Client(base_url=live.url, verify=LOCAL_TLS, timeout=30) as http:
            yield Served(sql_store, http, live.url)
    finally:
        live.stop()


def assert_error(response: httpx.Response, status: int, code: str, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    for word in words:
        assert word in body["message"], body
    message: str = body["message"]
    return message


def num_traces(served: Served) -> int:
    experiments = [e.experiment_id for e in served.store.search_experiments()]
    return len(served.store.search_traces(experiments, max_results=1000, include_spans=False))


# -- the body's size -----------------------------------------------------------------------

def test_content_length_over_the_limit_is_413_before_reading(limited: Served) -> None:
    body = make_batch(1, root_inputs=json.dumps("x" * (300 * KIB))).body()
    response = limited.http.post("/v1/traces", content=body, headers=PROTOBUF)
    assert_error(response, 413, "REQUEST_TOO_LARGE", "max_request_bytes", "262,144 bytes",
                 "256 KiB", f"{len(body):,} bytes")
    # A JSON route too, and the connection still serves the next request.
    response = limited.http.post("/api/v1/experiments",
                                 content=json.dumps({"name": "n" * (300 * KIB)}),
                                 headers={"Content-Type": "application/json"})
    assert_error(response, 413, "REQUEST_TOO_LARGE", "max_request_bytes")
    assert limited.http.get("/health").status_code == 200
    assert num_traces(limited) == 0
    assert [e.name for e in limited.store.search_experiments()] == ["Default"]


def _chunks(total: int, size: int = 64 * KIB) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"\x00" * min(size, total - sent)
        sent += size


def test_chunked_body_is_counted_as_it_arrives(limited: Served) -> None:
    # A generator body goes out with Transfer-Encoding: chunked, no Content-Length.
    response = limited.http.post("/v1/traces", content=_chunks(1 * MIB), headers=PROTOBUF)
    assert_error(response, 413, "REQUEST_TOO_LARGE", "max_request_bytes", "256 KiB")
    response = limited.http.post("/api/v1/traces/search", content=_chunks(1 * MIB),
                                 headers={"Content-Type": "application/json"})
    assert_error(response, 413, "REQUEST_TOO_LARGE", "max_request_bytes")
    # Under the limit, chunked is fine.
    batch = make_batch(3)
    response = limited.http.post("/v1/traces", content=iter([batch.body()]), headers=PROTOBUF)
    assert response.status_code == 200, response.text
    assert num_traces(limited) == 3


def test_gzip_bomb_is_413_without_inflating_it(limited: Served) -> None:
    compressed = zeros_bomb(256, "gzip")
    assert len(compressed) < 256 * KIB  # under the limit as sent: 256 MiB once inflated
    tracemalloc.start()
    try:
        response = limited.http.post("/v1/traces", content=compressed,
                                     headers=PROTOBUF | {"Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_error(response, 413, "REQUEST_TOO_LARGE", "decompresses (gzip)",
                 "max_request_bytes", "256 KiB")
    # The server (in this process) never held more than a few times the limit.
    assert peak < 16 * MIB, f"peak {peak:,} bytes"
    response = limited.http.post("/api/v1/experiments", content=compressed,
                                 headers={"Content-Type": "application/json",
                                          "Content-Encoding": "gzip"})
    assert_error(response, 413, "REQUEST_TOO_LARGE", "decompresses (gzip)")
    assert num_traces(limited) == 0


# -- Content-Encoding, on every route --------------------------------------------------------

def test_gzip_and_deflate_bodies_are_decoded_for_json_routes(limited: Served) -> None:
    body = json.dumps({"name": "zipped"}).encode()
    for encoding, data in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body)),
                           ("x-gzip", gzip.compress(body)), ("identity", body)):
        response = limited.http.post(
            "/api/v1/experiments", content=data,
            headers={"Content-Type": "application/json", "Content-Encoding": encoding})
        if encoding == "gzip":
            assert response.status_code == 200, response.text
        else:  # the same name again: decoded, then refused as taken
            assert_error(response, 409, "RESOURCE_ALREADY_EXISTS", "zipped")


def test_otlp_bodies_in_every_encoding(limited: Served) -> None:
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    encodings: dict[str, Any] = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "deflate-raw": lambda data: raw_deflate.compress(data) + raw_deflate.flush(),
        # Two gzip members one after the other are one body (RFC 1952).
        "gzip-members": lambda data: gzip.compress(data[:100]) + gzip.compress(data[100:]),
    }
    expected = 0
    for name, encode in encodings.items():
        batch = make_batch(4)
        response = limited.http.post(
            "/v1/traces", content=encode(batch.body()),
            headers=PROTOBUF | {"Content-Encoding": name.split("-")[0]})
        assert response.status_code == 200, (name, response.text)
        expected += 4
        assert all(limited.store.get_trace(t) for t in batch.trace_ids)
    assert num_traces(limited) == expected


def test_unsupported_encoding_is_415(limited: Served) -> None:
    for encoding in ("br", "zstd", "gzip, br"):
        response = limited.http.post("/v1/traces", content=make_batch(1).body(),
                                     headers=PROTOBUF | {"Content-Encoding": encoding})
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE", repr(encoding),
                     "gzip, deflate or identity")
    response = limited.http.post("/api/v1/experiments", content=b'{"name": "x"}',
                                 headers={"Content-Type": "application/json",
                                          "Content-Encoding": "br"})
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert num_traces(limited) == 0
    # No body, nothing to decode: a GET is not refused for the header.
    assert limited.http.get("/health", headers={"Content-Encoding": "br"}).status_code == 200


def test_bodies_that_do_not_decompress_are_400_naming_the_encoding(limited: Served) -> None:
    whole = gzip.compress(json.dumps({"name": "cut"}).encode())
    for body in (b"not gzip at all", whole[: len(whole) - 12]):
        for path, content_type in (("/v1/traces", PROTOBUF["Content-Type"]),
                                   ("/api/v1/experiments", "application/json")):
            response = limited.http.post(path, content=body, headers={
                "Content-Type": content_type, "Content-Encoding": "gzip"})
            assert_error(response, 400, "INVALID_PARAMETER_VALUE",
                         "Content-Encoding is gzip but the body does not decompress")
    assert limited.store.find_experiment_by_name("cut") is None


# -- what an OTLP request holds --------------------------------------------------------------

def test_spans_per_request(limited: Served) -> None:
    too_many = make_batch(17)  # 51 spans
    response = limited.http.post("/v1/traces", content=too_many.body(), headers=PROTOBUF)
    assert_error(response, 413, "REQUEST_TOO_LARGE", "51 spans", "max_spans_per_request",
                 "50")
    assert num_traces(limited) == 0
    at_limit = make_batch(25, spans_per_trace=2)  # 50 spans
    response = limited.http.post("/v1/traces", content=at_limit.body(), headers=PROTOBUF)
    assert response.status_code == 200, response.text
    assert num_traces(limited) == 25


def rejection(response: httpx.Response, rejected: int, *words: str) -> str:
    """The partial success of a 200 answer to an OTLP request: ``rejected`` spans, and a
    message with each of ``words``."""
    assert response.status_code == 200, response.text
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(response.content)
    assert answer.partial_success.rejected_spans == rejected, answer
    message: str = answer.partial_success.error_message
    for word in words:
        assert word in message, message
    return message


def test_attribute_over_the_limit_rejects_its_span_naming_it(limited: Served) -> None:
    big = json.dumps("y" * (5 * KIB))
    batch = make_batch(2)
    root = batch.request.resource_spans[0].scope_spans[0].spans[3]  # the second trace's root
    root.attributes[0].value.string_value = big
    response = limited.http.post("/v1/traces", content=batch.body(), headers=PROTOBUF)
    message = rejection(response, 1, "'mlflow.spanInputs'", "span 'root'",
                        batch.trace_ids[1][3:], root.span_id.hex(), "max_attribute_bytes",
                        "4,096 bytes")
    assert f"{len(big) + 3:,} bytes" in message  # the value's encoding
    # The other spans are stored: the first trace whole, the second without its root.
    first = limited.store.get_trace(batch.trace_ids[0])
    assert len(first.data.spans) == 3
    second = limited.store.get_trace(batch.trace_ids[1]).data.spans
    assert [s.name for s in second] == ["step-1", "step-2"]
    # An event's attribute is measured too.
    batch = make_batch(1)
    event = batch.request.resource_spans[0].scope_spans[0].spans[1].events.add()
    event.name = "retrieved"
    attribute = event.attributes.add()
    attribute.key = "documents"
    attribute.value.string_value = big
    response = limited.http.post("/v1/traces", content=batch.body(), headers=PROTOBUF)
    rejection(response, 1, "'documents'", "event 'retrieved'", "max_attribute_bytes")
    # A request with no span to store is a 400 naming it, and writes nothing.
    batch = make_batch(1, spans_per_trace=1, root_inputs=big)
    response = limited.http.post("/v1/traces", content=batch.body(), headers=PROTOBUF)
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "'mlflow.spanInputs'",
                 batch.trace_ids[0], "max_attribute_bytes")
    with pytest.raises(NotFoundError):
        limited.store.get_trace(batch.trace_ids[0])
    # Right under the limit is fine.
    batch = make_batch(1, root_inputs=json.dumps("z" * (4 * KIB - 10)))
    response = limited.http.post("/v1/traces", content=batch.body(), headers=PROTOBUF)
    assert response.status_code == 200, response.text
    assert response.content == b""  # an empty ExportTraceServiceResponse
    assert len(limited.store.get_trace(batch.trace_ids[0]).data.spans) == 3


def test_assessment_values_over_the_limit_are_400(limited: Served) -> None:
    batch = make_batch(1)
    assert limited.http.post("/v1/traces", content=batch.body(),
                             headers=PROTOBUF).status_code == 200
    trace_id = batch.trace_ids[0]
    big_text = "é" * (3 * KIB)  # 3,072 characters, 6,146 bytes as UTF-8 JSON
    big_list = [{"k": i} for i in range(1000)]
    for path, body in (
        (f"/api/v1/traces/{trace_id}/feedback", {"name": "note", "value": big_text}),
        (f"/api/v1/traces/{trace_id}/expectations", {"name": "facts", "value": big_list}),
    ):
        response = limited.http.post(path, json=body)
        assert_error(response, 400, "INVALID_PARAMETER_VALUE", "Invalid value",
                     "max_attribute_bytes", "4,096 bytes")
    small = limited.http.post(f"/api/v1/traces/{trace_id}/feedback",
                              json={"name": "note", "value": "fine"})
    assert small.status_code == 200, small.text
    assessment_id = small.json()["assessment"]["assessment_id"]
    response = limited.http.patch(f"/api/v1/traces/{trace_id}/assessments/{assessment_id}",
                                  json={"value": big_text})
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "max_attribute_bytes")
    response = limited.http.post(
        f"/api/v1/traces/{trace_id}/assessments/{assessment_id}/override",
        json={"value": big_text})
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "max_attribute_bytes")
    stored = limited.store.get_trace(trace_id).info.assessments
    assert [(a.name, a.value, a.valid) for a in stored] == [("note", "fine", True)]


# -- settings and flags ----------------------------------------------------------------------

def test_limit_flags_and_defaults() -> None:
    defaults = ServerSettings()
    assert (defaults.max_request_bytes, defaults.max_spans_per_request) == (32 * MIB, 10_000)
    args = build_parser().parse_args(["server", "--max-request-mb", "0.5",
                                      "--max-spans-per-request", "200",
                                      "--max-attribute-mb", "2"])
    assert (args.max_request_mb, args.max_spans_per_request, args.max_attribute_mb) == (
        512 * KIB, 200, 2 * MIB)
    args = build_parser().parse_args(["server"])  # the flags' defaults are the settings'
    assert (args.max_request_mb, args.max_spans_per_request, args.max_attribute_mb) == (
        defaults.max_request_bytes, defaults.max_spans_per_request, defaults.max_attribute_bytes)


@pytest.mark.parametrize("flag", ["--max-request-mb", "--max-attribute-mb"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "lots"])
def test_bad_size_flags_are_refused(flag: str, value: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["server", flag, value])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize("field", ["max_request_bytes", "max_spans_per_request",
                                   "max_attribute_bytes"])
def test_bad_limits_are_refused_naming_the_setting(field: str) -> None:
    for value in (0, -5, True):
        settings: dict[str, Any] = {field: value}
        with pytest.raises(InvalidParameterError, match=field):
            ServerSettings(**settings).check()


def test_limits_reach_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ServerSettings(max_request_bytes=123_456, max_spans_per_request=77,
                              max_attribute_bytes=999)
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    assert ServerSettings.from_env() == settings
    monkeypatch.setenv("ASSAY_SERVER_MAX_SPANS_PER_REQUEST", "many")
    with pytest.raises(InvalidParameterError, match="ASSAY_SERVER_MAX_SPANS_PER_REQUEST"):
        ServerSettings.from_env()
