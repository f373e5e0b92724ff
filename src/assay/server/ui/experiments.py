"""The experiments page, ``/``: every experiment with its trace count, newest trace and
feedback rate."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from assay.server.deps import StoreDep
from assay.server.permissions import Action
from assay.server.route_tables import RouteTable
from assay.server.ui.templating import page, page_route
from assay.server.ui.traces import experiment_summary

__all__ = ["router"]

router = RouteTable()

#: Experiments per page (the page token pages on).
_PAGE_SIZE = 200


@page_route(router, "/", action=Action.READ)
def experiments_page(request: Request, store: StoreDep) -> Response:
    """The experiments, the most recently active first."""
    token = request.query_params.get("page") or None
    found = store.search_experiments(max_results=_PAGE_SIZE, page_token=token)
    stats = store.get_experiment_stats([e.experiment_id for e in found])
    rows: list[dict[str, Any]] = []
    for experiment in found:
        counts = stats[experiment.experiment_id]
        rows.append({
            **experiment_summary(experiment),
            "creation_time_ms": experiment.creation_time,
            "num_traces": counts.num_traces,
            "last_trace_time_ms": counts.last_trace_time_ms,
            "num_traces_with_feedback": counts.num_traces_with_feedback,
            "feedback_rate": counts.feedback_rate,
        })
    # Where the work is: experiments with traces, the newest trace first; then the rest.
    rows.sort(key=lambda r: (r["last_trace_time_ms"] is None,
                             -(r["last_trace_time_ms"] or 0), -r["creation_time_ms"]))
    context = {
        "experiments": rows,
        "num_traces": sum(r["num_traces"] for r in rows),
        "next_page_token": found.token,
        "next_url": f"/?page={found.token}" if found.token else None,
    }
    return page(request, "experiments.html", context)
