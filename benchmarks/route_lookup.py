"""What finding a request's route costs the server, before and after literal prefixes.

The router tries the app's routes in order until one matches. This script takes the app's
real routes (``assay.server.create_app`` over a SQLite file in a temporary directory) and, for
a few requests spread over the route list (an API read near its start, an MLflow route in its
middle, a page near its end, ``/health`` at the end, and a path no route has), times the walk
two ways in the same run, taking turns: each route's own ``matches`` (a
:class:`~assay.server.route_tables.LiteralPrefixRoute`, which turns a path away on the literal
part of its own path) and FastAPI's ``APIRoute.matches`` (the route's pattern alone, as before).
Then the whole request in process (``/health`` and a page, through the ASGI app with no
network), for scale. Microseconds, the best of ``--reps`` rounds of ``--calls`` walks.

Usage::

    .venv/bin/python benchmarks/route_lookup.py [--calls 2000] [--reps 5]

Nothing here asserts a timing; it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from fastapi.routing import APIRoute  # noqa: E402
from starlette.routing import Match  # noqa: E402

from assay.server import ServerSettings, create_app  # noqa: E402
from assay.store.sql import SqlStore  # noqa: E402

REQUESTS = [("GET", "/api/v1/experiments/0"), ("POST", "/ajax-api/2.0/mlflow/runs/search"),
            ("GET", "/experiments/0"), ("GET", "/health"), ("GET", "/no/such/path")]


def _walk(routes: list[Any], scope: dict[str, Any],
          matches: Callable[[Any, dict[str, Any]], tuple[Match, Any]]) -> int:
    """The router's loop: the position of the first route that matches, or -1."""
    for position, route in enumerate(routes):
        if matches(route, scope)[0] is Match.FULL:
            return position
    return -1


def _best(seconds: list[float], calls: int) -> float:
    return min(seconds) / calls * 1e6


def _request_us(app: Any, path: str, calls: int) -> float:
    async def run() -> float:
        async def send(message: dict[str, Any]) -> None:
            pass

        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                 "root_path": "", "query_string": b"", "headers": [(b"host", b"127.0.0.1")],
                 "http_version": "1.1", "scheme": "http", "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 5000)}
        async def once() -> None:
            # The (empty) body once; then, as a client that stays, nothing more.
            bodies = [{"type": "http.request", "body": b"", "more_body": False}]

            async def receive() -> dict[str, Any]:
                if bodies:
                    return bodies.pop()
                await asyncio.Event().wait()
                raise AssertionError("unreachable")

            await app(dict(scope), receive, send)

        for _ in range(50):
            await once()
        start = time.perf_counter()
        for _ in range(calls):
            await once()
        return (time.perf_counter() - start) / calls * 1e6

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = SqlStore(f"sqlite:///{Path(folder) / 'routes.db'}")
        try:
            app = create_app(ServerSettings(port=0, backend_store_uri=store.uri), store)
            routes = list(app.router.routes)
            print(f"{len(routes)} routes; microseconds to find the route, best of {args.reps} "
                  f"rounds of {args.calls}")
            print(f"{'request':<46}{'position':>9}{'pattern':>10}{'prefix':>10}{'ratio':>8}")
            for method, path in REQUESTS:
                scope = {"type": "http", "method": method, "path": path, "root_path": ""}
                kinds: dict[str, Callable[[Any, dict[str, Any]], tuple[Match, Any]]] = {
                    "pattern": lambda route, s: (APIRoute.matches(route, s)
                                                 if isinstance(route, APIRoute)
                                                 else route.matches(s)),
                    "prefix": lambda route, s: route.matches(s)}
                seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
                positions = {kind: _walk(routes, dict(scope), how) for kind, how in kinds.items()}
                assert positions["pattern"] == positions["prefix"], (path, positions)
                for _ in range(args.reps):
                    for kind, how in kinds.items():
                        start = time.perf_counter()
                        for _ in range(args.calls):
                            _walk(routes, scope, how)
                        seconds[kind].append(time.perf_counter() - start)
                pattern, prefix = (_best(seconds[k], args.calls) for k in ("pattern", "prefix"))
                print(f"{method + ' ' + path:<46}{positions['prefix']:>9}{pattern:>10.1f}"
                      f"{prefix:>10.1f}{pattern / prefix:>7.1f}x")
            for path in ("/health", "/experiments/0"):
                print(f"whole request in process, GET {path}: "
                      f"{_request_us(app, path, args.calls):.0f} µs")
        finally:
            store.close()


if __name__ == "__main__":
    main()
