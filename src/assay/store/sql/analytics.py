"""Feedback analytics in SQL: counts, rates, means and histograms without reading the traces.

``get_feedback_summary`` answers "how much feedback, and how good" over the traces a filter
selects, optionally per user, session, tag or metadata value, and per hour, day or week. All
the counting happens in the database, in a handful of grouped queries whose number does not
grow with the number of traces:

1. traces per group (``traces``, served by the (experiment_id, request_time_ms) index);
2. per group and feedback name: counts, true/false, numeric count/sum/min/max, strings;
3. traces with feedback per group;
4. histograms of the numeric names, with bins fixed by query 2 over all groups;
5. the most frequent string values per group and name (a window function keeps 50).

Queries 2 to 5 read the *pairs* (trace, feedback): a trace's own valid feedback plus the
valid session-level feedback of its session, each joined to the trace so that the filter,
the group and the bucket apply. Python then only merges the groups' rows (never a row per
trace) into :class:`~assay.entities.analytics.FeedbackSummary`.

Time buckets are UTC and computed with integer arithmetic on ``request_time_ms``, which both
databases do the same way (a floored modulo, so no dialect difference is needed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities.analytics import (
    AssessmentSummary,
    BooleanStats,
    FeedbackGroup,
    FeedbackSummary,
    HistogramBin,
    NumericStats,
    TimeBucket,
)
from assay.errors import InvalidParameterError
from assay.search import FilterError, MetadataField, TagField, TraceField, parse_order_by
from assay.store.sql.dialect import Dialect, floor_to_int
from assay.store.sql.filters import trace_filter
from assay.store.sql.schema import assessments, trace_metadata, trace_tags, traces
from assay.store.sql.search import experiment_keys, run_query

__all__ = ["MAX_CATEGORIES", "get_feedback_summary"]

#: How many string values are counted per feedback name and group (the most frequent).
MAX_CATEGORIES = 50
#: Integer-valued feedback spanning at most this many integers gets a bin per integer.
_MAX_INTEGER_BINS = 20
_EQUAL_BINS = 10
_HOUR_MS = 3_600_000
_BUCKETS: dict[str, tuple[int, int]] = {
    # bucket: (width in ms, start of a bucket). 1970-01-05 was a Monday: weeks start there.
    "hour": (_HOUR_MS, 0),
    "day": (24 * _HOUR_MS, 0),
    "week": (7 * 24 * _HOUR_MS, 4 * 24 * _HOUR_MS),
}
_GROUP_ALIASES = {"user": "trace.user_id", "session": "trace.session_id"}
_GROUPABLE = frozenset({"user_id", "session_id", "name", "status", "run_id", "experiment_id",
                        "client_request_id"})
_BOOLEANS = ("true", "false")

GroupKey = tuple[Any, ...]


def get_feedback_summary(conn: Connection, dialect: Dialect, experiment_ids: Sequence[str],
                         filter_string: str | None = None,
                         names: Sequence[str] | None = None, group_by: str | None = None,
                         time_bucket: str | None = None) -> FeedbackSummary:
    """Feedback over the traces of the experiments that match the filter.

    Args:
        names: the feedback names to summarise (default: every name); they also decide
            which traces count as "with feedback".
        group_by: ``"user"``, ``"session"``, a trace attribute (``name``, ``status``,
            ``run_id``, ``experiment_id``), ``tags.<key>`` or ``metadata.<key>``.
        time_bucket: ``"hour"``, ``"day"`` or ``"week"`` of the trace's request time (UTC).

    Raises:
        FilterError: a bad filter or group_by.
        InvalidParameterError: bad experiment ids, names or time_bucket.
    """
    keys = experiment_keys(experiment_ids)
    name_list = _check_names(names)
    group = _group_expression(group_by)
    bucket = _check_bucket(time_bucket)
    found = trace_filter(dialect, keys or [-1], filter_string)
    query = _Queries(dialect, keys, found.where, name_list, group, bucket)
    groups = _Groups(group is not None, bucket is not None)
    if keys:
        query.collect(conn, groups)
    overall = groups.overall(query.overall_categories(conn) if keys and query.dims() else None)
    listed = groups.each() if query.dims() else ()
    return FeedbackSummary(
        experiment_ids=tuple(str(i) for i in experiment_ids), filter_string=filter_string,
        group_by=group_by, time_bucket=cast(TimeBucket | None, time_bucket), overall=overall,
        groups=tuple(listed))


# -- argument checks -----------------------------------------------------------------------

def _check_names(names: Sequence[str] | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
        raise InvalidParameterError(
            f"Invalid names {names!r}: expected a list of feedback names, e.g. "
            "['user_feedback']")
    return sorted(set(names))


def _check_bucket(time_bucket: str | None) -> tuple[int, int] | None:
    if time_bucket is None:
        return None
    if time_bucket not in _BUCKETS:
        raise InvalidParameterError(
            f"Invalid time_bucket {time_bucket!r}: expected one of "
            f"{', '.join(get_args(TimeBucket))}")
    return _BUCKETS[time_bucket]


def _group_expression(group_by: str | None) -> sa.ColumnElement[Any] | None:
    if group_by is None:
        return None
    if not isinstance(group_by, str):
        raise InvalidParameterError(f"Invalid group_by {group_by!r}: expected a string")
    try:
        [key] = parse_order_by([_GROUP_ALIASES.get(group_by, group_by)])
    except FilterError as exc:
        raise FilterError(f"Invalid group_by {group_by!r}: {exc.message}") from None
    field = key.field
    if not key.ascending:
        raise FilterError(f"Invalid group_by {group_by!r}: give a field, without DESC")
    if isinstance(field, TraceField) and field.name in _GROUPABLE:
        return traces.c[field.name]
    if isinstance(field, TagField | MetadataField):
        table = trace_tags if isinstance(field, TagField) else trace_metadata
        return (sa.select(table.c.value)
                .where(table.c.trace_id == traces.c.trace_id, table.c.key == field.key)
                .scalar_subquery())
    raise FilterError(
        f"Invalid group_by {group_by!r}: group by 'user', 'session', a trace attribute "
        f"({', '.join(sorted(_GROUPABLE))}), 'tags.<key>' or 'metadata.<key>'")


# -- the queries ---------------------------------------------------------------------------

@dataclass
class _Queries:
    dialect: Dialect
    keys: list[int]
    where: sa.ColumnElement[bool]
    names: list[str] | None
    group: sa.ColumnElement[Any] | None
    bucket: tuple[int, int] | None

    def dims(self) -> list[sa.Label[Any]]:
        """The grouping columns, computed on ``traces``: the group, then the bucket."""
        dims: list[sa.Label[Any]] = []
        if self.group is not None:
            dims.append(self.group.label("g"))
        if self.bucket is not None:
            width, start = self.bucket
            shifted = traces.c.request_time_ms - start
            # A floored modulo: SQL's % keeps the sign of the dividend.
            offset = ((shifted % width) + width) % width
            dims.append((traces.c.request_time_ms - offset).label("b"))
        return dims

    def collect(self, conn: Connection, groups: _Groups) -> None:
        dims = self.dims()
        count_traces = sa.select(*dims, sa.func.count()).where(self.where)
        for *key, num_traces in run_query(conn, count_traces.group_by(*dims)):
            groups.get(tuple(key)).num_traces = num_traces
        pairs = self.pairs()
        pdims = [pairs.c[d.name] for d in dims]
        with_feedback = sa.select(*pdims, sa.func.count(sa.distinct(pairs.c.trace_id)))
        for *key, count in run_query(conn, with_feedback.group_by(*pdims)):
            groups.get(tuple(key)).num_traces_with_feedback = count
        for row in run_query(conn, self.name_stats(pairs, pdims)):
            groups.get(tuple(row[:len(pdims)])).name(row[len(pdims)]).add_row(row[len(pdims):])
        groups.bins = _bins(groups.merged())
        if groups.bins:
            for *key, name, index, count in run_query(conn, self.histogram(pairs, pdims,
                                                                           groups.bins)):
                groups.get(tuple(key)).name(name).add_bin(index, count, groups.bins[name])
        for *key, name, value, count in run_query(conn, self.categories(pairs, pdims)):
            groups.get(tuple(key)).name(name).categories[json.loads(value)] = count

    def overall_categories(self, conn: Connection) -> dict[str, dict[str, int]]:
        pairs = self.pairs()
        found: dict[str, dict[str, int]] = {}
        for name, value, count in run_query(conn, self.categories(pairs, [])):
            found.setdefault(name, {})[json.loads(value)] = count
        return found

    def pairs(self) -> sa.Subquery:
        """(trace, valid feedback) pairs of the selected traces, with the group columns."""
        a = assessments
        conditions: list[sa.ColumnElement[bool]] = [
            a.c.kind == "feedback", a.c.valid == sa.true(),
            a.c.experiment_id == self.keys[0] if len(self.keys) == 1
            else a.c.experiment_id.in_(self.keys)]
        if self.names is not None:
            conditions.append(a.c.name.in_(self.names))
        columns = [traces.c.trace_id.label("trace_id"), *self.dims(), a.c.name, a.c.value,
                   a.c.numeric_value, a.c.error]
        own = (sa.select(*columns).select_from(a.join(traces, traces.c.trace_id == a.c.trace_id))
               .where(*conditions, self.where))
        of_session = (
            sa.select(*columns)
            .select_from(a.join(traces, sa.and_(traces.c.session_id == a.c.session_id,
                                                traces.c.experiment_id == a.c.experiment_id,
                                                traces.c.trace_id != a.c.trace_id)))
            .where(a.c.session_id.is_not(None), *conditions, self.where))
        return sa.union_all(own, of_session).subquery("pairs")

    def name_stats(self, p: sa.Subquery, pdims: Sequence[sa.ColumnElement[Any]]) -> sa.Select[Any]:
        number = sa.case((_is_number(p), p.c.numeric_value))
        return (sa.select(
            *pdims, p.c.name, sa.func.count(), sa.func.count(sa.distinct(p.c.trace_id)),
            _count_if(p.c.value == "true"), _count_if(p.c.value == "false"),
            _count_if(sa.and_(p.c.value.is_(None), p.c.error.is_not(None))),
            sa.func.count(number), sa.func.sum(number), sa.func.min(number),
            sa.func.max(number),
            _count_if(sa.and_(_is_number(p),
                              p.c.numeric_value != sa.func.round(p.c.numeric_value))),
        ).group_by(*pdims, p.c.name))

    def histogram(self, p: sa.Subquery, pdims: Sequence[sa.ColumnElement[Any]],
                  bins: dict[str, _Bins]) -> sa.Select[Any]:
        low = sa.case({name: b.low for name, b in bins.items()}, value=p.c.name)
        # All values of a one-bin histogram are equal: any width puts them in bin 0.
        width = sa.case({name: b.width or 1.0 for name, b in bins.items()}, value=p.c.name)
        index = floor_to_int(self.dialect, (p.c.numeric_value - low) / width).label("bin")
        inner = (sa.select(*pdims, p.c.name, index)
                 .where(_is_number(p), p.c.name.in_(sorted(bins))).subquery())
        idims = [inner.c[d.name] for d in pdims]
        return (sa.select(*idims, inner.c.name, inner.c.bin, sa.func.count())
                .group_by(*idims, inner.c.name, inner.c.bin))

    def categories(self, p: sa.Subquery, pdims: Sequence[sa.ColumnElement[Any]]) -> sa.Select[Any]:
        counted = (sa.select(*pdims, p.c.name, p.c.value, sa.func.count().label("n"))
                   .where(sa.func.substr(p.c.value, 1, 1) == '"')
                   .group_by(*pdims, p.c.name, p.c.value).subquery())
        cdims = [counted.c[d.name] for d in pdims]
        rank = sa.func.row_number().over(partition_by=[*cdims, counted.c.name],
                                         order_by=[counted.c.n.desc(), counted.c.value])
        ranked = sa.select(*cdims, counted.c.name, counted.c.value, counted.c.n,
                           rank.label("rank")).subquery()
        rdims = [ranked.c[d.name] for d in pdims]
        return (sa.select(*rdims, ranked.c.name, ranked.c.value, ranked.c.n)
                .where(ranked.c.rank <= MAX_CATEGORIES))


def _is_number(p: sa.Subquery) -> sa.ColumnElement[bool]:
    return sa.and_(p.c.numeric_value.is_not(None), p.c.value.not_in(_BOOLEANS))


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


# -- putting the rows together -------------------------------------------------------------

@dataclass(frozen=True)
class _Bins:
    low: float
    width: float
    count: int


@dataclass
class _NameStats:
    count: int = 0
    num_traces: int = 0
    positive: int = 0
    negative: int = 0
    errors: int = 0
    numbers: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None
    fractional: int = 0
    histogram: list[int] | None = None

    def __post_init__(self) -> None:
        self.categories: dict[str, int] = {}

    def add_row(self, row: Sequence[Any]) -> None:
        (_, count, num_traces, positive, negative, errors, numbers, total, low, high,
         fractional) = row
        self.count += count
        self.num_traces += num_traces
        self.positive += positive or 0
        self.negative += negative or 0
        self.errors += errors or 0
        self.numbers += numbers
        self.total += float(total or 0.0)
        self.low = _min(self.low, low)
        self.high = _max(self.high, high)
        self.fractional += fractional or 0

    def merge(self, other: _NameStats) -> None:
        self.add_row((None, other.count, other.num_traces, other.positive, other.negative,
                      other.errors, other.numbers, other.total, other.low, other.high,
                      other.fractional))
        if other.histogram is not None:
            mine = self.histogram or [0] * len(other.histogram)
            self.histogram = [a + b for a, b in zip(mine, other.histogram, strict=True)]

    def add_bin(self, index: int, count: int, bins: _Bins) -> None:
        if self.histogram is None:
            self.histogram = [0] * bins.count
        self.histogram[min(max(int(index), 0), bins.count - 1)] += count

    def summary(self, name: str, bins: _Bins | None,
                categories: dict[str, int]) -> AssessmentSummary:
        boolean = None
        if self.positive or self.negative:
            boolean = BooleanStats(self.positive, self.negative)
        numeric = None
        if self.numbers and self.low is not None and self.high is not None:
            histogram: tuple[HistogramBin, ...] = ()
            if bins is not None and self.histogram is not None:
                histogram = tuple(
                    HistogramBin(bins.low + i * bins.width, bins.low + (i + 1) * bins.width,
                                 count)
                    for i, count in enumerate(self.histogram))
            numeric = NumericStats(self.numbers, self.total / self.numbers, float(self.low),
                                   float(self.high), histogram)
        other = (self.count - self.positive - self.negative - self.errors - self.numbers
                 - sum(categories.values()))
        return AssessmentSummary(name=name, count=self.count, num_traces=self.num_traces,
                                 num_errors=self.errors, boolean=boolean, numeric=numeric,
                                 categories=dict(sorted(categories.items(),
                                                        key=lambda kv: (-kv[1], kv[0]))),
                                 num_other=other)


@dataclass
class _Group:
    num_traces: int = 0
    num_traces_with_feedback: int = 0

    def __post_init__(self) -> None:
        self.names: dict[str, _NameStats] = {}

    def name(self, name: str) -> _NameStats:
        return self.names.setdefault(name, _NameStats())


class _Groups:
    def __init__(self, has_group: bool, has_bucket: bool) -> None:
        self.has_group = has_group
        self.has_bucket = has_bucket
        self.by_key: dict[GroupKey, _Group] = {}
        self.bins: dict[str, _Bins] = {}

    def get(self, key: GroupKey) -> _Group:
        return self.by_key.setdefault(key, _Group())

    def merged(self) -> _Group:
        """All groups together (groups never share a trace, so counts add up)."""
        total = _Group()
        for group in self.by_key.values():
            total.num_traces += group.num_traces
            total.num_traces_with_feedback += group.num_traces_with_feedback
            for name, stats in group.names.items():
                total.name(name).merge(stats)
        return total

    def overall(self, categories: dict[str, dict[str, int]] | None) -> FeedbackGroup:
        total = self.merged()
        if categories is None:  # not grouped: the one group's categories are the overall
            only = self.by_key.get(())
            categories = {} if only is None else {
                name: stats.categories for name, stats in only.names.items()}
        return _to_group(total, None, None, self.bins, categories)

    def each(self) -> list[FeedbackGroup]:
        out = []
        for key, group in self.by_key.items():
            label = bucket = None
            if self.has_group:
                label = None if key[0] is None else str(key[0])
            if self.has_bucket:
                bucket = int(key[-1])
            categories = {name: s.categories for name, s in group.names.items()}
            out.append(_to_group(group, label, bucket, self.bins, categories))
        out.sort(key=lambda g: (g.bucket_start_ms is None, g.bucket_start_ms or 0,
                                g.group is None, g.group or ""))
        return out


def _to_group(group: _Group, label: str | None, bucket: int | None, bins: dict[str, _Bins],
              categories: dict[str, dict[str, int]]) -> FeedbackGroup:
    summaries = {name: stats.summary(name, bins.get(name), categories.get(name, {}))
                 for name, stats in sorted(group.names.items())}
    return FeedbackGroup(group=label, bucket_start_ms=bucket, num_traces=group.num_traces,
                         num_traces_with_feedback=group.num_traces_with_feedback,
                         assessments=summaries)


def _bins(total: _Group) -> dict[str, _Bins]:
    """Histogram bins per numeric name, the same for every group so that they add up."""
    found = {}
    for name, stats in total.names.items():
        if not stats.numbers or stats.low is None or stats.high is None:
            continue
        low, high = float(stats.low), float(stats.high)
        if not stats.fractional and high - low < _MAX_INTEGER_BINS:
            found[name] = _Bins(low, 1.0, int(high - low) + 1)
        elif high == low:
            found[name] = _Bins(low, 0.0, 1)  # one bin, [low, low]
        else:
            found[name] = _Bins(low, (high - low) / _EQUAL_BINS, _EQUAL_BINS)
    return found


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
