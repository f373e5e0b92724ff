"""LiveSpan: a span that is still running, and the no-op span used when a trace is dropped.

A LiveSpan implements OpenTelemetry's ``Span`` interface, so it lives in the ordinary
OpenTelemetry context: spans of other OpenTelemetry instrumentation nest under it, and it
nests under theirs. It is deliberately lighter than the OpenTelemetry SDK's span (which
costs about 25 µs to start and end on a small machine, more than Assay's whole budget per
span): it keeps its own fields and is turned into an :class:`~assay.entities.Span` when its
trace is written.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags
from opentelemetry.util import types as otel_types

from assay import _json
from assay.entities.span import Span, SpanEvent, SpanStatus, SpanStatusCode, SpanType

if TYPE_CHECKING:
    from assay.tracing.tracer import InMemoryTrace

__all__ = ["FUNCTION_NAME_KEY", "NO_OP_TRACE_ID", "LiveSpan", "NoOpSpan"]

#: The attribute naming the function a ``@trace`` span recorded (MLflow's key).
FUNCTION_NAME_KEY = "mlflow.spanFunctionName"

#: The trace id of spans that are not recorded (tracing sampled out or failed).
NO_OP_TRACE_ID = "tr-no-op-span"

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
# Shared, immutable statuses: building a frozen dataclass per span costs more than the rest
# of ending it.
_UNSET = SpanStatus()
_OK = SpanStatus(SpanStatusCode.OK)
_IMMUTABLE = (str, int, float, bool, type(None))


class LiveSpan(otel_trace.Span):
    """A span being recorded. Returned by ``assay.start_span`` and ``get_current_active_span``."""

    __slots__ = (
        "_attributes", "_context", "_end_ns", "_events", "_function_name", "_inputs",
        "_inputs_json",
        "_lock", "_name", "_outputs", "_outputs_json", "_outputs_set", "_parent_id",
        "_span_id", "_span_type", "_start_ns", "_status", "_trace", "_trace_id_int",
    )

    def __init__(self, trace: InMemoryTrace, span_id: int, parent_id: int | None,
                 name: str, span_type: str, start_ns: int | None = None) -> None:
        self._trace = trace
        self._trace_id_int = trace.trace_id_int
        self._span_id = span_id
        self._parent_id = parent_id
        self._name = name
        self._span_type = span_type
        self._start_ns = time.time_ns() if start_ns is None else start_ns
        self._end_ns: int | None = None
        self._status = _UNSET
        self._inputs: Any = None
        self._inputs_json: str | None = None
        self._outputs: Any = None
        self._outputs_json: str | None = None
        self._outputs_set = False
        self._attributes: dict[str, Any] | None = None
        self._function_name: str | None = None  # set by @trace; an attribute when written
        self._events: list[SpanEvent] | None = None
        self._context: SpanContext | None = None

    # -- identity --------------------------------------------------------------------------
    @property
    def trace_id(self) -> str:
        """The trace id, ``tr-`` and 32 hex digits."""
        return self._trace.trace_id

    @property
    def request_id(self) -> str:
        return self._trace.trace_id

    @property
    def span_id(self) -> str:
        return f"{self._span_id:016x}"

    @property
    def parent_id(self) -> str | None:
        return None if self._parent_id is None else f"{self._parent_id:016x}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def span_type(self) -> str:
        return self._span_type

    @property
    def start_time_ns(self) -> int:
        return self._start_ns

    @property
    def end_time_ns(self) -> int | None:
        return self._end_ns

    @property
    def status(self) -> SpanStatus:
        return self._status

    @property
    def inputs(self) -> Any:
        return _json.loads(self._encoded_inputs())

    @property
    def outputs(self) -> Any:
        return _json.loads(self._encoded_outputs())

    @property
    def attributes(self) -> dict[str, Any]:
        return self._all_attributes()

    @property
    def events(self) -> list[SpanEvent]:
        return list(self._events or ())

    def get_attribute(self, key: str) -> Any:
        return self._all_attributes().get(key)

    def _all_attributes(self) -> dict[str, Any]:
        if self._function_name is None:
            return dict(self._attributes or {})
        return {FUNCTION_NAME_KEY: self._function_name, **(self._attributes or {})}

    # -- recording -------------------------------------------------------------------------
    def set_inputs(self, inputs: Any) -> None:
        """Record the span's inputs (any value; what is not JSON is kept as a string)."""
        self._inputs = inputs
        # A value that cannot change is encoded when the trace is written, off the app's
        # path; anything mutable is encoded now, so later changes do not leak into the trace.
        self._inputs_json = None if _is_immutable(inputs) else _json.dumps(inputs)

    def _set_call_inputs(self, arguments: dict[str, Any]) -> None:
        # The dict of a call's bound arguments is Assay's own, so when its values cannot
        # change the encoding can wait until the trace is written.
        self._inputs = arguments
        for value in arguments.values():
            if not isinstance(value, _IMMUTABLE):
                self._inputs_json = _json.dumps(arguments)
                return
        self._inputs_json = None

    def set_outputs(self, outputs: Any) -> None:
        """Record the span's outputs. An explicit call wins over a function's return value."""
        self._outputs = outputs
        self._outputs_json = None if _is_immutable(outputs) else _json.dumps(outputs)
        self._outputs_set = True

    def set_attribute(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            return
        if self._attributes is None:
            self._attributes = {}
        self._attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_span_type(self, span_type: str) -> None:
        self._span_type = str(span_type)

    def set_status(self, status: SpanStatus | SpanStatusCode | Status | StatusCode | str,
                   description: str | None = None) -> None:
        """Set the status: ``"OK"``, ``"ERROR"``, a SpanStatus, or an OpenTelemetry Status."""
        if isinstance(status, Status):
            code = SpanStatusCode(status.status_code.name)
            self._status = SpanStatus(code, status.description or "")
            return
        if isinstance(status, StatusCode):
            status = status.name
        new = SpanStatus.coerce(status)
        if description is not None:
            new = SpanStatus(new.status_code, description)
        self._status = new

    def add_event(self, name: str | SpanEvent, attributes: otel_types.Attributes = None,
                  timestamp: int | None = None) -> None:
        """Add an event: a :class:`SpanEvent`, or a name with attributes (OpenTelemetry style)."""
        if isinstance(name, SpanEvent):
            event = name
        else:
            event = SpanEvent(name=str(name),
                              timestamp_ns=time.time_ns() if timestamp is None else timestamp,
                              attributes=dict(attributes or {}))
        if self._events is None:
            self._events = []
        self._events.append(event)

    def record_exception(self, exception: BaseException,
                         attributes: otel_types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        """Add an ``exception`` event and set the status to ERROR."""
        stack = "".join(traceback.format_exception(type(exception), exception,
                                                   exception.__traceback__))
        event_attributes: dict[str, Any] = {
            "exception.type": type(exception).__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": stack,
        }
        if attributes:
            event_attributes.update(attributes)
        self.add_event("exception", event_attributes, timestamp)
        self._status = SpanStatus(SpanStatusCode.ERROR,
                                  f"{type(exception).__name__}: {exception}")

    def end(self, outputs: Any = None, attributes: Mapping[str, Any] | None = None,
            status: SpanStatus | SpanStatusCode | str | None = None,
            end_time_ns: int | None = None) -> None:
        """End the span (once; later calls do nothing). Its trace is written when the root ends."""
        if self._end_ns is not None:
            return
        if outputs is not None:
            self.set_outputs(outputs)
        if attributes:
            self.set_attributes(attributes)
        if status is not None:
            self.set_status(status)
        if self._status is _UNSET or self._status.status_code is SpanStatusCode.UNSET:
            self._status = _OK
        self._end_ns = time.time_ns() if end_time_ns is None else end_time_ns
        self._trace.span_ended(self)

    # -- OpenTelemetry Span interface --------------------------------------------------------
    def get_span_context(self) -> SpanContext:
        if self._context is None:
            self._context = SpanContext(self._trace_id_int, self._span_id, False, _SAMPLED)
        return self._context

    def update_name(self, name: str) -> None:
        self._name = name

    def is_recording(self) -> bool:
        return self._end_ns is None

    # -- export ------------------------------------------------------------------------------
    def _recorded_inputs(self) -> Any:
        # The inputs as recorded: the value itself when it could not change (its encoding
        # was left for later), otherwise the snapshot decoded from its JSON.
        return self._inputs if self._inputs_json is None else self.inputs

    def _recorded_outputs(self) -> Any:
        return self._outputs if self._outputs_json is None else self.outputs

    def _encoded_inputs(self) -> str | None:
        if self._inputs_json is None and self._inputs is not None:
            self._inputs_json = _json.dumps(self._inputs)
        return self._inputs_json

    def _encoded_outputs(self) -> str | None:
        if self._outputs_json is None and self._outputs is not None:
            self._outputs_json = _json.dumps(self._outputs)
        return self._outputs_json

    def to_span(self) -> Span:
        """The finished span as an entity (encodes what was left for later)."""
        return Span(
            trace_id=self._trace.trace_id,
            span_id=f"{self._span_id:016x}",
            parent_id=None if self._parent_id is None else f"{self._parent_id:016x}",
            name=self._name,
            start_time_ns=self._start_ns,
            end_time_ns=self._end_ns,
            span_type=self._span_type,
            status=self._status,
            inputs_json=self._encoded_inputs(),
            outputs_json=self._encoded_outputs(),
            attributes=(self._attributes or {}) if self._function_name is None
            else self._all_attributes(),
            events=tuple(self._events or ()),
        )

    def __repr__(self) -> str:
        return (f"LiveSpan(name={self._name!r}, trace_id={self.trace_id!r}, "
                f"span_id={self.span_id!r}, span_type={self._span_type!r})")


def _is_immutable(value: Any) -> bool:
    return isinstance(value, _IMMUTABLE)


class NoOpSpan(otel_trace.Span):
    """Stands in for a span that is not recorded: every method does nothing."""

    trace_id = NO_OP_TRACE_ID
    request_id = NO_OP_TRACE_ID
    span_id = None
    parent_id = None
    name = None
    span_type = SpanType.UNKNOWN
    start_time_ns = None
    end_time_ns = None
    status = SpanStatus()
    inputs = None
    outputs = None
    attributes: Mapping[str, Any] = {}
    events: Sequence[SpanEvent] = ()

    def __init__(self, context: SpanContext | None = None) -> None:
        self._context = context or otel_trace.INVALID_SPAN_CONTEXT

    def set_inputs(self, inputs: Any) -> None:
        pass

    def _set_call_inputs(self, arguments: dict[str, Any]) -> None:
        pass

    def set_outputs(self, outputs: Any) -> None:
        pass

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        pass

    def set_span_type(self, span_type: str) -> None:
        pass

    def set_status(self, status: Any, description: str | None = None) -> None:
        pass

    def add_event(self, name: Any, attributes: otel_types.Attributes = None,
                  timestamp: int | None = None) -> None:
        pass

    def record_exception(self, exception: BaseException,
                         attributes: otel_types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        pass

    def end(self, outputs: Any = None, attributes: Mapping[str, Any] | None = None,
            status: Any = None, end_time_ns: int | None = None) -> None:
        pass

    def get_attribute(self, key: str) -> Any:
        return None

    def get_span_context(self) -> SpanContext:
        return self._context

    def update_name(self, name: str) -> None:
        pass

    def is_recording(self) -> bool:
        return False

