"""The traces table of an experiment: ``/experiments/{experiment_id}``.

One search per page (the page's traces with their assessments, no spans) plus one short
lookup of the experiment's assessment names, whatever the number of traces. The whole view
lives in the URL (see :mod:`assay.server.ui.trace_view`). A filter the search language
cannot take is shown under the filter box, pointing at the offending text.
"""

from __future__ import annotations

import difflib
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from assay.entities import Assessment, Experiment, Trace
from assay.entities.overview import AssessmentName, RecentIds, TraceCount
from assay.errors import InvalidParameterError, QueryTimeoutError
from assay.search import AssessmentField, Expr, FilterError, iter_comparisons, parse_filter
from assay.search.unparse import quote_name
from assay.server.deps import StoreDep
from assay.server.permissions import Action
from assay.server.route_tables import RouteTable
from assay.server.ui.pager import COUNT_CAP, jump_offset, last_page, pager
from assay.server.ui.templating import is_json_request, page, page_route
from assay.server.ui.time_range import PRESETS, parse_time_range
from assay.server.ui.trace_view import (
    BASE_COLUMNS,
    DEFAULT_PAGE_SIZE,
    FEEDBACK_FILTERS,
    PAGE_SIZES,
    Column,
    TraceView,
    assessment_column_key,
    assessment_columns,
    check_sort,
    parse_view,
    thumbs_name,
)
from assay.store.base import Store
from assay.store.sql.engine import narrowed_timeout

__all__ = [
    "COUNT_SECONDS", "assessment_cell", "experiment_summary", "router", "trace_count_page",
    "trace_row",
]

router = RouteTable()

_PREVIEW_CHARS = 300
#: The most assessment names of an experiment the page reads (columns, suggestions).
MAX_ASSESSMENT_NAMES = 100
#: Score chips shown in a row before "+N".
SHOWN_SCORES = 4
#: User and session ids offered under their filters (the most recently seen first).
MAX_SUGGESTIONS = 200
#: How long the page waits for its count of matching traces (seconds); past it, the page
#: shows without and its script asks the count route, which has the statement timeout.
COUNT_SECONDS = 0.03


