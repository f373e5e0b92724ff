"""Web UI render times at a million traces, on SQLite: the traces page (first page, filtered
pages, a later page), a 1,000-span trace page, one span loaded alone, and the experiments page.

The store is filled like ``search.py``'s (``_search_data.py``: 1,000,000 traces of 3 spans,
10,000 users, sessions of 5 turns, a quarter with feedback), plus one trace of 1,000 spans
with realistic payloads and a few assessments. The server runs in its own process (uvicorn,
as ``assay server`` runs it, auth off); this process times each page over HTTP on 127.0.0.1
with a warm connection: the figures are what a browser waits for the HTML, loopback included.

    .venv/bin/python benchmarks/ui.py                       # fills a 1M-trace SQLite file
    .venv/bin/python benchmarks/ui.py --db /tmp/ui.db --keep  # keep it for the next run
    .venv/bin/python benchmarks/ui.py --db /tmp/ui.db       # reuse a file filled before
    .venv/bin/python benchmarks/ui.py --demo                # the demo's data instead

The traces pages include the count of matching traces (up to 10,000) and the user and
session suggestions; "page 100" and "page 201" are jumps by page number (the store skips
4,950 and 10,000 traces to find where they start). ``--demo`` records ``assay demo``'s
experiment (about 500 traces) instead of the million, and times its traces pages.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import httpx  # noqa: E402

from assay.entities import (  # noqa: E402
    Expectation,
    Feedback,
    Span,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
)
from assay.store.sql import SqlStore  # noqa: E402
from search import fill_assay, log  # noqa: E402

BIG_TRACE_ID = "tr-" + "b1" * 16
BIG_TRACE_SPANS = 1000
TARGET_MS = 150.0


def big_trace(experiment_id: str, start_ms: int) -> Trace:
    """An agent run of 1,000 spans: 42 steps, each a plan (a chat model call) and up to 23
    tool or retriever calls under it, with JSON inputs and outputs of about a kilobyte."""
    spans: list[Span] = []
    base_ns = start_ms * 1_000_000
    counter = iter(range(1, 10**6))

    def span(parent: str | None, name: str, kind: str, start: int, length: int,
             inputs: Any, outputs: Any) -> str:
        span_id = f"{next(counter):016x}"
        spans.append(Span(
            trace_id=BIG_TRACE_ID, span_id=span_id, parent_id=parent, name=name,
            start_time_ns=base_ns + start, end_time_ns=base_ns + start + length,
            span_type=kind, status=SpanStatus(SpanStatusCode.OK),
            inputs_json=json.dumps(inputs), outputs_json=json.dumps(outputs),
            attributes={"step": len(spans), "mlflow.llm.model": "gpt-4o-mini"}))
        return span_id

    ms = 1_000_000
    root = span(None, "agent", "AGENT", 0, 60_000 * ms,
                {"messages": [{"role": "user", "content": "Plan my week of meetings."}]},
                "Done: 12 meetings planned.")
    for step in range(50):
        if len(spans) >= BIG_TRACE_SPANS:
            break
        at = step * 1_400 * ms
        plan = span(root, f"plan-{step}", "CHAT_MODEL", at, 1_300 * ms,
                    {"messages": [{"role": "system", "content": "You are a planner. " * 20},
                                  {"role": "user", "content": f"Step {step}: what next?"}]},
                    {"choices": [{"message": {"role": "assistant",
                                              "content": "Call the calendar tools. " * 10}}]})
        for call in range(23):
            if len(spans) >= BIG_TRACE_SPANS:
                break
            kind = "RETRIEVER" if call % 4 == 0 else "TOOL"
            span(plan, f"{kind.lower()}-{step}-{call}", kind, at + (call + 1) * 50 * ms,
                 40 * ms, {"query": f"free slots on day {call % 7}", "filters": ["a"] * 20},
                 [{"id": f"doc-{call}-{k}", "text": "A meeting slot. " * 8} for k in range(4)])
    assert len(spans) == BIG_TRACE_SPANS, len(spans)
    info = TraceInfo(trace_id=BIG_TRACE_ID, experiment_id=experiment_id,
                     request_time=start_ms, execution_duration=60_000,
                     request_preview="Plan my week of meetings.",
                     response_preview="Done: 12 meetings planned.",
                     trace_metadata={"mlflow.trace.user": "user-1",
                                     "mlflow.trace.session": "session-big"},
                     tags={"mlflow.traceName": "agent"})
    return Trace(info=info, data=TraceData(spans=spans))


def add_big_trace(uri: str) -> tuple[str, str]:
    """Store the 1,000-span trace (again) with assessments; its experiment and a deep span."""
    store = SqlStore(uri)
    try:
        experiment = store.find_experiment_by_name("bench-search")
        assert experiment is not None, "the store was not filled by search.py's fill"
        trace = big_trace(experiment.experiment_id, 1_738_000_000_000)
        store.log_traces([trace])
        if not store.get_trace_info(BIG_TRACE_ID).assessments:
            store.log_assessment(Feedback(name="user_feedback", value=False,
                                          trace_id=BIG_TRACE_ID, rationale="Too slow"))
            store.log_assessment(Feedback(name="user_rating", value=2, trace_id=BIG_TRACE_ID))
            store.log_assessment(Expectation(name="expected_response", value="12 meetings",
                                             trace_id=BIG_TRACE_ID))
        return experiment.experiment_id, trace.data.spans[-1].span_id
    finally:
        store.close()


def add_demo(uri: str) -> str:
    """Record the demo experiment into the store (as ``assay demo`` does); its id."""
    import assay
    from assay.demo import record_demo

    assay.set_tracking_uri(uri)
    summary = record_demo()
    assay.flush_trace_async_logging()
    return summary.experiment_id


def traces_pages(http: httpx.Client, experiment_id: str, user: str) -> dict[str, str]:
    """The traces pages to time, by label."""
    traces = f"/experiments/{experiment_id}"
    first = http.get(f"{traces}.json?n=50").json()
    return {
        "traces page, first 50 (newest first)": traces,
        "traces page, 100 rows": f"{traces}?n=100",
        "traces page, next page by cursor": first["next_url"] or traces,
        "traces page, page 2 by number": f"{traces}?p=2",
        "traces page, page 100 by number": f"{traces}?p=100",
        "traces page, page 201 by number (10,000 skipped)": f"{traces}?p=201",
        "filtered: one user (quick filter)": f"{traces}?user={user}",
        "filtered: thumbs down (quick filter)": f"{traces}?feedback=down",
        "filtered: filter box, feedback.user_rating <= 2":
            f"{traces}?filter=feedback.user_rating%20%3C%3D%202",
        "filtered: status ERROR, sorted by duration":
            f"{traces}?filter=trace.status%20%3D%20'ERROR'&sort=duration&dir=desc",
        "traces page as JSON": f"{traces}.json",
    }


def serve(uri: str, port: int) -> None:
    """The server process: the app over the store, as ``assay server`` runs it."""
    import uvicorn

    from assay.server import ServerSettings, create_app

    store = SqlStore(uri)
    app = create_app(ServerSettings(port=port, backend_store_uri=uri), store)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def time_page(http: httpx.Client, path: str, reps: int, warmup: int = 2) -> dict[str, float]:
    for _ in range(warmup):
        http.get(path).raise_for_status()
    samples: list[float] = []
    size = 0
    for _ in range(reps):
        started = time.perf_counter()
        response = http.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        size = len(response.content)
    samples.sort()
    return {"median_ms": statistics.median(samples), "best_ms": samples[0],
            "p90_ms": samples[min(len(samples) - 1, int(len(samples) * 0.9))],
            "kib": size / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--db", type=Path, help="the SQLite file (filled if missing)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--demo", action="store_true",
                        help="time the demo experiment's traces pages instead")
    parser.add_argument("--role", default="parent", choices=["parent", "serve"])
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "serve":
        serve(args.uri, args.port)
        return 0

    folder = None
    if args.db is None:
        folder = tempfile.TemporaryDirectory(prefix="assay-bench-ui-")
        args.db = Path(folder.name) / "ui.db"
    uri = f"sqlite:///{args.db}"
    deep_span = ""
    if args.demo:
        if not args.db.exists():
            log(f"Recording the demo into {args.db}")
            add_demo(uri)
        store = SqlStore(uri)
        found = store.find_experiment_by_name("assay-demo/rag-chatbot")
        store.close()
        assert found is not None, "the file holds no demo experiment"
        experiment_id = found.experiment_id
        args.traces = SqlStore(uri).get_experiment_stats([experiment_id])[
            experiment_id].num_traces
    else:
        if not args.db.exists():
            log(f"Filling {args.db} with {args.traces:,} traces")
            log(f"  filled in {fill_assay(uri, args.traces):.0f} s")
        experiment_id, deep_span = add_big_trace(uri)

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--role", "serve", "--uri", uri, "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")})
    results: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            pages = traces_pages(http, experiment_id,
                                 "user-jane" if args.demo else "user-42")
            if not args.demo:
                first = http.get(f"/experiments/{experiment_id}.json?n=50").json()
                pages |= {
                    f"trace page, {BIG_TRACE_SPANS:,} spans": f"/traces/{BIG_TRACE_ID}",
                    "trace page, 3 spans": f"/traces/{first['traces'][0]['trace_id']}",
                    "one span alone (lazy payload)":
                        f"/traces/{BIG_TRACE_ID}/spans/{deep_span}?fragment=1",
                    "experiments page (counts over all traces)": "/",
                }
            for label, path in pages.items():
                results[label] = time_page(http, path, args.reps)
                log(f"  {label}: {results[label]['median_ms']:.1f} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)
        if folder is not None and not args.keep:
            folder.cleanup()
        elif folder is not None:
            log(f"kept {args.db}")

    print(f"\nWeb UI at {args.traces:,} traces, SQLite; ms over HTTP on 127.0.0.1, "
          f"{args.reps} requests after 2 warm-ups; target < {TARGET_MS:.0f} ms for the "
          "traces pages and the 1,000-span trace\n")
    print(f"| {'page':<52} | median | p90 | best | KiB |")
    print(f"|{'-' * 54}|-------:|----:|-----:|----:|")
    for label, r in results.items():
        print(f"| {label:<52} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | "
              f"{r['best_ms']:.1f} | {r['kib']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
