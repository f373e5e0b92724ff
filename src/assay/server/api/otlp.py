"""``POST /v1/traces``: OTLP/HTTP trace ingestion (protobuf or JSON, optionally gzipped).

The translation of spans into Assay's traces is :mod:`assay.ingest`; this route reads the
body, picks the experiment, merges each trace's already stored spans (so a trace whose spans
come in several requests, in any order, ends up whole) and logs the traces in one call.

A bad span never costs the good ones: OTLP exporters send the spans of many traces in one
request and drop a request that is refused (400) as a whole, so refusing the request for one
span would lose every good trace with it. Instead the spans that cannot be stored (an id of
the wrong length or all zeros, a time of ``2**63`` ns or more or an end before its start,
an integer outside 64 bits, an attribute over the size limit, a ``service.name`` that cannot
name an experiment, a trace header that does not read) are *rejected*, every other trace is
stored in one transaction, and the answer is 200 with OTLP's ``partial_success``: how many
spans were rejected and, naming the first few by trace id, span id and field, why. Only when
nothing at all can be stored is the answer a 400 naming the first rejected span. A body that
does not parse is a 400, more spans than the limit a 413, an unknown experiment a 404; these
write nothing. SQLite and PostgreSQL answer the same: every check is made here, before the
database sees a value.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated

from fastapi import Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from assay import ingest
from assay.entities import Trace
from assay.entities.span import Span
from assay.errors import InvalidParameterError, NotFoundError
from assay.rules import experiment_named
from assay.server.deps import SettingsDep, StoreDep
from assay.server.errors import ERROR_RESPONSES, ErrorResponse
from assay.server.limits import check_otlp_request, check_span_attribute_sizes
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable
from assay.server.settings import ServerSettings
from assay.store.base import Store

__all__ = ["router"]

_log = logging.getLogger(__name__)

router = RouteTable(tags=["otlp"], responses=ERROR_RESPONSES)

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
    responses={200: {"description": "An ExportTraceServiceResponse, in the request's format: "
                                    "empty, or with `partial_success` (how many spans were "
                                    "rejected, and why) when some spans could not be stored",
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

    A span that cannot be stored (bad id, time or attribute) is rejected and the others are
    stored: the answer's `partial_success` counts the rejected spans and names the first ones
    (trace id, span id, field). When no span at all can be stored, the answer is 400.
    """
    content_type = request.headers.get("content-type", "")
    # Decompressed, and held to max_request_bytes, by assay.server.limits.
    body = await request.body()
    header_id = (x_assay_experiment_id or x_mlflow_experiment_id or "").strip() or None
    experiments = _experiments_of(request, store)
    outcome = await run_in_threadpool(_ingest, store, settings, body, content_type, header_id,
                                      experiments)
    kind = ingest.JSON if ingest.media_type(content_type) == ingest.JSON else ingest.PROTOBUF
    if outcome.rejected:
        return Response(ingest.partial_success_response(content_type, outcome.rejected),
                        media_type=kind)
    return Response(ingest.empty_response(content_type), media_type=kind)


@dataclass
class IngestOutcome:
    """What a request came to: how many spans were stored, and the rejected ones."""

    stored: int = 0
    rejected: list[ingest.RejectedSpan] = field(default_factory=list)


