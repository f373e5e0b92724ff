"""What routing rules cost a batch of traces, measured on the routing call alone.

``ingest_cpu.py`` (with ``--routing-rule``) shows routing inside the whole ingest route, where
a few hundred microseconds a batch drown in this machine's noise. This script times
``store/sql/routing.route_traces`` by itself, as ``SqlStore.log_traces`` calls it for a batch
of 100 traces already written, in one open write transaction: with no rule in the experiment
(the cost every ingest pays), then with 1, 2 and 4 rules that match none of the batch
(``tags.env = 'production'`` against traces tagged staging, and a feedback clause). Thread
CPU per call, the best of ``--reps`` rounds of ``--calls`` calls, on a fresh SQLite file and,
with ``--postgres``, a scratch PostgreSQL schema.

Usage::

    .venv/bin/python benchmarks/routing.py [--calls 300] [--reps 3] [--postgres]

Nothing here asserts a timing; it prints figures.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from assay.entities import Trace, TraceData, TraceInfo  # noqa: E402
from assay.entities.labeling import LabelingSessionInfo  # noqa: E402
from assay.entities.run import new_run_id  # noqa: E402
from assay.store.sql import SqlStore, routing  # noqa: E402

RULES = ["tags.env = 'production'", "feedback.user_feedback = 'false'",
         "tags.env = 'production' AND trace.execution_time_ms > 1000",
         "trace.name LIKE 'checkout%'"]


def _traces(experiment_id: str, n: int) -> list[Trace]:
    return [Trace(TraceInfo(trace_id=f"tr-{secrets.token_hex(16)}", experiment_id=experiment_id,
                            request_time=1_735_689_600_000 + i, execution_duration=5,
                            tags={"env": "staging", "mlflow.traceName": "answer"}),
                  TraceData(spans=[]))
            for i in range(n)]


def _per_call_us(store: SqlStore, ids: list[str], key: int, calls: int, reps: int) -> float:
    best = float("inf")
    # The store's own write connection and transaction, as log_traces has them.
    with store._engine.connect() as conn, conn.begin():
        for _ in range(reps):
            start = time.thread_time()
            for _ in range(calls):
                routing.route_traces(conn, store._dialect, ids, {key})
            best = min(best, (time.thread_time() - start) / calls * 1e6)
    return best


def measure(uri: str, label: str, calls: int, reps: int) -> None:
    store = SqlStore(uri)
    try:
        experiment_id = store.create_experiment(f"routing-{os.getpid()}")
        batch = _traces(experiment_id, 100)
        store.log_traces(batch)
        ids = [t.info.trace_id for t in batch]
        key = int(experiment_id)
        figures = [f"no rule {_per_call_us(store, ids, key, calls, reps):,.0f}"]
        session = store.create_labeling_session(LabelingSessionInfo(
            run_id=new_run_id(), experiment_id=experiment_id, name="routing"))
        for count, filter_string in enumerate(RULES, start=1):
            store.create_routing_rule(session.run_id, filter_string)
            if count in (1, 2, 4):
                us = _per_call_us(store, ids, key, max(calls // 5, 20), reps)
                figures.append(f"{count} rule(s) {us:,.0f}")
        print(f"{label}: µs per batch of 100 traces: " + ", ".join(figures))
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--postgres-uri", default=os.environ.get("ASSAY_TEST_POSTGRES_URI")
                        or "postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        measure(f"sqlite:///{workdir}/routing.db", "SQLite", args.calls, args.reps)
    if args.postgres:
        from server import postgres_schema

        uri, drop = postgres_schema(args.postgres_uri)
        try:
            measure(uri, "PostgreSQL", args.calls, args.reps)
        finally:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
