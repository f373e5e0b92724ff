"""The feedback dashboard of an experiment: ``/experiments/{id}/dashboard`` (and ``.json``).

For a time range (``range`` = 24h, 7d, 30d or all, or ``from``/``to``; all time by
default, drawn over the span of the data) it shows the trace volume, the feedback rate
(traces with at least one feedback / traces), the positive rate of true/false feedback
with its 95% Wilson interval, the mean of each numeric rating, the counts of each category,
the same broken down by a segment (``segment`` = user, app_version, environment, or any
``tags.<key>`` / ``metadata.<key>``), and the worst-rated traces (``worst_by`` names the
feedback they are ranked by: the latest false ones, or the lowest numbers).

Every figure comes from the store, computed in the database: one feedback summary per time
bucket and one per segment (side by side), a search or two for the worst-rated traces and
the first and last trace times. The charts are SVG drawn here (:mod:`.charts`) for the HTML
page only; the ``.json`` form has the numbers.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from fastapi.responses import Response

from assay.entities import Experiment, Trace
from assay.entities.analytics import (
    AssessmentSummary,
    FeedbackGroup,
    FeedbackSummary,
    Interval,
)
from assay.errors import InvalidParameterError
from assay.search.unparse import quote_name, quote_string
from assay.server.deps import StoreDep
from assay.server.permissions import Action
from assay.server.route_tables import RouteTable
from assay.server.ui import charts
from assay.server.ui.chips import feedback_chips, mean_value
from assay.server.ui.templating import format_number, is_json_request, page, page_route
from assay.server.ui.time_range import (
    BUCKET_MS,
    PRESETS,
    TimeRange,
    bucket_floor,
    check_bucket,
    choose_bucket,
    parse_time_range,
)
from assay.store.base import Store

__all__ = ["DashboardQuery", "build_dashboard", "router"]

router = RouteTable()

#: Segments by name: what the store groups by, and how the page names it.
SEGMENTS: dict[str, tuple[str, str]] = {
    "user": ("user", "User"),
    "app_version": ("metadata.app_version", "App version"),
    "environment": ("metadata.environment", "Environment"),
}
#: Where an app version may also be kept, when no trace has the metadata key.
_APP_VERSION_TAG = "tags.app_version"
_PRESET_LABELS = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days",
                  "all": "All time"}
_MAX_SEGMENT_ROWS = 15
_NUM_WORST = 10
_MAX_CATEGORY_BARS = 10


@dataclass(frozen=True)
class DashboardQuery:
    """What a dashboard request asks for (its query parameters, checked)."""

    time_range: TimeRange
    segment: str = "user"
    bucket: str | None = None
    rate: str | None = None
    worst_by: str | None = None

    def params(self, **changes: str | None) -> dict[str, str]:
        """The query parameters that ask for this view, with ``changes`` applied."""
        params: dict[str, str | None] = {
            "range": self.time_range.preset if self.time_range.preset not in (
                "custom", "all") else None,
            "segment": self.segment if self.segment != "user" else None,
            "bucket": self.bucket, "rate": self.rate, "worst_by": self.worst_by,
        }
        if self.time_range.preset == "custom":
            params["from"] = _date_param(self.time_range.start_ms)
            params["to"] = _date_param(self.time_range.end_ms, end=True)
        params.update(changes)
        return {k: v for k, v in params.items() if v}


@page_route(router, "/experiments/{experiment_id}/dashboard", action=Action.READ)
def dashboard_page(
    request: Request, experiment_id: str, store: StoreDep,
    range_: Annotated[str | None, Query(alias="range")] = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    segment: str | None = None, bucket: str | None = None, rate: str | None = None,
    worst_by: str | None = None,
) -> Response:
    """The feedback dashboard of one experiment."""
    experiment = store.get_experiment(experiment_id)
    now_ms = int(time.time() * 1000)
    query = DashboardQuery(parse_time_range(range_, start, end, now_ms),
                           (segment or "user").strip(), bucket or None, rate or None,
                           worst_by or None)
    context = build_dashboard(store, experiment, query, now_ms)
    if not is_json_request(request):
        context["_charts"] = draw_charts(context)
    return page(request, "dashboard/index.html", context)


# -- the figures ---------------------------------------------------------------------------

def build_dashboard(store: Store, experiment: Experiment, query: DashboardQuery,
                    now_ms: int) -> dict[str, Any]:
    """The dashboard's context: plain dicts, lists and numbers (its ``.json`` form).

    Raises:
        InvalidParameterError: a bad segment or bucket.
        FilterError: a segment the store cannot group by.
    """
    eid = experiment.experiment_id
    group_by, segment_label = _segment(query.segment)
    check_bucket(query.bucket)
    where = query.time_range.filter_clause()
    context: dict[str, Any] = {
        "experiment": {"experiment_id": eid, "name": experiment.name},
        "range": _range_context(experiment, query),
        "segment": {"key": query.segment, "group_by": group_by, "label": segment_label,
                    "choices": [{"key": k, "label": label}
                                for k, (_, label) in SEGMENTS.items()]},
        "now_ms": now_ms,
    }
    span = _data_span(store, eid, query.time_range, now_ms)
    if span is None:
        context.update(_empty_figures(store, eid))
        return context
    bucket = choose_bucket(span[1] - span[0], query.bucket)
    width = BUCKET_MS[bucket][0]
    first = bucket_floor(span[0], bucket)
    axis = {"start_ms": first, "bucket_ms": width, "bucket": bucket,
            "count": (bucket_floor(span[1], bucket) - first) // width + 1}
    context["range"].update(first_ms=span[0], last_ms=span[1], bucket=bucket)
    # The two summaries each read all the feedback in range: side by side, the page takes
    # as long as the slower one, not both (each uses its own connection).
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="assay-dashboard") as pool:
        by_segment = pool.submit(store.get_feedback_summary, [eid], where, group_by=group_by)
        summary = store.get_feedback_summary([eid], where, time_bucket=bucket)
        segment_summary = by_segment.result()
    overall = summary.overall
    booleans = [s for s in overall.assessments.values() if s.boolean is not None]
    numerics = [s for s in overall.assessments.values() if s.numeric is not None]
    notices: list[str] = []
    rate_name = _pick_name(query.rate, booleans, "true/false", notices)
    worst_by = _pick_name(query.worst_by, booleans + numerics, "true/false or numeric",
                          notices)
    context.update(
        notices=notices,
        axis=axis,
        totals=_group_figures(overall, rate_name),
        rate_name=rate_name,
        booleans=[_boolean(s) for s in booleans],
        ratings=[_rating(s) for s in numerics],
        categories=[_categories(s) for s in overall.assessments.values() if s.categories],
        timeline=_timeline(summary, axis, rate_name),
        segments=_segments(store, eid, where, segment_summary, query.segment, rate_name,
                           [s.name for s in numerics]),
        worst=_worst(store, eid, where, worst_by, booleans + numerics),
    )
    context["segment"]["group_by"] = context["segments"].pop("group_by")
    _add_links(context, query)
    return context


def _segment(key: str) -> tuple[str, str]:
    if key in SEGMENTS:
        return SEGMENTS[key]
    if key.startswith(("tags.", "metadata.")) and len(key.split(".", 1)[1]) > 0:
        return key, key.split(".", 1)[1]
    raise InvalidParameterError(
        f"Invalid segment {key[:60]!r}: expected {', '.join(SEGMENTS)}, 'tags.<key>' or "
        "'metadata.<key>'")


def _pick_name(wanted: str | None, summaries: Sequence[AssessmentSummary], kind: str,
               notices: list[str]) -> str | None:
    """``wanted`` if it is one of the summaries' names; otherwise the most given one (and,
    when ``wanted`` was not there, a notice saying so: a link kept across time ranges may
    name feedback that a range does not have)."""
    names = [s.name for s in summaries]
    if wanted in names:
        return wanted
    found = min(summaries, key=lambda s: (-s.count, s.name)).name if summaries else None
    if wanted is not None:
        instead = f"; showing {found!r} instead" if found is not None else ""
        notices.append(f"No {kind} feedback named {wanted[:60]!r} in this range{instead}.")
    return found


def _data_span(store: Store, eid: str, time_range: TimeRange,
               now_ms: int) -> tuple[int, int] | None:
    """The first and last millisecond the charts cover, or None when no trace is in range.

    A preset covers its whole range up to now; an open end stops at the data."""
    where = time_range.filter_clause()
    newest = store.search_traces([eid], max_results=1, include_spans=False,
                                 filter_string=where)
    if not newest:
        return None
    low = time_range.start_ms
    high = time_range.end_ms - 1 if time_range.end_ms is not None else None
    if time_range.preset == "custom" or time_range.preset == "all":
        if high is None:
            high = newest[0].info.request_time
        if low is None:
            oldest = store.search_traces([eid], max_results=1, include_spans=False,
                                         filter_string=where, order_by=["timestamp_ms ASC"])
            low = oldest[0].info.request_time
    assert low is not None and high is not None
    return low, min(high, max(now_ms, newest[0].info.request_time))


def _empty_figures(store: Store, eid: str) -> dict[str, Any]:
    """What an empty range shows: no figures, and whether the experiment has any trace."""
    any_trace = store.search_traces([eid], max_results=1, include_spans=False)
    return {"axis": None, "totals": _group_figures(None, None), "rate_name": None,
            "booleans": [], "ratings": [], "categories": [], "timeline": [],
            "segments": {"rows": [], "num_hidden": 0}, "worst": {"by": None, "choices": [],
                                                               "traces": []},
            "notices": [], "has_traces": bool(any_trace)}


def _interval(interval: Interval | None) -> dict[str, float] | None:
    return None if interval is None else {"low": interval.low, "high": interval.high}


def _group_figures(group: FeedbackGroup | None, rate_name: str | None) -> dict[str, Any]:
    """Traces, feedback rate and (for ``rate_name``) positive rate of a group."""
    figures: dict[str, Any] = {
        "num_traces": 0, "num_traces_with_feedback": 0, "feedback_rate": None,
        "feedback_rate_interval": None, "positive": 0, "negative": 0,
        "positive_rate": None, "positive_rate_interval": None}
    if group is None:
        return figures
    figures.update(num_traces=group.num_traces,
                   num_traces_with_feedback=group.num_traces_with_feedback,
                   feedback_rate=group.feedback_rate,
                   feedback_rate_interval=_interval(group.feedback_rate_interval))
    stats = group.assessments.get(rate_name) if rate_name is not None else None
    if stats is not None and stats.boolean is not None:
        figures.update(positive=stats.boolean.positive, negative=stats.boolean.negative,
                       positive_rate=stats.boolean.positive_rate,
                       positive_rate_interval=_interval(stats.boolean.positive_rate_interval))
    return figures


def _boolean(summary: AssessmentSummary) -> dict[str, Any]:
    assert summary.boolean is not None
    b = summary.boolean
    return {"name": summary.name, "count": b.positive + b.negative, "positive": b.positive,
            "negative": b.negative, "positive_rate": b.positive_rate,
            "positive_rate_interval": _interval(b.positive_rate_interval)}


def _rating(summary: AssessmentSummary) -> dict[str, Any]:
    assert summary.numeric is not None
    n = summary.numeric
    bins = []
    for b in n.histogram:
        whole = b.high - b.low == 1 and float(b.low).is_integer()
        # Whole numbers (ratings) by their value; other bins by where they start.
        label = f"{b.low:g}" if whole or b.high == b.low else f"{b.low:.2g}"
        bins.append({"label": label, "low": b.low, "high": b.high, "count": b.count})
    return {"name": summary.name, "count": n.count, "mean": n.mean, "min": n.min,
            "max": n.max, "scale": rating_scale(n.min, n.max), "histogram": bins}


#: The tops of the scales people rate on; a rating is drawn against the first that holds it.
_SCALES = (1.0, 5.0, 10.0, 100.0)


def rating_scale(low: float, high: float) -> float:
    """The top of the scale a rating is on: 1 for scores from 0 to 1, 5 for stars, 10,
    100; else its largest value."""
    if low < 0:
        return max(abs(low), high) or 1.0
    return next((top for top in _SCALES if high <= top), high)


def _categories(summary: AssessmentSummary) -> dict[str, Any]:
    total = sum(summary.categories.values()) + summary.num_other
    return {"name": summary.name, "count": total, "num_other": summary.num_other,
            "values": [{"value": value, "count": count,
                        "share": count / total if total else None}
                       for value, count in summary.categories.items()]}


def _timeline(summary: FeedbackSummary, axis: Mapping[str, Any],
              rate_name: str | None) -> list[dict[str, Any]]:
    """One row per bucket of the axis, empty buckets included."""
    by_start = {g.bucket_start_ms: g for g in summary.groups}
    rows = []
    for i in range(axis["count"]):
        start = axis["start_ms"] + i * axis["bucket_ms"]
        rows.append({"start_ms": start, **_group_figures(by_start.get(start), rate_name)})
    return rows


def _segments(store: Store, eid: str, where: str | None, summary: FeedbackSummary, key: str,
              rate_name: str | None, rating_names: Sequence[str]) -> dict[str, Any]:
    """The rows of the breakdown: the segments with the most traces first (those without a
    value last), up to _MAX_SEGMENT_ROWS."""
    group_by = summary.group_by or key
    if key == "app_version" and all(g.group is None for g in summary.groups):
        # No trace has the metadata key: the version may be kept as a tag instead.
        tagged = store.get_feedback_summary([eid], where, group_by=_APP_VERSION_TAG)
        if any(g.group is not None for g in tagged.groups):
            summary, group_by = tagged, _APP_VERSION_TAG
    groups = sorted(summary.groups, key=lambda g: (g.group is None, -g.num_traces,
                                                   g.group or ""))
    rows = []
    for group in groups[:_MAX_SEGMENT_ROWS]:
        means = {}
        for name in rating_names:
            stats = group.assessments.get(name)
            if stats is not None and stats.numeric is not None:
                means[name] = {"mean": stats.numeric.mean, "count": stats.numeric.count}
        rows.append({"value": group.group, **_group_figures(group, rate_name),
                     "means": means, "filter": _segment_filter(group_by, group.group)})
    return {"rows": rows, "num_hidden": max(0, len(groups) - _MAX_SEGMENT_ROWS),
            "group_by": group_by}


def _segment_filter(group_by: str, value: str | None) -> str:
    """The filter that selects one segment's traces (for the traces page)."""
    field = {"user": "trace.user_id", "session": "trace.session_id"}.get(group_by)
    if field is None:
        entity, key = group_by.split(".", 1)
        field = f"{entity}.{quote_name(key)}"
    return f"{field} IS NULL" if value is None else f"{field} = {quote_string(value)}"


