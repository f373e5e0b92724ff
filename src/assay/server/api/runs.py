"""Runs: search the labeling sessions and evaluations of experiments (MLflow's
``runs/search``). A single run is read with ``GET /runs/{run_id}`` (``labeling.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from assay.server.api.common import (
    MAX_RESULTS_FIELD,
    PAGE_TOKEN_FIELD,
    JsonInt,
    NonEmptyStr,
    RequestModel,
)
from assay.server.deps import StoreDep
from assay.server.errors import ERROR_RESPONSES
from assay.server.permissions import Action, needs

__all__ = ["router"]

router = APIRouter(prefix="/runs", tags=["runs"], responses=ERROR_RESPONSES)


class SearchRunsRequest(RequestModel):
    experiment_ids: list[NonEmptyStr] = Field(min_length=1,
                                              description="The experiments to search")
    filter_string: str | None = Field(
        default=None, description="MLflow's runs filter, clauses joined with AND, e.g. "
                                  "\"metrics.accuracy > 0.9 AND attributes.kind = 'labeling'\"")
    order_by: list[str] | None = Field(
        default=None, description="e.g. ['metrics.accuracy DESC']; default newest first")
    max_results: JsonInt = MAX_RESULTS_FIELD
    page_token: str | None = PAGE_TOKEN_FIELD


class SearchRunsResponse(BaseModel):
    runs: list[dict[str, Any]] = Field(description="One page of runs, MLflow's run JSON: "
                                                   "info and data")
    next_page_token: str | None = Field(description="The cursor of the next page, if any")


@router.post("/search", response_model=SearchRunsResponse, openapi_extra=needs(Action.READ))
def search_runs(body: SearchRunsRequest, store: StoreDep) -> SearchRunsResponse:
    """Runs (labeling sessions and evaluations) that match a filter, a page at a time."""
    page = store.search_runs(body.experiment_ids, body.max_results, body.page_token,
                             body.filter_string, body.order_by)
    return SearchRunsResponse(runs=[run.to_dict() for run in page],
                              next_page_token=page.token)
