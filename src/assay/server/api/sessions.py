"""Sessions: the traces of one conversation, grouped by session id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from assay.entities import Session
from assay.server.api.common import (
    MAX_RESULTS_FIELD,
    PAGE_TOKEN_FIELD,
    TRACE_DESCRIPTION,
    JsonInt,
    NonEmptyStr,
    RequestModel,
    trace_json,
)
from assay.server.deps import StoreDep
from assay.server.errors import ERROR_RESPONSES
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["router"]

router = RouteTable(prefix="/sessions", tags=["sessions"], responses=ERROR_RESPONSES)


class SearchSessionsRequest(RequestModel):
    experiment_ids: list[NonEmptyStr] = Field(min_length=1,
                                              description="The experiments to search")
    max_results: JsonInt = MAX_RESULTS_FIELD
    page_token: str | None = PAGE_TOKEN_FIELD
    include_spans: bool = Field(default=True, description="False returns the headers only")
    run_id: str | None = Field(default=None, min_length=1,
                               description="Sessions with a trace of this run")
    model_id: str | None = Field(default=None, min_length=1,
                                 description="Sessions with a trace of this model")


class SessionModel(BaseModel):
    session_id: str = Field(description="The session's id (metadata mlflow.trace.session)")
    traces: list[dict[str, Any]] = Field(
        description="Its traces, oldest first. " + TRACE_DESCRIPTION)


class SearchSessionsResponse(BaseModel):
    sessions: list[SessionModel] = Field(description="One page, most recently active first")
    next_page_token: str | None = Field(description="The cursor of the next page, if any")


def _model(session: Session) -> SessionModel:
    return SessionModel(session_id=session.id, traces=[trace_json(t) for t in session])


@router.post("/search", response_model=SearchSessionsResponse, openapi_extra=needs(Action.READ))
def search_sessions(body: SearchSessionsRequest, store: StoreDep) -> SearchSessionsResponse:
    """One page of sessions, each with its traces and their (session-level too) assessments."""
    page = store.search_sessions(body.experiment_ids, body.max_results, body.page_token,
                                 body.include_spans, body.run_id, body.model_id)
    return SearchSessionsResponse(sessions=[_model(s) for s in page],
                                  next_page_token=page.token)


class FirstTraceResponse(BaseModel):
    trace_id: str | None = Field(description="The session's first trace, or null if it has "
                                             "none")


@router.get("/first-trace", response_model=FirstTraceResponse, openapi_extra=needs(Action.READ))
def first_trace(
    session_id: Annotated[str, Query(min_length=1, description="The session's id")],
    store: StoreDep,
) -> FirstTraceResponse:
    """The first trace of a session: the one its session-level assessments hang on."""
    return FirstTraceResponse(trace_id=store.find_session_trace_id(session_id))
