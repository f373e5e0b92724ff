"""An MLflow server as the source of ``assay import mlflow``, through MLflow's REST protocol:
experiments by ``experiments/search``, trace headers with their assessments by the v3
``traces/search`` (oldest first), spans by ``traces/batchGet`` (OTLP JSON), and, for a trace
whose spans MLflow keeps as an artifact, its ``traces.json`` by ``get-trace-artifact``.

Credentials are MLflow's: ``MLFLOW_TRACKING_TOKEN`` (bearer), or
``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD`` (basic).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

from assay import ingest
from assay.entities import Trace, TraceInfo
from assay.entities.span import INPUTS_KEY, OUTPUTS_KEY, Span
from assay.errors import AssayError, InvalidParameterError, StoreUnavailableError
from assay.migration.convert import (
    DROPPED_TAGS,
    SPANS_LOCATION_TAG,
    span_from_mlflow_dict,
    with_spans,
)
from assay.migration.mlflow_source import SkippedTrace, SourceExperiment, SourcePage
from assay.settings import mlflow_credentials_from_env
from assay.store.uri import mask_uri

__all__ = ["HttpSource"]

#: The most traces one ``traces/search`` page returns (MLflow's limit).
_MAX_PAGE = 500
#: Trace ids per ``traces/batchGet`` (the client sends 10).
_BATCH_GET = 10
_TIMEOUT = 60.0


class HttpSource:
    """An MLflow tracking server at ``base_url``."""

    def __init__(self, base_url: str) -> None:
        self.description = mask_uri(base_url)
        headers = {"User-Agent": "assay-import"}
        token, auth = mlflow_credentials_from_env()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, auth=auth,
                                  timeout=_TIMEOUT)
        self._infos: dict[str, TraceInfo] = {}
        #: Traces of the page read whose header could not be read, and why.
        self._unreadable: dict[str, str] = {}

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StoreUnavailableError(
                f"Cannot reach the MLflow server {self.description}: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            raise AssayError(f"The MLflow server {self.description} answered {path} with "
                             f"{response.status_code}: {str(message)[:500]}")
        body = response.json()
        if not isinstance(body, dict):
            raise AssayError(f"The MLflow server {self.description} answered {path} with "
                             "something other than a JSON object")
        return body

    def experiments(self) -> list[SourceExperiment]:
        out: list[SourceExperiment] = []
        token: str | None = None
        while True:
            body: dict[str, Any] = {"max_results": 1000, "view_type": "ALL"}
            if token:
                body["page_token"] = token
            page = self._call("POST", "/api/2.0/mlflow/experiments/search", json=body)
            for e in page.get("experiments") or ():
                out.append(SourceExperiment(
                    experiment_id=str(e["experiment_id"]), name=str(e["name"]),
                    tags={t["key"]: t.get("value", "") for t in e.get("tags") or ()},
                    artifact_location=e.get("artifact_location"),
                    deleted=e.get("lifecycle_stage") == "deleted"))
            token = page.get("next_page_token")
            if not token:
                return out

    def count_traces(self, experiment: SourceExperiment, since_ms: int | None) -> int | None:
        return None

    def pages(self, experiment: SourceExperiment, since_ms: int | None,
              page_size: int) -> Iterator[SourcePage]:
        token: str | None = None
        while True:
            body: dict[str, Any] = {
                "locations": [{"type": "MLFLOW_EXPERIMENT",
                               "mlflow_experiment": {"experiment_id":
                                                     experiment.experiment_id}}],
                "max_results": min(page_size, _MAX_PAGE),
                "order_by": ["timestamp_ms ASC"],
            }
            if since_ms is not None:
                body["filter"] = f"trace.timestamp_ms >= {since_ms}"
            if token:
                body["page_token"] = token
            page = self._call("POST", "/api/3.0/mlflow/traces/search", json=body)
            infos = []
            ids = []
            self._unreadable = {}
            for raw in page.get("traces") or ():
                try:
                    info = TraceInfo.from_dict(raw)
                except (AssayError, ValueError, KeyError, TypeError) as exc:
                    # Not dropped in silence: reported as a trace that could not be read.
                    trace_id = raw.get("trace_id") if isinstance(raw, dict) else None
                    if isinstance(trace_id, str) and trace_id:
                        ids.append(trace_id)
                        self._unreadable[trace_id] = str(exc) or type(exc).__name__
                    continue
                infos.append(info)
                ids.append(info.trace_id)
            self._infos = {info.trace_id: info for info in infos}
            if ids:
                yield SourcePage(ids, {info.trace_id: list(info.assessments)
                                       for info in infos})
            token = page.get("next_page_token")
            if not token:
                return

    def read_traces(self, experiment: SourceExperiment, trace_ids: Sequence[str],
                    target_experiment_id: str) -> list[Trace | SkippedTrace]:
        spans_of: dict[str, list[Any]] = {}
        for start in range(0, len(trace_ids), _BATCH_GET):
            chunk = list(trace_ids[start:start + _BATCH_GET])
            body = self._call("GET", "/api/3.0/mlflow/traces/batchGet",
                              params={"trace_ids": chunk})
            for trace in body.get("traces") or ():
                info = trace.get("trace_info") or {}
                spans_of[str(info.get("trace_id"))] = list(trace.get("spans") or ())
        out: list[Trace | SkippedTrace] = []
        for trace_id in trace_ids:
            info = self._infos.get(trace_id)
            if info is None:
                reason = self._unreadable.get(trace_id)
                out.append(SkippedTrace(trace_id, "not in the page read" if reason is None
                                        else f"its header could not be read: {reason}"))
                continue
            info = dataclasses.replace(
                info, experiment_id=target_experiment_id,
                tags={k: v for k, v in info.tags.items() if k not in DROPPED_TAGS})
            try:
                raw_spans = spans_of.get(trace_id) or []
                if raw_spans:
                    spans = [_otlp_span(raw) for raw in raw_spans]
                else:
                    spans = self._artifact_spans(trace_id, self._infos[trace_id])
                out.append(with_spans(info, spans))
            except (AssayError, ValueError, KeyError, TypeError,
                    json_format.ParseError) as exc:
                out.append(SkippedTrace(trace_id, str(exc) or type(exc).__name__))
        return out

    def _artifact_spans(self, trace_id: str, info: TraceInfo) -> list[Span]:
        if info.tags.get(SPANS_LOCATION_TAG) == "TRACKING_STORE":
            return []
        data = self._call("GET", "/ajax-api/2.0/mlflow/get-trace-artifact",
                          params={"request_id": trace_id})
        return [span_from_mlflow_dict(span) for span in data.get("spans") or ()]


def _otlp_span(raw: Any) -> Span:
    """A span of ``traces/batchGet`` (OTLP's Span in protobuf JSON) as an Assay span."""
    if not isinstance(raw, dict):
        raise InvalidParameterError("a span is not a JSON object")
    message = OtlpSpan()
    json_format.ParseDict(raw, message, ignore_unknown_fields=True)
    for attribute in message.attributes:
        # Inputs and outputs are JSON text; a server that sends them decoded (Assay's own
        # MLflow protocol does) gets a plain string read as that string.
        if attribute.key in (INPUTS_KEY, OUTPUTS_KEY) \
                and attribute.value.WhichOneof("value") == "string_value" \
                and not _is_json(attribute.value.string_value):
            attribute.value.string_value = json.dumps(attribute.value.string_value,
                                                      ensure_ascii=False)
    # MLflow writes every attribute as the JSON text of its value.
    return ingest.span_from_otlp(message, json_attributes=True)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
