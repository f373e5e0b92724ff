"""The access log: one structured line per request (method, path, status, milliseconds).

Only the path is logged, never the query string, which may hold tokens or other secrets.
The fields are also on the log record (``record.method``, ``.path``, ``.status``,
``.duration_ms``) for handlers that format them as JSON.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ACCESS_LOGGER", "AccessLogMiddleware"]

#: The logger the access lines go to (INFO).
ACCESS_LOGGER = "assay.server.access"


class AccessLogMiddleware:
    """ASGI middleware that logs each HTTP request once it has been answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            ms = (time.perf_counter() - start) * 1000
            method = scope.get("method", "")
            path = scope.get("path", "")
            self.log.info("method=%s path=%s status=%d duration_ms=%.1f", method, path,
                          status, ms, extra={"method": method, "path": path,
                                             "status": status, "duration_ms": round(ms, 1)})