def _worst(store: Store, eid: str, where: str | None, by: str | None,
           summaries: Sequence[AssessmentSummary]) -> dict[str, Any]:
    """The worst-rated traces by the feedback ``by``: for true/false feedback the latest
    false ones; for numbers the lowest values, the latest first among equal ones.

    Each search is a filter read newest first that stops at the page's end, which stays
    quick at any size, unlike sorting every rated trace by its value: the numbers are
    taken a histogram bin at a time, lowest first, until the list is full.
    """
    worst: dict[str, Any] = {"by": by, "choices": [s.name for s in summaries], "traces": []}
    stats = next((s for s in summaries if s.name == by), None)
    if by is None or stats is None:
        return worst
    field = f"feedback.{quote_name(by)}"
    worst["kind"] = "boolean" if stats.boolean is not None else "numeric"
    if stats.boolean is not None:
        ranges = [f"{field} = 'false'"]
    else:
        assert stats.numeric is not None
        # One range per bin that has values, each reaching down to where the last one
        # ended (so empty bins, and values on a bin's edge, fall in some range).
        bins = [b for b in stats.numeric.histogram if b.count]
        ranges = []
        for i, b in enumerate(bins):
            parts = [f"{field} >= {bins[i - 1].high!r}"] if i else []
            if i < len(bins) - 1:
                parts.append(f"{field} < {b.high!r}")
            ranges.append(" AND ".join(parts))
        ranges = [r or f"{field} IS NOT NULL" for r in ranges] or [f"{field} IS NOT NULL"]
    found: dict[str, Trace] = {}
    for clause in ranges:
        page = store.search_traces([eid], max_results=_NUM_WORST - len(found),
                                   include_spans=False,
                                   filter_string=f"{where} AND {clause}" if where else clause)
        found.update((t.info.trace_id, t) for t in page if t.info.trace_id not in found)
        if len(found) >= _NUM_WORST:
            break
    rows: list[dict[str, Any]] = []
    for trace in found.values():
        info = trace.info
        score: float | bool | None = mean_value(info.assessments, by)
        if stats.boolean is not None and score in (0.0, 1.0):
            score = score == 1.0
        rows.append({
            "trace_id": info.trace_id, "time_ms": info.request_time,
            "request_preview": info.request_preview, "response_preview": info.response_preview,
            "user_id": info.user_id, "session_id": info.session_id, "score": score,
            "feedback": [c for c in feedback_chips(info.assessments) if c["kind"] == "feedback"],
        })
    # At most _NUM_WORST rows: the lowest first, then the latest.
    rows.sort(key=lambda r: (float(r["score"]) if r["score"] is not None else 0.0,
                             -r["time_ms"]))
    worst["traces"] = rows[:_NUM_WORST]
    return worst


