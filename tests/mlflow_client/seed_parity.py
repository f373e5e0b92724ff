"""Run by the stock mlflow client's python (its own virtual environment), never imported by
the tests: what a seed's snippet left in the store at ``MLFLOW_TRACKING_URI``, read back with
mlflow and written as one JSON object without anything that differs from run to run.

``test_seed_parity.py`` appends a call of :func:`report` to each snippet (and its driver) and
runs the whole once against ``assay server`` and once against mlflow's own SQLite store; the
two reports must be equal. Ids become aliases in order of appearance (traces ``T0, T1, ...``
as the driver names them, spans by their names, assessments ``A0, A1, ...`` in the order they
were created); timestamps and durations are left out, and so are the few keys whose values
name a place on this machine (the script's path, the artifact location).
"""

import json
import math
import os
import re
from collections.abc import Callable
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

#: Trace metadata that differs between any two runs, or names a path.
VOLATILE_METADATA = {
    "mlflow.source.name",  # the script's path
    "mlflow.trace.sizeBytes",
    "mlflow.trace.sizeStats",
}
#: Trace tags that name a place on this machine.
VOLATILE_TAGS = {"mlflow.artifactLocation"}
#: Span attributes that are ids or times.
VOLATILE_ATTRIBUTES = {"mlflow.traceRequestId"}


#: An object's repr names its address, which differs between runs.
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


class Aliases:
    """Stable names for the ids that differ between the two stores."""

    def __init__(self, trace_ids: list[str], more: dict[str, str]) -> None:
        self.names: dict[str, str] = {}
        for number, trace_id in enumerate(trace_ids):
            self.names.setdefault(trace_id, f"T{number}")
        self.names.update({raw: alias for alias, raw in more.items()})
        self._assessments = 0

    def assessment(self, assessment_id: str | None) -> str | None:
        if assessment_id is None:
            return None
        if assessment_id not in self.names:
            self.names[assessment_id] = f"A{self._assessments}"
            self._assessments += 1
        return self.names[assessment_id]

    def clean(self, value: Any) -> Any:
        """``value`` with every known id replaced by its alias, floats rounded."""
        if isinstance(value, str):
            for raw, alias in self.names.items():
                if raw in value:
                    value = value.replace(raw, alias)
            return _ADDRESS.sub(" at 0x...", value.replace(os.getcwd(), "<cwd>"))
        if isinstance(value, float) and math.isfinite(value):
            return round(value, 9)
        if isinstance(value, dict):
            return {self.clean(k): self.clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.clean(v) for v in value]
        return value


def _status(span: Any) -> dict[str, Any]:
    return {"code": str(span.status.status_code), "description": span.status.description}


def _trace(trace: Any, aliases: Aliases) -> dict[str, Any]:
    info = trace.info
    spans = trace.data.spans
    names = {span.span_id: span.name for span in spans}
    # Assessments in the order they were created (ties broken by name), aliased in it.
    assessments = sorted(info.assessments, key=lambda a: (a.create_time_ms or 0, a.name))
    for assessment in assessments:
        aliases.assessment(assessment.assessment_id)
    return {
        "state": str(info.state),
        "client_request_id": info.client_request_id,
        "request_preview": info.request_preview,
        "response_preview": info.response_preview,
        "metadata": {k: v for k, v in info.trace_metadata.items()
                     if k not in VOLATILE_METADATA},
        "tags": {k: v for k, v in info.tags.items() if k not in VOLATILE_TAGS},
        "has_artifact_location": "mlflow.artifactLocation" in info.tags,
        "token_usage": info.token_usage,
        "spans": [{
            "name": span.name,
            "parent": names.get(span.parent_id) if span.parent_id else None,
            "span_type": span.span_type,
            "inputs": span.inputs,
            "outputs": span.outputs,
            "attributes": {k: v for k, v in span.attributes.items()
                           if k not in VOLATILE_ATTRIBUTES},
            "status": _status(span),
            "events": [{"name": e.name, "attributes": e.attributes} for e in span.events],
        } for span in sorted(spans, key=lambda s: (s.start_time_ns, s.name))],
        "assessments": [{
            "id": aliases.assessment(a.assessment_id),
            "kind": type(a).__name__,
            "name": a.name,
            "value": a.value,
            "error": a.error.error_code if getattr(a, "error", None) else None,
            "source": {"type": str(a.source.source_type), "id": a.source.source_id},
            "rationale": a.rationale,
            "metadata": a.metadata,
            "span": names.get(a.span_id) if a.span_id else None,
            "overrides": aliases.assessment(a.overrides),
            "valid": a.valid,
            "has_run_id": a.run_id is not None,
        } for a in assessments],
    }


def _found(value: Any) -> Any:
    """What a search returned: trace ids in order (a list of traces or a DataFrame, with the
    DataFrame's columns), or the value itself."""
    if hasattr(value, "columns") and "trace_id" in value.columns:
        return {"columns": sorted(value.columns), "trace_ids": list(value["trace_id"]),
                "requests": [json.dumps(r, sort_keys=True, default=str)
                             for r in value["request"]],
                "responses": [json.dumps(r, sort_keys=True, default=str)
                              for r in value["response"]]}
    if isinstance(value, list) and all(hasattr(t, "info") for t in value):
        return [t.info.trace_id for t in value]
    return value


def report(trace_ids: list[str], searches: dict[str, Callable[[], Any]] | None = None,
           outputs: dict[str, Any] | None = None, ids: dict[str, str] | None = None) -> None:
    """Print ``REPORT {json}``: the traces (in the driver's order), every search's result
    and the snippet's own outputs, with ids aliased (``ids``: more of them, alias -> id,
    such as client request ids a snippet made up at random)."""
    mlflow.flush_trace_async_logging()
    aliases = Aliases(trace_ids, ids or {})
    client = MlflowClient()
    traces = {aliases.names[t]: _trace(client.get_trace(t), aliases) for t in trace_ids}
    # Every trace of the experiments involved, so that a stray one shows up.
    experiments = sorted({client.get_trace(t).info.experiment_id for t in trace_ids})
    every = [t.info.trace_id for t in mlflow.search_traces(locations=experiments,
                                                          return_type="list")]
    result = {
        "traces": traces,
        "experiments": len(experiments),
        "every_trace": sorted(aliases.clean(every)),
        "searches": {name: _found(search()) for name, search in (searches or {}).items()},
        "outputs": outputs or {},
    }
    print("REPORT " + json.dumps(aliases.clean(result), sort_keys=True, default=str))
