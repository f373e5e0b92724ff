"""Assay's JSON API under ``/api/v1``: one router per resource."""

from __future__ import annotations

from assay.server.api import (
    analytics,
    assessment_records,
    assessments,
    datasets,
    evaluations,
    experiments,
    feedback,
    feedback_tokens,
    labeling,
    review_queues,
    runs,
    server_stats,
    sessions,
    traces,
    users,
)
from assay.server.route_tables import RouteTable

__all__ = ["build_router"]


def build_router() -> RouteTable:
    """The ``/api/v1`` router with every resource's routes."""
    router = RouteTable(prefix="/api/v1")
    for module in (experiments, traces, assessments, assessment_records, sessions, analytics,
                   users, feedback_tokens, feedback, server_stats, labeling, runs,
                   datasets, evaluations, review_queues):
        router.include_router(module.router)
    return router
