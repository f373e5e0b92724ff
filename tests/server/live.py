"""A real uvicorn server on 127.0.0.1 (an ephemeral port) over a store, in a background
thread, and what a server test gets: the store behind it and an httpx client of it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
import uvicorn

from assay.server import ServerSettings, create_app
from assay.store.sql import SqlStore


class LiveServer:
    """uvicorn serving an app in a background thread, on a port the OS picks."""

    def __init__(self, store: SqlStore, settings: ServerSettings | None = None) -> None:
        settings = settings or ServerSettings(port=0, backend_store_uri=store.uri)
        app = create_app(settings, store)
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                access_log=False, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="assay-test-server",
                                       daemon=True)
        self.port = 0

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the test server did not stop"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Served:
    """What a server test gets: the store behind the server (to seed and check), and a
    client of the server."""

    store: SqlStore
    http: httpx.Client
    url: str
