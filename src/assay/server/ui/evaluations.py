"""Evaluation runs: one run's scores, row by row.

``/runs/{run_id}`` shows an evaluation run: its status, time and parameters, one card per
score (its mean, how many rows passed and failed, errors, the tokens its judge used), and
the rows a page at a time — each row's request, response and expected response, and each
scorer's value with its rationale, linked to the row's trace. ``?failed=<name>`` keeps the
rows that score failed (a "no" or false). A labeling session's run is sent to its review
page. Answers as JSON at the same URL plus
``.json``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from assay.entities import Assessment, Trace
from assay.entities.run import Run, RunKind
from assay.errors import InvalidParameterError
from assay.genai.evaluation import ROW_KEY
from assay.server.deps import StoreDep
from assay.server.permissions import Action
from assay.server.ui.chips import assessment_chip
from assay.server.ui.templating import page, page_route

__all__ = ["router"]

router = APIRouter()

#: Rows per page of a run.
ROWS_PER_PAGE = 100
#: What the run page says of a metric's aggregation.
_AGGREGATIONS = ("mean", "median", "min", "max", "p90", "variance")
_NAME_CHARS = 250


@page_route(router, "/runs/{run_id}", action=Action.READ)
def run_page(request: Request, run_id: str, store: StoreDep,
             page_token: Annotated[str | None, Query(alias="page", max_length=4096)] = None,
             failed: Annotated[str | None, Query(max_length=_NAME_CHARS)] = None,
             ) -> Response:
    """An evaluation run: its scores and its rows."""
    run = store.get_run(run_id)
    if run.info.kind is RunKind.LABELING:
        return RedirectResponse(f"/review/{quote(run_id, safe='')}", status_code=303)
    experiment = store.get_experiment(run.info.experiment_id)
    eid = experiment.experiment_id
    scores = _scores(run)
    if failed is not None and (failed not in scores or "`" in failed):
        raise InvalidParameterError(
            f"Invalid failed {failed!r}: this run has no score of that name; it has "
            f"{', '.join(scores) or 'none'}")
    found = store.search_traces([eid], max_results=ROWS_PER_PAGE, page_token=page_token,
                                run_id=run_id, include_spans=False,
                                filter_string=None if failed is None else
                                f"(feedback.`{failed}` = 'no' OR feedback.`{failed}` = 'false')",
                                order_by=[f"metadata.`{ROW_KEY}`", "timestamp_ms ASC"])
    rows = [_row(trace, run_id, list(scores)) for trace in found]
    base = f"/runs/{quote(run_id, safe='')}"
    kept = {} if failed is None else {"failed": failed}
    context = {
        "experiment": {"experiment_id": eid, "name": experiment.name,
                       "url": f"/experiments/{quote(eid, safe='')}"},
        "run": _run(run),
        "scores": [_score_card(name, run, base) for name in scores],
        "rows": rows,
        "expected": sorted({k for r in rows for k in r["expectations"]}),
        "filter": {"failed": failed, "all_url": base},
        "next_url": (f"{base}?{urlencode({**kept, 'page': found.token})}"
                     if found.token else None),
        "first_url": f"{base}?{urlencode(kept)}" if page_token else None,
    }
    return page(request, "evaluations/run.html", context)


def _scores(run: Run) -> dict[str, dict[str, float]]:
    """The run's scores, by name: ``{aggregation or count: value}`` from its metrics
    (``correctness/mean``, ``correctness/errors``, ...), in the scorers' order (the run's
    ``scorers`` param), then the others by name."""
    found: dict[str, dict[str, float]] = {}
    for key, value in sorted(run.data.metrics.items()):
        name, sep, measure = key.rpartition("/")
        if sep and name:
            found.setdefault(name, {})[measure] = value
    order = [n.strip() for n in run.data.params.get("scorers", "").split(",") if n.strip()]
    ranked = sorted(found, key=lambda n: (order.index(n) if n in order else len(order), n))
    return {name: found[name] for name in ranked}


def _score_card(name: str, run: Run, base: str) -> dict[str, Any]:
    measures = _scores(run)[name]
    mean = measures.get("mean")
    return {
        "name": name,
        "mean": mean,
        "aggregations": {k: measures[k] for k in _AGGREGATIONS if k in measures and k != "mean"},
        "prompt_tokens": measures.get("prompt_tokens"),
        "completion_tokens": measures.get("completion_tokens"),
        "errors": measures.get("errors", 0.0),
        "failed_url": f"{base}?{urlencode({'failed': name})}",
    }


def _run(run: Run) -> dict[str, Any]:
    info = run.info
    duration = None if info.end_time is None else info.end_time - info.start_time
    return {"run_id": info.run_id, "name": info.run_name, "kind": info.kind.value,
            "status": info.status.value, "start_ms": info.start_time, "end_ms": info.end_time,
            "duration_ms": duration, "created_by": info.user_id,
            "params": dict(run.data.params), "tags": dict(run.data.tags)}


def _row(trace: Trace, run_id: str, names: list[str]) -> dict[str, Any]:
    """A row: the trace's request and response, its expectations, and this run's scores."""
    info = trace.info
    mine: dict[str, Assessment] = {}
    for a in info.assessments:
        if a.valid and a.kind == "feedback" and a.run_id == run_id:
            mine.setdefault(a.name, a)
    expectations = {a.name: a.value for a in info.assessments
                    if a.valid and a.kind == "expectation"}
    return {
        "trace_id": info.trace_id,
        "url": f"/traces/{quote(info.trace_id, safe='')}",
        "request": info.request_preview,
        "response": info.response_preview,
        "state": info.state.value,
        "expectations": expectations,
        "scores": {name: (assessment_chip(mine[name]) if name in mine else None)
                   for name in names},
    }
