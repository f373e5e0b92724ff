"""``POST /v1/traces``: OTLP/HTTP trace ingestion (protobuf or JSON, optionally gzipped).

The translation of spans into Assay's traces is :mod:`assay.ingest`; this route reads the
body, picks the experiment, merges each trace's already stored spans (so a trace whose spans
come in several requests, in any order, ends up whole) and logs the traces in one call.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from assay import ingest
from assay.entities import Trace
from assay.entities.span import Span
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.server.deps import StoreDep
from assay.server.errors import ERROR_RESPONSES
from assay.store.base import Store

__all__ = ["router"]

router = APIRouter(tags=["otlp"], responses=ERROR_RESPONSES)

_OTLP_BODY = {
    "description": "An OTLP ExportTraceServiceRequest, as protobuf or as OTLP JSON (hex ids, "
                   "camelCase). `Content-Encoding: gzip` or `deflate` is accepted.",
    "required": True,
    "content": {
        ingest.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
        ingest.JSON: {"schema": {"type": "object"}},
    },
}


@router.post(
    "/v1/traces",
    response_class=Response,
    openapi_extra={"requestBody": _OTLP_BODY},
    responses={200: {"description": "An empty ExportTraceServiceResponse, in the request's "
                                    "format",
                     "content": {ingest.PROTOBUF: {"schema": {"type": "string",
                                                              "format": "binary"}},
                                 ingest.JSON: {"schema": {"type": "object"}}}}},
)
async def export_traces(
    request: Request,
    store: StoreDep,
    x_assay_experiment_id: Annotated[str | None, Header(
        description="The experiment to log into")] = None,
    x_mlflow_experiment_id: Annotated[str | None, Header(
        description="The same, under MLflow's name")] = None,
) -> Response:
    """Ingest OpenTelemetry spans (OTLP/HTTP).

    The experiment is the header's; without one, the experiment named after the resource's
    `service.name` (created on first use); else the default experiment "0". OTel GenAI,
    OpenInference and MLflow span attributes become span type, inputs, outputs, token usage,
    session and user. Spans are upserted by (trace, span id), so a span sent twice is stored
    once, and a trace whose spans come in several requests is assembled when its root comes.
    """
    content_type = request.headers.get("content-type", "")
    body = _decompress(await request.body(), request.headers.get("content-encoding", ""))
    header_id = (x_assay_experiment_id or x_mlflow_experiment_id or "").strip() or None
    await run_in_threadpool(_ingest, store, body, content_type, header_id)
    kind = ingest.JSON if ingest.media_type(content_type) == ingest.JSON else ingest.PROTOBUF
    return Response(ingest.empty_response(content_type), media_type=kind)


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidParameterError(
            f"Invalid body: Content-Encoding is {encoding} but the body does not decompress "
            f"({exc})") from None
    if encoding not in ("", "identity"):
        raise InvalidParameterError(
            f"Unsupported Content-Encoding {encoding!r}: expected gzip, deflate or identity")
    return body


def _ingest(store: Store, body: bytes, content_type: str, header_id: str | None) -> None:
    otlp_request = ingest.parse_request(body, content_type)
    if header_id is not None:
        store.get_experiment(header_id)  # NotFoundError (404) for an unknown id
    experiments_by_name: dict[str, str] = {}

    def by_name(name: str) -> str:
        if name not in experiments_by_name:
            experiments_by_name[name] = _experiment_named(store, name)
        return experiments_by_name[name]

    received: dict[str, tuple[str, list[Span]]] = {}
    for group in ingest.spans_by_resource(otlp_request):
        experiment_id = ingest.experiment_of(group.resource, header_id, by_name)
        for trace_id, spans in ingest.group_by_trace(group.spans).items():
            received.setdefault(trace_id, (experiment_id, []))[1].extend(spans)
    if not received:
        return
    store.log_traces(_assemble(store, received))


def _assemble(store: Store, received: dict[str, tuple[str, list[Span]]]) -> Sequence[Trace]:
    traces = []
    for trace_id, (experiment_id, spans) in received.items():
        try:
            stored = store.get_trace(trace_id)
        except NotFoundError:
            traces.append(ingest.assemble_trace(trace_id, experiment_id, spans))
            continue
        # A trace stays in the experiment it was first logged into.
        traces.append(ingest.assemble_trace(trace_id, stored.info.experiment_id,
                                            ingest.merge_spans(stored.data.spans, spans)))
    return traces


def _experiment_named(store: Store, name: str) -> str:
    """The id of the experiment called ``name``, created if there is none."""
    experiment = store.find_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return store.create_experiment(name)
    except AlreadyExistsError:  # another request created it meanwhile
        experiment = store.find_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id
