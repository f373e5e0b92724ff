"""Turning the grouped rows of ``analytics.py`` into a FeedbackSummary.

The SQL returns a few rows per group (and feedback name); this module adds them up per
group, merges the groups into the overall figures (groups never share a trace, so counts
add up), and builds the histograms. Its loops run over groups, names and distinct values,
never over traces.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.entities.analytics import (
    AssessmentSummary,
    BooleanStats,
    FeedbackGroup,
    HistogramBin,
    NumericStats,
)

__all__ = ["MAX_CATEGORIES", "MAX_VALUE_BINS", "Bins", "Groups", "NameStats", "bins_for"]

GroupKey = tuple[Any, ...]

#: How many string values are counted per feedback name and group (the most frequent).
MAX_CATEGORIES = 50

#: Integer-valued feedback spanning at most this many integers gets a bin per integer.
MAX_INTEGER_BINS = 20
EQUAL_BINS = 10
#: Fractional feedback with at most this many distinct values (0.2, 0.4, ... 1.0) gets a bin
#: per value: equal bins over its range would leave empty bins between the values.
MAX_VALUE_BINS = 12


@dataclass(frozen=True)
class Bins:
    """Histogram bins: ``count`` bins of ``width`` from ``low`` (width 0: one bin), or, with
    ``values``, one bin per value."""

    low: float
    width: float
    count: int
    values: tuple[float, ...] = ()

    @classmethod
    def per_value(cls, values: Sequence[float]) -> Bins:
        ordered = tuple(sorted(set(values)))
        return cls(ordered[0], 0.0, len(ordered), ordered)

    def index(self, value: float) -> int:
        if self.values:
            return min(bisect.bisect_left(self.values, value), self.count - 1)
        if self.width == 0:
            return 0
        return min(max(int((value - self.low) // self.width), 0), self.count - 1)

    def edges(self, index: int) -> tuple[float, float]:
        """Where bin ``index`` starts and ends (a value's bin: the value, twice)."""
        if self.values:
            return self.values[index], self.values[index]
        return self.low + index * self.width, self.low + (index + 1) * self.width


@dataclass
class NameStats:
    """The figures of one feedback name in one group (or overall)."""

    count: int = 0
    positive: int = 0
    negative: int = 0
    errors: int = 0
    numbers: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None
    fractional: int = 0
    #: Integer values and how often each occurs (for histograms without a second query).
    integers: dict[float, int] = field(default_factory=dict)
    histogram: list[int] | None = None
    categories: dict[str, int] = field(default_factory=dict)

    def add_stats(self, row: Sequence[Any]) -> None:
        """Add a row of counts: count, positive, negative, errors, numbers, total, low,
        high, fractional."""
        count, positive, negative, errors, numbers, total, low, high, fractional = row
        self.count += int(count or 0)
        self.positive += int(positive or 0)
        self.negative += int(negative or 0)
        self.errors += int(errors or 0)
        self.numbers += int(numbers or 0)
        self.total += float(total or 0.0)
        self.low = _pick(min, self.low, low)
        self.high = _pick(max, self.high, high)
        self.fractional += int(fractional or 0)

    def merge(self, other: NameStats) -> None:
        self.add_stats((other.count, other.positive, other.negative, other.errors,
                        other.numbers, other.total, other.low, other.high, other.fractional))
        for number, times in other.integers.items():
            self.integers[number] = self.integers.get(number, 0) + times
        if other.histogram is not None:
            mine = self.histogram or [0] * len(other.histogram)
            self.histogram = [a + b for a, b in zip(mine, other.histogram, strict=True)]
        for text, times in other.categories.items():
            self.categories[text] = self.categories.get(text, 0) + times

    def add_bin(self, index: int, count: int, bins: Bins) -> None:
        if self.histogram is None:
            self.histogram = [0] * bins.count
        self.histogram[min(max(int(index), 0), bins.count - 1)] += count

    def summary(self, name: str, bins: Bins | None,
                categories: dict[str, int]) -> AssessmentSummary:
        boolean = BooleanStats(self.positive, self.negative) \
            if self.positive or self.negative else None
        numeric = None
        if self.numbers and self.low is not None and self.high is not None:
            counts = self.histogram
            if counts is None and bins is not None:  # integers: binned from their counts
                counts = [0] * bins.count
                for value, count in self.integers.items():
                    counts[bins.index(value)] += count
            histogram = () if bins is None or counts is None else tuple(
                HistogramBin(*bins.edges(i), n) for i, n in enumerate(counts))
            numeric = NumericStats(self.numbers, self.total / self.numbers, float(self.low),
                                   float(self.high), histogram)
        ordered = dict(sorted(categories.items(),
                              key=lambda kv: (-kv[1], kv[0]))[:MAX_CATEGORIES])
        other = (self.count - self.positive - self.negative - self.errors - self.numbers
                 - sum(ordered.values()))
        return AssessmentSummary(name=name, count=self.count, num_errors=self.errors,
                                 boolean=boolean, numeric=numeric, categories=ordered,
                                 num_other=other)


@dataclass
class Group:
    num_traces: int = 0
    num_traces_with_feedback: int = 0
    names: dict[str, NameStats] = field(default_factory=dict)

    def name(self, name: str) -> NameStats:
        return self.names.setdefault(name, NameStats())


class Groups:
    """The groups of a summary by key (group value and/or bucket start), then merged."""

    def __init__(self, has_group: bool, has_bucket: bool) -> None:
        self.has_group = has_group
        self.has_bucket = has_bucket
        self.by_key: dict[GroupKey, Group] = {}
        self.bins: dict[str, Bins] = {}
        #: The overall string values per name (a separate query when grouped).
        self.overall_categories: dict[str, dict[str, int]] | None = None

    def get(self, key: GroupKey) -> Group:
        return self.by_key.setdefault(tuple(key), Group())

    def merged(self) -> Group:
        total = Group()
        for group in self.by_key.values():
            total.num_traces += group.num_traces
            total.num_traces_with_feedback += group.num_traces_with_feedback
            for name, stats in group.names.items():
                total.name(name).merge(stats)
        return total

    def overall(self) -> FeedbackGroup:
        total = self.merged()
        categories = self.overall_categories
        if categories is None:  # every group kept all its values: they add up
            categories = {name: stats.categories for name, stats in total.names.items()}
        return _feedback_group(total, None, None, self.bins, categories)

    def each(self) -> list[FeedbackGroup]:
        out = []
        for key, group in self.by_key.items():
            label = bucket = None
            if self.has_group:
                label = None if key[0] is None else str(key[0])
            if self.has_bucket and key[-1] is not None:
                bucket = int(key[-1])
            categories = {name: stats.categories for name, stats in group.names.items()}
            out.append(_feedback_group(group, label, bucket, self.bins, categories))
        out.sort(key=lambda g: (g.bucket_start_ms is None, g.bucket_start_ms or 0,
                                g.group is None, g.group or ""))
        return out


def bins_for(total: Group) -> dict[str, Bins]:
    """Histogram bins per numeric name, the same for every group so that groups add up."""
    found = {}
    for name, stats in total.names.items():
        if not stats.numbers or stats.low is None or stats.high is None:
            continue
        low, high = float(stats.low), float(stats.high)
        if not stats.fractional and high - low < MAX_INTEGER_BINS:
            found[name] = Bins(low, 1.0, int(high - low) + 1)
        elif high == low:
            found[name] = Bins(low, 0.0, 1)
        else:
            found[name] = Bins(low, (high - low) / EQUAL_BINS, EQUAL_BINS)
    return found


def _feedback_group(group: Group, label: str | None, bucket: int | None, bins: dict[str, Bins],
                    categories: dict[str, dict[str, int]]) -> FeedbackGroup:
    summaries = {name: stats.summary(name, bins.get(name), categories.get(name, {}))
                 for name, stats in sorted(group.names.items())}
    return FeedbackGroup(group=label, bucket_start_ms=bucket, num_traces=group.num_traces,
                         num_traces_with_feedback=group.num_traces_with_feedback,
                         assessments=summaries)


def _pick(choose: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return None if b is None else float(b)
    return a if b is None else float(choose(a, b))
