"""The mlflow side of ``search.py``: fill mlflow's own SQLite schema, time the same queries.

Runs in ``benchmarks/.venv-mlflow`` (mlflow 3.17). The schema is created by
``MlflowClient`` itself; the rows are written with bulk inserts shaped exactly like the rows
mlflow writes when it logs a trace (checked against a trace mlflow logged: spans in the
tracking store, OTel-shaped span JSON, metadata, tags, assessments with their aggregate
value), as many as ``--traces`` allows within ``--budget`` seconds. Prints one
``MLFLOW-SEARCH-RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import base64
import json
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _search_data import SPREAD_MS, START_MS, WINDOW_MS, TraceRow, generate

RESULT_PREFIX = "MLFLOW-SEARCH-RESULT "
BATCH = 20_000


def b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode("ascii")


def rows(batch: list[TraceRow], experiment: int) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {
        "trace_info": [], "trace_tags": [], "trace_request_metadata": [], "spans": [],
        "assessments": []}
    for t in batch:
        hex_id = t.trace_id[3:]
        status = {"IN_PROGRESS": "IN_PROGRESS"}.get(t.state, t.state)
        out["trace_info"].append((t.trace_id, experiment, t.request_time_ms,
                                  t.execution_time_ms, status, t.client_request_id,
                                  '{"question": "What is MLflow?"}', '"MLflow is …"', 1, "chat",
                                  t.session_id))
        out["trace_tags"] += [("env", t.env, t.trace_id),
                              ("mlflow.traceName", "chat", t.trace_id),
                              ("mlflow.trace.spansLocation", "TRACKING_STORE", t.trace_id)]
        out["trace_request_metadata"] += [
            ("mlflow.trace.user", t.user_id, t.trace_id),
            ("mlflow.trace.session", t.session_id, t.trace_id),
            ("mlflow.trace_schema.version", "3", t.trace_id),
            ("mlflow.trace.infoFinalized", "true", t.trace_id)]
        for s in t.spans:
            attributes = {"mlflow.traceRequestId": json.dumps(t.trace_id),
                          "mlflow.spanType": json.dumps(s.span_type),
                          "mlflow.spanInputs": s.inputs, "mlflow.spanOutputs": s.outputs}
            attributes.update({k: json.dumps(v) for k, v in s.attributes.items()})
            code = "STATUS_CODE_OK" if t.state == "OK" else "STATUS_CODE_UNSET"
            content = json.dumps({
                "trace_id": b64(hex_id), "span_id": b64(s.span_id),
                "parent_span_id": None if s.parent_id is None else b64(s.parent_id),
                "name": s.name, "start_time_unix_nano": s.start_ns,
                "end_time_unix_nano": s.end_ns, "events": [],
                "status": {"code": code, "message": ""}, "attributes": attributes,
                "links": []})
            out["spans"].append((t.trace_id, experiment, s.span_id, s.parent_id, s.name,
                                 s.span_type, "OK" if t.state == "OK" else "UNSET", s.start_ns,
                                 s.end_ns, content))
        for f in t.feedback:
            numeric = not isinstance(f.value, bool)
            out["assessments"].append((
                f.assessment_id, t.trace_id, f.name, "feedback", json.dumps(f.value),
                t.request_time_ms + 60_000, t.request_time_ms + 60_000, "HUMAN", f.source_id,
                1, experiment, t.request_time_ms, float(f.value), int(numeric)))
    return out


COLUMNS = {
    "trace_info": ("request_id", "experiment_id", "timestamp_ms", "execution_time_ms",
                   "status", "client_request_id", "request_preview", "response_preview",
                   "db_payload_generation", "trace_name", "session_id"),
    "trace_tags": ("key", "value", "request_id"),
    "trace_request_metadata": ("key", "value", "request_id"),
    "spans": ("trace_id", "experiment_id", "span_id", "parent_span_id", "name", "type",
              "status", "start_time_unix_nano", "end_time_unix_nano", "content"),
    "assessments": ("assessment_id", "trace_id", "name", "assessment_type", "value",
                    "created_timestamp", "last_updated_timestamp", "source_type", "source_id",
                    "valid", "experiment_id", "trace_timestamp_ms", "aggregate_value",
                    "is_numeric_value"),
}


def fill(db: Path, n: int, budget: float) -> tuple[str, int, float]:
    """Create the schema with mlflow, then insert up to ``n`` traces within ``budget``
    seconds; returns the experiment id, the number of traces and the seconds taken."""
    from mlflow import MlflowClient

    started = time.perf_counter()
    client = MlflowClient(f"sqlite:///{db}")
    experiment_id = client.create_experiment("bench-search")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    filled = 0
    batch: list[TraceRow] = []
    for row in generate(n):
        batch.append(row)
        if len(batch) == BATCH:
            filled += _insert(conn, batch, int(experiment_id))
            batch = []
            if time.perf_counter() - started > budget:
                break
    if batch:
        filled += _insert(conn, batch, int(experiment_id))
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    return experiment_id, filled, time.perf_counter() - started


def _insert(conn: sqlite3.Connection, batch: list[TraceRow], experiment: int) -> int:
    for table, table_rows in rows(batch, experiment).items():
        columns = COLUMNS[table]
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                         f"({', '.join('?' * len(columns))})", table_rows)
    conn.commit()
    return len(batch)


def timed(fn: Callable[[], object], reps: int) -> dict[str, float]:
    fn()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(samples), "best_ms": min(samples)}


def queries(db: Path, experiment_id: str, n: int, reps: int) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    ids = [experiment_id]
    middle = n // 2
    user = f"user-{((middle // 5) * 7919) % 10_000}"
    results: dict[str, Any] = {}

    def search(**kwargs: Any) -> Any:
        return client.search_traces(locations=ids, **kwargs)

    found = search(filter_string=f"attributes.client_request_id = 'req-{middle:07d}'",
                   max_results=1)
    assert len(found) == 1 and len(found[0].data.spans) == 3, found
    results["lookup by client_request_id"] = timed(lambda: search(
        filter_string=f"attributes.client_request_id = 'req-{middle:07d}'", max_results=1), reps)
    # mlflow keeps the user in the metadata (tags.`mlflow.trace.user` finds nothing there)
    results["first page by user"] = timed(lambda: search(
        filter_string=f"metadata.`mlflow.trace.user` = '{user}'", max_results=100), reps)
    results["first page by feedback.user_feedback = 'false'"] = timed(lambda: search(
        filter_string="feedback.user_feedback = 'false'", max_results=100), reps)
    pages = min(1000, n // 100)
    # mlflow's page token is documented: base64 of {"offset": N}
    token = base64.b64encode(json.dumps({"offset": (pages - 1) * 100}).encode()).decode()
    results[f"page {pages:,} by cursor"] = timed(
        lambda: search(max_results=100, page_token=token), reps)
    results["first page by execution_time_ms DESC"] = timed(lambda: search(
        order_by=["execution_time_ms DESC"], max_results=100), reps)
    cutoff = START_MS + SPREAD_MS - WINDOW_MS

    def seeds_summary() -> dict[str, int]:
        # seed 000: get_recent_traces (every page of it), then analyze_user_feedback
        traces, token = [], None
        while True:
            page = search(filter_string=f"trace.timestamp_ms > {cutoff}", max_results=100,
                          page_token=token)
            traces += page
            token = page.token
            if not token:
                break
        with_feedback = positive = negative = 0
        for trace in traces:
            detail = client.get_trace(trace.info.trace_id)
            # The seed reads trace_detail.data.assessments, which mlflow 3.17's TraceData
            # no longer has (AttributeError); the assessments are on the info now.
            if detail.info.assessments:
                with_feedback += 1
                for assessment in detail.info.assessments:
                    if assessment.name == "user_feedback":
                        if assessment.value:
                            positive += 1
                        else:
                            negative += 1
        return {"traces": len(traces), "with_feedback": with_feedback, "positive": positive,
                "negative": negative}

    started = time.perf_counter()
    check = seeds_summary()
    elapsed = (time.perf_counter() - started) * 1000
    results["feedback summary, last hour"] = {"median_ms": elapsed, "best_ms": elapsed}
    results["check: last hour"] = check
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    experiment_id, n, seconds = fill(args.db, args.traces, args.budget)
    print(f"mlflow filled with {n:,} traces in {seconds:.0f} s", file=sys.stderr, flush=True)
    result = {"traces": n, "fill_s": seconds,
              **queries(args.db, experiment_id, n, args.reps)}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
