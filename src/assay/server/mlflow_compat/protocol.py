"""Assay's entities in MLflow's REST JSON (the protobuf JSON mapping the stock client parses),
and MLflow's request pieces read back: trace infos, spans as OTLP JSON, assessments,
experiments, field masks.

The client parses every answer with ``ignore_unknown_fields``, so Assay's extra keys
(``run_id`` of an assessment, ``execution_duration_ms``) do no harm; a known field in the
wrong shape would, which is why durations, spans and the spans' location are rewritten here.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from assay.entities import Assessment, Experiment, Trace, TraceInfo
from assay.entities.span import INPUTS_KEY, OUTPUTS_KEY, TRACE_ID_KEY, TYPE_KEY, Span
from assay.errors import InvalidParameterError

__all__ = [
    "SPANS_LOCATION_TAG",
    "TRACKING_STORE",
    "MlflowRequest",
    "assessment_changes",
    "assessment_json",
    "experiment_json",
    "page_json",
    "span_json",
    "trace_info_json",
    "trace_info_v2_json",
    "trace_json",
]

#: The trace tag that tells the client where a trace's spans are; with TRACKING_STORE it
#: reads them from the server (``traces/get``, ``batchGet``) and never uploads
#: ``traces.json`` as an artifact. Every span Assay keeps is in its store.
SPANS_LOCATION_TAG = "mlflow.trace.spansLocation"
TRACKING_STORE = "TRACKING_STORE"


class MlflowRequest(BaseModel):
    """The base of MLflow's request bodies: its clients send whole messages, and the fields
    Assay does not use are ignored."""

    model_config = ConfigDict(extra="ignore")


def page_json(key: str, items: Any, token: str | None) -> dict[str, Any]:
    """A page of a list as MLflow answers it: the items under ``key``, and
    ``next_page_token`` only when there is a next page."""
    answer: dict[str, Any] = {key: items}
    if token:
        answer["next_page_token"] = token
    return answer


_OTLP_STATUS = {"UNSET": "STATUS_CODE_UNSET", "OK": "STATUS_CODE_OK",
                "ERROR": "STATUS_CODE_ERROR"}


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    """An experiment as MLflow's ``Experiment`` message."""
    return experiment.to_dict()


def trace_info_json(info: TraceInfo) -> dict[str, Any]:
    """A trace header as MLflow's ``TraceInfoV3`` (assessments included)."""
    d = info.to_dict()
    duration = d.pop("execution_duration_ms", None)
    if duration is not None:
        d["execution_duration"] = f"{duration / 1000:.3f}s"
    d["tags"] = {**d["tags"], SPANS_LOCATION_TAG: TRACKING_STORE}
    return d


def trace_info_v2_json(info: TraceInfo) -> dict[str, Any]:
    """A trace header as MLflow's deprecated ``TraceInfo`` (v2: what the client's fallback
    routes answer): metadata and tags as key-value lists, times in milliseconds."""
    tags = {**info.tags, SPANS_LOCATION_TAG: TRACKING_STORE}
    d: dict[str, Any] = {
        "request_id": info.trace_id,
        "experiment_id": info.experiment_id,
        "timestamp_ms": info.request_time,
        "status": ("TRACE_STATUS_UNSPECIFIED" if info.state.value == "STATE_UNSPECIFIED"
                   else info.state.value),
        "request_metadata": [{"key": k, "value": v} for k, v in info.trace_metadata.items()],
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }
    if info.execution_duration is not None:
        d["execution_time_ms"] = info.execution_duration
    return d


def trace_json(trace: Trace) -> dict[str, Any]:
    """A trace as MLflow's ``Trace`` message: the header and its spans as OTLP JSON."""
    return {"trace_info": trace_info_json(trace.info),
            "spans": [span_json(span) for span in trace.data.spans]}


