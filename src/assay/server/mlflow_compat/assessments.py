"""MLflow's assessment routes (``/api/3.0/mlflow/traces/{trace_id}/assessments...``): create,
get, update with an update mask, delete, under Assay's rules (overrides keep history;
feedback for a trace not stored yet is kept and attached when it comes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body
from pydantic import Field

from assay.entities import Assessment
from assay.errors import InvalidParameterError
from assay.rules import change_assessment
from assay.server.deps import SettingsDep, StoreDep
from assay.server.feedback_rules import log_or_keep
from assay.server.limits import check_value_size
from assay.server.mlflow_compat.protocol import (
    MlflowRequest,
    assessment_changes,
    assessment_json,
)
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["v3"]

v3 = RouteTable(prefix="/traces/{trace_id}/assessments")

# What the server sets, whatever the request says: the id (new), the validity (an
# assessment is valid until overridden), and Assay's own bookkeeping.
_SERVER_FIELDS = ("assessment_id", "valid", "run_id", "idempotency_key")


class CreateAssessment(MlflowRequest):
    assessment: dict[str, Any]


class UpdateAssessment(MlflowRequest):
    assessment: dict[str, Any] = Field(default_factory=dict)
    # FieldMask JSON: "assessmentName,feedback"; a list of paths is taken too.
    update_mask: str | list[str] | dict[str, Any] | None = None


@v3.post("", openapi_extra=needs(Action.WRITE))
def create_assessment(trace_id: str, body: CreateAssessment, store: StoreDep,
                      settings: SettingsDep) -> dict[str, Any]:
    """Log a feedback or an expectation (an override when it names ``overrides``)."""
    data = {k: v for k, v in body.assessment.items() if k not in _SERVER_FIELDS}
    data["trace_id"] = trace_id  # the path wins
    assessment = Assessment.from_dictionary(data)
    check_value_size("assessment.value", assessment.value, settings.max_attribute_bytes)
    logged, _ = log_or_keep(store, assessment, settings.pending_feedback_ttl_seconds)
    return {"assessment": assessment_json(logged)}


@v3.get("/{assessment_id}", openapi_extra=needs(Action.READ))
def get_assessment(trace_id: str, assessment_id: str, store: StoreDep) -> dict[str, Any]:
    return {"assessment": assessment_json(store.get_assessment(trace_id, assessment_id))}


@v3.patch("/{assessment_id}", openapi_extra=needs(Action.WRITE))
def update_assessment(trace_id: str, assessment_id: str, body: UpdateAssessment,
                      store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Change the masked fields of an assessment in place."""
    mask = body.update_mask
    if isinstance(mask, dict):  # FieldMask as an object: {"paths": [...]}
        paths = mask.get("paths")
        if not isinstance(paths, list):
            raise InvalidParameterError("Invalid update_mask: expected 'a,b' or {paths: [..]}")
        mask = [str(p) for p in paths]
    stored = store.get_assessment(trace_id, assessment_id)
    changes = assessment_changes(mask, body.assessment, stored.kind)
    if "value" in changes:
        check_value_size("assessment.value", changes["value"], settings.max_attribute_bytes)
    updated = change_assessment(store, trace_id, assessment_id, changes)
    return {"assessment": assessment_json(updated)}


@v3.delete("/{assessment_id}", openapi_extra=needs(Action.WRITE))
def delete_assessment(trace_id: str, assessment_id: str, store: StoreDep,
                      body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    """Delete an assessment (idempotent); what it overrode is valid again."""
    store.delete_assessment(trace_id, assessment_id)
    return {}
