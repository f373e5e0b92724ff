"""Assessments as the sessions and dashboard pages show them: small plain dicts (JSON-able)
for value chips, the valid ones only, trace-level apart from session-level."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assay.entities import Assessment

__all__ = ["assessment_chip", "feedback_chips", "mean_value", "session_chips"]


def assessment_chip(assessment: Assessment) -> dict[str, Any]:
    """What a chip needs: name, kind, value (or error), source, rationale, id, time."""
    return {
        "assessment_id": assessment.assessment_id,
        "name": assessment.name,
        "kind": assessment.kind,
        "value": assessment.value,
        "error": (assessment.error.error_message or assessment.error.error_code
                  if assessment.error is not None else None),
        "source_type": str(assessment.source.source_type),
        "source_id": assessment.source.source_id,
        "rationale": assessment.rationale,
        "span_id": assessment.span_id,
        "time_ms": assessment.create_time_ms,
    }


def feedback_chips(assessments: Iterable[Assessment]) -> list[dict[str, Any]]:
    """The valid feedback and expectations of a trace itself (not of its session), feedback
    first, then by name and time."""
    own = [a for a in assessments if a.valid and a.session_id is None]
    own.sort(key=lambda a: (a.kind != "feedback", a.name, a.create_time_ms))
    return [assessment_chip(a) for a in own]


def session_chips(assessments: Iterable[Assessment], session_id: str) -> list[dict[str, Any]]:
    """The valid session-level assessments of ``session_id`` (each listed once)."""
    seen: dict[str, Assessment] = {}
    for a in assessments:
        if a.valid and a.session_id == session_id and a.assessment_id is not None:
            seen.setdefault(a.assessment_id, a)
    ordered = sorted(seen.values(), key=lambda a: (a.kind != "feedback", a.name,
                                                   a.create_time_ms))
    return [assessment_chip(a) for a in ordered]


def mean_value(assessments: Iterable[Assessment], name: str) -> float | None:
    """The mean of the valid numeric (or true/false, as 1/0) feedback called ``name``."""
    values = [float(a.value) for a in assessments
              if a.valid and a.kind == "feedback" and a.name == name
              and isinstance(a.value, bool | int | float)]
    return sum(values) / len(values) if values else None
