"""Assessment changes that take more than one store call: override and partial update.

They follow :class:`~assay.client.AssayClient`'s rules (``override_feedback``,
``update_assessment``) for stored traces. The routes call these, never the store twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from assay.entities import Assessment, AssessmentError, AssessmentSource, Feedback
from assay.entities.assessment import overriding_feedback
from assay.store.base import Store

__all__ = ["change_assessment", "override_feedback"]


def override_feedback(store: Store, trace_id: str, assessment_id: str, value: Any,
                      rationale: str | None = None, source: AssessmentSource | None = None,
                      metadata: Mapping[str, Any] | None = None) -> Feedback:
    """Supersede a stored feedback with a corrected one; the old one stays, invalid.

    The new feedback keeps the old one's name, span and session; its source defaults to
    HUMAN. InvalidParameterError for an expectation; NotFoundError for an unknown id.
    """
    feedback = overriding_feedback(store.get_assessment(trace_id, assessment_id), value,
                                   rationale, source, metadata, trace_id)
    logged = store.log_assessment(feedback)
    assert isinstance(logged, Feedback)
    return logged


def change_assessment(store: Store, trace_id: str, assessment_id: str,
                      changes: Mapping[str, Any]) -> Assessment:
    """Update a stored assessment in place with the fields in ``changes``.

    ``changes`` may hold ``name``, ``value``, ``rationale``, ``metadata`` (merged into the
    old metadata) and ``error`` (an :class:`AssessmentError`, feedback only); a field left
    out keeps its value. A new value without an error clears the old error.
    """
    old = store.get_assessment(trace_id, assessment_id)
    fields: dict[str, Any] = {k: changes[k] for k in ("name", "rationale", "metadata")
                              if k in changes}
    if "value" in changes:
        fields["value"] = changes["value"]
        fields["error"] = None
    if changes.get("error") is not None:
        error = changes["error"]
        assert isinstance(error, AssessmentError)
        fields["error"] = error
    new = dataclasses.replace(old, **fields)
    return store.update_assessment(trace_id, assessment_id, new)
