"""Traces: the header (TraceInfo) and the spans (TraceData) of one request to an app."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from assay import _json
from assay.entities._time import ms_to_rfc3339 as _ms_to_rfc3339
from assay.entities._time import rfc3339_to_ms as _rfc3339_to_ms
from assay.entities.assessment import Assessment
from assay.entities.span import Span

__all__ = ["Trace", "TraceData", "TraceInfo", "TraceState", "metadata_keys"]


class metadata_keys:
    """Reserved trace metadata and tag keys (MLflow's names, so MLflow code keeps working)."""

    SESSION = "mlflow.trace.session"
    USER = "mlflow.trace.user"
    SOURCE_NAME = "mlflow.source.name"
    SOURCE_TYPE = "mlflow.source.type"
    GIT_COMMIT = "mlflow.source.git.commit"
    GIT_BRANCH = "mlflow.source.git.branch"
    GIT_REPO_URL = "mlflow.source.git.repoURL"
    OS_USER = "mlflow.user"
    SCHEMA_VERSION = "mlflow.trace_schema.version"
    TOKEN_USAGE = "mlflow.trace.tokenUsage"
    SOURCE_RUN = "mlflow.sourceRun"
    MODEL_ID = "mlflow.modelId"
    TRACE_INPUTS = "mlflow.traceInputs"
    TRACE_OUTPUTS = "mlflow.traceOutputs"
    ASSAY_VERSION = "assay.version"
    # tags
    TRACE_NAME = "mlflow.traceName"


class TraceState(enum.StrEnum):
    """Where a trace is in its life: still running, or finished well or badly."""

    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
    OK = "OK"
    ERROR = "ERROR"
    IN_PROGRESS = "IN_PROGRESS"


@dataclass(frozen=True)
class TraceInfo:
    """The header of a trace: ids, timing, state, previews, metadata, tags, assessments."""

    trace_id: str
    experiment_id: str
    request_time: int
    state: TraceState = TraceState.OK
    execution_duration: int | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    client_request_id: str | None = None
    trace_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: Every assessment of the trace, overridden ones included (with ``valid=False``), and
    #: the session-level assessments of its session.
    assessments: list[Assessment] = field(default_factory=list)

    # MLflow's aliases and derived properties.
    @property
    def request_id(self) -> str:
        return self.trace_id

    @property
    def timestamp_ms(self) -> int:
        return self.request_time

    @property
    def execution_time_ms(self) -> int | None:
        return self.execution_duration

    @property
    def request_metadata(self) -> dict[str, str]:
        return self.trace_metadata

    @property
    def status(self) -> TraceState:
        return self.state

    @property
    def name(self) -> str | None:
        return self.tags.get(metadata_keys.TRACE_NAME)

    @property
    def session_id(self) -> str | None:
        return self.trace_metadata.get(metadata_keys.SESSION)

    @property
    def user_id(self) -> str | None:
        return self.trace_metadata.get(metadata_keys.USER)

    @property
    def token_usage(self) -> dict[str, int] | None:
        raw = self.trace_metadata.get(metadata_keys.TOKEN_USAGE)
        if not raw:
            return None
        value = _json.loads(raw)
        return value if isinstance(value, dict) else None

    def to_dict(self) -> dict[str, Any]:
        """MLflow's v3 JSON form of a TraceInfo."""
        d: dict[str, Any] = {
            "trace_id": self.trace_id,
            "trace_location": {"type": "MLFLOW_EXPERIMENT",
                               "mlflow_experiment": {"experiment_id": self.experiment_id}},
            "request_time": _ms_to_rfc3339(self.request_time),
            "state": self.state.value,
            "trace_metadata": dict(self.trace_metadata),
            "tags": dict(self.tags),
        }
        if self.execution_duration is not None:
            d["execution_duration_ms"] = self.execution_duration
        for key in ("request_preview", "response_preview", "client_request_id"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        if self.assessments:
            d["assessments"] = [a.to_dictionary() for a in self.assessments]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TraceInfo:
        location = d.get("trace_location") or {}
        experiment_id = (location.get("mlflow_experiment") or {}).get("experiment_id")
        if experiment_id is None:
            experiment_id = d.get("experiment_id", "0")
        duration = d.get("execution_duration_ms", d.get("execution_duration"))
        if isinstance(duration, str):  # the REST form: a protobuf Duration such as "0.051s"
            duration = round(float(duration.rstrip("s")) * 1000)
        assessments = [a if isinstance(a, Assessment) else Assessment.from_dictionary(a)
                       for a in d.get("assessments") or ()]
        return cls(
            trace_id=d["trace_id"],
            experiment_id=str(experiment_id),
            request_time=_rfc3339_to_ms(d["request_time"]),
            state=TraceState(d.get("state") or "STATE_UNSPECIFIED"),
            execution_duration=None if duration is None else int(duration),
            request_preview=d.get("request_preview"),
            response_preview=d.get("response_preview"),
            client_request_id=d.get("client_request_id"),
            trace_metadata=dict(d.get("trace_metadata") or {}),
            tags=dict(d.get("tags") or {}),
            assessments=assessments,
        )


@dataclass(frozen=True)
class TraceData:
    """The spans of a trace, root first, plus the trace's assessments for convenience."""

    spans: list[Span] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)

    @property
    def root_span(self) -> Span | None:
        ids = {s.span_id for s in self.spans}
        for span in self.spans:
            if span.parent_id is None or span.parent_id not in ids:
                return span
        return None

    @property
    def request(self) -> str | None:
        """The root span's inputs, as JSON text."""
        root = self.root_span
        return None if root is None else root.inputs_json

    @property
    def response(self) -> str | None:
        """The root span's outputs, as JSON text."""
        root = self.root_span
        return None if root is None else root.outputs_json

    def to_dict(self) -> dict[str, Any]:
        return {"spans": [s.to_dict() for s in self.spans]}


@dataclass(frozen=True)
class Trace:
    """A whole trace: ``info`` (the header) and ``data`` (the spans)."""

    info: TraceInfo
    data: TraceData = field(default_factory=TraceData)

    def __post_init__(self) -> None:
        # trace.info.assessments and trace.data.assessments are the same list.
        if not self.data.assessments:
            object.__setattr__(self.data, "assessments", self.info.assessments)

    def search_spans(self, span_type: str | None = None, name: str | None = None,
                     span_id: str | None = None) -> list[Span]:
        """The spans that match every criterion given."""
        return [s for s in self.data.spans
                if (span_type is None or s.span_type == span_type)
                and (name is None or s.name == name)
                and (span_id is None or s.span_id == span_id)]

    def search_assessments(self, name: str | None = None, *, span_id: str | None = None,
                           all: bool = False,
                           type: Literal["feedback", "expectation"] | None = None,
                           ) -> list[Assessment]:
        """The trace's assessments that match every criterion given, oldest first.

        Only valid ones (not overridden) unless ``all=True``; ``type`` is "feedback" or
        "expectation".
        """
        if type not in (None, "feedback", "expectation"):
            raise ValueError(f"Invalid type {type!r}: expected 'feedback', 'expectation' or "
                             "None")
        return [a for a in self.info.assessments
                if (name is None or a.name == name)
                and (span_id is None or a.span_id == span_id)
                and (all or a.valid)
                and (type is None or a.kind == type)]

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info.to_dict(), "data": self.data.to_dict()}

    def to_json(self, pretty: bool = False) -> str:
        return json.dumps(self.to_dict(), indent=2 if pretty else None, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Trace:
        info = TraceInfo.from_dict(d["info"])
        spans = [Span.from_dict(s) for s in (d.get("data") or {}).get("spans") or ()]
        return cls(info=info, data=TraceData(spans=spans, assessments=info.assessments))

    @classmethod
    def from_json(cls, text: str) -> Trace:
        return cls.from_dict(json.loads(text))

    def _repr_html_(self) -> str:  # pragma: no cover - notebooks only
        return f"<pre>{self.to_json(pretty=True)}</pre>"


def sort_spans(spans: Sequence[Span]) -> list[Span]:
    """Spans ordered root first, then by start time (parents before children)."""
    return sorted(spans, key=lambda s: (s.parent_id is not None, s.start_time_ns))
