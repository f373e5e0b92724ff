"""Feedback analytics results: what ``get_feedback_summary`` returns.

A :class:`FeedbackSummary` holds one :class:`FeedbackGroup` for all the selected traces
(``overall``) and, when grouped by a user, session, tag, metadata key and/or a time bucket,
one per group. A group counts its traces, the traces with feedback, and summarises each
feedback name (:class:`AssessmentSummary`): booleans as positive/negative with a positive
rate, numbers as mean/min/max and a histogram, strings as counts per category. Rates come
with 95% Wilson score intervals.

Counting rules: only valid feedback counts (not overridden ones); a session-level feedback
counts once for each selected trace of its session, as ``get_trace`` lists it with each.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AssessmentSummary",
    "BooleanStats",
    "FeedbackGroup",
    "FeedbackSummary",
    "HistogramBin",
    "Interval",
    "NumericStats",
    "TimeBucket",
    "wilson_interval",
]

TimeBucket = Literal["hour", "day", "week"]

#: The normal quantile of a two-sided 95% interval.
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    """A confidence interval for a rate, both ends between 0 and 1."""

    low: float
    high: float


def wilson_interval(successes: int, trials: int, z: float = _Z95) -> Interval | None:
    """The Wilson score interval of ``successes`` out of ``trials`` (None for no trials).

    Unlike the normal approximation it stays within [0, 1] and is sensible for small
    counts and rates near 0 or 1.
    """
    if trials <= 0:
        return None
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    center = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return Interval(max(0.0, center - half), min(1.0, center + half))


@dataclass(frozen=True)
class BooleanStats:
    """True/false feedback (thumbs up/down): counts and the share of ``True``."""

    positive: int
    negative: int
    positive_rate: float | None = field(init=False)
    positive_rate_interval: Interval | None = field(init=False)

    def __post_init__(self) -> None:
        total = self.positive + self.negative
        object.__setattr__(self, "positive_rate", self.positive / total if total else None)
        object.__setattr__(self, "positive_rate_interval",
                           wilson_interval(self.positive, total))


@dataclass(frozen=True)
class HistogramBin:
    """Values ``low <= v < high`` (the last bin includes its ``high``)."""

    low: float
    high: float
    count: int


@dataclass(frozen=True)
class NumericStats:
    """Numeric feedback (ratings, scores): booleans are not numbers here.

    The histogram has one bin per integer when every value is an integer and they span at
    most 20 integers, and 10 equal bins from min to max otherwise.
    """

    count: int
    mean: float
    min: float
    max: float
    histogram: tuple[HistogramBin, ...] = ()


@dataclass(frozen=True)
class AssessmentSummary:
    """One feedback name within a group.

    Attributes:
        name: the feedback name.
        count: how many valid feedback values of this name the group's traces have.
        num_errors: feedback that carries an error instead of a value.
        boolean: the true/false values, if any.
        numeric: the number values, if any.
        categories: the string values and how often each occurs (the 50 most frequent).
        num_other: values of no kind above: other strings beyond the 50, lists, objects,
            nulls without an error.
    """

    name: str
    count: int
    num_errors: int = 0
    boolean: BooleanStats | None = None
    numeric: NumericStats | None = None
    categories: Mapping[str, int] = field(default_factory=dict)
    num_other: int = 0

    @property
    def value_type(self) -> Literal["boolean", "numeric", "categorical", "mixed", "none"]:
        """What kind of values the feedback has: one kind, several ("mixed"), or none."""
        present = [self.boolean is not None, self.numeric is not None, bool(self.categories)]
        if sum(present) > 1:
            return "mixed"
        if self.boolean is not None:
            return "boolean"
        if self.numeric is not None:
            return "numeric"
        return "categorical" if self.categories else "none"


@dataclass(frozen=True)
class FeedbackGroup:
    """The traces of one group (or all of them) and their feedback.

    Attributes:
        group: the value of the ``group_by`` field (None: no grouping, or traces without it).
        bucket_start_ms: start of the time bucket, ms since the epoch, UTC (None: no
            bucketing).
        num_traces: traces in the group.
        num_traces_with_feedback: of those, traces with at least one valid feedback (of the
            selected names).
        feedback_rate: their share (None for an empty group), with its 95% interval.
        assessments: a summary per feedback name, by name.
    """

    group: str | None
    bucket_start_ms: int | None
    num_traces: int
    num_traces_with_feedback: int
    assessments: Mapping[str, AssessmentSummary] = field(default_factory=dict)
    feedback_rate: float | None = field(init=False)
    feedback_rate_interval: Interval | None = field(init=False)

    def __post_init__(self) -> None:
        rate = self.num_traces_with_feedback / self.num_traces if self.num_traces else None
        object.__setattr__(self, "feedback_rate", rate)
        object.__setattr__(self, "feedback_rate_interval",
                           wilson_interval(self.num_traces_with_feedback, self.num_traces))


@dataclass(frozen=True)
class FeedbackSummary:
    """Feedback over the traces a search selects: overall, and per group.

    Attributes:
        experiment_ids: the experiments summarised.
        filter_string: the filter that selected the traces (None: all of them).
        group_by: the field traces were grouped by, as given (None: no grouping).
        time_bucket: "hour", "day" or "week" (UTC; weeks start on Monday), or None.
        overall: every selected trace together.
        groups: one per group and/or bucket, in bucket order then group order (groups
            without a value last); empty without group_by and time_bucket.
    """

    experiment_ids: tuple[str, ...]
    filter_string: str | None
    group_by: str | None
    time_bucket: TimeBucket | None
    overall: FeedbackGroup
    groups: tuple[FeedbackGroup, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts, lists and numbers (e.g. to serve as JSON)."""
        plain: dict[str, Any] = _plain(self)
        return plain

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeedbackSummary:
        """Read :meth:`to_dict`'s form back (derived fields are recomputed)."""
        return cls(
            experiment_ids=tuple(d["experiment_ids"]),
            filter_string=d.get("filter_string"),
            group_by=d.get("group_by"),
            time_bucket=d.get("time_bucket"),
            overall=_group_from_dict(d["overall"]),
            groups=tuple(_group_from_dict(g) for g in d.get("groups") or ()),
        )


def _group_from_dict(d: Mapping[str, Any]) -> FeedbackGroup:
    return FeedbackGroup(
        group=d.get("group"),
        bucket_start_ms=d.get("bucket_start_ms"),
        num_traces=d["num_traces"],
        num_traces_with_feedback=d["num_traces_with_feedback"],
        assessments={name: _summary_from_dict(a)
                     for name, a in (d.get("assessments") or {}).items()},
    )


def _summary_from_dict(d: Mapping[str, Any]) -> AssessmentSummary:
    boolean = d.get("boolean")
    numeric = d.get("numeric")
    return AssessmentSummary(
        name=d["name"],
        count=d["count"],
        num_errors=d.get("num_errors", 0),
        boolean=(None if boolean is None
                 else BooleanStats(boolean["positive"], boolean["negative"])),
        numeric=(None if numeric is None else NumericStats(
            count=numeric["count"], mean=numeric["mean"], min=numeric["min"],
            max=numeric["max"],
            histogram=tuple(HistogramBin(b["low"], b["high"], b["count"])
                            for b in numeric.get("histogram") or ()))),
        categories=dict(d.get("categories") or {}),
        num_other=d.get("num_other", 0),
    )


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, AssessmentSummary):
            out["value_type"] = value.value_type
        return out
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
