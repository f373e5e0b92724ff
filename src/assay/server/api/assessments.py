"""Assessments of a trace: log feedback or an expectation, get, update, override, delete."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel, Field, JsonValue

from assay.entities import Assessment, AssessmentError, AssessmentSource, Expectation, Feedback
from assay.rules import change_assessment, override_feedback
from assay.server.api.common import EmptyResponse, RequestModel
from assay.server.deps import SettingsDep, StoreDep
from assay.server.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from assay.server.feedback_rules import log_or_keep
from assay.server.limits import check_value_size
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["router"]

router = RouteTable(prefix="/traces/{trace_id}", tags=["assessments"],
                   responses=ERROR_RESPONSES)

_METADATA = "String keys; values are stored as strings (numbers and booleans are converted)"
_SPAN_ID = r"^[0-9a-f]{16}$"
# A name: 1 to 250 characters, not all of them whitespace.
_NAME_PATTERN = r"\S"


class SourceModel(RequestModel):
    source_type: str = Field(
        description="HUMAN, LLM_JUDGE or CODE (any case)",
        json_schema_extra={"enum": ["HUMAN", "LLM_JUDGE", "CODE", "human", "llm_judge", "code"]})
    source_id: str | None = Field(default="default",
                                  description="Who: a user id, a judge's model, a scorer")

    def to_entity(self) -> AssessmentSource:
        return AssessmentSource.from_dictionary(self.model_dump())


class ErrorModel(RequestModel):
    error_code: str = Field(min_length=1, description="e.g. the exception's class name")
    error_message: str | None = Field(default=None, description="What went wrong")
    stack_trace: str | None = Field(default=None, description="Kept up to 10,000 characters")

    def to_entity(self) -> AssessmentError:
        return AssessmentError.from_dictionary(self.model_dump())


class CreateFeedbackRequest(RequestModel):
    name: str = Field(default="feedback", min_length=1, max_length=250,
                      pattern=_NAME_PATTERN,
                      description="What is judged, e.g. 'user_feedback'")
    value: JsonValue = Field(default=None, description="bool, number, string, list or object")
    source: SourceModel | None = Field(default=None, description="Default CODE 'default'")
    error: ErrorModel | None = Field(default=None, description="Why there is no value")
    rationale: str | None = Field(default=None, description="Why (10,000 characters at most)")
    metadata: dict[str, str | int | float | bool] | None = Field(default=None,
                                                                 description=_METADATA)
    span_id: str | None = Field(default=None, pattern=_SPAN_ID,
                                description="The span (16 hex digits) it is about, if not "
                                            "the whole trace")
    idempotency_key: str | None = Field(
        default=None, description="A retry with the same key stores nothing more and returns "
                                  "the first assessment")


class CreateExpectationRequest(RequestModel):
    name: str = Field(min_length=1, max_length=250, pattern=_NAME_PATTERN,
                      description="What is expected, e.g. 'expected_response'")
    value: JsonValue = Field(description="Any JSON value except null",
                             json_schema_extra={"not": {"type": "null"}})
    source: SourceModel | None = Field(default=None, description="Default HUMAN 'default'")
    metadata: dict[str, str | int | float | bool] | None = Field(default=None,
                                                                 description=_METADATA)
    span_id: str | None = Field(default=None, pattern=_SPAN_ID,
                                description="The span it is about")
    idempotency_key: str | None = Field(default=None, description="As for feedback")


class UpdateAssessmentRequest(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=250,
                             pattern=_NAME_PATTERN, description="A new name")
    value: JsonValue = Field(default=None, description="A new value (clears an error)")
    rationale: str | None = Field(default=None, description="A new rationale")
    metadata: dict[str, str | int | float | bool] | None = Field(
        default=None, description="Merged into the metadata; new keys win")
    error: ErrorModel | None = Field(default=None, description="Feedback only: an error")


class OverrideFeedbackRequest(RequestModel):
    value: JsonValue = Field(description="The corrected value")
    rationale: str | None = Field(default=None, description="Why it was corrected")
    source: SourceModel | None = Field(default=None, description="Default HUMAN 'default'")
    metadata: dict[str, str | int | float | bool] | None = Field(default=None,
                                                                 description=_METADATA)


class AssessmentResponse(BaseModel):
    assessment: dict[str, Any] = Field(
        description="MLflow's assessment JSON: assessment_id, assessment_name, trace_id, "
                    "span_id, source, create_time, last_update_time, feedback {value, error} "
                    "or expectation, rationale, metadata, overrides, valid")
    pending: bool = Field(
        default=False, description="True (with status 202) when the trace has not arrived "
                                   "yet: the assessment is kept, with this id, and attached "
                                   "when the trace is written")


def _response(assessment: Assessment) -> AssessmentResponse:
    return AssessmentResponse(assessment=assessment.to_dictionary())


_PENDING_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": AssessmentResponse,
          "description": "Kept: the trace has not arrived yet (`pending: true`)"},
    409: CONFLICT_RESPONSE}


def _logged_or_kept(assessment: Assessment, store: StoreDep, settings: SettingsDep,
                    response: Response) -> AssessmentResponse:
    logged, pending = log_or_keep(store, assessment, settings.pending_feedback_ttl_seconds)
    if pending:
        response.status_code = 202
    return AssessmentResponse(assessment=logged.to_dictionary(), pending=pending)


@router.post("/feedback", response_model=AssessmentResponse, responses=_PENDING_RESPONSES,
             openapi_extra=needs(Action.WRITE))
def log_feedback(trace_id: str, body: CreateFeedbackRequest, store: StoreDep,
                 settings: SettingsDep, response: Response) -> AssessmentResponse:
    """Log a feedback on the trace (or one of its spans).

    For a trace not stored yet (its id `tr-` and 32 hex digits), 202 with `pending: true`:
    the feedback is kept for `pending_feedback_ttl_seconds` and attached, with its id, when
    the trace is written. 400 for another id of a trace that is not stored.
    """
    check_value_size("value", body.value, settings.max_attribute_bytes)
    feedback = Feedback(
        name=body.name, value=body.value, trace_id=trace_id, span_id=body.span_id,
        source=body.source.to_entity() if body.source else None,
        error=body.error.to_entity() if body.error else None, rationale=body.rationale,
        metadata=body.metadata, idempotency_key=body.idempotency_key)
    return _logged_or_kept(feedback, store, settings, response)


@router.post("/expectations", response_model=AssessmentResponse,
             responses=_PENDING_RESPONSES, openapi_extra=needs(Action.WRITE))
def log_expectation(trace_id: str, body: CreateExpectationRequest, store: StoreDep,
                    settings: SettingsDep, response: Response) -> AssessmentResponse:
    """Log an expectation (ground truth) on the trace; kept pending (202) as feedback is
    when the trace has not arrived yet."""
    check_value_size("value", body.value, settings.max_attribute_bytes)
    expectation = Expectation(
        name=body.name, value=body.value, trace_id=trace_id, span_id=body.span_id,
        source=body.source.to_entity() if body.source else None, metadata=body.metadata,
        idempotency_key=body.idempotency_key)
    return _logged_or_kept(expectation, store, settings, response)


@router.get("/assessments/{assessment_id}", response_model=AssessmentResponse,
            openapi_extra=needs(Action.READ))
def get_assessment(trace_id: str, assessment_id: str, store: StoreDep) -> AssessmentResponse:
    """The assessment with this id on the trace (or its session); 404 otherwise."""
    return _response(store.get_assessment(trace_id, assessment_id))


@router.patch("/assessments/{assessment_id}", response_model=AssessmentResponse,
              openapi_extra=needs(Action.WRITE))
def update_assessment(trace_id: str, assessment_id: str, body: UpdateAssessmentRequest,
                      store: StoreDep, settings: SettingsDep) -> AssessmentResponse:
    """Change an assessment in place; the fields left out keep their values."""
    check_value_size("value", body.value, settings.max_attribute_bytes)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if body.error is not None:
        changes["error"] = body.error.to_entity()
    return _response(change_assessment(store, trace_id, assessment_id, changes))


@router.post("/assessments/{assessment_id}/override", response_model=AssessmentResponse,
             openapi_extra=needs(Action.WRITE))
def override_assessment(trace_id: str, assessment_id: str, body: OverrideFeedbackRequest,
                        store: StoreDep, settings: SettingsDep) -> AssessmentResponse:
    """Supersede a feedback with a corrected one; the old one stays with valid=false."""
    check_value_size("value", body.value, settings.max_attribute_bytes)
    return _response(override_feedback(
        store, trace_id, assessment_id, body.value, body.rationale,
        body.source.to_entity() if body.source else None, body.metadata))


@router.delete("/assessments/{assessment_id}", response_model=EmptyResponse,
               openapi_extra=needs(Action.WRITE))
def delete_assessment(trace_id: str, assessment_id: str, store: StoreDep) -> EmptyResponse:
    """Delete an assessment (a missing one is fine; the trace must exist)."""
    store.delete_assessment(trace_id, assessment_id)
    return EmptyResponse()
