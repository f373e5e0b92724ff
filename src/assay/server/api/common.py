"""Pydantic pieces every resource's models share."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from assay.entities import Trace

__all__ = [
    "BIGINT_MAX",
    "BIGINT_MIN",
    "WHOLE_NUMBER",
    "EmptyResponse",
    "JsonInt",
    "NonEmptyStr",
    "RequestModel",
    "trace_json",
]


class RequestModel(BaseModel):
    """A request body: unknown fields and values of the wrong JSON type are refused (400)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _whole_number(value: Any) -> Any:
    # JSON has one kind of number, and JSON Schema counts 136.0 as the integer 136; a float
    # with a fraction (or bool, or a string) still fails the strict integer check after.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: Takes a number without fraction (``136.0``) as an integer; after any ``Field`` constraints
#: in an ``Annotated`` (the document shows constraints that come before a validator).
WHOLE_NUMBER = BeforeValidator(_whole_number)
#: An integer of a request body: also written as a number without fraction (``136.0``).
JsonInt = Annotated[int, WHOLE_NUMBER]
#: The range of the integers a request may give: what every JSON parser reads exactly
#: (2^53 - 1; beyond, a number may already have been rounded before it is checked).
BIGINT_MIN, BIGINT_MAX = -(2**53 - 1), 2**53 - 1
#: A string that must not be empty (a name, an id).
NonEmptyStr = Annotated[str, Field(min_length=1)]


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
# Documented, not checked here: the store refuses any token it did not issue, "" among them,
# saying so in the words a local store uses.
PAGE_TOKEN_FIELD = Field(
    default=None, json_schema_extra={"minLength": 1},
    description="The `next_page_token` of the previous page of the same search")
