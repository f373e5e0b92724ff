"""Assessments of a trace that is still running: kept on it in memory, written with it.

MLflow appends an assessment logged inside its own trace to the trace in memory and ships
it with the trace. Assay does the same, and applies the store's rules to those assessments
(ids, span check, idempotency keys, and :mod:`assay.rules` for overrides, in-place updates
and deletes), so a trace arrives in the store exactly as if each call had gone to the
store.

Every function here runs through ``Tracer.with_active_trace``, under the tracer's lock, and
works on the trace's ``assessments`` list alone.
"""

from __future__ import annotations

import dataclasses

from assay.entities.assessment import Assessment, new_assessment_id
from assay.errors import InvalidParameterError, NotFoundError
from assay.rules import newest_of_chain, overriders_within, spliced_out, updated_assessment
from assay.tracing.tracer import InMemoryTrace

__all__ = ["add_assessment", "delete_assessment", "get_assessment", "update_assessment"]


def add_assessment(trace: InMemoryTrace, assessment: Assessment) -> Assessment:
    """Keep a new assessment on a running trace and return it with its id."""
    key = assessment.idempotency_key
    if key is not None:
        for earlier in trace.assessments:
            if earlier.idempotency_key == key:
                return earlier
    if assessment.span_id is not None and all(
            span.span_id != assessment.span_id for span in trace.spans):
        raise InvalidParameterError(
            f"Invalid span_id {assessment.span_id!r}: trace {trace.trace_id!r} has no span "
            "with this id")
    superseded = None
    if assessment.overrides is not None:
        target = get_assessment(trace, assessment.overrides)
        superseded = str(newest_of_chain(target, assessment,
                                         overriders_within(trace.assessments)).assessment_id)
    kept = dataclasses.replace(assessment, assessment_id=new_assessment_id(),
                               trace_id=trace.trace_id, overrides=superseded, valid=True)
    if superseded is not None:
        _replace(trace, superseded, valid=False)
    trace.assessments.append(kept)
    return kept


def get_assessment(trace: InMemoryTrace, assessment_id: str) -> Assessment:
    """The assessment with this id on the running trace; NotFoundError otherwise."""
    for assessment in trace.assessments:
        if assessment.assessment_id == assessment_id:
            return assessment
    raise NotFoundError(f"Assessment with ID {assessment_id!r} not found for trace "
                        f"{trace.trace_id!r}")


def update_assessment(trace: InMemoryTrace, assessment_id: str, new: Assessment) -> Assessment:
    """Update an assessment of the running trace in place (the store's rules)."""
    updated = updated_assessment(get_assessment(trace, assessment_id), new)
    _replace(trace, assessment_id, updated)
    return updated


def delete_assessment(trace: InMemoryTrace, assessment_id: str) -> bool:
    """Delete an assessment of the running trace (the store's rules); True."""
    trace.assessments[:] = spliced_out(trace.assessments, assessment_id)
    return True


def _replace(trace: InMemoryTrace, assessment_id: str,
             new: Assessment | None = None, *, valid: bool | None = None) -> None:
    for i, assessment in enumerate(trace.assessments):
        if assessment.assessment_id == assessment_id:
            if new is None:
                new = dataclasses.replace(assessment, valid=bool(valid))
            trace.assessments[i] = new
            return
