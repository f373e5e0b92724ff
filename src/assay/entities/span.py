"""Spans: one timed step of a trace (a function call, an LLM call, a retrieval)."""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay import _json

__all__ = ["Span", "SpanEvent", "SpanStatus", "SpanStatusCode", "SpanType"]


class SpanType:
    """The kinds of span MLflow defines. Any other string is accepted as a span type too."""

    LLM = "LLM"
    CHAT_MODEL = "CHAT_MODEL"
    CHAIN = "CHAIN"
    AGENT = "AGENT"
    TOOL = "TOOL"
    RETRIEVER = "RETRIEVER"
    PARSER = "PARSER"
    EMBEDDING = "EMBEDDING"
    RERANKER = "RERANKER"
    MEMORY = "MEMORY"
    UNKNOWN = "UNKNOWN"
    WORKFLOW = "WORKFLOW"
    TASK = "TASK"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every predefined span type."""
        return tuple(v for k, v in vars(cls).items() if k.isupper())


class SpanStatusCode(enum.StrEnum):
    """The status of a span, as OpenTelemetry defines it."""

    UNSET = "UNSET"
    OK = "OK"
    ERROR = "ERROR"


_OTLP_STATUS = {
    SpanStatusCode.UNSET: "STATUS_CODE_UNSET",
    SpanStatusCode.OK: "STATUS_CODE_OK",
    SpanStatusCode.ERROR: "STATUS_CODE_ERROR",
}


@dataclass(frozen=True, slots=True)
class SpanStatus:
    """A status code and an optional description (set for errors)."""

    status_code: SpanStatusCode = SpanStatusCode.UNSET
    description: str = ""

    @classmethod
    def coerce(cls, value: SpanStatus | SpanStatusCode | str) -> SpanStatus:
        """Accept a SpanStatus, a code, or a code's name such as ``"OK"`` (any case)."""
        if isinstance(value, SpanStatus):
            return value
        if isinstance(value, SpanStatusCode):
            return cls(value)
        if isinstance(value, str):
            name = value.upper().removeprefix("STATUS_CODE_")
            try:
                return cls(SpanStatusCode(name))
            except ValueError:
                pass
        allowed = ", ".join(c.value for c in SpanStatusCode)
        raise ValueError(f"Invalid span status {value!r}: expected one of {allowed}")


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """Something that happened at a point in time during a span (an exception, a chunk)."""

    name: str
    timestamp_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "time_unix_nano": self.timestamp_ns,
                "attributes": dict(self.attributes)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpanEvent:
        return cls(name=d["name"], timestamp_ns=int(d.get("time_unix_nano") or 0),
                   attributes=dict(d.get("attributes") or {}))


# Attribute keys that carry the span's own fields in the OpenTelemetry form of a span.
INPUTS_KEY = "mlflow.spanInputs"
OUTPUTS_KEY = "mlflow.spanOutputs"
TYPE_KEY = "mlflow.spanType"
TRACE_ID_KEY = "mlflow.traceRequestId"
# A streamed output's chunks (``@trace`` on a generator, an OpenAI stream): one span event
# each, named CHUNK_EVENT_PREFIX and the chunk's index, holding the chunk's JSON under
# CHUNK_VALUE_KEY (MLflow's convention).
CHUNK_EVENT_PREFIX = "mlflow.chunk.item."
CHUNK_VALUE_KEY = "mlflow.chunk.value"


@dataclass(frozen=True, slots=True)
class Span:
    """A finished span, as stored.

    Inputs and outputs are kept as the JSON text they were recorded as and decoded on access,
    so a span passes from the tracer to the store, and from the store to a reader, without
    being decoded and encoded again.
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_time_ns: int
    end_time_ns: int | None
    span_type: str = SpanType.UNKNOWN
    status: SpanStatus = SpanStatus()
    inputs_json: str | None = None
    outputs_json: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[SpanEvent] = ()

    @property
    def inputs(self) -> Any:
        return _json.loads(self.inputs_json)

    @property
    def outputs(self) -> Any:
        return _json.loads(self.outputs_json)

    @property
    def request_id(self) -> str:
        return self.trace_id

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_time_ns is None else self.end_time_ns - self.start_time_ns

    def get_attribute(self, key: str) -> Any:
        if key == INPUTS_KEY:
            return self.inputs
        if key == OUTPUTS_KEY:
            return self.outputs
        if key == TYPE_KEY:
            return self.span_type
        return self.attributes.get(key)

    def to_dict(self) -> dict[str, Any]:
        """The OpenTelemetry-shaped dict MLflow uses: base64 ids, JSON-string attributes."""
        attributes = {k: _json.dumps(v) for k, v in self.attributes.items()}
        attributes[TRACE_ID_KEY] = _json.dumps(self.trace_id)
        attributes[TYPE_KEY] = _json.dumps(self.span_type)
        if self.inputs_json is not None:
            attributes[INPUTS_KEY] = self.inputs_json
        if self.outputs_json is not None:
            attributes[OUTPUTS_KEY] = self.outputs_json
        return {
            "trace_id": _hex_to_b64(self.trace_id.removeprefix("tr-")),
            "span_id": _hex_to_b64(self.span_id),
            "parent_span_id": _hex_to_b64(self.parent_id) if self.parent_id else None,
            "name": self.name,
            "start_time_unix_nano": self.start_time_ns,
            "end_time_unix_nano": self.end_time_ns,
            "events": [e.to_dict() for e in self.events],
            "status": {"code": _OTLP_STATUS[self.status.status_code],
                       "message": self.status.description},
            "attributes": attributes,
            "links": [],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Span:
        """Read the dict :meth:`to_dict` writes (base64 or hex ids are both accepted)."""
        raw_attrs: dict[str, Any] = dict(d.get("attributes") or {})
        inputs_json = raw_attrs.pop(INPUTS_KEY, None)
        outputs_json = raw_attrs.pop(OUTPUTS_KEY, None)
        span_type = _json.loads(raw_attrs.pop(TYPE_KEY, None)) or SpanType.UNKNOWN
        trace_attr = _json.loads(raw_attrs.pop(TRACE_ID_KEY, None))
        attributes = {k: _json.loads(v) if isinstance(v, str) else v
                      for k, v in raw_attrs.items()}
        status = d.get("status") or {}
        trace_hex = _any_to_hex(d["trace_id"], 16)
        trace_id = trace_attr if isinstance(trace_attr, str) else f"tr-{trace_hex}"
        parent = d.get("parent_span_id")
        return cls(
            trace_id=trace_id,
            span_id=_any_to_hex(d["span_id"], 8),
            parent_id=_any_to_hex(parent, 8) if parent else None,
            name=d["name"],
            start_time_ns=int(d["start_time_unix_nano"]),
            end_time_ns=(None if d.get("end_time_unix_nano") is None
                         else int(d["end_time_unix_nano"])),
            span_type=str(span_type),
            status=SpanStatus(SpanStatus.coerce(status.get("code") or "UNSET").status_code,
                              status.get("message") or ""),
            inputs_json=inputs_json,
            outputs_json=outputs_json,
            attributes=attributes,
            events=tuple(SpanEvent.from_dict(e) for e in d.get("events") or ()),
        )


def _hex_to_b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode("ascii")


def _any_to_hex(value: str, num_bytes: int) -> str:
    """Accept an id as hex (as the Python API shows it) or base64 (as the dict form has it)."""
    value = value.removeprefix("tr-")
    if len(value) == 2 * num_bytes:
        try:
            bytes.fromhex(value)
            return value.lower()
        except ValueError:
            pass
    return base64.b64decode(value).hex()
