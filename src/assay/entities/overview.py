"""What the web UI shows at a glance: an experiment's trace count, last trace and feedback
rate, the assessment names used in it, the outline of a trace's spans (no payloads), and how
many traces a search matches, and the user and session ids of an experiment's newest
traces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["AssessmentName", "ExperimentStats", "RecentIds", "SpanOutline", "TraceCount"]


@dataclass(frozen=True)
class ExperimentStats:
    """Counts over all the traces of one experiment.

    Attributes:
        experiment_id: the experiment.
        num_traces: its traces.
        last_trace_time_ms: the request time of its newest trace (None without traces).
        num_traces_with_feedback: traces with at least one valid feedback, their own or
            their session's (as the feedback summary counts them).
        feedback_rate: their share (None without traces).
    """

    experiment_id: str
    num_traces: int
    last_trace_time_ms: int | None
    num_traces_with_feedback: int
    feedback_rate: float | None = field(init=False)

    def __post_init__(self) -> None:
        rate = self.num_traces_with_feedback / self.num_traces if self.num_traces else None
        object.__setattr__(self, "feedback_rate", rate)


@dataclass(frozen=True, order=True)
class AssessmentName:
    """A name under which assessments of one kind were logged in an experiment."""

    kind: Literal["feedback", "expectation"]
    name: str


@dataclass(frozen=True, slots=True)
class SpanOutline:
    """A span without its inputs, outputs, attributes and events: enough to draw it in a
    trace's tree and timeline."""

    span_id: str
    parent_id: str | None
    name: str
    span_type: str
    status_code: str
    start_time_ns: int
    end_time_ns: int | None

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_time_ns is None else self.end_time_ns - self.start_time_ns


@dataclass(frozen=True)
class TraceCount:
    """How many traces a search matches, counted up to a cap.

    Attributes:
        count: the matching traces, at most the cap.
        capped: whether more than ``count`` match (the page shows "10,000+").
    """

    count: int
    capped: bool


@dataclass(frozen=True)
class RecentIds:
    """The user and session ids of an experiment's newest traces, the most recently seen
    first: what the filters of the traces page suggest."""

    user_ids: list[str]
    session_ids: list[str]
