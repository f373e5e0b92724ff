"""``GET /api/v1/server/stats``: what the server counts while it runs (feedback kept for
traces that have not arrived, feedback tokens accepted and refused)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from assay.server.deps import StoreDep
from assay.server.errors import ERROR_RESPONSES
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable
from assay.server.stats import CountersDep

__all__ = ["router"]

router = RouteTable(prefix="/server", tags=["server"], responses=ERROR_RESPONSES)


class ServerStatsResponse(BaseModel):
    pending_assessments: int = Field(
        description="Assessments waiting for their trace now (in the database)")
    pending_expired: int = Field(
        description="Pending assessments dropped since this process started: their trace "
                    "did not arrive in time")
    feedback_tokens_accepted: int = Field(
        description="Votes recorded with a valid feedback token since this process started")
    feedback_tokens_refused: int = Field(
        description="Feedback tokens refused (malformed, tampered with, expired, or for "
                    "another trace) since this process started")
    feedback_rate_limited: int = Field(
        description="Votes refused because their token's rate limit was used up")


@router.get("/stats", response_model=ServerStatsResponse, openapi_extra=needs(Action.READ))
def server_stats(store: StoreDep, counters: CountersDep) -> ServerStatsResponse:
    """Counters of this server process, and how many assessments wait for their trace."""
    counts = counters.snapshot()
    return ServerStatsResponse(
        pending_assessments=store.count_pending_assessments(),
        pending_expired=counts.pending_expired,
        feedback_tokens_accepted=counts.feedback_tokens_accepted,
        feedback_tokens_refused=counts.feedback_tokens_refused,
        feedback_rate_limited=counts.feedback_rate_limited)
