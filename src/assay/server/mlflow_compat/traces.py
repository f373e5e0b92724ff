"""MLflow's trace routes: v3 (start, get info, get with spans, batch gets, search, tags,
delete), the v2 paths the 3.x client still calls (tags, delete-traces), and the deprecated
v2 routes it falls back to on a server without v3 (start and end, get info, search).

A trace from the stock client comes in two parts, in either order: its spans by OTLP
(``POST /v1/traces``, :mod:`assay.server.api.otlp`) and its header by ``StartTraceV3``
(metadata, tags, previews, client request id, the assessments logged while it ran). Each
part is merged with what is stored of the other (:func:`assay.ingest.sent_header_over`
here, the OTLP route's assembly there), so the trace ends up whole whichever comes first.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Body, Query
from pydantic import Field

from assay import ingest
from assay.entities import Trace, TraceInfo
from assay.entities.trace import TraceState
from assay.errors import InvalidParameterError, NotFoundError
from assay.server.deps import StoreDep
from assay.server.mlflow_compat.protocol import (
    MlflowRequest,
    page_json,
    trace_info_json,
    trace_info_v2_json,
    trace_json,
)
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["MAX_BATCH_IDS", "MAX_SEARCH_RESULTS", "v2", "v3"]

v2 = RouteTable(prefix="/traces")
v3 = RouteTable(prefix="/traces")

#: The largest page of a trace search (MLflow's limit).
MAX_SEARCH_RESULTS = 500
#: The most trace ids a batch get takes (the client sends 10 at a time).
MAX_BATCH_IDS = 100


class _TraceBody(MlflowRequest):
    trace_info: dict[str, Any]
    spans: list[Any] = Field(default_factory=list)


class StartTrace(MlflowRequest):
    trace: _TraceBody


class _ExperimentLocation(MlflowRequest):
    experiment_id: str = Field(min_length=1)


class _Location(MlflowRequest):
    type: str | None = None
    mlflow_experiment: _ExperimentLocation | None = None


class SearchTraces(MlflowRequest):
    locations: list[_Location] = Field(min_length=1)
    filter: str | None = None
    max_results: int = Field(default=100, ge=1, le=MAX_SEARCH_RESULTS)
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class BatchGetInfos(MlflowRequest):
    trace_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH_IDS)
    experiment_ids: list[str] = Field(default_factory=list)


class SetTag(MlflowRequest):
    key: str = Field(min_length=1)
    value: str = ""


class DeleteTag(MlflowRequest):
    key: str | None = None


class DeleteTraces(MlflowRequest):
    experiment_id: str = Field(min_length=1)
    max_timestamp_millis: int | None = None
    max_traces: int | None = Field(default=None, ge=1)
    request_ids: list[str] | None = None


class _KeyValue(MlflowRequest):
    key: str = Field(min_length=1)
    value: str = ""


class StartTraceV2(MlflowRequest):
    experiment_id: str = Field(min_length=1)
    timestamp_ms: int = Field(ge=0)
    request_metadata: list[_KeyValue] = Field(default_factory=list, max_length=1000)
    tags: list[_KeyValue] = Field(default_factory=list, max_length=1000)


class EndTraceV2(MlflowRequest):
    timestamp_ms: int = Field(ge=0)
    status: str | None = None
    request_metadata: list[_KeyValue] = Field(default_factory=list, max_length=1000)
    tags: list[_KeyValue] = Field(default_factory=list, max_length=1000)


# -- v3 -------------------------------------------------------------------------------------

@v3.post("", openapi_extra=needs(Action.WRITE))
def start_trace(body: StartTrace, store: StoreDep) -> dict[str, Any]:
    """Log a trace's header (the client calls it when the trace ends), merged with the spans
    that came by OTLP; the answer tells the client its spans are in the store."""
    sent = _sent_info(body.trace.trace_info)
    try:
        stored: TraceInfo | None = store.get_trace_info(sent.trace_id)
    except NotFoundError:
        stored = None
    info = ingest.sent_header_over(stored, sent)
    store.log_traces([Trace(info=info)])
    return {"trace": {"trace_info": trace_info_json(
        store.get_trace(sent.trace_id, include_spans=False).info)}}


def _sent_info(data: dict[str, Any]) -> TraceInfo:
    try:
        return TraceInfo.from_dict(data)
    except KeyError as exc:
        raise InvalidParameterError(f"Missing trace.trace_info.{exc.args[0]}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, InvalidParameterError):
            raise
        raise InvalidParameterError(f"Invalid trace.trace_info: {exc}") from None


@v3.post("/search", openapi_extra=needs(Action.READ))
def search_traces(body: SearchTraces, store: StoreDep) -> dict[str, Any]:
    """A page of trace headers (with their assessments) of the experiments located."""
    experiment_ids = []
    for i, location in enumerate(body.locations):
        if location.mlflow_experiment is None:
            raise InvalidParameterError(
                f"Invalid locations[{i}]: only MLFLOW_EXPERIMENT locations are supported "
                "(give mlflow_experiment.experiment_id)")
        experiment_ids.append(location.mlflow_experiment.experiment_id)
    page = store.search_traces(experiment_ids, body.max_results, body.page_token or None,
                               include_spans=False, filter_string=body.filter or None,
                               order_by=body.order_by or None)
    return page_json("traces", [trace_info_json(t.info) for t in page], page.token)


@v3.get("/get", openapi_extra=needs(Action.READ))
def get_trace(store: StoreDep, trace_id: Annotated[str, Query(min_length=1)],
              allow_partial: bool = False) -> dict[str, Any]:
    """A trace with its spans (as OTLP JSON)."""
    return {"trace": trace_json(store.get_trace(trace_id, include_spans=True))}


@v3.get("/batchGet", openapi_extra=needs(Action.READ))
def batch_get_traces(
        store: StoreDep,
        trace_ids: Annotated[list[str], Query(min_length=1, max_length=MAX_BATCH_IDS)],
        experiment_ids: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    """The traces among these ids, with spans, in the order asked (unknown ids left out)."""
    found = store.find_traces(trace_ids)
    traces = [found[i] for i in dict.fromkeys(trace_ids) if i in found
              and (not experiment_ids or found[i].info.experiment_id in experiment_ids)]
    return {"traces": [trace_json(t) for t in traces]}


@v3.post("/batchGetInfos", openapi_extra=needs(Action.READ))
def batch_get_trace_infos(body: BatchGetInfos, store: StoreDep) -> dict[str, Any]:
    """The headers of the traces among these ids (unknown ids left out)."""
    infos = []
    for trace_id in dict.fromkeys(body.trace_ids):
        try:
            info = store.get_trace_info(trace_id)
        except NotFoundError:
            continue
        if not body.experiment_ids or info.experiment_id in body.experiment_ids:
            infos.append(trace_info_json(info))
    return {"trace_infos": infos}


@v3.post("/delete-traces", openapi_extra=needs(Action.WRITE))
def delete_traces_v3(body: DeleteTraces, store: StoreDep) -> dict[str, Any]:
    return _delete_traces(body, store)


@v3.get("/{trace_id}", openapi_extra=needs(Action.READ))
def get_trace_info(trace_id: str, store: StoreDep) -> dict[str, Any]:
    """A trace's header with its assessments, without spans."""
    return {"trace": {"trace_info": trace_info_json(store.get_trace_info(trace_id))}}