@page_route(router, "/experiments/{experiment_id}", action=Action.READ)
def traces_page(experiment_id: str, request: Request, store: StoreDep) -> Response:
    """The traces of an experiment, a page at a time, filtered, sorted, with a column per
    assessment name."""
    experiment = store.get_experiment(experiment_id)
    names = store.list_assessment_names(experiment.experiment_id,
                                        max_results=MAX_ASSESSMENT_NAMES)
    view = parse_view(experiment.experiment_id, request.query_params,
                      request.query_params.getlist("col"))
    columns = {c.key: c for c in (*BASE_COLUMNS, *assessment_columns(names))}
    view = check_sort(view, columns)
    errors = list(view.errors)
    filter_error: dict[str, Any] | None = None
    range_clause: str | None = None
    try:
        time_range = parse_time_range(view.range or None, view.start or None,
                                      view.end or None, int(time.time() * 1000))
        range_clause = time_range.filter_clause()
    except InvalidParameterError as exc:
        errors.append(exc.message)
    warnings: list[dict[str, Any]] = []
    if view.filter:
        try:
            parsed = parse_filter(view.filter)
        except FilterError as exc:
            filter_error = _filter_error(view.filter, exc, offset=0)
        else:
            warnings = _unknown_names(parsed, names, view)
    feedback_names = [n.name for n in names if n.kind == "feedback"]
    quick = view.quick_filter(feedback_names, range_clause)
    filter_string = _combine(view.filter, quick)
    traces: list[Trace] = []
    next_token: str | None = None
    count: TraceCount | None = None
    number: int | None = (view.number or None) if view.page else max(1, view.number)
    if filter_error is None and view.matches_nothing(feedback_names):
        count = TraceCount(0, False)
    elif filter_error is None:
        try:
            jumping = not view.page and number is not None and number > 1
            if jumping:  # the count says where the last page is
                count = _count(store, experiment.experiment_id, filter_string)
                view, number, token = _jump(store, view, number, count, filter_string,
                                            columns, errors)
            else:
                token = view.page or None
            found = store.search_traces(
                [experiment.experiment_id], max_results=view.page_size,
                page_token=token, include_spans=False,
                filter_string=filter_string, order_by=view.order_by(columns))
            traces, next_token = list(found), found.token
            if not jumping:
                count = _count(store, experiment.experiment_id, filter_string,
                               len(traces) if token is None and next_token is None else None)
        except FilterError as exc:
            # The user's filter comes first, in parentheses, so its positions are off by one.
            if view.filter and exc.position is not None \
                    and 1 <= exc.position <= len(view.filter):
                filter_error = _filter_error(view.filter, exc, offset=1)
            else:
                errors.append(exc.message)
        except InvalidParameterError as exc:
            errors.append(exc.message)
    # Names on this page that the experiment's list did not hold (a name used as both kinds).
    for column in assessment_columns(sorted(_page_names(traces) - set(names))):
        columns.setdefault(column.key, column)
    if view.columns is not None and set(view.columns) == _default_keys(columns):
        view = replace(view, columns=None)  # the defaults: keep the URL short
    visible = _visible(view, columns)
    bases = {name: view.url(**{name: ""}) for name in ("user", "session")}
    paged = pager(view, number, len(traces), count, next_token)
    context = {
        "experiment": experiment_summary(experiment),
        "view": _view_dict(view),
        "filter_string": filter_string,
        "filter_error": filter_error,
        "errors": errors,
        "warnings": warnings,
        "columns": [_column_dict(c, view, visible) for c in columns.values()],
        "traces": _order_scores([_with_filter_links(trace_row(t, columns), bases)
                                 for t in traces]),
        "next_page_token": next_token,
        "next_url": paged.next_url,
        "first_url": paged.first_url,
        "count": None if count is None else {"count": count.count, "capped": count.capped},
        "pager": asdict(paged),
        "_feedback_filters": FEEDBACK_FILTERS,
        "_feedback_names": feedback_names,
        "_thumbs_name": thumbs_name(view.thumbs, feedback_names),
        "_quick": quick,
        "_ranges": list(PRESETS),
        "_page_sizes": PAGE_SIZES,
        "_default_page_size": DEFAULT_PAGE_SIZE,
        "_shown_scores": SHOWN_SCORES,
        "_has_any_filter": bool(view.filter or quick or view.feedback),
        "_clear_url": TraceView(experiment.experiment_id, columns=view.columns,
                                page_size=view.page_size).url(),
        "_view": view,
        # For the filter boxes of the HTML page only (the JSON twin has no use for them).
        "_suggestions": RecentIds([], []) if is_json_request(request)
        else store.list_recent_ids(experiment.experiment_id, max_results=MAX_SUGGESTIONS),
        "_count_url": _count_url(view),
        # The "Send to session" form (HTML only): the experiment's labeling sessions.
        "_labeling_sessions": [] if is_json_request(request) else [
            {"run_id": s.run_id, "name": s.name}
            for s in store.list_labeling_sessions([experiment.experiment_id])],
        "_send_url": f"/experiments/{quote(experiment.experiment_id, safe='')}/labeling/send",
        "_back_url": view.url(),
    }
    status = 400 if filter_error or (errors and not traces) else 200
    return page(request, "traces/list.html", context, status=status)


@page_route(router, "/experiments/{experiment_id}/count", action=Action.READ)
def trace_count_page(experiment_id: str, request: Request, store: StoreDep) -> Response:
    """How many traces the view of the traces page matches (its filters, in the same query
    parameters), counted up to 10,000 within the server's statement timeout: what the
    traces page links to, and what its script asks, when its own count ran out of time."""
    experiment = store.get_experiment(experiment_id)
    names = store.list_assessment_names(experiment.experiment_id,
                                        max_results=MAX_ASSESSMENT_NAMES)
    view = parse_view(experiment.experiment_id, request.query_params, [])
    time_range = parse_time_range(view.range or None, view.start or None, view.end or None,
                                  int(time.time() * 1000))
    feedback_names = [n.name for n in names if n.kind == "feedback"]
    count = TraceCount(0, False)
    if not view.matches_nothing(feedback_names):
        quick = view.quick_filter(feedback_names, time_range.filter_clause())
        count = store.count_traces([experiment.experiment_id],
                                   _combine(view.filter, quick), max_count=COUNT_CAP)
    context = {
        "experiment": experiment_summary(experiment),
        "count": {"count": count.count, "capped": count.capped},
        "traces_url": view.url(),
        "_has_any_filter": bool(view.filter or view.user or view.session or view.feedback
                                or view.range or view.start or view.end),
    }
    return page(request, "traces/count.html", context)


def _count(store: Store, experiment_id: str, filter_string: str | None,
           only_page: int | None = None) -> TraceCount | None:
    """The count of the page: ``only_page`` when the first page is the only one (its rows
    are the count), else counted within COUNT_SECONDS (None past it: the page's script asks
    the count route, which has the whole statement timeout)."""
    if only_page is not None:
        return TraceCount(only_page, False)
    with narrowed_timeout(COUNT_SECONDS) as bounds:
        try:
            return store.count_traces([experiment_id], filter_string, max_count=COUNT_CAP)
        except QueryTimeoutError:
            if bounds.cancelled:
                raise
            return None


