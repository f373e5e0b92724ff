"""MLflow's records as Assay's entities: a trace header, its assessments, its spans.

MLflow's trace ids, span ids and assessment ids are kept, so that a trace copied twice is
the same trace, and an override still names what it overrides. Two of MLflow's tags say
where MLflow keeps a trace's spans (``mlflow.artifactLocation``, ``mlflow.trace.spansLocation``,
and the archive's) and mean nothing once the spans are in Assay's store: they are left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from assay.entities import Trace, TraceData, TraceInfo, TraceState
from assay.entities.assessment import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Expectation,
    Feedback,
)
from assay.entities.span import Span
from assay.entities.trace import sort_spans
from assay.errors import InvalidParameterError

__all__ = [
    "ARTIFACT_LOCATION_TAG",
    "DROPPED_TAGS",
    "SPANS_LOCATION_TAG",
    "assessment_from_row",
    "span_from_mlflow_dict",
    "trace_info_from_row",
    "with_spans",
]

ARTIFACT_LOCATION_TAG = "mlflow.artifactLocation"
SPANS_LOCATION_TAG = "mlflow.trace.spansLocation"
ARCHIVE_LOCATION_TAG = "mlflow.trace.archiveLocation"
#: MLflow's tags about where it keeps a trace's spans; not copied.
DROPPED_TAGS = frozenset((ARTIFACT_LOCATION_TAG, SPANS_LOCATION_TAG, ARCHIVE_LOCATION_TAG))

TRACE_NAME_TAG = "mlflow.traceName"
SESSION_KEY = "mlflow.trace.session"
TOKEN_USAGE_KEY = "mlflow.trace.tokenUsage"
COST_KEY = "mlflow.trace.cost"
#: Metadata that MLflow 3.x keeps in columns of ``trace_info`` rather than as metadata rows.
_PROMOTED_METADATA = frozenset((SESSION_KEY, TOKEN_USAGE_KEY, COST_KEY))
_TOKEN_COLUMNS = ("input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens",
                  "cache_creation_input_tokens", "cache_creation_input_tokens_above_1hr")
_COST_COLUMNS = ("input_cost", "output_cost", "total_cost")

_STATES = {state.value: state for state in TraceState}
# MLflow 2.x's trace statuses.
_STATES.update({"UNSPECIFIED": TraceState.STATE_UNSPECIFIED,
                "TRACE_STATUS_UNSPECIFIED": TraceState.STATE_UNSPECIFIED})
_SOURCE_TYPES = {"HUMAN": "HUMAN", "LLM_JUDGE": "LLM_JUDGE", "CODE": "CODE",
                 "AI_JUDGE": "LLM_JUDGE"}


def trace_info_from_row(info: Mapping[str, Any], tags: Mapping[str, str],
                        metadata: Mapping[str, str], assessments: Sequence[Assessment],
                        experiment_id: str) -> TraceInfo:
    """A ``trace_info`` row (with its tags, metadata and assessments) as a TraceInfo in the
    Assay experiment ``experiment_id``."""
    status = str(info.get("status") or "")
    tags = dict(tags)
    if "trace_name" in info:  # MLflow 3.x keeps the name in a column of its own
        tags.pop(TRACE_NAME_TAG, None)
        if info["trace_name"] is not None:
            tags[TRACE_NAME_TAG] = str(info["trace_name"])
    if "session_id" in info:  # and the session, token usage and cost in columns
        metadata = {k: v for k, v in metadata.items() if k not in _PROMOTED_METADATA}
        metadata.update(_metadata_from_columns(info))
    return TraceInfo(
        trace_id=str(info["request_id"]),
        experiment_id=experiment_id,
        request_time=int(info["timestamp_ms"]),
        state=_STATES.get(status, TraceState.STATE_UNSPECIFIED),
        execution_duration=(None if info.get("execution_time_ms") is None
                            else int(info["execution_time_ms"])),
        request_preview=info.get("request_preview"),
        response_preview=info.get("response_preview"),
        client_request_id=info.get("client_request_id"),
        trace_metadata={k: v for k, v in metadata.items() if v is not None},
        tags={k: v for k, v in tags.items() if k not in DROPPED_TAGS and v is not None},
        assessments=list(assessments),
    )


def _metadata_from_columns(info: Mapping[str, Any]) -> dict[str, str]:
    """The metadata MLflow 3.x keeps in ``trace_info`` columns, as MLflow reads it back
    (``compatibility_metadata_from_columns``)."""
    out: dict[str, str] = {}
    if info.get("session_id") is not None:
        out[SESSION_KEY] = str(info["session_id"])
    tokens = {key: int(info[key]) for key in _TOKEN_COLUMNS
              if isinstance(info.get(key), int | float) and not isinstance(info[key], bool)
              and float(info[key]).is_integer()}
    if tokens:
        out[TOKEN_USAGE_KEY] = json.dumps(tokens)
    cost = {key: info[key] for key in _COST_COLUMNS if info.get(key) is not None}
    if cost:
        out[COST_KEY] = json.dumps(cost)
    return out


def assessment_from_row(row: Mapping[str, Any]) -> Assessment | None:
    """An ``assessments`` row as a Feedback or an Expectation; None for a kind Assay does
    not keep (MLflow's issue references). InvalidParameterError for a row Assay cannot
    store (an unknown source type, a value that is not JSON)."""
    kind = row.get("assessment_type")
    if kind not in ("feedback", "expectation"):
        return None
    source_type = _SOURCE_TYPES.get(str(row.get("source_type") or "").upper())
    if source_type is None:
        raise InvalidParameterError(
            f"Invalid source type {row.get('source_type')!r} of assessment "
            f"{row.get('assessment_id')!r}: Assay keeps HUMAN, LLM_JUDGE and CODE")
    try:
        value = json.loads(row["value"]) if row.get("value") is not None else None
        error = json.loads(row["error"]) if row.get("error") else None
        metadata = json.loads(row["assessment_metadata"]) if row.get(
            "assessment_metadata") else None
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"Invalid assessment {row.get('assessment_id')!r}: a field is not JSON ({exc})"
        ) from None
    common: dict[str, Any] = {
        "name": row["name"],
        "source": AssessmentSource(source_type, row.get("source_id")),
        "trace_id": row["trace_id"],
        "metadata": metadata,
        "span_id": row.get("span_id") or None,
        "create_time_ms": int(row["created_timestamp"]),
        "last_update_time_ms": int(row["last_updated_timestamp"]),
    }
    extra: dict[str, Any] = {
        "rationale": row.get("rationale"),
        "overrides": row.get("overrides") or None,
        "valid": bool(row.get("valid", True)),
        "assessment_id": row["assessment_id"],
        "run_id": row.get("run_id") or None,
    }
    if kind == "expectation":
        return Expectation(value=value, **common, **extra)
    return Feedback(value=value,
                    error=AssessmentError.from_dictionary(error) if error else None,
                    **common, **extra)


def span_from_mlflow_dict(d: Mapping[str, Any]) -> Span:
    """A span as MLflow writes it (``Span.to_dict``: base64 ids, every attribute the JSON
    text of its value; event attributes as values), in its ``spans`` table and in
    ``traces.json``: the form Assay's :meth:`Span.from_dict` reads."""
    return Span.from_dict(d)


def with_spans(info: TraceInfo, spans: Sequence[Span]) -> Trace:
    """The trace of ``info`` and ``spans`` (root first, then by start time); each span gets
    the trace's id, which MLflow 2.x did not always write into the span itself."""
    fixed = [span if span.trace_id == info.trace_id else Span(
        info.trace_id, span.span_id, span.parent_id, span.name, span.start_time_ns,
        span.end_time_ns, span.span_type, span.status, span.inputs_json, span.outputs_json,
        span.attributes, span.events) for span in spans]
    return Trace(info=info, data=TraceData(spans=sort_spans(fixed),
                                           assessments=info.assessments))
