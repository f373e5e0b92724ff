"""The server's limits: how big a request body may be, as sent and once decompressed; how many
spans one OTLP request may hold; how big one span attribute or assessment value may be.

==========================  ============  ======  ==============================================
setting                     default       status  checked
==========================  ============  ======  ==============================================
``max_request_bytes``       32 MiB        413     by :class:`RequestLimitsMiddleware`, for every
                                                  route: the Content-Length up front, then the
                                                  bytes as they arrive (chunked bodies), then
                                                  the bytes they decompress to
``max_spans_per_request``   10,000        413     by :func:`check_otlp_request`
``max_attribute_bytes``     16 MiB        400     by :func:`check_span_attribute_sizes` (span
                                                  and event attributes, inputs and outputs
                                                  among them: the span is rejected, see
                                                  :mod:`assay.server.api.otlp`) and
                                                  :func:`check_value_size` (an assessment's
                                                  value)
==========================  ============  ======  ==============================================

The middleware also decodes ``Content-Encoding: gzip`` and ``deflate`` (what OTLP exporters
send) for every route, a chunk at a time with the decompressed size capped, so a small body
that inflates to gigabytes (a "gzip bomb") is refused once it passes the limit, never held in
memory. Any other encoding is 415. Routes see the decoded body and no Content-Encoding.

And it refuses, with a 400 naming the path segment or the query parameter, a URL that holds
a NUL character (``%00``): no id, name or key can hold one (PostgreSQL cannot store it, see
:mod:`assay.entities._checks`), so no route has a use for it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay.errors import (
    AssayError,
    InvalidParameterError,
    RequestTooLargeError,
    UnsupportedMediaTypeError,
)
from assay.server.errors import error_response, status_of

__all__ = [
    "RequestLimitsMiddleware",
    "check_otlp_request",
    "check_span_attribute_sizes",
    "check_value_size",
    "describe_bytes",
    "nul_in_url",
]

# The zlib window of each Content-Encoding the server decodes ("deflate" is tried as zlib
# first, then as raw deflate, which some clients send under that name).
_WBITS = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS,
          b"deflate": zlib.MAX_WBITS}
_IDENTITY = (b"", b"identity")
_ENCODING_HEADERS = (b"content-encoding", b"content-length")


def describe_bytes(size: int) -> str:
    """``33554432`` → ``"33,554,432 bytes (32 MiB)"``: exact, and readable."""
    if size >= 1024 * 1024:
        return f"{size:,} bytes ({size / (1024 * 1024):g} MiB)"
    if size >= 1024:
        return f"{size:,} bytes ({size / 1024:g} KiB)"
    return f"{size:,} bytes"


def _too_large(what: str, limit: int) -> RequestTooLargeError:
    return RequestTooLargeError(
        f"Request body too large: {what} more than max_request_bytes = "
        f"{describe_bytes(limit)} (the server's --max-request-mb)")


class RequestLimitsMiddleware:
    """Pure-ASGI middleware: the body-size limit and Content-Encoding decoding, for every route.

    A request whose Content-Length is over the limit, or whose encoding is not one of gzip,
    deflate or identity, is answered (413, 415) before the app sees it. Otherwise the app
    reads the body through a counting (and decoding) ``receive``, which raises
    RequestTooLargeError once the body passes the limit and InvalidParameterError for a body
    that does not decompress; the error handlers answer those (413, 400), and so does this
    middleware if one reaches it before the response has started.
    """

    def __init__(self, app: ASGIApp, max_request_bytes: int) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = nul_in_url(scope)
        if refusal is not None:
            await _answer(refusal, scope, receive, send)
            return
        encoding = b""
        length: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-encoding":
                encoding = value.strip().lower()
            elif name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                chunked = True
        has_body = chunked or bool(length)
        limit = self.max_request_bytes
        if length is not None and length > limit:
            await _answer(_too_large(f"its Content-Length, {length:,} bytes, is", limit),
                          scope, receive, send)
            return
        if not has_body or encoding in _IDENTITY:
            body = _Body(receive, limit, None)
        elif encoding in _WBITS:
            body = _Body(receive, limit, encoding)
            # The app sees the decoded body: no encoding, and no length (it would be wrong).
            scope = dict(scope)
            scope["headers"] = [(n, v) for n, v in scope["headers"]
                                if n not in _ENCODING_HEADERS]
        else:
            await _answer(UnsupportedMediaTypeError(
                f"Unsupported Content-Encoding {encoding.decode('latin-1')!r}: expected gzip, "
                "deflate or identity"), scope, receive, send)
            return
        started = False

        async def send_started(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, body.receive, send_started)
        except AssayError as exc:
            # The handlers answer these; one can get here only from outside them.
            if exc is not body.refusal or started:
                raise
            await _answer(exc, scope, receive, send)


def nul_in_url(scope: Scope) -> InvalidParameterError | None:
    """The error for a request whose path or query string holds a NUL character (naming
    the path segment or the query parameter), or None."""
    path: str = scope.get("path", "")
    if "\x00" in path:
        segment = next(part for part in path.split("/") if "\x00" in part)
        return InvalidParameterError(
            f"Invalid URL path segment {segment[:100]!r}: it contains a NUL character")
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return InvalidParameterError(
                    f"Invalid query parameter {name[:100]!r}: it contains a NUL character")
    return None


async def _answer(exc: AssayError, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(status_of(exc), exc.error_code, exc.message)
    await response(scope, receive, send)


class _Body:
    """The request body as the app reads it: counted, and decoded when it is compressed."""

    def __init__(self, receive: Receive, limit: int, encoding: bytes | None) -> None:
        self._receive = receive
        self._limit = limit
        self._encoding = encoding
        self._wbits = _WBITS[encoding] if encoding is not None else 0
        self._decoder = zlib.decompressobj(self._wbits) if encoding is not None else None
        self._received = 0
        self._decoded = 0
        self._first = True
        #: The error this body raised, if any (the app may answer it, or let it through).
        self.refusal: AssayError | None = None

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        chunk: bytes = message.get("body", b"")
        self._received += len(chunk)
        if self._received > self._limit:
            raise self._refuse(_too_large("it is", self._limit))
        if self._decoder is None:
            return message  # as it came: no copy
        more = bool(message.get("more_body", False))
        return {"type": "http.request", "body": self._decode(chunk, final=not more),
                "more_body": more}

    def _refuse(self, exc: AssayError) -> AssayError:
        self.refusal = exc
        return exc

    def _decode(self, chunk: bytes, final: bool) -> bytes:
        assert self._decoder is not None and self._encoding is not None
        room = self._limit - self._decoded
        try:
            parts = []
            produced = 0
            pending = chunk
            while True:
                # At most one byte over the room left: enough to know the limit is passed,
                # never the whole inflated body.
                out = self._decoder.decompress(pending, room - produced + 1)
                parts.append(out)
                produced += len(out)
                if produced > room or self._decoder.unconsumed_tail:
                    raise self._refuse(_too_large(
                        f"it decompresses ({self._encoding.decode()}) to", self._limit))
                # A gzip body may hold several members, one after the other.
                rest = self._decoder.unused_data
                if not (self._decoder.eof and rest.strip(b"\0")):
                    break
                self._decoder = zlib.decompressobj(self._wbits)
                pending = rest
        except zlib.error as exc:
            if self._first and self._encoding == b"deflate" and self._wbits > 0:
                # Raw deflate sent as "deflate": start again with no zlib header.
                self._wbits = -zlib.MAX_WBITS
                self._decoder = zlib.decompressobj(self._wbits)
                return self._decode(chunk, final)
            raise self._refuse(self._undecodable(str(exc))) from None
        self._first = False
        if final and self._received and not self._decoder.eof:
            raise self._refuse(self._undecodable("the compressed data ends too early"))
        self._decoded += produced
        return b"".join(parts)

    def _undecodable(self, reason: str) -> InvalidParameterError:
        assert self._encoding is not None
        return InvalidParameterError(
            f"Invalid body: Content-Encoding is {self._encoding.decode()} but the body does "
            f"not decompress ({reason})")


# -- what a request holds ------------------------------------------------------------------

def check_otlp_request(request: ExportTraceServiceRequest, max_spans: int,
                       max_attribute_bytes: int | None = None, *,
                       encoded_size: int | None = None) -> None:
    """RequestTooLargeError for more than ``max_spans`` spans; with ``max_attribute_bytes``,
    InvalidParameterError naming the span and the attribute for the first attribute (of a
    span or of one of its events) bigger than that as sent (its protobuf encoding).

    ``encoded_size``: the size of the protobuf body the request was parsed from, if it was.
    The server's route checks each span's attributes with :func:`check_span_attribute_sizes`
    instead, so that one oversized span is rejected alone.
    """
    count = sum(len(scope_spans.spans) for resource_spans in request.resource_spans
                for scope_spans in resource_spans.scope_spans)
    if count > max_spans:
        raise RequestTooLargeError(
            f"OTLP request too large: {count:,} spans, more than max_spans_per_request = "
            f"{max_spans:,} (the server's --max-spans-per-request); send smaller batches")
    if max_attribute_bytes is None:
        return
    if encoded_size is not None and encoded_size <= max_attribute_bytes:
        return
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                check_span_attribute_sizes(span, max_attribute_bytes)


def check_span_attribute_sizes(span: OtlpSpan, limit: int) -> None:
    """InvalidParameterError naming the attribute (and the event) for an attribute of the
    span or of one of its events bigger than ``limit`` bytes as sent (its protobuf encoding).

    Cheap on the common path: a span whose whole encoding is within the limit cannot hold a
    bigger attribute, so only bigger spans have their attributes measured one by one. (An
    attribute's value holds no field whose encoding can grow when parsed and encoded again:
    its size is at most that of its bytes in the body.)
    """
    if span.ByteSize() <= limit:
        return
    where = f"span {span.name[:100]!r} (trace_id {span.trace_id[:32].hex()})"
    _check_attributes(span.attributes, where, limit)
    for event in span.events:
        _check_attributes(event.attributes, f"event {event.name[:100]!r} of {where}", limit)


def _check_attributes(attributes: Iterable[KeyValue], where: str, limit: int) -> None:
    for attribute in attributes:
        size = attribute.value.ByteSize()
        if size > limit:
            raise InvalidParameterError(
                f"Invalid attribute {attribute.key[:100]!r} of {where}: {size:,} bytes, more "
                f"than max_attribute_bytes = {describe_bytes(limit)} (the server's "
                "--max-attribute-mb)")


def check_value_size(field: str, value: Any, limit: int) -> None:
    """InvalidParameterError naming ``field`` when ``value``, as the store keeps it (UTF-8
    JSON), is over ``limit`` bytes."""
    if value is None or isinstance(value, bool | int | float):
        return
    if isinstance(value, str) and len(value) * 6 + 2 <= limit:
        return  # a character takes at most 6 bytes in JSON (a \u escape): surely within
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > limit:
        raise InvalidParameterError(
            f"Invalid {field}: {size:,} bytes as JSON, more than max_attribute_bytes = "
            f"{describe_bytes(limit)} (the server's --max-attribute-mb)")
