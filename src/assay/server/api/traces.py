"""Traces: search, get, delete, and their tags."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from assay.server.api.common import (
    BIGINT_MAX,
    BIGINT_MIN,
    MAX_RESULTS_FIELD,
    PAGE_TOKEN_FIELD,
    TRACE_DESCRIPTION,
    WHOLE_NUMBER,
    EmptyResponse,
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

router = RouteTable(prefix="/traces", tags=["traces"], responses=ERROR_RESPONSES)


class SearchTracesRequest(RequestModel):
    experiment_ids: list[NonEmptyStr] = Field(min_length=1,
                                              description="The experiments to search")
    filter_string: str | None = Field(
        default=None, description="MLflow's filter language plus OR, parentheses and NOT, "
                                  "e.g. \"feedback.user_feedback = 'false'\"")
    order_by: list[str] | None = Field(
        default=None, description="e.g. ['execution_time_ms DESC']; default newest first")
    max_results: JsonInt = MAX_RESULTS_FIELD
    page_token: str | None = PAGE_TOKEN_FIELD
    include_spans: bool = Field(default=True, description="False returns the headers only")
    run_id: str | None = Field(default=None, min_length=1, description="Only traces of this run")
    model_id: str | None = Field(default=None, min_length=1,
                                 description="Only traces of this model")


class SearchTracesResponse(BaseModel):
    traces: list[dict[str, Any]] = Field(description="One page of traces. " + TRACE_DESCRIPTION)
    next_page_token: str | None = Field(description="The cursor of the next page, if any")


class TraceResponse(BaseModel):
    trace: dict[str, Any] = Field(description=TRACE_DESCRIPTION)


class DeleteTracesRequest(RequestModel):
    # Which traces: by age or by id, never both (the store says so too, naming them).
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["max_timestamp_millis"],
         "properties": {"max_timestamp_millis": {"type": "integer"},
                        "trace_ids": {"type": "null"}}},
        {"required": ["trace_ids"],
         "properties": {"trace_ids": {"type": "array", "minItems": 1},
                        "max_timestamp_millis": {"type": "null"},
                        "max_traces": {"type": "null"}}},
    ]})

    experiment_id: str = Field(min_length=1, description="The experiment the traces are in")
    max_timestamp_millis: Annotated[int, Field(ge=BIGINT_MIN, le=BIGINT_MAX),
                                    WHOLE_NUMBER] | None = Field(
        default=None, description="Delete the traces that started at or before this time "
                                  "(milliseconds since the epoch); not with trace_ids")
    max_traces: Annotated[int, Field(ge=1, le=BIGINT_MAX), WHOLE_NUMBER] | None = Field(
        default=None,
        description="With max_timestamp_millis: at most this many, oldest first")
    trace_ids: list[str] | None = Field(default=None, min_length=1,
                                        description="Delete these traces")


class DeleteTracesResponse(BaseModel):
    traces_deleted: int = Field(description="How many traces were deleted")


class SetTraceTagRequest(RequestModel):
    key: str = Field(min_length=1, description="The tag's key")
    value: str = Field(description="The tag's value")


@router.post("/search", response_model=SearchTracesResponse, openapi_extra=needs(Action.READ))
def search_traces(body: SearchTracesRequest, store: StoreDep) -> SearchTracesResponse:
    """One page of the traces of the experiments that match the filter.

    A bad filter or order_by answers 400 with the `position` of the problem.
    """
    page = store.search_traces(body.experiment_ids, body.max_results, body.page_token,
                               body.include_spans, filter_string=body.filter_string,
                               order_by=body.order_by, run_id=body.run_id,
                               model_id=body.model_id)
    return SearchTracesResponse(traces=[trace_json(t) for t in page],
                                next_page_token=page.token)


@router.post("/delete", response_model=DeleteTracesResponse, openapi_extra=needs(Action.WRITE))
def delete_traces(body: DeleteTracesRequest, store: StoreDep) -> DeleteTracesResponse:
    """Delete traces of one experiment, by id or by age (with their spans and assessments)."""
    deleted = store.delete_traces(body.experiment_id, body.max_timestamp_millis,
                                  body.max_traces, body.trace_ids)
    return DeleteTracesResponse(traces_deleted=deleted)


@router.get("/{trace_id}", response_model=TraceResponse, openapi_extra=needs(Action.READ))
def get_trace(
    trace_id: str, store: StoreDep,
    include_spans: Annotated[bool, Query(description="False returns the header only")] = True,
) -> TraceResponse:
    """The trace with this id, with its assessments; 404 if there is none."""
    return TraceResponse(trace=trace_json(store.get_trace(trace_id, include_spans)))


@router.patch("/{trace_id}/tags", response_model=EmptyResponse, openapi_extra=needs(Action.WRITE))
def set_trace_tag(trace_id: str, body: SetTraceTagRequest, store: StoreDep) -> EmptyResponse:
    """Set a tag on a trace (tags are mutable, metadata is not)."""
    store.set_trace_tag(trace_id, body.key, body.value)
    return EmptyResponse()


@router.delete("/{trace_id}/tags/{key:path}", response_model=EmptyResponse,
               openapi_extra=needs(Action.WRITE))
def delete_trace_tag(trace_id: str, key: str, store: StoreDep) -> EmptyResponse:
    """Remove a tag from a trace; 404 for an unknown trace or key."""
    store.delete_trace_tag(trace_id, key)
    return EmptyResponse()
