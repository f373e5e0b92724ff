"""A real uvicorn server on 127.0.0.1 (a port the OS picks) serving an ASGI app from a
background thread: what every test that needs a live HTTP peer starts."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class ThreadedServer:
    """uvicorn serving ``app`` in a daemon thread; ``start`` waits until it listens.
    ``stop`` lets requests in flight finish for up to ``graceful_seconds``."""

    def __init__(self, app: Any, name: str = "test-server",
                 graceful_seconds: int = 5) -> None:
        self.name = name
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                access_log=False, timeout_graceful_shutdown=graceful_seconds)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=name, daemon=True)
        self.port = 0

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), f"the {self.name} did not stop"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
