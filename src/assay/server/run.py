"""Running the server under uvicorn: one process, or several workers over one database.

Stopping (Ctrl-C, SIGTERM) is graceful: uvicorn stops accepting connections and lets the
requests in flight finish, for up to ``graceful_shutdown_seconds``; every write is one
transaction, so a request cut short after that has written nothing.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

import uvicorn
import uvicorn.config

from assay.server.app import create_app
from assay.server.settings import ServerSettings
from assay.store.uri import mask_uri, open_store

__all__ = ["log_config", "serve"]

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
    if settings.workers == 1:
        try:
            app = create_app(settings, store)
            uvicorn.Server(uvicorn.Config(app, **common)).run()
        finally:
            store.close()
        return
    store.close()  # each worker opens its own
    # Worker processes rebuild the settings from the environment (see ServerSettings).
    os.environ.update(settings.to_env())
    uvicorn.run("assay.server.app:create_app_from_env", factory=True,
                workers=settings.workers, **common)
