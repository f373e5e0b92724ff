"""Assay's entities: frozen dataclasses with no I/O, safe to import anywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.entities.assessment import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
)
from assay.entities.experiment import Experiment
from assay.entities.session import Session
from assay.entities.span import Span, SpanEvent, SpanStatus, SpanStatusCode, SpanType
from assay.entities.trace import Trace, TraceData, TraceInfo, TraceState

if TYPE_CHECKING:
    from assay.tracing.live_span import LiveSpan

__all__ = [
    "Assessment",
    "AssessmentError",
    "AssessmentSource",
    "AssessmentSourceType",
    "Expectation",
    "Experiment",
    "Feedback",
    "LiveSpan",
    "Session",
    "Span",
    "SpanEvent",
    "SpanStatus",
    "SpanStatusCode",
    "SpanType",
    "Trace",
    "TraceData",
    "TraceInfo",
    "TraceState",
]


def __getattr__(name: str) -> Any:
    # LiveSpan wraps an OpenTelemetry span, so it lives with the tracer; it is re-exported
    # here lazily because MLflow code imports it from the entities module.
    if name == "LiveSpan":
        from assay.tracing.live_span import LiveSpan

        return LiveSpan
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
