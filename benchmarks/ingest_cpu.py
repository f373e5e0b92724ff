"""The CPU the OTLP route spends per trace, in one process, phase by phase.

``server.py`` measures the server over HTTP, with client processes competing for the same
cores; this script takes the HTTP stack out and feeds the route's own ingest function
(``assay.server.api.otlp``'s ``_ingest``, what ``POST /v1/traces`` runs in its thread pool)
with the same requests, one after the other, on a real store (a fresh SQLite file, or a
scratch PostgreSQL schema with ``--postgres``). It reports the thread CPU per trace of each
phase (decompression, protobuf parsing, the request checks, span translation, trace
assembly, the store's write) and of the route function as a whole, so that a change to one
phase can be judged by its own figure on a busy machine, where wall-clock throughput says
little.

Two kinds of request:

* ``otlp`` (default): ``server.py``'s batches, gzip-compressed protobuf from a plain OTel
  app: 3-span traces (a CHAIN root with MLflow inputs and outputs, an OpenInference
  RETRIEVER, a GenAI chat span with token usage).
* ``sdk``: what Assay's SDK sends for traces recorded with ``@assay.trace`` (three nested
  functions: 3 spans a trace), encoded by ``assay.store.rest.otlp.encode_traces`` and
  compressed as the REST store compresses them.

Usage::

    .venv/bin/python benchmarks/ingest_cpu.py                  # otlp, 30 requests of 100
    .venv/bin/python benchmarks/ingest_cpu.py --kind sdk
    .venv/bin/python benchmarks/ingest_cpu.py --postgres
    .venv/bin/python benchmarks/ingest_cpu.py --profile 25     # + cProfile, top 25
    .venv/bin/python benchmarks/ingest_cpu.py --routing-rule "tags.env = 'production'"

Nothing here asserts a timing; it prints figures.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gzip
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from assay import ingest  # noqa: E402
from assay.entities import Trace  # noqa: E402
from assay.entities.labeling import LabelingSessionInfo  # noqa: E402
from assay.entities.run import new_run_id  # noqa: E402
from assay.server.api import otlp  # noqa: E402
from assay.server.limits import check_otlp_request  # noqa: E402
from assay.server.settings import ServerSettings  # noqa: E402
from assay.store.base import Store  # noqa: E402
from assay.store.sql import SqlStore  # noqa: E402

PROTOBUF = "application/x-protobuf"


def otlp_bodies(requests: int, batch: int, seed: int) -> list[bytes]:
    """``server.py``'s gzip-compressed OTLP requests."""
    from server import build_batches

    return [body for body, _ in build_batches(requests, batch, seed)]


def sdk_traces(count: int, workdir: Path) -> list[Trace]:
    """Traces as Assay's SDK records them with ``@assay.trace`` (into a scratch store, read
    back whole)."""
    import assay

    uri = f"sqlite:///{workdir / 'sdk.db'}"
    assay.set_tracking_uri(uri)
    experiment = assay.set_experiment("ingest-cpu-sdk")

    @assay.trace
    def inner(x: str) -> str:
        return x[:16]

    @assay.trace
    def middle(x: str) -> str:
        return inner(x + " (middle)")

    @assay.trace
    def outer(x: str) -> str:
        return middle(x + " (outer)")

    for i in range(count):
        outer(f"What is the capital of country {i % 200}?")
    assay.flush_trace_async_logging()
    store = SqlStore(uri)
    traces: list[Trace] = []
    token = None
    while True:
        page = store.search_traces([experiment.experiment_id], max_results=1000,
                                   page_token=token, include_spans=True)
        traces.extend(page)
        token = page.token
        if not token:
            break
    store.close()
    return traces


def sdk_bodies(traces: Sequence[Trace], batch: int, experiment_id: str) -> list[bytes]:
    """The traces, moved to ``experiment_id``, as the REST store sends them: encoded and
    compressed, ``batch`` traces a request."""
    from assay.store.rest.otlp import encode_traces

    moved = [dataclasses.replace(t, info=dataclasses.replace(t.info, experiment_id=experiment_id))
             for t in traces]
    return [gzip.compress(encode_traces(moved[i:i + batch]), compresslevel=1)
            for i in range(0, len(moved), batch)]


