"""Feedback analytics in SQL: counts, rates, means and histograms without reading the traces.

``get_feedback_summary`` answers "how much feedback, and how good" over the traces a filter
selects, optionally per user, session, tag or metadata value, and per hour, day or week.
The database does the counting, in a fixed number of statements whatever the number of
traces:

1. traces per group. With time buckets alone, one index range count per bucket (a
   recursive CTE lists the buckets), which reads the (experiment_id, request_time_ms) index
   and never sorts; otherwise a GROUP BY.
2. One statement over the (trace, feedback) *pairs*: a trace's own valid feedback plus the
   valid session-level feedback of its session, each joined to the trace so that the
   filter, the group and the bucket apply. The pairs are a CTE used by several aggregates
   (UNION ALL), so both databases compute them once (they materialize a CTE that is used
   more than once): per group and name the counts, true/false, numbers (count, sum, min,
   max) and the counts of each integer value; per group the traces with feedback; the 50
   most frequent strings per group and name.
3. Only when needed: for fractional numbers, how many distinct ones each name has, then
   their counts by value (at most ``MAX_VALUE_BINS`` values: 0.2, 0.4, ... 1.0) or their
   histogram in equal bins over their range; the overall most frequent strings, when a
   group had more than it kept.

Python then merges a few rows per group and name (never a row per trace) into a
:class:`~assay.entities.analytics.FeedbackSummary` (``analytics_results.py``).

Time buckets are UTC, computed with integer arithmetic on ``request_time_ms`` (a floored
modulo), which both databases do the same way: no dialect difference is involved.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities.analytics import FeedbackSummary, TimeBucket
from assay.errors import InvalidParameterError
from assay.search import FilterError, MetadataField, TagField, TraceField, parse_order_by
from assay.store.checks import check_feedback_names, check_time_bucket, experiment_keys
from assay.store.sql.analytics_results import (
    MAX_CATEGORIES,
    MAX_VALUE_BINS,
    Bins,
    Groups,
    bins_for,
)
from assay.store.sql.dialect import Dialect, floor_to_int, tune_for_analytics
from assay.store.sql.filters import has_session_assessments, trace_filter
from assay.store.sql.schema import assessments, trace_metadata, trace_tags, traces
from assay.store.sql.search import run_query

__all__ = ["MAX_CATEGORIES", "get_feedback_summary"]

#: Above this many time buckets, traces are counted with a GROUP BY instead.
_MAX_RANGE_COUNTS = 5000
#: Up to this many selected traces, a filtered summary reads the traces first (each then
#: looks up its feedback), rather than all the feedback of the experiments.
_TRACES_FIRST_MAX = 50_000
_HOUR_MS = 3_600_000
_BUCKETS: dict[str, tuple[int, int]] = {
    # bucket: (width in ms, start of one bucket). 1970-01-05 was a Monday: weeks start there.
    "hour": (_HOUR_MS, 0),
    "day": (24 * _HOUR_MS, 0),
    "week": (7 * 24 * _HOUR_MS, 4 * 24 * _HOUR_MS),
}
_GROUP_ALIASES = {"user": "trace.user_id", "session": "trace.session_id"}
_GROUPABLE = frozenset({"user_id", "session_id", "name", "status", "run_id", "experiment_id",
                        "client_request_id"})
_BOOLEANS = ("true", "false")
# What each row of the pairs statement is (its first column).
_STATS, _TRACES, _STRINGS, _INTEGERS, _ALL_STRINGS = range(5)
_VALUES = 10  # numeric columns per row


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
    name_list = check_feedback_names(names)
    group = _group_expression(group_by)
    bucket = _bounds(check_time_bucket(time_bucket))
    found = trace_filter(dialect, keys or [-1], filter_string, conn=conn if keys else None)
    groups = Groups(group is not None, bucket is not None)
    if keys:
        tune_for_analytics(conn, dialect)
        sessions = has_session_assessments(conn, keys, "feedback", name_list)
        query = _Queries(dialect, keys, found.where, found.expr is not None, name_list, group,
                         bucket, sessions)
        query.count_traces(conn, groups)
        query.collect(conn, groups)
    return FeedbackSummary(
        experiment_ids=tuple(str(i) for i in experiment_ids), filter_string=filter_string,
        group_by=group_by, time_bucket=cast(TimeBucket | None, time_bucket),
        overall=groups.overall(),
        groups=tuple(groups.each()) if group is not None or bucket is not None else ())


def _bounds(time_bucket: TimeBucket | None) -> tuple[int, int] | None:
    """A time bucket's width and the start of one bucket, in ms since the epoch."""
    return None if time_bucket is None else _BUCKETS[time_bucket]


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
    filtered: bool
    names: list[str] | None
    group: sa.ColumnElement[Any] | None
    bucket: tuple[int, int] | None
    sessions: bool
    #: How many traces the filter selects (known once count_traces ran).
    num_selected: int = 0

    def dims(self) -> list[sa.Label[Any]]:
        """The grouping columns, computed on ``traces``: the group, then the bucket."""
        dims: list[sa.Label[Any]] = []
        if self.group is not None:
            dims.append(sa.cast(self.group, sa.Text).label("g"))
        if self.bucket is not None:
            dims.append(self.bucket_start(traces.c.request_time_ms).label("b"))
        return dims

    def bucket_start(self, ms: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
        assert self.bucket is not None
        width, start = self.bucket
        # A floored modulo: SQL's % keeps the sign of the dividend.
        return ms - (((ms - start) % width) + width) % width

    # -- traces per group ------------------------------------------------------------------
    def count_traces(self, conn: Connection, groups: Groups) -> None:
        counted = None
        if self.group is None and self.bucket is not None:
            counted = self.count_by_ranges(conn)
        if counted is None:
            dims = self.dims()
            counted = run_query(conn, sa.select(*dims, sa.func.count()).where(self.where)
                                .group_by(*dims))
        for *key, count in counted:
            if count:
                groups.get(tuple(key)).num_traces = int(count)
                self.num_selected += int(count)

    def count_by_ranges(self, conn: Connection) -> list[tuple[Any, ...]] | None:
        """Traces per time bucket as index range counts; None when there are too many
        buckets for that to pay."""
        assert self.bucket is not None
        width, _ = self.bucket
        ms = traces.c.request_time_ms
        # Two statements: SQLite answers a lone min() or max() from the index, not both.
        low = run_query(conn, sa.select(sa.func.min(ms)).where(self.where))[0][0]
        high = run_query(conn, sa.select(sa.func.max(ms)).where(self.where))[0][0]
        if low is None or high is None:
            return []
        first = low - (low - self.bucket[1]) % width  # Python's % is floored already
        if (high - first) // width >= _MAX_RANGE_COUNTS:
            return None
        buckets = sa.select(sa.literal(first, sa.BigInteger).label("start")).cte(
            "buckets", recursive=True)
        buckets = buckets.union_all(sa.select((buckets.c.start + width).label("start"))
                                    .where(buckets.c.start + width <= high))
        in_bucket = (sa.select(sa.func.count())
                     .where(self.where, ms >= buckets.c.start, ms < buckets.c.start + width)
                     .scalar_subquery())
        return run_query(conn, sa.select(buckets.c.start, in_bucket))

    # -- the pairs -------------------------------------------------------------------------
    def pairs(self) -> sa.CTE:
        """(trace, valid feedback) pairs of the selected traces, with the group columns.

        Few selected traces (a selective filter): the traces come first, materialized, and
        each looks up its feedback by the trace_id index. Otherwise the experiments'
        feedback comes first and each row looks up its trace (by the covering index). The
        databases cannot tell the two cases apart themselves (SQLite has no statistics on
        ranges), but the trace count, made just before, can.
        """
        a = assessments
        conditions: list[sa.ColumnElement[bool]] = [a.c.kind == "feedback",
                                                    a.c.valid == sa.true()]
        if self.names is not None:
            conditions.append(a.c.name.in_(self.names))
        dims = self.dims()
        feedback = [a.c.name, a.c.value, a.c.numeric_value,
                    sa.case((sa.and_(a.c.value.is_(None), a.c.error.is_not(None)), 1),
                            else_=0).label("failed")]
        if self.filtered and self.num_selected <= _TRACES_FIRST_MAX:
            selected = (sa.select(traces.c.id, traces.c.trace_id, traces.c.session_id,
                                  traces.c.experiment_id, *dims)
                        .where(self.where).cte("selected").prefix_with("MATERIALIZED"))
            picked = [selected.c.id.label("trace_key"), *(selected.c[d.name] for d in dims),
                      *feedback]
            own = (sa.select(*picked)
                   .select_from(selected.join(a, a.c.trace_id == selected.c.trace_id))
                   .where(*conditions))
            of_session = (sa.select(*picked).select_from(selected.join(a, sa.and_(
                a.c.session_id == selected.c.session_id,
                a.c.experiment_id == selected.c.experiment_id,
                a.c.trace_id != selected.c.trace_id))).where(*conditions))
        else:
            conditions.append(a.c.experiment_id == self.keys[0] if len(self.keys) == 1
                              else a.c.experiment_id.in_(self.keys))
            # A trace is told apart by its integer id (cheaper to count distinct), or by its
            # trace_id when the feedback alone is read.
            key: sa.ColumnElement[Any] = traces.c.id
            if self.filtered or dims:
                own = (sa.select(key.label("trace_key"), *dims, *feedback)
                       .select_from(a.join(traces, traces.c.trace_id == a.c.trace_id))
                       .where(*conditions, self.where))
            else:  # every trace of the experiments: the assessments alone say it all
                key = traces.c.trace_id
                own = sa.select(a.c.trace_id.label("trace_key"), *feedback).where(*conditions)
            of_session = (
                sa.select(key.label("trace_key"), *dims, *feedback)
                .select_from(a.join(traces, sa.and_(traces.c.session_id == a.c.session_id,
                                                    traces.c.experiment_id == a.c.experiment_id,
                                                    traces.c.trace_id != a.c.trace_id)))
                .where(a.c.session_id.is_not(None), *conditions, self.where))
        if not self.sessions:
            return own.cte("pairs")
        return sa.union_all(own, of_session).cte("pairs")

    def collect(self, conn: Connection, groups: Groups) -> None:
        """Everything about the feedback, from one statement (plus the histograms of
        fractional numbers)."""
        p = self.pairs()
        pdims = [p.c[d.name] for d in self.dims()]
        has_g, has_b = self.group is not None, self.bucket is not None
        for part, g, b, name, value, *numbers in run_query(conn, self.pairs_query(p, pdims)):
            key = (g,) * has_g + (b,) * has_b
            if part == _TRACES:
                groups.get(key).num_traces_with_feedback = int(numbers[0])
            elif part == _STATS:
                groups.get(key).name(name).add_stats(numbers[:9])
            elif part == _INTEGERS:
                integers = groups.get(key).name(name).integers
                integers[numbers[0]] = integers.get(numbers[0], 0) + int(numbers[1])
            else:
                assert part == _STRINGS
                groups.get(key).name(name).categories[json.loads(value)] = int(numbers[0])
        if pdims and any(len(stats.categories) >= MAX_CATEGORIES
                         for group in groups.by_key.values() for stats in group.names.values()):
            # Some group has more string values than it kept: adding the groups' lists up
            # could miss values, so the overall ones are counted on their own.
            groups.overall_categories = {}
            again = self.pairs()
            for _, _, _, name, value, *numbers in run_query(
                    conn, self.top_strings(again, [], _ALL_STRINGS)):
                groups.overall_categories.setdefault(name, {})[json.loads(value)] = \
                    int(numbers[0])
        total = groups.merged()
        groups.bins = bins_for(total)
        fractional = {name: bins for name, bins in groups.bins.items()
                      if total.names[name].fractional}
        if fractional:
            # Few distinct values (0.2, 0.4, ... 1.0): a bin per value, not equal bins with
            # empty ones between the values.
            again = self.pairs()
            few = [name for name, distinct in run_query(conn, self.distinct_numbers(
                again, fractional)) if int(distinct) <= MAX_VALUE_BINS]
            if few:
                again = self.pairs()
                rows = run_query(conn, self.numbers_by_value(
                    again, [again.c[d.name] for d in self.dims()], few))
                for name in few:
                    groups.bins[name] = fractional[name] = Bins.per_value(
                        [float(r[-2]) for r in rows if r[-3] == name])
                for *dims, name, value, count in rows:
                    bins = fractional[name]
                    groups.get(tuple(dims)).name(name).add_bin(bins.index(float(value)),
                                                               int(count), bins)
            equal = {name: bins for name, bins in fractional.items() if name not in few}
            if equal:
                again = self.pairs()
                query = self.histogram(again, [again.c[d.name] for d in self.dims()], equal)
                for *dims, name, index, count in run_query(conn, query):
                    groups.get(tuple(dims)).name(name).add_bin(index, int(count), equal[name])

    def pairs_query(self, p: sa.CTE,
                    pdims: Sequence[sa.ColumnElement[Any]]) -> sa.CompoundSelect[Any]:
        g = next((d for d in pdims if d.name == "g"), None)
        b = next((d for d in pdims if d.name == "b"), None)
        number = sa.case((_is_number(p), p.c.numeric_value))
        stats = sa.select(*_row(_STATS, g, b, p.c.name, None, [
            sa.func.count(), _count_if(p.c.value == "true"), _count_if(p.c.value == "false"),
            sa.func.sum(p.c.failed),
            sa.func.count(number), sa.func.sum(number), sa.func.min(number),
            sa.func.max(number),
            _count_if(sa.and_(_is_number(p),
                              p.c.numeric_value != sa.func.round(p.c.numeric_value)))],
        )).group_by(*pdims, p.c.name)
        traced = sa.select(*_row(_TRACES, g, b, None, None, [
            sa.func.count(sa.distinct(p.c.trace_key))])).group_by(*pdims)
        integers = (sa.select(*_row(_INTEGERS, g, b, p.c.name, None,
                                    [p.c.numeric_value, sa.func.count()]))
                    .where(_is_number(p), p.c.numeric_value == sa.func.round(p.c.numeric_value))
                    .group_by(*pdims, p.c.name, p.c.numeric_value))
        return sa.union_all(stats, traced, integers, self.top_strings(p, pdims, _STRINGS))

    def top_strings(self, p: sa.CTE, pdims: Sequence[sa.ColumnElement[Any]],
                    part: int) -> sa.Select[Any]:
        """The MAX_CATEGORIES most frequent string values per group and name."""
        counted = (sa.select(*pdims, p.c.name, p.c.value, sa.func.count().label("n"))
                   .where(sa.func.substr(p.c.value, 1, 1) == '"')
                   .group_by(*pdims, p.c.name, p.c.value).subquery())
        cdims = [counted.c[d.name] for d in pdims]
        rank = sa.func.row_number().over(partition_by=[*cdims, counted.c.name],
                                         order_by=[counted.c.n.desc(), counted.c.value])
        ranked = sa.select(counted, rank.label("rank")).subquery()
        g = ranked.c.g if any(d.name == "g" for d in pdims) else None
        b = ranked.c.b if any(d.name == "b" for d in pdims) else None
        return (sa.select(*_row(part, g, b, ranked.c.name, ranked.c.value, [ranked.c.n]))
                .where(ranked.c.rank <= MAX_CATEGORIES))

    def distinct_numbers(self, p: sa.CTE, names: Collection[str]) -> sa.Select[Any]:
        """How many distinct numbers each of ``names`` has, over every group."""
        return (sa.select(p.c.name, sa.func.count(sa.distinct(p.c.numeric_value)))
                .where(_is_number(p), p.c.name.in_(sorted(names))).group_by(p.c.name))

    def numbers_by_value(self, p: sa.CTE, pdims: Sequence[sa.ColumnElement[Any]],
                         names: Collection[str]) -> sa.Select[Any]:
        """How often each number of ``names`` was given, per group (names with few
        distinct numbers only: see ``MAX_VALUE_BINS``)."""
        return (sa.select(*pdims, p.c.name, p.c.numeric_value, sa.func.count())
                .where(_is_number(p), p.c.name.in_(sorted(names)))
                .group_by(*pdims, p.c.name, p.c.numeric_value))

    def histogram(self, p: sa.CTE, pdims: Sequence[sa.ColumnElement[Any]],
                  bins: dict[str, Bins]) -> sa.Select[Any]:
        low = sa.case({name: b.low for name, b in bins.items()}, value=p.c.name)
        # All values of a one-bin histogram are equal: any width puts them in bin 0.
        width = sa.case({name: b.width or 1.0 for name, b in bins.items()}, value=p.c.name)
        index = floor_to_int(self.dialect, (p.c.numeric_value - low) / width).label("bin")
        inner = (sa.select(*pdims, p.c.name, index)
                 .where(_is_number(p), p.c.name.in_(sorted(bins))).subquery())
        idims = [inner.c[d.name] for d in pdims]
        return (sa.select(*idims, inner.c.name, inner.c.bin, sa.func.count())
                .group_by(*idims, inner.c.name, inner.c.bin))


def _row(part: int, g: sa.ColumnElement[Any] | None, b: sa.ColumnElement[Any] | None,
         name: sa.ColumnElement[Any] | None, value: sa.ColumnElement[Any] | None,
         numbers: list[sa.ColumnElement[Any]]) -> list[sa.ColumnElement[Any]]:
    """A row of the pairs statement: every branch of the UNION has these columns, typed
    alike (PostgreSQL types a bare NULL as text)."""
    def typed(column: sa.ColumnElement[Any] | None, type_: Any) -> sa.ColumnElement[Any]:
        return sa.cast(sa.null() if column is None else column, type_)

    numbers = numbers + [sa.null()] * (_VALUES - len(numbers))
    return [sa.literal(part, sa.Integer).label("part"), typed(g, sa.Text).label("g"),
            typed(b, sa.BigInteger).label("b"), typed(name, sa.Text).label("name"),
            typed(value, sa.Text).label("value"),
            *(typed(n, sa.Float).label(f"v{i}") for i, n in enumerate(numbers))]


def _is_number(p: sa.CTE) -> sa.ColumnElement[bool]:
    return sa.and_(p.c.numeric_value.is_not(None), p.c.value.not_in(_BOOLEANS))


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))
