"""The web UI: server-rendered pages over the store, each also answering as JSON at the same
URL plus ``.json``.

Pages: ``/`` (experiments), ``/experiments/{id}`` (traces), ``/traces/{id}`` (a trace),
``/experiments/{id}/sessions`` and ``/experiments/{id}/sessions/{session}``,
``/experiments/{id}/dashboard``, ``/experiments/{id}/labeling`` (label schemas and
labeling sessions) and ``/experiments/{id}/labeling/sessions/{run}`` (a session's
progress, agreement and adjudication), ``/runs/{id}`` (an evaluation run); ``/docs``, the API
reference.
"""

from __future__ import annotations

from assay.server.route_tables import RouteTable
from assay.server.ui import (
    api_docs,
    dashboard,
    evaluations,
    experiments,
    labeling,
    labeling_send,
    labeling_session,
    sessions,
    trace_detail,
    traces,
)

__all__ = ["build_ui_router"]


def build_ui_router() -> RouteTable:
    """One router with every page of the UI."""
    router = RouteTable()
    for module in (experiments, traces, trace_detail, sessions, dashboard, evaluations,
                   labeling, labeling_session, labeling_send, api_docs):
        router.include_router(module.router)
    return router
