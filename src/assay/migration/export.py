"""``assay export``: an experiment's traces and assessments written to files, for the way out.

Three files in the folder given:

* ``traces.otlp.jsonl``: OTLP JSON (the OpenTelemetry file exporter's form: one
  ``ExportTraceServiceRequest`` a line, ids in hex, enums as integers), up to
  :data:`TRACES_PER_LINE` traces a line. The resource names the experiment as its
  ``service.name``; attributes follow Assay's SDK (:mod:`assay.store.rest.otlp`): every
  value is JSON text, and the root span carries the trace's header (metadata, tags,
  assessments) as ``assay.trace.info``. Posted to an Assay server's ``/v1/traces``, a line
  stores its traces whole, in the experiment of that name; any OTLP backend reads the spans.
* ``traces.jsonl``: one trace a line, as ``Trace.to_dict`` writes it (MLflow's JSON: the
  TraceInfoV3 header with its assessments, and the spans), which ``Trace.from_dict`` reads.
* ``assessments.jsonl``: one assessment a line (MLflow's ``Assessment`` JSON, overridden
  ones included with ``valid: false``), with ``trace_id``.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from assay.entities import Trace
from assay.errors import NotFoundError
from assay.store.base import Store
from assay.store.rest.otlp import EXPERIMENT_ID_KEY, encode_traces

__all__ = ["TRACES_PER_LINE", "ExportResult", "export_experiment", "otlp_json_line"]

#: Traces in one ExportTraceServiceRequest line.
TRACES_PER_LINE = 100
_PAGE = 500
_ID_KEYS = ("traceId", "spanId", "parentSpanId")


@dataclass
class ExportResult:
    """What was written: counts and the files."""

    traces: int = 0
    spans: int = 0
    assessments: int = 0
    files: list[str] = field(default_factory=list)


def export_experiment(store: Store, experiment_name: str, out_dir: str) -> ExportResult:
    """Write the experiment's traces and assessments to ``out_dir`` (see the module doc),
    oldest first. NotFoundError for an unknown experiment."""
    experiment = store.find_experiment_by_name(experiment_name)
    if experiment is None:
        raise NotFoundError(f"Experiment {experiment_name!r} not found")
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, name)
             for name in ("traces.otlp.jsonl", "traces.jsonl", "assessments.jsonl")]
    result = ExportResult(files=paths)
    with open(paths[0], "w", encoding="utf-8") as otlp, \
            open(paths[1], "w", encoding="utf-8") as traces_out, \
            open(paths[2], "w", encoding="utf-8") as assessments_out:
        token: str | None = None
        while True:
            page = store.search_traces([experiment.experiment_id], max_results=_PAGE,
                                       page_token=token, include_spans=True,
                                       order_by=["timestamp_ms ASC"])
            for start in range(0, len(page), TRACES_PER_LINE):
                otlp.write(otlp_json_line(page[start:start + TRACES_PER_LINE],
                                          experiment_name) + "\n")
            for trace in page:
                traces_out.write(json.dumps(trace.to_dict(), ensure_ascii=False) + "\n")
                for assessment in trace.info.assessments:
                    if assessment.trace_id not in (None, trace.info.trace_id):
                        continue  # a session-level one of another trace: written with it
                    assessments_out.write(
                        json.dumps(assessment.to_dictionary(), ensure_ascii=False) + "\n")
                    result.assessments += 1
                result.traces += 1
                result.spans += len(trace.data.spans)
            token = page.token
            if not token:
                break
    return result


def otlp_json_line(traces: list[Trace], service_name: str) -> str:
    """These traces as one OTLP JSON ``ExportTraceServiceRequest`` on one line."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(encode_traces(traces))
    for resource_spans in request.resource_spans:
        attributes = resource_spans.resource.attributes
        kept = [a for a in attributes if a.key != EXPERIMENT_ID_KEY]
        del attributes[:]
        attributes.extend(kept)
        name = attributes.add()
        name.key = "service.name"
        name.value.string_value = service_name
    d = json_format.MessageToDict(request, use_integers_for_enums=True)
    _ids_to_hex(d)
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def _ids_to_hex(value: Any) -> None:
    """OTLP JSON writes trace and span ids in hex, where protobuf's JSON has base64."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _ID_KEYS and isinstance(item, str):
                value[key] = base64.b64decode(item).hex()
            else:
                _ids_to_hex(item)
    elif isinstance(value, list):
        for item in value:
            _ids_to_hex(item)
