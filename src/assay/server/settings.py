"""The server's settings: one frozen :class:`ServerSettings`, checked before anything binds.

The ``ASSAY_SERVER_*`` environment variables exist so that uvicorn's worker processes
(``--workers N`` > 1) can rebuild the settings the ``assay server`` command was given; the
command line is the way to set them by hand.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from assay.errors import InvalidParameterError
from assay.store.uri import DEFAULT_TRACKING_URI, validate_uri

__all__ = ["ServerSettings", "is_loopback"]

#: Where the server keeps its data (a SQL tracking URI).
ASSAY_SERVER_BACKEND_STORE_URI = "ASSAY_SERVER_BACKEND_STORE_URI"
#: The address the server listens on.
ASSAY_SERVER_HOST = "ASSAY_SERVER_HOST"
#: The port the server listens on.
ASSAY_SERVER_PORT = "ASSAY_SERVER_PORT"
#: "true" lets the server listen on a non-loopback address although auth is not built yet.
ASSAY_SERVER_ALLOW_REMOTE = "ASSAY_SERVER_ALLOW_REMOTE"

_TRUE = ("1", "true", "yes", "on")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.0.0.0/8, ::1,
    ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


@dataclass(frozen=True)
class ServerSettings:
    """How the server runs.

    Attributes:
        host: the address to listen on (loopback unless ``allow_remote``).
        port: the TCP port; 0 picks a free one.
        backend_store_uri: the SQL tracking URI of the store the server serves.
        workers: uvicorn worker processes; each opens its own store.
        allow_remote: listen on a non-loopback address without auth (there is no auth
            yet, so anyone who can reach the port can read and write everything).
        graceful_shutdown_seconds: how long a stopping server lets requests in flight finish.
        log_level: uvicorn's log level (the access log is logged at INFO).
    """

    host: str = "127.0.0.1"
    port: int = 5000
    backend_store_uri: str = DEFAULT_TRACKING_URI
    workers: int = 1
    allow_remote: bool = False
    graceful_shutdown_seconds: float = 30.0
    log_level: str = "info"

    def check(self) -> ServerSettings:
        """Return the settings if the server can run with them; InvalidParameterError
        naming the setting otherwise."""
        if not 0 <= self.port <= 65_535:
            raise InvalidParameterError(f"Invalid port {self.port}: expected 0 to 65535")
        if self.workers < 1:
            raise InvalidParameterError(
                f"Invalid workers {self.workers}: expected at least 1")
        if self.graceful_shutdown_seconds < 0:
            raise InvalidParameterError(
                f"Invalid graceful_shutdown_seconds {self.graceful_shutdown_seconds}: "
                "expected 0 or more")
        validate_uri(self.backend_store_uri)
        if self.workers > 1 and ":memory:" in self.backend_store_uri:
            raise InvalidParameterError(
                "Invalid backend store URI for several workers: an in-memory SQLite database "
                "is private to one process; use a file or PostgreSQL")
        if not self.allow_remote and not is_loopback(self.host):
            raise InvalidParameterError(
                f"Refusing to listen on {self.host!r}: it is not a loopback address and the "
                "server has no authentication yet, so anyone who can reach it could read and "
                "change every trace. Use --host 127.0.0.1, or pass --allow-remote if the "
                "network is trusted")
        return self

    def to_env(self) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads back (for worker processes)."""
        return {
            ASSAY_SERVER_BACKEND_STORE_URI: self.backend_store_uri,
            ASSAY_SERVER_HOST: self.host,
            ASSAY_SERVER_PORT: str(self.port),
            ASSAY_SERVER_ALLOW_REMOTE: "true" if self.allow_remote else "false",
        }

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Settings from the ``ASSAY_SERVER_*`` variables (defaults for the ones unset)."""
        defaults = cls()
        port = os.environ.get(ASSAY_SERVER_PORT) or str(defaults.port)
        try:
            port_number = int(port)
        except ValueError:
            raise InvalidParameterError(
                f"Invalid {ASSAY_SERVER_PORT} {port!r}: expected an integer") from None
        return cls(
            host=os.environ.get(ASSAY_SERVER_HOST) or defaults.host,
            port=port_number,
            backend_store_uri=(os.environ.get(ASSAY_SERVER_BACKEND_STORE_URI)
                               or defaults.backend_store_uri),
            allow_remote=(os.environ.get(ASSAY_SERVER_ALLOW_REMOTE, "").strip().lower()
                          in _TRUE),
        )
