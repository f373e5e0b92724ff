"""What authentication costs ingest: the auth middleware alone, and OTLP ingest end to end.

Two measurements, each with the cases taking turns within every pass so that the load of a
shared machine weighs on them alike:

* **middleware**: the ASGI stack of ``AuthMiddleware`` in front of an app that answers at
  once, called in-process for ``POST /v1/traces`` with a protobuf body: auth off (the CSRF
  checks only), auth on with a valid API key (verified once, then from the key cache), and,
  for reference, the bare app; the middleware looks the action up among the server's real
  routes. Microseconds per request.
* **ingest**: a real server (uvicorn on 127.0.0.1, SQLite in a temporary directory) taking
  OTLP exports of one 3-span trace each, sent one after the other by one httpx client: auth
  off, then auth on with the key as ``Authorization: Bearer``. Median and p95 milliseconds
  per request, and requests per second.

Usage::

    .venv/bin/python benchmarks/auth_overhead.py
    .venv/bin/python benchmarks/auth_overhead.py --requests 2000 --reps 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from assay.server import ServerSettings, create_app
from assay.server.auth import ApiKeyCache, AuthMiddleware
from assay.store.sql import SqlStore


def _otlp_body(n: int) -> bytes:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add()
    trace_id = os.urandom(16)
    parent = b""
    for i in range(3):
        span = spans.spans.add()
        span.trace_id = trace_id
        span.span_id = os.urandom(8)
        span.parent_span_id = parent
        parent = span.span_id
        span.name = f"step-{i}-{n}"
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        span.end_time_unix_nano = 1_700_000_000_100_000_000 - i
    return request.SerializeToString()


# -- the middleware alone ----------------------------------------------------------------------

async def _bare_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/traces", "scheme": "http",
            "query_string": b"", "headers": headers, "client": ("127.0.0.1", 1)}


async def _time_calls(app: Any, headers: list[tuple[bytes, bytes]], n: int) -> float:
    body = {"type": "http.request", "body": b"x" * 300, "more_body": False}

    async def receive() -> dict[str, Any]:
        return body

    async def send(message: dict[str, Any]) -> None:
        pass

    start = time.perf_counter()
    for _ in range(n):
        await app(_scope(headers), receive, send)
    return (time.perf_counter() - start) / n * 1e6


def measure_middleware(store: SqlStore, token: str, n: int, reps: int) -> None:
    # The server's real routes, whose declared actions the middleware looks up.
    router = create_app(ServerSettings(), store).router
    cases: dict[str, tuple[Any, list[tuple[bytes, bytes]]]] = {
        "bare app": (_bare_app, []),
        "auth off (CSRF checks)": (
            AuthMiddleware(_bare_app, store, auth=False, router=router,
                           key_cache=ApiKeyCache(), max_form_bytes=1 << 20),
            [(b"content-type", b"application/x-protobuf")]),
        "auth on, API key": (
            AuthMiddleware(_bare_app, store, auth=True, router=router,
                           key_cache=ApiKeyCache(ttl_seconds=3600), max_form_bytes=1 << 20),
            [(b"content-type", b"application/x-protobuf"),
             (b"authorization", f"Bearer {token}".encode())]),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    for app, headers in cases.values():  # warm up (the key's first check)
        asyncio.run(_time_calls(app, headers, 10))
    for _ in range(reps):
        for name, (app, headers) in cases.items():
            results[name].append(asyncio.run(_time_calls(app, headers, n)))
    print(f"\nMiddleware, in-process: µs per POST /v1/traces (median of {reps} passes of "
          f"{n:,} calls; min-max)")
    for name, values in results.items():
        print(f"  {name:<26} {statistics.median(values):7.1f}   "
              f"({min(values):.1f}-{max(values):.1f})")


# -- ingest end to end ---------------------------------------------------------------------------

class _Server:
    def __init__(self, store: SqlStore, settings: ServerSettings) -> None:
        config = uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=0,
                                log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="bench-server",
                                       daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def _time_ingest(http: httpx.Client, n: int, counter: list[int]) -> list[float]:
    times = []
    for _ in range(n):
        counter[0] += 1
        body = _otlp_body(counter[0])
        start = time.perf_counter()
        response = http.post("/v1/traces", content=body,
                             headers={"content-type": "application/x-protobuf"})
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return times


def measure_ingest(directory: Path, n: int, reps: int) -> None:
    runs: dict[str, list[float]] = {"auth off": [], "auth on, API key": []}
    stores = []
    clients: dict[str, Callable[[], httpx.Client]] = {}
    servers = []
    try:
        for name in runs:
            uri = f"sqlite:///{directory / (name.split(',')[0].replace(' ', '_') + '.db')}"
            store = SqlStore(uri)
            stores.append(store)
            auth = name != "auth off"
            headers = {}
            if auth:
                store.create_user("bench", "member")
                headers["Authorization"] = f"Bearer {store.create_api_key('bench', 'b').token}"
            server = _Server(store, ServerSettings(port=0, backend_store_uri=uri, auth=auth))
            url = server.__enter__()
            servers.append(server)
            clients[name] = (lambda url=url, headers=headers:
                             httpx.Client(base_url=url, headers=headers, timeout=30))
        counter = [0]
        http = {name: make() for name, make in clients.items()}
        for name in runs:
            _time_ingest(http[name], 20, counter)  # warm up
        for _ in range(reps):
            for name in runs:
                runs[name].extend(_time_ingest(http[name], n, counter))
        for client in http.values():
            client.close()
    finally:
        for server in servers:
            server.__exit__()
        for store in stores:
            store.close()
    print(f"\nOTLP ingest over HTTP, one 3-span trace per request, SQLite ({reps} passes of "
          f"{n:,} requests each way, taking turns)")
    print(f"  {'':<18} {'median ms':>10} {'p95 ms':>8} {'req/s':>8}")
    for name, times in runs.items():
        times.sort()
        p95 = times[int(len(times) * 0.95)]
        print(f"  {name:<18} {statistics.median(times):10.3f} {p95:8.3f} "
              f"{len(times) / (sum(times) / 1000):8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000,
                        help="requests per pass and case (default: %(default)s)")
    parser.add_argument("--calls", type=int, default=20_000,
                        help="in-process middleware calls per pass and case "
                             "(default: %(default)s)")
    parser.add_argument("--reps", type=int, default=5, help="passes (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        store = SqlStore(f"sqlite:///{directory / 'middleware.db'}")
        try:
            store.create_user("bench", "member")
            token = store.create_api_key("bench", "b").token
            measure_middleware(store, token, args.calls, args.reps)
        finally:
            store.close()
        measure_ingest(directory, args.requests, args.reps)


if __name__ == "__main__":
    main()
