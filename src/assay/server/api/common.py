"""Pydantic pieces every resource's models share."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assay.entities import Trace

__all__ = ["EmptyResponse", "RequestModel", "trace_json"]


class RequestModel(BaseModel):
    """A request body: unknown fields and values of the wrong JSON type are refused (400)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class EmptyResponse(BaseModel):
    """The body of a successful request that returns nothing."""


#: The description of a trace in JSON, shared by the models that return traces.
TRACE_DESCRIPTION = (
    "A trace: `info` (MLflow's TraceInfoV3 JSON: trace_id, trace_location, request_time, "
    "state, trace_metadata, tags, previews, assessments) and `data` (`spans`, OpenTelemetry-"
    "shaped span dicts; empty when spans were not requested)")


def trace_json(trace: Trace) -> dict[str, Any]:
    """A trace as the API returns it."""
    return trace.to_dict()


MAX_RESULTS_FIELD = Field(default=100, ge=1, le=1000, description="The page size (1 to 1000)")
PAGE_TOKEN_FIELD = Field(
    default=None, description="The `next_page_token` of the previous page of the same search")
