"""The write path with feedback kept for traces that have not arrived: ``SqlStore.log_traces``.

``log_traces`` attaches, in the transaction that writes a batch, the pending assessments of
the batch's traces (one indexed ``trace_id IN (...)`` query per batch). This script prints
what that costs on SQLite (a fresh file) and on PostgreSQL (a fresh schema, when
``--postgres-uri`` or ``ASSAY_TEST_POSTGRES_URI`` reaches one):

* **no pending**: batches of ``--batch`` traces of 3 spans each, as the exporter writes them,
  with nothing pending: the common case, the one that must not get slower;
* **1 % pending**: the same, after a vote was kept for one trace in a hundred, so that many
  batches attach something;
* **no attach step**: the first case with the attach step switched off, as the write path
  was before it: the reference the first case is compared with.

Each figure is the median of ``--reps`` timed passes of ``--traces`` traces (new ids each
pass), in traces per second, with the min and max. The cases take turns within each pass, so
that the load of a shared machine weighs on them alike.

Usage::

    .venv/bin/python benchmarks/pending_feedback.py
    .venv/bin/python benchmarks/pending_feedback.py --traces 5000 --skip-postgres
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from assay.entities import (  # noqa: E402  (after the path set-up above)
    AssessmentSource,
    AssessmentSourceType,
    Feedback,
    Span,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    Trace,
    TraceData,
    TraceInfo,
    TraceState,
)
from assay.store.sql import SqlStore  # noqa: E402
from assay.store.sql import pending as sql_pending  # noqa: E402

BASE_MS = 1_735_689_600_000


def make_trace(trace_id: str, i: int) -> Trace:
    """A finished trace of three spans (root, retriever, LLM), like a small RAG call."""
    start_ns = (BASE_MS + i) * 1_000_000
    root_id = secrets.token_hex(8)
    spans = [
        Span(trace_id=trace_id, span_id=root_id, parent_id=None, name="answer",
             start_time_ns=start_ns, end_time_ns=start_ns + 5_000_000,
             span_type=SpanType.CHAIN, status=SpanStatus(SpanStatusCode.OK),
             inputs_json='{"question": "What is MLflow?"}',
             outputs_json='"An open source platform"', attributes={}, events=()),
        *(Span(trace_id=trace_id, span_id=secrets.token_hex(8), parent_id=root_id,
               name=name, start_time_ns=start_ns + k, end_time_ns=start_ns + 2_000_000,
               span_type=kind, status=SpanStatus(SpanStatusCode.OK),
               inputs_json='{"q": "What is MLflow?"}', outputs_json='{"o": "docs"}',
               attributes={"index": k}, events=())
          for k, (name, kind) in enumerate((("retrieve", SpanType.RETRIEVER),
                                            ("chat", SpanType.LLM)))),
    ]
    info = TraceInfo(trace_id=trace_id, experiment_id="0", request_time=BASE_MS + i,
                     state=TraceState.OK, execution_duration=5,
                     request_preview="What is MLflow?", response_preview="An open source",
                     client_request_id=None, trace_metadata={"mlflow.trace.user": "u1"},
                     tags={"mlflow.traceName": "answer"})
    return Trace(info=info, data=TraceData(spans=spans))


def new_trace_id() -> str:
    return "tr-" + uuid.uuid4().hex


def one_pass(store: SqlStore, traces: int, batch: int, pending_every: int) -> float:
    """Traces per second for ``traces`` new traces written ``batch`` at a time."""
    ids = [new_trace_id() for _ in range(traces)]
    if pending_every:
        for trace_id in ids[::pending_every]:
            store.keep_pending_assessment(
                Feedback(name="thumbs", value=True, trace_id=trace_id,
                         source=AssessmentSource(AssessmentSourceType.HUMAN, "end-user")), 3600)
    built = [make_trace(trace_id, i) for i, trace_id in enumerate(ids)]
    start = time.perf_counter()
    for at in range(0, traces, batch):
        store.log_traces(built[at:at + batch])
    elapsed = time.perf_counter() - start
    if pending_every:
        attached = store.get_trace(ids[0], include_spans=False).info.assessments
        assert len(attached) == 1, "the pending vote was not attached"
    return traces / elapsed


@contextmanager
def attach_step_off() -> Iterator[None]:
    """The store without its attach step (``log_traces`` calls it through the module)."""
    attach = sql_pending.attach_pending_assessments
    sql_pending.attach_pending_assessments = lambda *args: None
    try:
        yield
    finally:
        sql_pending.attach_pending_assessments = attach


def measure(store: SqlStore, args: argparse.Namespace) -> dict[str, list[float]]:
    one_pass(store, min(args.traces, 500), args.batch, 0)  # warm-up: caches, pages, plans
    figures: dict[str, list[float]] = {"no pending": [], "1 % pending": [],
                                       "no attach step": []}
    for _ in range(args.reps):
        figures["no pending"].append(one_pass(store, args.traces, args.batch, 0))
        figures["1 % pending"].append(one_pass(store, args.traces, args.batch, 100))
        with attach_step_off():
            figures["no attach step"].append(one_pass(store, args.traces, args.batch, 0))
    return figures


@contextmanager
def sqlite_store() -> Iterator[SqlStore]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore(f"sqlite:///{tmp}/bench.db")
        try:
            yield store
        finally:
            store.close()


@contextmanager
def postgres_store(uri: str) -> Iterator[SqlStore]:
    import psycopg
    from psycopg import sql

    libpq = uri.replace("postgresql+psycopg://", "postgresql://")
    schema = f"assay_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in uri else "?"
    store = SqlStore(f"{uri}{separator}options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def report(name: str, figures: dict[str, list[float]]) -> None:
    for case, samples in figures.items():
        print(f"{name:<11} {case:<15} {statistics.median(samples):>9,.0f} traces/s "
              f"(min {min(samples):,.0f}, max {max(samples):,.0f}, n={len(samples)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=int, default=5_000, help="traces per timed pass")
    parser.add_argument("--batch", type=int, default=100, help="traces per log_traces call")
    parser.add_argument("--reps", type=int, default=5, help="timed passes per case")
    parser.add_argument("--postgres-uri", default=os.environ.get("ASSAY_TEST_POSTGRES_URI")
                        or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    backends: list[tuple[str, Callable[[], Any]]] = []
    if not args.skip_sqlite:
        backends.append(("sqlite", sqlite_store))
    if not args.skip_postgres:
        backends.append(("postgresql", lambda: postgres_store(args.postgres_uri)))
    print(f"{args.traces:,} traces of 3 spans per pass, batches of {args.batch}, "
          f"{args.reps} passes")
    for name, open_store in backends:
        with open_store() as store:
            report(name, measure(store, args))


if __name__ == "__main__":
    main()
