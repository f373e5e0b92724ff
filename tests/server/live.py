"""A real uvicorn server on 127.0.0.1 (an ephemeral port) over a store, in a background
thread, and what a server test gets: the store behind it and an httpx client of it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from assay.server import ServerSettings, create_app
from assay.store.sql import SqlStore
from threaded_server import ThreadedServer


class LiveServer(ThreadedServer):
    """The Assay server app over ``store``, served by uvicorn in a background thread."""

    def __init__(self, store: SqlStore, settings: ServerSettings | None = None) -> None:
        settings = settings or ServerSettings(port=0, backend_store_uri=store.uri)
        self.app = create_app(settings, store)
        super().__init__(self.app, name="assay test server")


@dataclass(frozen=True)
class Served:
    """What a server test gets: the store behind the server (to seed and check), and a
    client of the server."""

    store: SqlStore
    http: httpx.Client
    url: str
