"""Whole assessments in and out: what the SDK's REST store sends.

``POST /traces/{trace_id}/assessments`` logs an assessment given in MLflow's JSON form
(``Assessment.to_dictionary``: feedback or expectation, source, overrides, metadata, …) and
``PUT /traces/{trace_id}/assessments/{assessment_id}`` writes one back in place, so that an
SDK over HTTP does exactly what it would do on a local store. People and other programs will
find the narrower routes (``/feedback``, ``/expectations``, ``PATCH``, ``/override``) easier.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from assay.entities import Assessment
from assay.errors import InvalidParameterError
from assay.server.api.common import RequestModel
from assay.server.deps import SettingsDep, StoreDep
from assay.server.errors import ERROR_RESPONSES
from assay.server.limits import check_value_size
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["router"]

router = RouteTable(prefix="/traces/{trace_id}/assessments", tags=["assessments"],
                   responses=ERROR_RESPONSES)

_FORM = ("MLflow's assessment JSON: assessment_name, source {source_type, source_id}, "
         "feedback {value, error} or expectation {value}, span_id, rationale, metadata, "
         "overrides, valid, run_id, idempotency_key")


# What the document says of the form (the entity checks the rest, naming the field).
_FORM_SCHEMA: dict[str, Any] = {
    "required": ["assessment_name"],
    "properties": {
        "assessment_name": {"type": "string", "minLength": 1, "maxLength": 250,
                            "pattern": r"\S"},
        "source": {"type": "object", "required": ["source_type"], "properties": {
            "source_type": {"enum": ["HUMAN", "LLM_JUDGE", "CODE"]},
            "source_id": {"type": "string", "minLength": 1, "maxLength": 250}}},
        "feedback": {"type": "object"},
        "expectation": {"type": "object", "required": ["value"],
                        "properties": {"value": {"not": {"type": "null"}}}},
        "span_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
    },
    "oneOf": [{"required": ["feedback"]}, {"required": ["expectation"]}],
}


class AssessmentRecord(RequestModel):
    assessment: dict[str, Any] = Field(description=_FORM, json_schema_extra=_FORM_SCHEMA)


class AssessmentRecordResponse(BaseModel):
    assessment: dict[str, Any] = Field(description=_FORM + ", with its assessment_id")


def _entity(trace_id: str, data: dict[str, Any], limit: int) -> Assessment:
    for kind in ("feedback", "expectation"):
        body = data.get(kind)
        if isinstance(body, dict):
            check_value_size("value", body.get("value"), limit)
            check_value_size("value", body.get("serialized_value"), limit)
    try:
        assessment = Assessment.from_dictionary({**data, "trace_id": trace_id})
    except InvalidParameterError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidParameterError(f"Invalid assessment: {exc}") from None
    return assessment


@router.post("", response_model=AssessmentRecordResponse, openapi_extra=needs(Action.WRITE))
def log_assessment(trace_id: str, body: AssessmentRecord, store: StoreDep,
                   settings: SettingsDep) -> AssessmentRecordResponse:
    """Log an assessment (feedback or expectation) on the trace; `overrides` supersedes an
    earlier one in the same transaction; 404 for an unknown trace."""
    logged = store.log_assessment(
        _entity(trace_id, body.assessment, settings.max_attribute_bytes))
    return AssessmentRecordResponse(assessment=logged.to_dictionary())


@router.put("/{assessment_id}", response_model=AssessmentRecordResponse,
            openapi_extra=needs(Action.WRITE))
def replace_assessment(trace_id: str, assessment_id: str, body: AssessmentRecord,
                       store: StoreDep, settings: SettingsDep) -> AssessmentRecordResponse:
    """Write an assessment back in place: name, value and rationale as given, metadata
    merged into the stored one."""
    updated = store.update_assessment(trace_id, assessment_id,
                                      _entity(trace_id, body.assessment,
                                              settings.max_attribute_bytes))
    return AssessmentRecordResponse(assessment=updated.to_dictionary())