# -- links ---------------------------------------------------------------------------------

def _range_context(experiment: Experiment, query: DashboardQuery) -> dict[str, Any]:
    tr = query.time_range
    return {"preset": tr.preset, "start_ms": tr.start_ms, "end_ms": tr.end_ms,
            "from": _date_param(tr.start_ms) or "", "to": _date_param(tr.end_ms, end=True) or "",
            "label": _PRESET_LABELS.get(tr.preset, "Custom range"),
            "presets": [{"key": key, "label": _PRESET_LABELS[key], "active": tr.preset == key,
                         "href": _dashboard_href(experiment.experiment_id, query.params(
                             range=key if key != "all" else None, **{"from": None, "to": None}))}
                        for key in PRESETS]}


def _date_param(ms: int | None, *, end: bool = False) -> str | None:
    """A range end as the ``from``/``to`` parameter that gives it back: a date when it
    falls on midnight (``to`` is then the day before, which it includes)."""
    if ms is None:
        return None
    when = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    if when.time() == dt.time(0):
        return (when - dt.timedelta(days=1) if end else when).strftime("%Y-%m-%d")
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _dashboard_href(experiment_id: str, params: Mapping[str, str]) -> str:
    base = f"/experiments/{quote(experiment_id, safe='')}/dashboard"
    return f"{base}?{urlencode(params)}" if params else base


