"""The trace page, ``/traces/{trace_id}``: the span tree beside its timeline, the selected
span's details, and the assessments panel with its forms.

A span's details are also served alone (``/traces/{trace_id}/spans/{span_id}``, as an HTML
fragment with ``?fragment=1`` or as JSON), so the page's script loads a span's payloads
when it is selected instead of the page carrying every span's inputs and outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from assay.entities import Assessment, Trace
from assay.errors import InvalidParameterError
from assay.server.deps import StoreDep
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable
from assay.server.ui.assessment_forms import (
    DATA_TYPES,
    FormDep,
    create_assessment,
    data_type_of,
    done_response,
    value_text,
    wants_json,
)
from assay.server.ui.assessment_forms import router as forms_router
from assay.server.ui.span_views import span_detail, span_rows_html, span_tree, trace_start_ns
from assay.server.ui.templating import environment, page, page_route, request_context
from assay.server.ui.trace_labeling import labeling_state
from assay.server.ui.traces import experiment_summary

__all__ = ["assessment_groups", "router"]

router = RouteTable()
router.include_router(forms_router)

#: Above this many spans the page's script folds the tree below its first two levels.
FOLD_SPANS = 150
#: Short names of span types for the tree's badges.
_TYPE_LABELS = {
    "CHAT_MODEL": "CHAT", "RETRIEVER": "RETR", "EMBEDDING": "EMBED", "RERANKER": "RERANK",
    "UNKNOWN": "SPAN", "EVALUATOR": "EVAL",
}


@page_route(router, "/traces/{trace_id}", action=Action.READ)
def trace_page(trace_id: str, request: Request, store: StoreDep) -> Response:
    """One trace: spans, the selected span (``?span=``), assessments and the forms."""
    return _render(request, store, trace_id, request.query_params.get("span") or None)


@page_route(router, "/traces/{trace_id}/spans/{span_id}", action=Action.READ)
def span_page(trace_id: str, span_id: str, request: Request, store: StoreDep) -> Response:
    """One span's details: JSON, an HTML fragment (``?fragment=1``, for the trace page's
    script), or else the trace page with the span selected."""
    span = store.get_span(trace_id, span_id)
    fragment = request.query_params.get("fragment") == "1"
    if not fragment and not request.url.path.endswith(".json"):
        return RedirectResponse(
            f"/traces/{quote(trace_id, safe='')}?span={quote(span_id, safe='')}",
            status_code=303)
    start = request.query_params.get("start")
    trace_start = int(start) if start and start.isdigit() else None
    context = {"trace_id": trace_id, "span": span_detail(span, trace_start)}
    if fragment:
        html = environment().get_template("traces/_span.html").render(
            {**request_context(request), **context})
        return Response(html, media_type="text/html")
    return page(request, "traces/_span.html", context)


@router.post("/traces/{trace_id}/assessments", include_in_schema=False,
             openapi_extra=needs(Action.WRITE))
def add_assessment(trace_id: str, request: Request, form: FormDep,
                   store: StoreDep) -> Response:
    """Log a feedback or an expectation from the add form."""
    try:
        logged, message = create_assessment(request, trace_id, form, store)
    except InvalidParameterError as exc:
        if wants_json(request):
            raise
        return _render(request, store, trace_id, form.get("span") or None, form=form,
                       form_error=exc.message, status=400)
    return done_response(request, trace_id, message, logged, form.get("span") or None)


def _render(request: Request, store: StoreDep, trace_id: str, span_id: str | None, *,
            form: Mapping[str, str] | None = None, form_error: str | None = None,
            status: int = 200) -> Response:
    # The header and assessments, the spans' outlines, and the selected span alone: a
    # trace of thousands of spans never has all its payloads read.
    trace = store.get_trace(trace_id, include_spans=False)
    experiment = store.get_experiment(trace.info.experiment_id)
    names = store.list_assessment_names(experiment.experiment_id)
    outlines = store.list_span_outlines(trace_id)
    tree = span_tree(outlines)
    start = trace_start_ns(outlines)
    span_names = {s.span_id: s.name for s in outlines}
    notices: list[str] = []
    if span_id and span_id not in span_names:
        notices.append(f"Span {span_id[:40]!r} is not in this trace; showing its root span")
        span_id = None
    if span_id is None and tree:
        span_id = tree[0]["span_id"]
    selected = store.get_span(trace_id, span_id) if span_id else None
    header = _trace_dict(trace)
    roots = [r for r in tree if r["depth"] == 0]
    if len(roots) == 1 and roots[0]["duration_ms"] is not None \
            and int(roots[0]["duration_ms"]) == header["duration_ms"]:
        # The trace stores whole milliseconds; its root span has the same time, exactly:
        # show that, so the head and the root's row never say 1 ms and 2 ms.
        header["duration_ms"] = roots[0]["duration_ms"]
    context: dict[str, Any] = {
        "experiment": experiment_summary(experiment),
        "trace": header,
        "spans": tree,
        "num_spans": len(tree),
        # The failed spans, in tree order: counted in the header, the first one a click away.
        "error_span_ids": [r["span_id"] for r in tree if r["is_error"]],
        "trace_start_ns": start,
        "selected_span": span_detail(selected, start) if selected else None,
        "assessments": assessment_groups(trace.info.assessments, span_names),
        "assessment_names": sorted({n.name for n in names}),
        "notices": notices,
        "labeling": labeling_state(store, trace),
        "form": dict(form or {}),
        "form_error": form_error,
        "_data_types": DATA_TYPES,
        "_fold": len(tree) > FOLD_SPANS,
        "_span_rows": span_rows_html(tree, span_id, _TYPE_LABELS, len(tree) > FOLD_SPANS),
    }
    return page(request, "traces/detail.html", context, status=status)


def _trace_dict(trace: Trace) -> dict[str, Any]:
    info = trace.info
    usage = info.token_usage or {}
    experiment_url = f"/experiments/{quote(info.experiment_id, safe='')}"
    session_url = None
    if info.session_id:
        session_url = (f"{experiment_url}/sessions/{quote(info.session_id, safe='')}")
    hidden = ("mlflow.trace.session", "mlflow.trace.user", "mlflow.trace.tokenUsage")
    return {
        "trace_id": info.trace_id,
        "url": f"/traces/{quote(info.trace_id, safe='')}",
        "experiment_id": info.experiment_id,
        "state": info.state.value,
        "request_time_ms": info.request_time,
        "duration_ms": info.execution_duration,
        "name": info.name,
        "request": info.request_preview,
        "response": info.response_preview,
        "client_request_id": info.client_request_id,
        "session_id": info.session_id,
        "session_url": session_url,
        "user_id": info.user_id,
        "user_url": (f"{experiment_url}?user={quote(info.user_id, safe='')}"
                     if info.user_id else None),
        "tokens": {k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens")
                   if isinstance(usage.get(k), int)},
        "tags": dict(sorted(info.tags.items())),
        "metadata": {k: v for k, v in sorted(info.trace_metadata.items()) if k not in hidden},
    }


def assessment_groups(assessments: Sequence[Assessment],
                      span_names: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The trace's assessments for the panel: ``feedback`` and ``expectation``, each the
    current assessments (by name, newest first), each with the history of what it
    overrode, oldest last. ``span_names`` names the spans they are about."""
    by_id = {a.assessment_id: a for a in assessments if a.assessment_id}
    overridden = {a.overrides for a in assessments if a.overrides}
    heads = [a for a in assessments if a.assessment_id not in overridden]
    heads.sort(key=lambda a: (a.name.lower(), -a.create_time_ms))
    groups: dict[str, list[dict[str, Any]]] = {"feedback": [], "expectation": []}
    for head in heads:
        item = _assessment_dict(head, span_names)
        item["history"] = [_assessment_dict(a, span_names) for a in _history(head, by_id)]
        groups[head.kind].append(item)
    return groups