@v3.patch("/{trace_id}/tags", openapi_extra=needs(Action.WRITE))
def set_trace_tag_v3(trace_id: str, body: SetTag, store: StoreDep) -> dict[str, Any]:
    store.set_trace_tag(trace_id, body.key, body.value)
    return {}


@v3.delete("/{trace_id}/tags", openapi_extra=needs(Action.WRITE))
def delete_trace_tag_v3(trace_id: str, store: StoreDep,
                        body: Annotated[DeleteTag | None, Body()] = None,
                        key: str | None = None) -> dict[str, Any]:
    store.delete_trace_tag(trace_id, _tag_key(body, key))
    return {}


# -- v2 (what the 3.x client still calls) ---------------------------------------------------

@v2.patch("/{request_id}/tags", openapi_extra=needs(Action.WRITE))
def set_trace_tag_v2(request_id: str, body: SetTag, store: StoreDep) -> dict[str, Any]:
    store.set_trace_tag(request_id, body.key, body.value)
    return {}


@v2.delete("/{request_id}/tags", openapi_extra=needs(Action.WRITE))
def delete_trace_tag_v2(request_id: str, store: StoreDep,
                        body: Annotated[DeleteTag | None, Body()] = None,
                        key: str | None = None) -> dict[str, Any]:
    store.delete_trace_tag(request_id, _tag_key(body, key))
    return {}