def _ingest(store: Store, settings: ServerSettings, body: bytes, content_type: str,
            header_id: str | None, experiments: ExperimentLookup | None = None,
            ) -> IngestOutcome:
    """Everything the route does with a body, off the event loop: parse, check, translate,
    assemble, log.

    InvalidParameterError (400) for a body that does not parse, or when no span of it can be
    stored; RequestTooLargeError (413) for too many spans; NotFoundError (404) for an unknown
    experiment. Otherwise the good traces are stored and the rejected spans returned.
    """
    if experiments is None:
        experiments = ExperimentLookup(store)
    otlp_request = ingest.parse_request(body, content_type)
    encoded_size = (len(body) if ingest.media_type(content_type) == ingest.PROTOBUF
                    else None)
    check_otlp_request(otlp_request, settings.max_spans_per_request)
    if header_id is not None:
        experiments.check_id(header_id)  # NotFoundError (404) for an unknown id
    # A request whose whole body is within the attribute limit cannot hold a bigger attribute.
    check_span = (None if encoded_size is not None
                  and encoded_size <= settings.max_attribute_bytes
                  else partial(check_span_attribute_sizes, limit=settings.max_attribute_bytes))
    read = ingest.read_spans(otlp_request, check_span)
    outcome = IngestOutcome(rejected=read.rejected)
    received: dict[str, tuple[str, list[Span]]] = {}
    for group in read.groups:
        # An experiment named by the resource is checked by the store as it writes.
        try:
            experiment_id = ingest.experiment_of(group.resource, header_id,
                                                 experiments.by_name)
        except InvalidParameterError as exc:  # a service.name no experiment can have
            outcome.rejected += [ingest.RejectedSpan(s.trace_id, s.span_id, exc.message)
                                 for s in group.spans]
            continue
        for trace_id, spans in ingest.group_by_trace(group.spans).items():
            found = received.get(trace_id)
            if found is None:
                received[trace_id] = (experiment_id, spans)
            else:
                found[1].extend(spans)
    if received:
        traces = _assemble(store, received, outcome.rejected)
        _log_traces(store, traces, received, outcome)
    if outcome.rejected:
        if not outcome.stored:
            raise InvalidParameterError(
                "Invalid OTLP request: no span could be stored; "
                + ingest.describe_rejections(outcome.rejected))
        _log.info("OTLP request: %d span(s) stored, %s", outcome.stored,
                  ingest.describe_rejections(outcome.rejected))
    return outcome


def _assemble(store: Store, received: dict[str, tuple[str, list[Span]]],
              rejected: list[ingest.RejectedSpan] | None = None) -> list[Trace]:
    """The traces to log; the spans of a trace that cannot be assembled (a trace header
    that does not read, a bad tag key) are added to ``rejected`` (without it, that is an
    InvalidParameterError)."""
    # Traces as Assay's SDK sends them are whole: nothing to merge. The others may have
    # spans stored already (a trace split over requests): all read in one go.
    to_merge = [trace_id for trace_id, (_, spans) in received.items()
                if not ingest.is_whole_trace(spans)]
    stored = store.find_traces(to_merge) if to_merge else {}
    traces = []
    for trace_id, (experiment_id, spans) in received.items():
        found = stored.get(trace_id)
        try:
            if found is None:
                traces.append(ingest.assemble_trace(trace_id, experiment_id, spans))
                continue
            # A trace stays in the experiment it was first logged into.
            # What a header sent apart (MLflow's StartTraceV3) said is kept.
            traces.append(ingest.stored_header_kept(
                ingest.assemble_trace(trace_id, found.info.experiment_id,
                                      ingest.merge_spans(found.data.spans, spans)),
                found.info))
        except InvalidParameterError as exc:
            if rejected is None:
                raise
            rejected += [ingest.RejectedSpan(trace_id, s.span_id, exc.message) for s in spans]
    return traces


def _log_traces(store: Store, traces: Sequence[Trace],
                received: dict[str, tuple[str, list[Span]]], outcome: IngestOutcome) -> None:
    """Log the traces in one call; if the store refuses the batch for one of them (what the
    checks above let through), log them one by one so that only the bad ones are rejected."""
    if not traces:
        return
    try:
        store.log_traces(traces)
    except InvalidParameterError as exc:
        if len(traces) == 1:
            _reject_trace(traces[0], received, outcome, exc)
            return
        for trace in traces:
            try:
                store.log_traces([trace])
            except (InvalidParameterError, NotFoundError) as one:
                # Some traces may be written already: an error answer now would leave them
                # stored but unacknowledged, so an unknown experiment is a rejection here too.
                _reject_trace(trace, received, outcome, one)
            else:
                outcome.stored += len(received[trace.info.trace_id][1])
        return
    outcome.stored += sum(len(received[trace.info.trace_id][1]) for trace in traces)


def _reject_trace(trace: Trace, received: dict[str, tuple[str, list[Span]]],
                  outcome: IngestOutcome, exc: InvalidParameterError | NotFoundError) -> None:
    spans = received[trace.info.trace_id][1]
    outcome.rejected += [ingest.RejectedSpan(trace.info.trace_id, s.span_id, exc.message)
                         for s in spans]


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
            found = experiment_named(self.store, name).experiment_id
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

