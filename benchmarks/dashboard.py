"""Server time to render the feedback dashboard and the sessions pages at scale, on SQLite.

What it does:

1. fills a SQLite store with ``--traces`` synthetic traces (default 1,000,000; the data of
   ``search.py``: 10,000 users, sessions of five turns, feedback on 20% of the traces, 30
   days), or reuses the file given with ``--db`` when it already holds them;
2. starts the server (uvicorn on 127.0.0.1) over it and times each page, ``--reps`` times
   after one warm-up, from the request to the last byte of the HTML, reporting the median
   and best:

   * the dashboard over all time (by day, broken down by user),
   * the dashboard over the last day of the data (by hour),
   * the dashboard of all time broken down by environment (a tag),
   * the sessions list (first page), a session's page.

Usage::

    python benchmarks/dashboard.py                     # 1M traces in a temporary file
    python benchmarks/dashboard.py --traces 100000
    python benchmarks/dashboard.py --db /tmp/1m.db     # fill once, reuse after

No assertions: this prints figures (and ``--json`` writes them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from _search_data import DAY_MS, SPREAD_MS, START_MS  # noqa: E402

from assay.server import ServerSettings, create_app  # noqa: E402
from assay.store.sql import SqlStore  # noqa: E402
from search import fill_assay, log  # noqa: E402


def _serve(store: SqlStore) -> tuple[uvicorn.Server, threading.Thread, str]:
    app = create_app(ServerSettings(port=0, backend_store_uri=store.uri), store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="bench-dashboard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def _timed(http: httpx.Client, path: str, reps: int) -> dict[str, float]:
    """Median and best of ``reps`` requests after one warm-up, in ms."""
    response = http.get(path)
    response.raise_for_status()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        http.get(path).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(samples), "best_ms": min(samples),
            "bytes": len(response.content)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--db", type=Path, help="a SQLite file to fill (once) and reuse")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)  # a failing page logs why, on stderr
    with tempfile.TemporaryDirectory() as scratch:
        path = args.db or Path(scratch) / "dashboard.db"
        uri = f"sqlite:///{path}"
        if not path.exists():
            log(f"filling {uri} with {args.traces:,} traces")
            log(f"  filled in {fill_assay(uri, args.traces):.0f} s")
        store = SqlStore(uri)
        experiment = store.find_experiment_by_name("bench-search")
        assert experiment is not None, "the file holds no bench-search experiment"
        eid = experiment.experiment_id
        last_day = dt.datetime.fromtimestamp((START_MS + SPREAD_MS - DAY_MS) / 1000, tz=dt.UTC)
        pages = {
            "dashboard, all time, by user": f"/experiments/{eid}/dashboard",
            "dashboard, last day of data, hourly": (
                f"/experiments/{eid}/dashboard?from={last_day:%Y-%m-%dT%H:%M}"),
            "dashboard, all time, by environment tag": (
                f"/experiments/{eid}/dashboard?segment=tags.env"),
            "sessions, first page": f"/experiments/{eid}/sessions",
            "a session (5 turns)": f"/experiments/{eid}/sessions/session-{args.traces // 10}",
        }
        server, thread, base = _serve(store)
        results: dict[str, Any] = {"traces": args.traces}
        try:
            with httpx.Client(base_url=base, timeout=600) as http:
                for name, page in pages.items():
                    log(f"timing {name}")
                    results[name] = _timed(http, page, args.reps)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            store.close()
    print(f"\nPage render times, SQLite, {args.traces:,} traces "
          f"(median / best of {args.reps}, ms)")
    for name in pages:
        figures = results[name]
        print(f"  {name:<45} {figures['median_ms']:>9,.1f} {figures['best_ms']:>9,.1f}"
              f"   ({figures['bytes'] / 1024:,.0f} KiB)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