def traces_href(experiment_id: str, params: Mapping[str, str]) -> str:
    """The traces page of an experiment with these query parameters (``filter``, ``user``,
    ``range``, ``sort``, ...; see :mod:`.trace_view`)."""
    base = f"/experiments/{quote(experiment_id, safe='')}"
    return f"{base}?{urlencode(params)}" if params else base


def _add_links(context: dict[str, Any], query: DashboardQuery) -> None:
    """Links from the figures to the traces they count, over the same time range."""
    eid = context["experiment"]["experiment_id"]
    # The traces page takes the same range parameters as the dashboard.
    in_range = {k: v for k, v in query.params().items() if k in ("range", "from", "to")}

    def traces(**params: str) -> str:
        return traces_href(eid, {**in_range, **params})

    for row in context["segments"]["rows"]:
        value = row["value"]
        row["href"] = traces(user=value) if context["segment"]["group_by"] == "user" \
            and value is not None else traces(filter=row.pop("filter"))
        row.pop("filter", None)
    worst = context["worst"]
    if worst["by"] is not None:
        field = f"feedback.{quote_name(worst['by'])}"
        worst["href"] = traces(filter=f"{field} IS NOT NULL", sort=f"feedback:{worst['by']}",
                               dir="asc")
    worst.pop("filter", None)
    for trace in worst["traces"]:
        trace["href"] = f"/traces/{quote(trace['trace_id'], safe='')}"
    context["links"] = {
        "traces": traces(),
        "segment_choices": {key: _dashboard_href(eid, query.params(segment=key))
                            for key in SEGMENTS},
        "worst_by": {name: _dashboard_href(eid, query.params(worst_by=name))
                     for name in worst["choices"]},
    }
    rate = context["rate_name"]
    if rate is not None:
        context["links"]["negative"] = traces(filter=f"feedback.{quote_name(rate)} = 'false'")


