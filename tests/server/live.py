"""The Assay server as tests talk to it: in process, or live on 127.0.0.1.

:func:`in_process` runs the app in this process and hands requests straight to it (httpx's
ASGI transport, no socket): what a test gets unless the network is its point. :func:`live`
(and :class:`LiveServer`) is real uvicorn on an ephemeral port in a background thread, for
what only a server on a socket shows: shutdown, request limits as sent, streaming,
concurrency, several processes, other HTTP clients (exporters, browsers).
Both give a :class:`Served`: the store behind the server and an httpx client of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp

from assay.server import ServerSettings, create_app
from assay.store.sql import SqlStore
from local_http import LOCAL_TLS
from threaded_server import ThreadedServer

__all__ = [
    "IN_PROCESS_URL",
    "InProcessApp",
    "InProcessServer",
    "LiveServer",
    "Served",
    "in_process",
    "in_process_client",
    "live",
]

#: The address in-process requests are sent to: a loopback name, which the server's Host
#: check accepts as it does a request to a server on 127.0.0.1.
IN_PROCESS_URL = "http://127.0.0.1"


class LiveServer(ThreadedServer):
    """The Assay server app over ``store``, served by uvicorn in a background thread."""

    def __init__(self, store: SqlStore, settings: ServerSettings | None = None,
                 graceful_seconds: int = 5) -> None:
        settings = settings or ServerSettings(port=0, backend_store_uri=store.uri)
        self.app = create_app(settings, store)
        super().__init__(self.app, name="assay test server", graceful_seconds=graceful_seconds)


@dataclass(frozen=True)
class Served:
    """What a server test gets: the store behind the server (to seed and check), and a
    client of the server."""

    store: SqlStore
    http: httpx.Client
    url: str


class _AppTransport(httpx.BaseTransport):
    """Hands each request to the ASGI app on the event loop of ``portal`` (where the app
    was started), as uvicorn does with a request that arrived whole: one body message,
    then, once the answer is complete, a disconnect. The answer is read whole; an
    exception the app lets through becomes a 500, as a server answers it."""

    def __init__(self, app: ASGIApp, portal: BlockingPortal) -> None:
        self._app = app
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._portal.call(self._exchange, request, request.read())

    async def _exchange(self, request: httpx.Request, body: bytes) -> httpx.Response:
        url = request.url
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": request.method, "scheme": url.scheme,
            "path": url.path, "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query, "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.headers.raw],
            "server": (url.host, url.port or 80), "client": ("127.0.0.1", 50000),
        }
        request_sent = False
        answered = anyio.Event()
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        parts: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    answered.set()

        try:
            await self._app(scope, receive, send)
        except Exception:
            if not answered.is_set():  # what uvicorn answers
                status, parts = 500, [b"Internal Server Error"]
                headers = [(b"content-type", b"text/plain; charset=utf-8")]
        answered.set()
        content = b"" if request.method == "HEAD" else b"".join(parts)
        return httpx.Response(status, headers=headers, content=content, request=request)


@asynccontextmanager
async def _lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """The app started and, at the end, shut down, by ASGI's lifespan messages, as a server
    does it."""
    to_app, app_receives = anyio.create_memory_object_stream[dict[str, Any]](10)
    app_sends, from_app = anyio.create_memory_object_stream[dict[str, Any]](10)

    async def receive() -> dict[str, Any]:
        return await app_receives.receive()

    async def send(message: MutableMapping[str, Any]) -> None:
        await app_sends.send(dict(message))

    async def run() -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)

    async with to_app, app_receives, app_sends, from_app, anyio.create_task_group() as tasks:
        tasks.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        started = await from_app.receive()
        assert started["type"] == "lifespan.startup.complete", started
        try:
            yield
        finally:
            await to_app.send({"type": "lifespan.shutdown"})
            stopped = await from_app.receive()
            assert stopped["type"] == "lifespan.shutdown.complete", stopped


class InProcessApp:
    """An ASGI app running in this process while the block runs: started on an event loop
    of its own (in a thread), as a server would start it, and reached by :meth:`client`,
    each client with cookies of its own, like a separate browser or program."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None

    def __enter__(self) -> InProcessApp:
        with ExitStack() as stack:
            portal = stack.enter_context(start_blocking_portal())
            # At the end, whatever still runs on the loop (a request a failed test left
            # behind) is cancelled rather than waited for.
            stack.callback(portal.call, portal.stop, True)
            stack.enter_context(portal.wrap_async_context_manager(_lifespan(self.app)))
            self._portal = portal
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._portal = None
        self._stack.close()

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        """A new client of the app, behaving as :func:`live`'s does (it follows no
        redirect)."""
        assert self._portal is not None, "the app is not running"
        return httpx.Client(base_url=IN_PROCESS_URL, headers=headers,
                            transport=_AppTransport(self.app, self._portal))


class InProcessServer(InProcessApp):
    """The Assay server app over ``store`` (with ``settings``), in this process."""

    def __init__(self, store: SqlStore, settings: ServerSettings | None = None) -> None:
        self.store = store
        super().__init__(create_app(
            settings or ServerSettings(port=0, backend_store_uri=store.uri), store))

    def __enter__(self) -> InProcessServer:
        super().__enter__()
        return self


@contextmanager
def in_process_client(app: ASGIApp) -> Iterator[httpx.Client]:
    """A client of ``app``, started in this process until the block ends."""
    with InProcessApp(app) as running, running.client() as http:
        yield http


@contextmanager
def in_process(store: SqlStore, settings: ServerSettings | None = None,
               headers: dict[str, str] | None = None) -> Iterator[Served]:
    """The server app over ``store`` in this process, started (its lifespan runs) until
    the block ends."""
    with InProcessServer(store, settings) as server, server.client(headers) as http:
        yield Served(store, http, IN_PROCESS_URL)


@contextmanager
def live(store: SqlStore, settings: ServerSettings | None = None,
         headers: dict[str, str] | None = None) -> Iterator[Served]:
    """A real server over ``store`` on 127.0.0.1 until the block ends."""
    server = LiveServer(store, settings)
    server.start()
    try:
        with httpx.Client(base_url=server.url, verify=LOCAL_TLS, timeout=30,
                          headers=headers) as http:
            yield Served(store, http, server.url)
    finally:
        server.stop()
