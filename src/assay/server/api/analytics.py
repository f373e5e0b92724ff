"""Analytics: the feedback summary (rates, means, histograms, per group and time bucket)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from assay.server.api.common import NonEmptyStr, RequestModel
from assay.server.deps import StoreDep
from assay.server.errors import ERROR_RESPONSES
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["router"]

router = RouteTable(prefix="/analytics", tags=["analytics"], responses=ERROR_RESPONSES)


class FeedbackSummaryRequest(RequestModel):
    experiment_ids: list[NonEmptyStr] = Field(min_length=1, description="The experiments")
    filter_string: str | None = Field(default=None,
                                      description="Which traces, as in traces/search")
    names: list[NonEmptyStr] | None = Field(default=None,
                                    description="The feedback names to summarise (all)")
    group_by: str | None = Field(
        default=None, min_length=1,
        description="'user', 'session', 'tags.<key>', 'metadata.<key>' or a trace attribute "
                    "such as 'name'")
    time_bucket: Literal["hour", "day", "week"] | None = Field(
        default=None, description="Buckets in UTC; weeks start on Monday")


class FeedbackSummaryResponse(BaseModel):
    summary: dict[str, Any] = Field(
        description="experiment_ids, filter_string, group_by, time_bucket, overall and "
                    "groups: each group has its trace count, traces with feedback, the "
                    "feedback rate and per-name statistics with 95% Wilson intervals")


@router.post("/feedback-summary", response_model=FeedbackSummaryResponse,
             openapi_extra=needs(Action.READ))
def feedback_summary(body: FeedbackSummaryRequest, store: StoreDep) -> FeedbackSummaryResponse:
    """Feedback over the traces the filter selects, computed in the database."""
    summary = store.get_feedback_summary(body.experiment_ids, body.filter_string, body.names,
                                         body.group_by, body.time_bucket)
    return FeedbackSummaryResponse(summary=summary.to_dict())