def _count_url(view: TraceView) -> str:
    """The URL of the count of the view's filters (its order, columns and page aside)."""
    bare = TraceView(view.experiment_id, filter=view.filter, user=view.user,
                     session=view.session, feedback=view.feedback, thumbs=view.thumbs,
                     range=view.range, start=view.start, end=view.end)
    path, _, query = bare.url().partition("?")
    return f"{path}/count?{query}" if query else f"{path}/count"


def _jump(store: Store, view: TraceView, number: int | None, count: TraceCount | None,
          filter_string: str | None, columns: Mapping[str, Column],
          errors: list[str]) -> tuple[TraceView, int | None, str | None]:
    """The view, page number and cursor of the page to read: the URL's cursor, or for a
    page number alone (a jump) the cursor the store finds for it. A page past the last is
    the last; a page deeper than a jump may reach is the first (and said so)."""
    if view.page or number is None or number == 1:
        return view, number, view.page or None
    last = last_page(count, view.page_size)
    if last is not None and number > last:
        number = last
    offset = jump_offset(number, view.page_size)
    if offset is None:
        errors.append(f"Page {number:,} starts past the first {COUNT_CAP:,} traces: it is "
                      "reached with Next; showing the first page")
        return replace(view, number=0), 1, None
    if offset == 0:
        return replace(view, number=0), 1, None
    token = store.find_trace_page_token([view.experiment_id], offset, filter_string,
                                        view.order_by(columns))
    if token is None:  # fewer traces than the page needs (they changed since the count)
        return replace(view, number=0), 1, None
    return replace(view, number=number), number, token


def experiment_summary(experiment: Experiment) -> dict[str, Any]:
    """The experiment as the pages name and link it."""
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "url": f"/experiments/{quote(experiment.experiment_id, safe='')}",
    }


def trace_row(trace: Trace, columns: Mapping[str, Column] | None = None) -> dict[str, Any]:
    """One trace as a table row: plain values, and the latest valid value of each
    assessment name (``assessments``, by column key)."""
    info = trace.info
    usage = info.token_usage or {}
    cells: dict[str, dict[str, Any]] = {}
    for key, found in _by_column(info.assessments).items():
        if columns is None or key in columns:
            cells[key] = assessment_cell(found)
    tags = {k: v for k, v in info.tags.items() if not k.startswith("mlflow.")}
    return {
        "trace_id": info.trace_id,
        "url": f"/traces/{quote(info.trace_id, safe='')}",
        "request": _clip(info.request_preview),
        "response": _clip(info.response_preview),
        "session_id": info.session_id,
        "user_id": info.user_id,
        "name": info.name,
        "client_request_id": info.client_request_id,
        "timestamp_ms": info.request_time,
        "duration_ms": info.execution_duration,
        "state": info.state.value,
        "tokens": {k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens")
                   if isinstance(usage.get(k), int)},
        "tags": dict(sorted(tags.items())[:20]),
        "num_tags": len(tags),
        "assessments": cells,
        "scores": [{"name": key.partition(":")[2], "key": key, **cell}
                   for key, cell in sorted(cells.items(), key=lambda kv: kv[0].lower())
                   if key.startswith("feedback:")],
    }


