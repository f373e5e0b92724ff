"""``POST /v1/traces``: OTLP/HTTP trace ingestion (protobuf or JSON, optionally gzipped).

The translation of spans into Assay's traces is :mod:`assay.ingest`; this route reads the
body, picks the experiment, merges each trace's already stored spans (so a trace whose spans
come in several requests, in any order, ends up whole) and logs the traces in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from assay import ingest
from assay.entities import Trace
from assay.entities.span import Span
from assay.errors import AlreadyExistsError
from assay.server.deps import SettingsDep, StoreDep
from assay.server.errors import ERROR_RESPONSES, ErrorResponse
from assay.server.limits import check_otlp_request
from assay.server.permissions import Action, needs
from assay.server.settings import ServerSettings
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
    openapi_extra={"requestBody": _OTLP_BODY, **needs(Action.WRITE)},
    responses={200: {"description": "An empty ExportTraceServiceResponse, in the request's "
                                    "format",
                     "content": {ingest.PROTOBUF: {"schema": {"type": "string",
                                                              "format": "binary"}},
                                 ingest.JSON: {"schema": {"type": "object"}}}},
               415: {"model": ErrorResponse,
                     "description": "A Content-Encoding other than gzip, deflate or "
                                    "identity"}},
)
async def export_traces(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
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
    # Decompressed, and held to max_request_bytes, by assay.server.limits.
    body = await request.body()
    header_id = (x_assay_experiment_id or x_mlflow_experiment_id or "").strip() or None
    experiments = _experiments_of(request, store)
    await run_in_threadpool(_ingest, store, settings, body, content_type, header_id,
                            experiments)
    kind = ingest.JSON if ingest.media_type(content_type) == ingest.JSON else ingest.PROTOBUF
    return Response(ingest.empty_response(content_type), media_type=kind)


def _ingest(store: Store, settings: ServerSettings, body: bytes, content_type: str,
            header_id: str | None, experiments: ExperimentLookup | None = None) -> None:
    """Everything the route does with a body, off the event loop: parse, check, translate,
    assemble, log."""
    if experiments is None:
        experiments = ExperimentLookup(store)
    otlp_request = ingest.parse_request(body, content_type)
    check_otlp_request(otlp_request, settings.max_spans_per_request,
                       settings.max_attribute_bytes,
                       encoded_size=len(body) if ingest.media_type(content_type)
                       == ingest.PROTOBUF else None)
    if header_id is not None:
        experiments.check_id(header_id)  # NotFoundError (404) for an unknown id
    received: dict[str, tuple[str, list[Span]]] = {}
    for group in ingest.spans_by_resource(otlp_request):
        # An experiment named by the resource is checked by the store as it writes.
        experiment_id = ingest.experiment_of(group.resource, header_id, experiments.by_name)
        for trace_id, spans in ingest.group_by_trace(group.spans).items():
            found = received.get(trace_id)
            if found is None:
                received[trace_id] = (experiment_id, spans)
            else:
                found[1].extend(spans)
    if not received:
        return
    store.log_traces(_assemble(store, received))


def _assemble(store: Store, received: dict[str, tuple[str, list[Span]]]) -> Sequence[Trace]:
    # Traces as Assay's SDK sends them are whole: nothing to merge. The others may have
    # spans stored already (a trace split over requests): all read in one go.
    to_merge = [trace_id for trace_id, (_, spans) in received.items()
                if not ingest.is_whole_trace(spans)]
    stored = store.find_traces(to_merge) if to_merge else {}
    traces = []
    for trace_id, (experiment_id, spans) in received.items():
        found = stored.get(trace_id)
        if found is None:
            traces.append(ingest.assemble_trace(trace_id, experiment_id, spans))
            continue
        # A trace stays in the experiment it was first logged into.
        traces.append(ingest.assemble_trace(trace_id, found.info.experiment_id,
                                            ingest.merge_spans(found.data.spans, spans)))
    return traces


class ExperimentLookup:
    """The experiments OTLP requests name, looked up once per process rather than once per
    request: an id checked to exist, an experiment found (or created) by name.

    Remembering is right because experiments are never deleted nor renamed. At most
    :data:`MAX_REMEMBERED` of each are kept (then forgotten, and looked up again).
    """

    MAX_REMEMBERED = 10_000

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ids: set[str] = set()
        self._by_name: dict[str, str] = {}

    def check_id(self, experiment_id: str) -> None:
        """NotFoundError (404) unless an experiment has this id."""
        if experiment_id in self._ids:
            return
        self.store.get_experiment(experiment_id)
        if len(self._ids) >= self.MAX_REMEMBERED:
            self._ids.clear()
        self._ids.add(experiment_id)

    def by_name(self, name: str) -> str:
        """The id of the experiment called ``name``, created if there is none."""
        found = self._by_name.get(name)
        if found is None:
            found = _experiment_named(self.store, name)
            if len(self._by_name) >= self.MAX_REMEMBERED:
                self._by_name.clear()
            self._by_name[name] = found
        return found


def _experiments_of(request: Request, store: Store) -> ExperimentLookup:
    """The app's ExperimentLookup (made on first use, and again for another store)."""
    state = request.app.state
    lookup: ExperimentLookup | None = getattr(state, "otlp_experiments", None)
    if lookup is None or lookup.store is not store:
        lookup = ExperimentLookup(store)
        state.otlp_experiments = lookup
    return lookup


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
