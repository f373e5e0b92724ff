"""The web UI: server-rendered pages over the store, each also answering as JSON at the same
URL plus ``.json``.

Pages: ``/`` (experiments), ``/experiments/{id}`` (traces), ``/traces/{id}`` (a trace),
``/experiments/{id}/sessions`` and ``/experiments/{id}/sessions/{session}``,
``/experiments/{id}/dashboard``, ``/runs/{id}`` (an evaluation run); ``/docs``, the API
reference.
"""

from __future__ import annotations

from fastapi import APIRouter

from assay.server.ui import (
    api_docs,
    dashboard,
    evaluations,
    experiments,
    sessions,
    trace_detail,
    traces,
)

__all__ = ["build_ui_router"]


def build_ui_router() -> APIRouter:
    """One router with every page of the UI."""
    router = APIRouter()
    for module in (experiments, traces, trace_detail, sessions, dashboard, evaluations,
                   api_docs):
        router.include_router(module.router)
    return router