@v2.post("/delete-traces", openapi_extra=needs(Action.WRITE))
def delete_traces_v2(body: DeleteTraces, store: StoreDep) -> dict[str, Any]:
    return _delete_traces(body, store)


@v2.post("", openapi_extra=needs(Action.WRITE))
def start_trace_v2(body: StartTraceV2, store: StoreDep) -> dict[str, Any]:
    """Start a trace (the deprecated v2 way): a header in progress, with a new id."""
    store.get_experiment(body.experiment_id)  # 404 naming it, before anything is stored
    info = TraceInfo(trace_id=f"tr-{uuid.uuid4().hex}", experiment_id=body.experiment_id,
                     request_time=body.timestamp_ms, state=TraceState.IN_PROGRESS,
                     trace_metadata={m.key: m.value for m in body.request_metadata},
                     tags={t.key: t.value for t in body.tags})
    store.log_traces([Trace(info=info)])
    return {"trace_info": trace_info_v2_json(store.get_trace_info(info.trace_id))}


@v2.patch("/{request_id}", openapi_extra=needs(Action.WRITE))
def end_trace_v2(request_id: str, body: EndTraceV2, store: StoreDep) -> dict[str, Any]:
    """End a trace started by :func:`start_trace_v2`: its state and duration, its metadata
    and tags merged over the stored ones."""
    stored = store.get_trace_info(request_id)
    state = _v2_state(body.status)
    if body.timestamp_ms < stored.request_time:
        raise InvalidParameterError(
            f"Invalid timestamp_ms {body.timestamp_ms}: the trace started at "
            f"{stored.request_time}")
    sent = TraceInfo(trace_id=request_id, experiment_id=stored.experiment_id,
                     request_time=stored.request_time, state=state,
                     execution_duration=body.timestamp_ms - stored.request_time,
                     trace_metadata={m.key: m.value for m in body.request_metadata},
                     tags={t.key: t.value for t in body.tags})
    store.log_traces([Trace(info=ingest.sent_header_over(stored, sent))])
    return {"trace_info": trace_info_v2_json(store.get_trace_info(request_id))}


@v2.get("/{request_id}/info", openapi_extra=needs(Action.READ))
def get_trace_info_v2(request_id: str, store: StoreDep) -> dict[str, Any]:
    return {"trace_info": trace_info_v2_json(store.get_trace_info(request_id))}


@v2.get("", openapi_extra=needs(Action.READ))
def search_traces_v2(
        store: StoreDep,
        experiment_ids: Annotated[list[str], Query(min_length=1, max_length=100)],
        filter: Annotated[str | None, Query(max_length=10_000)] = None,
        max_results: Annotated[int, Query(ge=1, le=MAX_SEARCH_RESULTS)] = 100,
        order_by: Annotated[list[str] | None, Query(max_length=20)] = None,
        page_token: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    """The deprecated v2 search: trace headers in the v2 form."""
    page = store.search_traces(experiment_ids, max_results, page_token or None,
                               include_spans=False, filter_string=filter or None,
                               order_by=order_by or None)
    return page_json("traces", [trace_info_v2_json(t.info) for t in page], page.token)


_V2_STATES = {"OK": TraceState.OK, "ERROR": TraceState.ERROR,
              "IN_PROGRESS": TraceState.IN_PROGRESS,
              "TRACE_STATUS_UNSPECIFIED": TraceState.STATE_UNSPECIFIED}


def _v2_state(status: str | None) -> TraceState:
    if status is None:
        return TraceState.OK
    state = _V2_STATES.get(status.upper())
    if state is None:
        raise InvalidParameterError(
            f"Invalid status {status!r}: expected one of {', '.join(_V2_STATES)}")
    return state


def _tag_key(body: DeleteTag | None, key: str | None) -> str:
    found = (body.key if body is not None else None) or key
    if not found:
        raise InvalidParameterError("Missing key: name the tag to delete")
    return found


def _delete_traces(body: DeleteTraces, store: StoreDep) -> dict[str, Any]:
    deleted = store.delete_traces(body.experiment_id, body.max_timestamp_millis,
                                  body.max_traces, body.request_ids or None)
    return {"traces_deleted": deleted}
