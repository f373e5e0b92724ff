"""The tracer: starts spans, keeps each running trace in memory, hands finished ones on.

A trace is kept in memory from its root span's start to its end; when the root ends, the
whole trace goes to the exporter, which writes it in the background. Spans nest through the
OpenTelemetry context, so they stay apart across threads and asyncio tasks, and they join
the trace of a span from other OpenTelemetry instrumentation when one is current.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanContext, TraceFlags

from assay.entities.span import SpanType
from assay.entities.trace import TraceState
from assay.tracing.live_span import LiveSpan, NoOpSpan

if TYPE_CHECKING:
    from assay.entities.assessment import Assessment
    from assay.store.base import Store

__all__ = ["InMemoryTrace", "Tracer", "new_trace_id"]

_log = logging.getLogger(__name__)

_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)

T = TypeVar("T")


def new_trace_id() -> int:
    """A 128-bit trace id that starts with the time in milliseconds (as UUIDv7 does).

    Ids that grow with time are written next to each other in every index keyed by trace
    id, so a busy store's writes stay fast as it grows (random ids scatter them over the
    whole index). The last 80 bits stay random, more than the 56 random bits the W3C trace
    context asks for.
    """
    return (time.time_ns() // 1_000_000) << 80 | random.getrandbits(80)


class InMemoryTrace:
    """A trace whose root span has not ended yet: its spans and trace-level fields."""

    __slots__ = (
        "assessments",
        "client_request_id",
        "experiment_id",
        "finished",
        "metadata",
        "request_preview",
        "response_preview",
        "root",
        "spans",
        "state",
        "store",
        "tags",
        "trace_id",
        "trace_id_int",
        "tracer",
    )

    def __init__(self, tracer: Tracer, trace_id_int: int, experiment_id: str,
                 store: Store | None) -> None:
        self.tracer = tracer
        self.trace_id_int = trace_id_int
        self.trace_id = f"tr-{trace_id_int:032x}"
        self.experiment_id = experiment_id
        self.store = store
        self.root: LiveSpan | None = None
        self.spans: list[LiveSpan] = []
        self.finished = False
        self.tags: dict[str, str] = {}
        self.metadata: dict[str, str] = {}
        self.client_request_id: str | None = None
        self.request_preview: str | None = None
        self.response_preview: str | None = None
        self.state: TraceState | None = None
        # Assessments logged while the trace runs (see running_assessments), written with it.
        self.assessments: list[Assessment] = []

    def span_ended(self, span: LiveSpan) -> None:
        if span is self.root:
            self.tracer._finish(self)


class Tracer:
    """Creates LiveSpans and passes each finished trace to ``on_trace_end``."""

    def __init__(self, on_trace_end: Callable[[InMemoryTrace], None],
                 experiment_id: Callable[[], str], store: Callable[[], Store | None],
                 sampling_ratio: float = 1.0) -> None:
        self._on_trace_end = on_trace_end
        self._experiment_id = experiment_id
        self._store = store
        self.sampling_ratio = sampling_ratio
        # Running traces by OpenTelemetry trace id, and by Assay trace id for lookups.
        self._active: dict[int, InMemoryTrace] = {}
        self._by_id: dict[str, InMemoryTrace] = {}
        self._lock = threading.Lock()
        self.last_trace_id: str | None = None

    def start_span(self, name: str, span_type: str = SpanType.UNKNOWN,
                   parent: otel_trace.Span | None = None,
                   attributes: Mapping[str, Any] | None = None,
                   start_ns: int | None = None, sampling_ratio: float | None = None,
                   experiment_id: str | None = None) -> LiveSpan | NoOpSpan:
        """Start a span under ``parent`` (default: the current span) or as a new root."""
        if parent is None:
            parent = otel_trace.get_current_span()
        if type(parent) is LiveSpan:
            trace = parent._trace
            if not trace.finished:
                span = LiveSpan(trace, random.getrandbits(64) or 1, parent._span_id, name,
                                span_type, start_ns)
                trace.spans.append(span)
                if attributes:
                    span.set_attributes(attributes)
                return span
            # The parent's trace was already written: start a trace of its own.
            parent_ctx: SpanContext | None = None
        else:
            parent_ctx = parent.get_span_context()
            if not parent_ctx.is_valid:
                parent_ctx = None
            elif not parent_ctx.trace_flags.sampled:
                return NoOpSpan(SpanContext(parent_ctx.trace_id, random.getrandbits(64) or 1,
                                            False, _NOT_SAMPLED))
        return self._start_trace(name, span_type, parent_ctx, attributes, start_ns,
                                 sampling_ratio, experiment_id)

    def _start_trace(self, name: str, span_type: str, parent_ctx: SpanContext | None,
                     attributes: Mapping[str, Any] | None, start_ns: int | None,
                     sampling_ratio: float | None,
                     experiment_id: str | None) -> LiveSpan | NoOpSpan:
        if parent_ctx is None:
            ratio = self.sampling_ratio if sampling_ratio is None else sampling_ratio
            trace_id_int = new_trace_id()
            if ratio < 1.0 and random.random() >= ratio:
                return NoOpSpan(SpanContext(trace_id_int, random.getrandbits(64) or 1, False,
                                            _NOT_SAMPLED))
            parent_id = None
        else:
            # Under a span of other OpenTelemetry instrumentation: same trace id, and the
            # foreign span as parent.
            trace_id_int = parent_ctx.trace_id
            parent_id = parent_ctx.span_id
            with self._lock:
                running = self._active.get(trace_id_int)
            if running is not None and not running.finished:
                span = LiveSpan(running, random.getrandbits(64) or 1, parent_id, name,
                                span_type, start_ns)
                running.spans.append(span)
                if attributes:
                    span.set_attributes(attributes)
                return span
        trace = InMemoryTrace(self, trace_id_int,
                              experiment_id if experiment_id is not None
                              else self._experiment_id(), self._store())
        span = LiveSpan(trace, random.getrandbits(64) or 1, parent_id, name, span_type,
                        start_ns)
        trace.root = span
        trace.spans.append(span)
        if attributes:
            span.set_attributes(attributes)
        with self._lock:
            self._active[trace_id_int] = trace
            self._by_id[trace.trace_id] = trace
        return span

    def _finish(self, trace: InMemoryTrace) -> None:
        with self._lock:
            trace.finished = True
            if self._active.get(trace.trace_id_int) is trace:
                del self._active[trace.trace_id_int]
            self._by_id.pop(trace.trace_id, None)
            self.last_trace_id = trace.trace_id
            # Handed on under the lock, so that another thread that changes the trace
            # through with_active_trace() either does so before it is queued or finds it
            # queued (see Exporter.is_pending), never in between.
            try:
                self._on_trace_end(trace)
            except Exception:  # the app must never see a tracing failure
                _log.exception("Assay could not queue trace %s for export", trace.trace_id)

    def with_active_trace(self, trace_id: str, change: Callable[[InMemoryTrace], T]) -> T | None:
        """``change(trace)`` if the trace with this id is running, else None.

        It runs under the tracer's lock, so the trace cannot end meanwhile: what it adds is
        written with the trace. It must be short, return something other than None, and not
        call back into the tracer.
        """
        with self._lock:
            trace = self._by_id.get(trace_id)
            if trace is None or trace.finished:
                return None
            return change(trace)

    def find_active_trace(self, trace_id: str) -> InMemoryTrace | None:
        """The running (not yet ended) trace with this id, if it is in this process."""
        with self._lock:
            return self._by_id.get(trace_id)

    @staticmethod
    def current_trace() -> InMemoryTrace | None:
        """The running trace of the current span, if the current span is Assay's."""
        span = otel_trace.get_current_span()
        if type(span) is LiveSpan and not span._trace.finished:
            return span._trace
        return None