def phases(store: Store, settings: ServerSettings, body: bytes,
           header_id: str) -> dict[str, float]:
    """The route's steps one by one (as ``otlp._ingest`` runs them), thread CPU seconds each."""
    clock = time.thread_time
    out: dict[str, float] = {}
    t0 = clock()
    raw = gzip.decompress(body)
    t1 = clock()
    request = ingest.parse_request(raw, PROTOBUF)
    t2 = clock()
    check_otlp_request(request, settings.max_spans_per_request, settings.max_attribute_bytes,
                       encoded_size=len(raw))
    t3 = clock()
    groups = ingest.spans_by_resource(request)
    t4 = clock()
    received: dict[str, Any] = {}
    for group in groups:
        for trace_id, spans in ingest.group_by_trace(group.spans).items():
            received.setdefault(trace_id, (header_id, []))[1].extend(spans)
    traces = otlp._assemble(store, received)
    t5 = clock()
    store.log_traces(traces)
    t6 = clock()
    out.update(gunzip=t1 - t0, parse=t2 - t1, check=t3 - t2, translate=t4 - t3,
               assemble=t5 - t4, store=t6 - t5)
    return out


def open_store(args: argparse.Namespace, workdir: Path) -> tuple[Store, Callable[[], None]]:
    if not args.postgres:
        return SqlStore(f"sqlite:///{workdir / 'ingest.db'}"), lambda: None
    from server import postgres_schema

    uri, drop = postgres_schema(args.postgres_uri)
    return SqlStore(uri), drop


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="ingest-cpu-"))
    try:
        count = 2 * args.requests + 2
        recorded = sdk_traces(count * args.batch, workdir) if args.kind == "sdk" else []
        store, drop = open_store(args, workdir)
        try:
            experiment_id = store.create_experiment(f"ingest-cpu-{os.getpid()}")
            for filter_string in args.routing_rule:
                session = store.create_labeling_session(LabelingSessionInfo(
                    run_id=new_run_id(), experiment_id=experiment_id, name="ingest-cpu"))
                store.create_routing_rule(session.run_id, filter_string)
            bodies = (sdk_bodies(recorded, args.batch, experiment_id) if args.kind == "sdk"
                      else otlp_bodies(count, args.batch, args.seed))
            measure(args, store, bodies, experiment_id)
        finally:
            store.close()
            drop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(args: argparse.Namespace, store: Store, bodies: Sequence[bytes],
            header: str) -> None:
    settings = ServerSettings()
    experiments = otlp.ExperimentLookup(store)  # as the app keeps one
    warm, timed = bodies[:2], bodies[2:]
    for body in warm:
        otlp._ingest(store, settings, gzip.decompress(body), PROTOBUF, header, experiments)
    totals: dict[str, list[float]] = {}
    route: list[float] = []
    profiler = cProfile.Profile(time.thread_time) if args.profile else None
    # Phase by phase and whole, taking turns, so that both see the same database and load.
    for i, body in enumerate(timed):
        if i % 2 == 0:
            for name, seconds in phases(store, settings, body, header).items():
                totals.setdefault(name, []).append(seconds)
            continue
        begin = time.thread_time()
        raw = gzip.decompress(body)
        if profiler is not None:
            profiler.enable()
        otlp._ingest(store, settings, raw, PROTOBUF, header, experiments)
        if profiler is not None:
            profiler.disable()
        route.append(time.thread_time() - begin)
    per_trace = 1e6 / args.batch
    print(f"{args.kind} requests of {args.batch} traces x 3 spans, "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}; thread CPU µs per trace "
          f"({len(route)} requests each way; median, and the least disturbed: min)")
    print(f"  {'phase':<24} {'median':>8} {'min':>8}")
    for name, values in totals.items():
        print(f"  {name:<24} {statistics.median(values) * per_trace:8.1f} "
              f"{min(values) * per_trace:8.1f}")
    print(f"  {'sum of the phases':<24} "
          f"{sum(statistics.median(v) for v in totals.values()) * per_trace:8.1f} "
          f"{sum(min(v) for v in totals.values()) * per_trace:8.1f}")
    print(f"  {'route (gunzip + _ingest)':<24} {statistics.median(route) * per_trace:8.1f} "
          f"{min(route) * per_trace:8.1f}")
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(args.sort).print_stats(args.profile)
        print(text.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kind", choices=["otlp", "sdk"], default="otlp")
    parser.add_argument("--requests", type=int, default=40,
                        help="timed requests each way (phase by phase, and whole)")
    parser.add_argument("--batch", type=int, default=100, help="traces per request")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--postgres-uri", default=os.environ.get("ASSAY_TEST_POSTGRES_URI")
                        or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile the route with cProfile and print the top N functions")
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"],
                        help="how --profile orders the functions (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--routing-rule", action="append", default=[], metavar="FILTER",
                        help="a labeling session with this routing rule in the experiment "
                             "(repeatable): what rules cost ingest")
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