def _order_scores(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The trace's own feedback before its session's (which every turn repeats), then the
    # names most rows of the page have, so that chips line up down the column and the few
    # shown before "+N" are the ones most worth comparing.
    counts = Counter(s["key"] for row in rows for s in row["scores"])
    for row in rows:
        row["scores"].sort(key=lambda s: (s["session_level"], -counts[s["key"]],
                                          s["name"].lower()))
    return rows


def _with_filter_links(row: dict[str, Any], bases: Mapping[str, str]) -> dict[str, Any]:
    # The links that narrow the view to a row's user or session, from one prefix each (the
    # view's URL without that filter): a TraceView.url per row would cost more than the row.
    for field, name in (("user_id", "user"), ("session_id", "session")):
        key = f"{name}_filter_url"
        row[key] = None
        if row[field]:
            base = bases[name]
            joiner = "&" if "?" in base else "?"
            row[key] = f"{base}{joiner}{name}={quote(row[field], safe='')}"
    return row


def assessment_cell(found: list[Assessment]) -> dict[str, Any]:
    """The cell of one assessment name: the latest valid value, how many valid ones there
    are, and the others' values (for the tooltip)."""
    found = sorted(found, key=lambda a: (a.create_time_ms, a.assessment_id or ""))
    latest = found[-1]
    error = latest.error
    return {
        "value": latest.value,
        "error": (error.error_message or error.error_code) if error is not None else None,
        "count": len(found),
        "values": [a.value for a in found[-10:]],
        "source": f"{latest.source.source_type.value} {latest.source.source_id or ''}".strip(),
        "session_level": latest.session_id is not None,
        "time_ms": latest.create_time_ms,
    }


def _by_column(assessments: Iterable[Assessment]) -> dict[str, list[Assessment]]:
    found: dict[str, list[Assessment]] = {}
    for a in assessments:
        if a.valid:
            key = assessment_column_key(AssessmentName(a.kind, a.name))
            found.setdefault(key, []).append(a)
    return found


def _page_names(traces: Iterable[Trace]) -> set[AssessmentName]:
    return {AssessmentName(a.kind, a.name)
            for t in traces for a in t.info.assessments if a.valid}


def _default_keys(columns: Mapping[str, Column]) -> set[str]:
    return {k for k, c in columns.items() if c.default}


def _visible(view: TraceView, columns: Mapping[str, Column]) -> set[str]:
    if view.columns is None:
        return _default_keys(columns)
    return {k for k in view.columns if k in columns}


def _column_dict(column: Column, view: TraceView, visible: set[str]) -> dict[str, Any]:
    return {
        "key": column.key,
        "label": column.label,
        "group": column.group,
        "numeric": column.numeric,
        "default": column.default,
        "visible": column.key in visible,
        "sortable": column.sort_field is not None,
        "sorted": ("desc" if view.descending else "asc") if view.sort == column.key else None,
        "sort_url": view.sort_url(column.key) if column.sort_field else None,
    }


def _view_dict(view: TraceView) -> dict[str, Any]:
    return {
        "filter": view.filter, "user": view.user, "session": view.session,
        "feedback": view.feedback, "on": view.thumbs, "range": view.range,
        "from": view.start, "to": view.end,
        "sort": view.sort, "dir": "desc" if view.descending else "asc",
        "columns": list(view.columns) if view.columns is not None else None,
        "page_size": view.page_size, "page_token": view.page or None,
        "url": view.url(page=view.page),
        "trace_sort_url": view.sort_url("trace"),
        "trace_sorted": ("desc" if view.descending else "asc") if view.sort == "trace"
        else None,
    }


def _unknown_names(expr: Expr | None, names: Sequence[AssessmentName],
                   view: TraceView) -> list[dict[str, Any]]:
    """A warning for each assessment name in the filter that the experiment has never had
    (a typo matches nothing, silently), with the nearest name that it has, and the view with
    it in place of the typo."""
    if len(names) >= MAX_ASSESSMENT_NAMES:
        return []  # the list may be cut: a name missing from it may still exist
    known = {(n.kind, n.name) for n in names}
    warnings: list[dict[str, Any]] = []
    for clause in iter_comparisons(expr):
        field = clause.field
        if not isinstance(field, AssessmentField) or (field.kind, field.name) in known:
            continue
        candidates = [n.name for n in names if n.kind == field.kind]
        nearest = difflib.get_close_matches(field.name, candidates, n=1, cutoff=0.6)
        warning: dict[str, Any] = {
            "message": f"No {field.kind} in this experiment is named {field.name!r}, so this "
                       "clause matches no trace.",
            "suggestion": nearest[0] if nearest else None, "url": None,
            "names": candidates[:12]}
        written = clause.text or ""
        typed = f"{field.kind}.{field.name}"
        if nearest and typed in written and view.filter.count(written) == 1:
            fixed = written.replace(typed, f"{field.kind}.{quote_name(nearest[0])}", 1)
            warning["url"] = view.url(filter=view.filter.replace(written, fixed))
        warnings.append(warning)
    return warnings


def _combine(user_filter: str, quick: str | None) -> str | None:
    if user_filter and quick:
        return f"({user_filter}) AND {quick}"
    return user_filter or quick


def _filter_error(text: str, exc: FilterError, offset: int) -> dict[str, Any]:
    """The error for the filter box: the message, and the filter cut around the offending
    text so the page can point at it."""
    position = None if exc.position is None else max(0, exc.position - offset)
    fragment = exc.fragment or ""
    error: dict[str, Any] = {"message": exc.message, "position": position,
                             "fragment": exc.fragment}
    if position is not None and position <= len(text):
        end = position + max(len(fragment), 1)
        error["before"], error["at"], error["after"] = (
            text[:position], text[position:end] or " ", text[end:])
    return error


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS] + "…"
