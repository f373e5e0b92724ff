"""Every request's database statements bounded: a statement timeout, and a cancel when the
client goes away.

:class:`QueryBoundsMiddleware` runs each HTTP request under its own
:class:`~assay.store.sql.engine.QueryBounds`, kept in a context variable that reaches the
threadpool where sync routes run. Once the request's body has been read, it listens for
the client's disconnect; when it comes (or when the server stops and cancels the request),
the statement running for the request is cancelled, so a search nobody waits for no longer
holds a database connection, on PostgreSQL or SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay.store.sql.engine import QueryBounds, bound_queries

__all__ = ["QueryBoundsMiddleware"]


class QueryBoundsMiddleware:
    """Bound the statements of each HTTP request (pure ASGI, so it sees the disconnect).

    Args:
        app: the application inside.
        timeout_seconds: how long one statement of a request may run.
    """

    def __init__(self, app: ASGIApp, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bounds = QueryBounds(self.timeout_seconds)
        request = _Request(scope, receive)
        watcher = asyncio.ensure_future(request.watch(bounds))

        async def send_and_note(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                # Answered: servers report the end of a response to ``receive`` as a
                # disconnect, which must not cancel anything.
                request.answered = True

        try:
            with bound_queries(bounds):
                await self.app(scope, request.receive, send_and_note)
        except asyncio.CancelledError:
            _cancel(bounds)  # the server is stopping: stop the statement too
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


class _Request:
    """The request's ``receive``, shared between the application and a disconnect watcher."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self._receive = receive
        headers = dict(scope.get("headers") or ())
        # Without a length or chunked encoding the body is empty: the watcher may read the
        # one (empty) body message itself and keep it for the application.
        self._has_body = headers.get(b"content-length", b"0") != b"0" \
            or b"transfer-encoding" in headers
        self._body_read = asyncio.Event()
        self._kept: list[Message] = []
        self._disconnected = False
        self.answered = False

    async def receive(self) -> Message:
        if self._kept:
            return self._kept.pop(0)
        if self._disconnected:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._body_read.set()
        return message

    async def watch(self, bounds: QueryBounds) -> None:
        if self._has_body:
            await self._body_read.wait()
        else:
            message = await self._receive()
            if message["type"] != "http.disconnect":
                self._kept.append(message)
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._disconnected = True
                if not self.answered:
                    _cancel(bounds)
                return


def _cancel(bounds: QueryBounds) -> None:
    # Off the event loop: PostgreSQL's cancel request is a network round trip. A thread of
    # its own rather than the threadpool, which may be full of the very searches to stop.
    threading.Thread(target=bounds.cancel, name="assay-query-cancel", daemon=True).start()