# -- the charts ----------------------------------------------------------------------------

def draw_charts(context: Mapping[str, Any]) -> dict[str, Any]:
    """The SVG charts of a dashboard context (for the HTML page)."""
    axis_info = context.get("axis")
    if not axis_info:
        return {}
    axis = charts.TimeAxis(axis_info["start_ms"], axis_info["bucket_ms"], axis_info["count"])
    timeline = context["timeline"]
    rate_name = context["rate_name"]
    bucket_word = {"hour": "hour", "day": "day", "week": "week"}[axis_info["bucket"]]
    drawn: dict[str, Any] = {
        "volume": charts.column_chart(
            [charts.Column(r["start_ms"], r["num_traces"], r["num_traces_with_feedback"])
             for r in timeline],
            axis, title=f"Traces per {bucket_word}", total_name="Traces",
            part_name="With feedback", key="volume"),
    }
    # The positive rate's interval is shaded; the feedback rate's is in the tooltips (two
    # overlapping bands would hide both lines).
    series = [charts.Series("Feedback rate", [
        charts.Point(r["start_ms"], r["feedback_rate"], *_ends(r["feedback_rate_interval"]),
                     note=f"{r['num_traces_with_feedback']} of {r['num_traces']} traces")
        for r in timeline], tone="accent", band=rate_name is None)]
    if rate_name is not None:
        series.append(charts.Series(f"Positive ({rate_name})", [
            charts.Point(r["start_ms"], r["positive_rate"],
                         *_ends(r["positive_rate_interval"]),
                         note=f"{r['positive']} of {r['positive'] + r['negative']}")
            for r in timeline], tone="good"))
    drawn["rates"] = charts.line_chart(series, axis, title=f"Rates per {bucket_word}",
                                       unit="percent", key="rates")
    booleans = context["booleans"]
    if booleans:
        drawn["booleans"] = charts.bar_list(
            [charts.Bar(b["name"], b["positive_rate"], *_ends(b["positive_rate_interval"]),
                        note=f"n = {b['count']:,}", tone="good") for b in booleans],
            title="Positive rate per feedback", unit="percent", key="booleans")
    ratings = context["ratings"]
    if ratings:
        # Each bar on its own scale (a 0-1 score beside a 1-5 rating), said in its note.
        drawn["rating_means"] = charts.bar_list(
            [charts.Bar(r["name"], r["mean"], scale=r["scale"],
                        note=f"of {format_number(r['scale'])} · n = {r['count']:,}")
             for r in ratings],
            title="Average per rating, each on its own scale", unit="number",
            key="rating-means")
        drawn["ratings"] = {
            r["name"]: charts.rating_distribution(
                [(b["label"], b["count"]) for b in r["histogram"]],
                title=f"Distribution of {r['name']}", key=f"rating-{i}")
            for i, r in enumerate(ratings)}
    drawn["categories"] = {
        c["name"]: charts.bar_list(
            [charts.Bar(v["value"], v["count"],
                        note=charts.format_value(v["share"], "percent"))
             for v in c["values"][:_MAX_CATEGORY_BARS]],
            title=f"Counts of {c['name']}", unit="count", key=f"category-{i}")
        for i, c in enumerate(context["categories"])}
    rows = context["segments"]["rows"]
    if rows:
        label = context["segment"]["label"]
        if rate_name is not None:
            bars = [charts.Bar(r["value"] or "(none)", r["positive_rate"],
                               *_ends(r["positive_rate_interval"]),
                               note=f"n = {r['positive'] + r['negative']:,}", href=r["href"],
                               tone="good") for r in rows]
            title = f"Positive rate ({rate_name}) by {label.lower()}"
        else:
            bars = [charts.Bar(r["value"] or "(none)", r["feedback_rate"],
                               *_ends(r["feedback_rate_interval"]),
                               note=f"n = {r['num_traces']:,}", href=r["href"]) for r in rows]
            title = f"Feedback rate by {label.lower()}"
        drawn["segments"] = charts.bar_list(bars, title=title, unit="percent", width=380,
                                            label_width=100, key="segments")
    return drawn


def _ends(interval: Mapping[str, float] | None) -> tuple[float | None, float | None]:
    return (None, None) if interval is None else (interval["low"], interval["high"])