def _history(head: Assessment, by_id: Mapping[str, Assessment]) -> Iterable[Assessment]:
    seen = {head.assessment_id}
    current = head.overrides
    while current and current in by_id and current not in seen:
        seen.add(current)
        yield by_id[current]
        current = by_id[current].overrides


def _assessment_dict(a: Assessment, span_names: Mapping[str, str]) -> dict[str, Any]:
    error = a.error
    rationale = a.rationale
    metadata = dict(a.metadata)
    if a.kind == "expectation" and rationale is None and "rationale" in metadata:
        rationale = metadata.pop("rationale")
    return {
        "assessment_id": a.assessment_id,
        "name": a.name,
        "kind": a.kind,
        "value": a.value,
        "value_text": value_text(a.value),
        "data_type": data_type_of(a.value),
        "error": ((error.error_message or error.error_code) if error is not None else None),
        "source_type": a.source.source_type.value,
        "source_id": a.source.source_id,
        "rationale": rationale,
        "metadata": {k: v for k, v in sorted(metadata.items())
                     if k != "mlflow.trace.session"},
        "span_id": a.span_id,
        "span_name": span_names.get(a.span_id) if a.span_id else None,
        "session_id": a.session_id,
        "create_time_ms": a.create_time_ms,
        "last_update_time_ms": a.last_update_time_ms,
        "valid": a.valid,
        "overrides": a.overrides,
        # The evaluation run or labeling session that wrote it, if any.
        "run_url": None if a.run_id is None else f"/runs/{quote(a.run_id, safe='')}",
    }