def span_json(span: Span) -> dict[str, Any]:
    """A span as OTLP's ``Span`` in protobuf JSON (base64 ids, typed attribute values).

    Values are sent decoded (``mlflow.spanInputs`` as a key-value list, not JSON text):
    the client encodes every attribute to JSON itself when it rebuilds a span.
    """
    attributes: dict[str, Any] = dict(span.attributes)
    attributes[TRACE_ID_KEY] = span.trace_id
    attributes[TYPE_KEY] = span.span_type
    if span.inputs_json is not None:
        attributes[INPUTS_KEY] = span.inputs
    if span.outputs_json is not None:
        attributes[OUTPUTS_KEY] = span.outputs
    d: dict[str, Any] = {
        "trace_id": _b64(span.trace_id.removeprefix("tr-")),
        "span_id": _b64(span.span_id),
        "name": span.name,
        "kind": "SPAN_KIND_INTERNAL",
        "start_time_unix_nano": str(span.start_time_ns),
        "attributes": _key_values(attributes),
        "status": {"code": _OTLP_STATUS[span.status.status_code.value]},
        "events": [{"name": event.name, "time_unix_nano": str(event.timestamp_ns),
                    "attributes": _key_values(event.attributes)} for event in span.events],
    }
    if span.parent_id:
        d["parent_span_id"] = _b64(span.parent_id)
    if span.end_time_ns is not None:
        d["end_time_unix_nano"] = str(span.end_time_ns)
    if span.status.description:
        d["status"]["message"] = span.status.description
    return d


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode("ascii")


def _key_values(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _any_value(value)} for key, value in values.items()]


def _any_value(value: Any) -> dict[str, Any]:
    """OTLP's ``AnyValue`` of a JSON value (None is an empty AnyValue)."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"bool_value": value}
    if isinstance(value, int):
        return {"int_value": str(value)}
    if isinstance(value, float):
        return {"double_value": value}
    if isinstance(value, str):
        return {"string_value": value}
    if isinstance(value, Mapping):
        return {"kvlist_value": {"values": _key_values(value)}}
    if isinstance(value, Sequence):
        return {"array_value": {"values": [_any_value(v) for v in value]}}
    return {"string_value": str(value)}


def assessment_json(assessment: Assessment) -> dict[str, Any]:
    """An assessment as MLflow's ``Assessment`` message."""
    return assessment.to_dictionary()


#: The update mask's paths (FieldMask JSON: camelCase, comma-separated; the paths of the
#: message itself are snake_case) and the field of :func:`assay.rules.changed_assessment`
#: each one changes.
_MASK_PATHS = {"assessmentName": "name", "assessment_name": "name", "feedback": "feedback",
               "expectation": "expectation", "rationale": "rationale",
               "metadata": "metadata"}


def assessment_changes(update_mask: str | Sequence[str] | None,
                       given: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The changes an ``UpdateAssessment`` asks for: the masked fields of ``given`` (the
    request's partial assessment, as JSON), for :func:`assay.rules.change_assessment`, of
    a stored assessment of ``kind`` (feedback or expectation).

    Without a mask, every field the request carries changes. InvalidParameterError for a
    path the mask may not name, a masked field that is missing or malformed, or a value of
    the other kind (an assessment keeps its kind).
    """
    if isinstance(update_mask, str):
        paths = [p.strip() for p in update_mask.split(",") if p.strip()]
    elif update_mask:
        paths = [str(p) for p in update_mask]
    else:
        paths = [p for p in ("assessment_name", "feedback", "expectation", "rationale",
                             "metadata") if given.get(p) is not None]
    changes: dict[str, Any] = {}
    for path in paths:
        field = _MASK_PATHS.get(path)
        if field is None:
            known = ", ".join(sorted(p for p in _MASK_PATHS if "_" not in p))
            raise InvalidParameterError(
                f"Invalid update_mask path {path[:100]!r}: expected some of {known}")
        if field == "name":
            changes["name"] = given.get("assessment_name")
        elif field in ("feedback", "expectation"):
            if field != kind:
                raise InvalidParameterError(
                    f"Invalid update_mask path {path!r}: the assessment is a {kind}, and "
                    "an assessment keeps its kind")
            body = given.get(field)
            if not isinstance(body, Mapping):
                raise InvalidParameterError(
                    f"Invalid assessment.{field}: the update mask names it, so it must be "
                    "an object")
            # The value as an assessment reads it (an expectation's serialized_value too).
            value_of = Assessment.from_dictionary({"assessment_name": "update", field: body})
            changes["value"] = value_of.value
            if value_of.error is not None:
                changes["error"] = value_of.error
        elif field == "rationale":
            changes["rationale"] = given.get("rationale")
        else:
            metadata = given.get("metadata") or {}
            if not isinstance(metadata, Mapping):
                raise InvalidParameterError("Invalid assessment.metadata: expected an object")
            changes["metadata"] = dict(metadata)
    return changes
