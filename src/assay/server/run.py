"""Running the server under uvicorn: one process, or several workers over one database.

Stopping (Ctrl-C, SIGTERM) is graceful: uvicorn stops accepting connections and lets the
requests in flight finish, for up to ``graceful_shutdown_seconds``; every write is one
transaction, so a request cut short after that has written nothing. A stop that was asked for
and completed is a success: the process exits 0.

How many workers: on SQLite, one. Its single writer is what limits ingest, a worker process
adds no write capacity, only memory, and the request threads of one process already decode
while another writes (SQLite works without the GIL). On PostgreSQL, about one per core:
each worker decodes in its own process and the database takes their writes in parallel.
uvicorn uses uvloop and httptools when they are installed (the ``server`` extra installs
them), which cuts what the event loop spends per request by about a third.
"""

from __future__ import annotations

import copy
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
import uvicorn.config
from fastapi import FastAPI

from assay.server.app import create_app, create_app_from_env
from assay.server.settings import ServerSettings
from assay.store import Store, open_store
from assay.store.capabilities import Accounts
from assay.store.uri import mask_uri

__all__ = ["create_worker_app", "log_config", "serve"]

_log = logging.getLogger(__name__)


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging set-up plus Assay's loggers (the access log among them).

    uvicorn's own access log is left off: it prints query strings, which may hold secrets.
    """
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["assay"] = {"handlers": ["default"], "level": level.upper(),
                                  "propagate": False}
    return config


def serve(settings: ServerSettings) -> None:
    """Run the server until it is stopped. The store is opened (and its schema upgraded)
    first, so a database that cannot be reached fails here, before anything listens."""
    settings.check()
    store = open_store(settings.backend_store_uri)
    common: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "access_log": False,
        "log_config": log_config(settings.log_level), "log_level": settings.log_level,
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
    }
    _log.info("Assay server: store %s", mask_uri(settings.backend_store_uri))
    if settings.auth:
        _say_how_to_create_the_first_admin(store, settings.backend_store_uri)
    if settings.workers == 1:
        try:
            app = create_app(settings, store)
            _freeze_startup_objects()
            server = uvicorn.Server(uvicorn.Config(app, **common))
            with _signals_stop(server):
                server.run()
        finally:
            store.close()
        return
    store.close()  # each worker opens its own
    # Worker processes rebuild the settings from the environment (see ServerSettings).
    os.environ.update(settings.to_env())
    uvicorn.run("assay.server.run:create_worker_app", factory=True,
                workers=settings.workers, **common)


def create_worker_app() -> FastAPI:
    """The app of one worker process (``--workers`` > 1): ``create_app_from_env``, with the
    objects of start-up set aside from garbage collection as in a single process."""
    app = create_app_from_env()
    _freeze_startup_objects()
    return app


def _freeze_startup_objects() -> None:
    # Everything built at start-up (modules, the app, its routes, SQLAlchemy's tables) lives
    # as long as the process. Left to the cyclic garbage collector, it is all traversed again
    # at each full collection, which ingesting a steady stream of spans triggers every few
    # seconds: about 0.15 s of CPU each time, for nothing. Frozen, it is never traversed.
    gc.collect()
    gc.freeze()


def _say_how_to_create_the_first_admin(store: Store, uri: str) -> None:
    """With auth on and no user at all nobody can get in: say how to make the first admin."""
    if isinstance(store, Accounts) and not store.list_users():
        print("Assay server: --auth is on but there are no users yet, so every request will "
              "be refused. Create the first admin (then an API key) with:\n"
              f"    assay users create NAME --role admin --backend-store-uri '{mask_uri(uri)}'\n"
              f"    assay keys create 'my app' --user NAME --backend-store-uri "
              f"'{mask_uri(uri)}'", file=sys.stderr, flush=True)


@contextmanager
def _signals_stop(server: uvicorn.Server) -> Iterator[None]:
    """SIGINT and SIGTERM stop ``server`` gracefully, and the process then exits 0.

    uvicorn catches both while it serves, shuts down gracefully, then raises the signal again
    under the handlers that were there before it, so that the process ends as the signal
    would have ended it: killed by SIGTERM, or with a KeyboardInterrupt traceback. For a
    server that has just stopped cleanly on request, that only makes supervisors report a
    failure. The handlers installed here stop the server too (a signal that comes while it
    starts is not lost), and the raised signal finds them, so nothing more happens.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are only the main thread's to handle
        return
    previous = {sig: signal.signal(sig, server.handle_exit)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
