"""Runs: labeling sessions and evaluations. Read one (``GET /runs/{run_id}``), search those
of experiments (MLflow's ``runs/search``), and what an evaluation records: create one
(``POST /runs``), set its status and metrics (``PATCH``), link its traces
(``/runs/{run_id}/traces``). A labeling session makes its own run (``labeling.py``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from assay.entities.run import RunData, RunInfo, RunKind, RunStatus
from assay.errors import InvalidParameterError
from assay.server.api.common import (
    BIGINT_MAX,
    MAX_RESULTS_FIELD,
    PAGE_TOKEN_FIELD,
    JsonInt,
    NonEmptyStr,
    RequestModel,
)
from assay.server.deps import CurrentUserDep, StoreDep
from assay.server.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["router"]

router = RouteTable(prefix="/runs", tags=["runs"], responses=ERROR_RESPONSES)

_RUN_ID = r"^[0-9a-f]{32}$"


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


# -- one run ------------------------------------------------------------------------------------

class RunResponse(BaseModel):
    run: dict[str, Any] = Field(description="MLflow's run JSON: info and data")


@router.get("/{run_id}", response_model=RunResponse, openapi_extra=needs(Action.READ))
def get_run(run_id: str, store: StoreDep) -> RunResponse:
    """A run: a labeling session or an evaluation."""
    return RunResponse(run=store.get_run(run_id).to_dict())


class CreateRunRequest(RequestModel):
    run_id: str = Field(pattern=_RUN_ID, description="32 hex digits, chosen by the caller, "
                        "so that a retried request creates one run")
    experiment_id: str = Field(min_length=1, max_length=32)
    run_name: str = Field(min_length=1, max_length=250)
    kind: str = Field(default="evaluation", description="Only evaluation runs are made "
                      "here (a labeling session makes its own)",
                      json_schema_extra={"enum": ["evaluation"]})
    status: str = Field(default="RUNNING", description="RUNNING, FINISHED, FAILED or KILLED")
    start_time: JsonInt | None = Field(default=None, ge=0, le=BIGINT_MAX,
                                       description="ms since the epoch (default now)")
    end_time: JsonInt | None = Field(default=None, ge=0, le=BIGINT_MAX)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=1000,
                                      description="name → number")
    params: dict[str, str] = Field(default_factory=dict, max_length=1000)
    tags: dict[str, str] = Field(default_factory=dict, max_length=1000)


class UpdateRunRequest(RequestModel):
    status: str | None = Field(default=None, description="RUNNING, FINISHED, FAILED or KILLED")
    end_time: JsonInt | None = Field(default=None, ge=0, le=BIGINT_MAX)
    metrics: dict[str, float] | None = Field(default=None, max_length=1000,
                                             description="Added; a name given again replaced")
    params: dict[str, str] | None = Field(default=None, max_length=1000)
    tags: dict[str, str] | None = Field(default=None, max_length=1000)


class LinkTracesRequest(RequestModel):
    trace_ids: list[str] = Field(min_length=1, max_length=10_000)


class LinkedResponse(BaseModel):
    linked: list[str] = Field(description="The ids newly linked")


@router.post("", response_model=RunResponse, openapi_extra=needs(Action.WRITE),
             responses={409: CONFLICT_RESPONSE})
def create_run(body: CreateRunRequest, store: StoreDep,
               user: CurrentUserDep) -> RunResponse:
    """Create an evaluation run (sending the same one again returns it)."""
    if body.kind != RunKind.EVALUATION.value:
        raise InvalidParameterError(f"Invalid kind {body.kind!r}: only evaluation runs are "
                                    "created here; a labeling session makes its own run")
    info = RunInfo(run_id=body.run_id, experiment_id=body.experiment_id,
                   run_name=body.run_name, kind=RunKind.EVALUATION,
                   status=RunStatus.parse(body.status), start_time=body.start_time or 0,
                   end_time=body.end_time, user_id=None if user is None else user.username)
    run = store.create_run(info, RunData(metrics=dict(body.metrics), params=dict(body.params),
                                         tags=dict(body.tags)))
    return RunResponse(run=run.to_dict())


@router.patch("/{run_id}", response_model=RunResponse, openapi_extra=needs(Action.WRITE))
def update_run(run_id: str, body: UpdateRunRequest, store: StoreDep) -> RunResponse:
    """Set a run's status or end time; add metrics, params and tags."""
    run = store.update_run(run_id, status=None if body.status is None else
                           RunStatus.parse(body.status), end_time=body.end_time,
                           metrics=body.metrics, params=body.params, tags=body.tags)
    return RunResponse(run=run.to_dict())


@router.post("/{run_id}/traces", response_model=LinkedResponse,
             openapi_extra=needs(Action.WRITE))
def link_run_traces(run_id: str, body: LinkTracesRequest, store: StoreDep) -> LinkedResponse:
    """Link traces of the run's experiment to it (an evaluation's rows)."""
    return LinkedResponse(linked=store.link_run_traces(run_id, body.trace_ids))
