"""The server's settings: one frozen :class:`ServerSettings`, checked before anything binds.

The ``ASSAY_SERVER_*`` environment variables exist so that uvicorn's worker processes
(``--workers N`` > 1) can rebuild the settings the ``assay server`` command was given; the
command line is the way to set them by hand.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass

from assay.errors import InvalidParameterError
from assay.store.uri import DEFAULT_TRACKING_URI, is_server_uri, mask_uri, validate_uri

__all__ = ["ServerSettings", "is_loopback"]

#: Where the server keeps its data (a SQL tracking URI).
ASSAY_SERVER_BACKEND_STORE_URI = "ASSAY_SERVER_BACKEND_STORE_URI"
#: The address the server listens on.
ASSAY_SERVER_HOST = "ASSAY_SERVER_HOST"
#: The port the server listens on.
ASSAY_SERVER_PORT = "ASSAY_SERVER_PORT"
#: "true" turns authentication on (users, API keys, sign-in to the web pages).
ASSAY_SERVER_AUTH = "ASSAY_SERVER_AUTH"
#: "true" lets the server listen on a non-loopback address without authentication.
ASSAY_SERVER_INSECURE_NO_AUTH = "ASSAY_SERVER_INSECURE_NO_AUTH"
#: The largest request body accepted, in bytes (as sent, and once decompressed).
ASSAY_SERVER_MAX_REQUEST_BYTES = "ASSAY_SERVER_MAX_REQUEST_BYTES"
#: The most spans one OTLP request may hold.
ASSAY_SERVER_MAX_SPANS_PER_REQUEST = "ASSAY_SERVER_MAX_SPANS_PER_REQUEST"
#: The largest span attribute (inputs and outputs too) or assessment value, in bytes.
ASSAY_SERVER_MAX_ATTRIBUTE_BYTES = "ASSAY_SERVER_MAX_ATTRIBUTE_BYTES"
#: Seconds feedback for a trace that has not arrived is kept (then dropped, and counted).
ASSAY_SERVER_PENDING_FEEDBACK_TTL = "ASSAY_SERVER_PENDING_FEEDBACK_TTL"
#: Origins, comma-separated, whose pages may call ``/api/v1/feedback`` ("*": any).
ASSAY_SERVER_CORS_ORIGINS = "ASSAY_SERVER_CORS_ORIGINS"
#: Requests a minute that one feedback token may make to ``/api/v1/feedback``.
ASSAY_SERVER_FEEDBACK_RATE_LIMIT = "ASSAY_SERVER_FEEDBACK_RATE_LIMIT"
#: Host names, comma-separated, that requests may be addressed to besides loopback ones.
ASSAY_SERVER_ALLOWED_HOSTS = "ASSAY_SERVER_ALLOWED_HOSTS"

#: Seconds one database statement of a request may run (then it is stopped: 504).
ASSAY_SERVER_STATEMENT_TIMEOUT = "ASSAY_SERVER_STATEMENT_TIMEOUT"
_MIB = 1024 * 1024

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
        host: the address to listen on (loopback, unless ``auth`` or ``insecure_no_auth``).
        port: the TCP port; 0 picks a free one.
        backend_store_uri: the SQL tracking URI of the store the server serves.
        workers: uvicorn worker processes; each opens its own store.
        auth: require credentials (an API key, or a sign-in to the web pages) and check
            each user's role (see ``assay.server.auth``).
        insecure_no_auth: listen on a non-loopback address without ``auth``: anyone who can
            reach the port can then read and change everything.
        graceful_shutdown_seconds: how long a stopping server lets requests in flight finish.
        max_request_bytes: the largest request body, as sent and once decompressed (413
            beyond it).
        max_spans_per_request: the most spans one OTLP request may hold (413 beyond it).
        max_attribute_bytes: the largest span attribute (inputs and outputs are attributes
            too) or assessment value (400 beyond it).
        pending_feedback_ttl_seconds: how long feedback for a trace that has not arrived is
            kept for it (1 s to 30 days); then it is dropped and counted.
        cors_origins: the origins (``https://app.example.com``) whose pages may call the
            browser feedback endpoint, ``"*"`` for any; none: same-origin only.
        feedback_rate_limit_per_minute: requests a minute one feedback token may make to
            the browser feedback endpoint (429 beyond it), per worker process.
        allowed_hosts: names that requests may be addressed to (the ``Host`` header) besides
            loopback ones, ``"*"`` for any; none: loopback names only without ``auth``, any
            name with it (see ``assay.server.hosts``).
        log_level: uvicorn's log level (the access log is logged at INFO).
        statement_timeout_seconds: how long one database statement of a request may run;
            then it is stopped and the request answered 504 QUERY_TIMEOUT.
    """

    host: str = "127.0.0.1"
    port: int = 5000
    backend_store_uri: str = DEFAULT_TRACKING_URI
    workers: int = 1
    auth: bool = False
    insecure_no_auth: bool = False
    graceful_shutdown_seconds: float = 30.0
    max_request_bytes: int = 32 * _MIB
    max_spans_per_request: int = 10_000
    max_attribute_bytes: int = 16 * _MIB
    pending_feedback_ttl_seconds: int = 86_400
    cors_origins: tuple[str, ...] = ()
    feedback_rate_limit_per_minute: int = 30
    allowed_hosts: tuple[str, ...] = ()
    log_level: str = "info"
    statement_timeout_seconds: float = 30.0

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
        for name in ("max_request_bytes", "max_spans_per_request", "max_attribute_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(
                    f"Invalid {name} {value!r}: expected a whole number, at least 1")
        timeout = self.statement_timeout_seconds
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) \
                or not 0.001 <= timeout <= 86_400:
            raise InvalidParameterError(
                f"Invalid statement_timeout_seconds {timeout!r}: expected seconds, 0.001 to "
                "86400")
        _check_feedback_settings(self)
        _check_allowed_hosts(self.allowed_hosts)
        validate_uri(self.backend_store_uri)
        if is_server_uri(self.backend_store_uri):
            raise InvalidParameterError(
                f"Invalid backend store URI {mask_uri(self.backend_store_uri)!r}: the server "
                "keeps its data in a database (sqlite:/// or postgresql://), not in another "
                "server")
        if self.workers > 1 and ":memory:" in self.backend_store_uri:
            raise InvalidParameterError(
                "Invalid backend store URI for several workers: an in-memory SQLite database "
                "is private to one process; use a file or PostgreSQL")
        if not self.auth and not self.insecure_no_auth and not is_loopback(self.host):
            raise InvalidParameterError(
                f"Refusing to listen on {self.host!r} without authentication: it is not a "
                "loopback address, so anyone who can reach it could read and change every "
                "trace. Pass --auth (and create users with 'assay users create'), use --host "
                "127.0.0.1, or pass --insecure-no-auth if the network is trusted")
        return self

    def to_env(self) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads back (for worker processes)."""
        return {
            ASSAY_SERVER_BACKEND_STORE_URI: self.backend_store_uri,
            ASSAY_SERVER_HOST: self.host,
            ASSAY_SERVER_PORT: str(self.port),
            ASSAY_SERVER_AUTH: "true" if self.auth else "false",
            ASSAY_SERVER_INSECURE_NO_AUTH: "true" if self.insecure_no_auth else "false",
            ASSAY_SERVER_MAX_REQUEST_BYTES: str(self.max_request_bytes),
            ASSAY_SERVER_MAX_SPANS_PER_REQUEST: str(self.max_spans_per_request),
            ASSAY_SERVER_MAX_ATTRIBUTE_BYTES: str(self.max_attribute_bytes),
            ASSAY_SERVER_PENDING_FEEDBACK_TTL: str(self.pending_feedback_ttl_seconds),
            ASSAY_SERVER_CORS_ORIGINS: ",".join(self.cors_origins),
            ASSAY_SERVER_FEEDBACK_RATE_LIMIT: str(self.feedback_rate_limit_per_minute),
            ASSAY_SERVER_ALLOWED_HOSTS: ",".join(self.allowed_hosts),
            ASSAY_SERVER_STATEMENT_TIMEOUT: repr(float(self.statement_timeout_seconds)),
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
            auth=os.environ.get(ASSAY_SERVER_AUTH, "").strip().lower() in _TRUE,
            insecure_no_auth=(os.environ.get(ASSAY_SERVER_INSECURE_NO_AUTH, "").strip().lower()
                              in _TRUE),
            max_request_bytes=_int_from_env(ASSAY_SERVER_MAX_REQUEST_BYTES,
                                            defaults.max_request_bytes),
            max_spans_per_request=_int_from_env(ASSAY_SERVER_MAX_SPANS_PER_REQUEST,
                                                defaults.max_spans_per_request),
            max_attribute_bytes=_int_from_env(ASSAY_SERVER_MAX_ATTRIBUTE_BYTES,
                                              defaults.max_attribute_bytes),
            pending_feedback_ttl_seconds=_int_from_env(ASSAY_SERVER_PENDING_FEEDBACK_TTL,
                                                       defaults.pending_feedback_ttl_seconds),
            cors_origins=_list_from_env(ASSAY_SERVER_CORS_ORIGINS),
            allowed_hosts=_list_from_env(ASSAY_SERVER_ALLOWED_HOSTS),
            feedback_rate_limit_per_minute=_int_from_env(
                ASSAY_SERVER_FEEDBACK_RATE_LIMIT, defaults.feedback_rate_limit_per_minute),
            statement_timeout_seconds=_float_from_env(ASSAY_SERVER_STATEMENT_TIMEOUT,
                                                      defaults.statement_timeout_seconds),
        )


def _list_from_env(name: str) -> tuple[str, ...]:
    """The comma-separated items of the environment variable ``name`` (none when unset)."""
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


def _int_from_env(name: str, default: int) -> int:
    """The integer in the environment variable ``name``; ``default`` when it is unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidParameterError(f"Invalid {name} {text!r}: expected an integer") from None


def _float_from_env(name: str, default: float) -> float:
    """The number in the environment variable ``name``; ``default`` when it is unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise InvalidParameterError(f"Invalid {name} {text!r}: expected a number") from None


#: The longest ``pending_feedback_ttl_seconds``: 30 days.
MAX_PENDING_FEEDBACK_TTL_SECONDS = 30 * 86_400
#: The highest ``feedback_rate_limit_per_minute``.
MAX_FEEDBACK_RATE_LIMIT_PER_MINUTE = 10_000

_ORIGIN = re.compile(r"https?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


def _check_feedback_settings(settings: ServerSettings) -> None:
    """The settings of the browser feedback endpoint and of pending feedback."""
    ttl = settings.pending_feedback_ttl_seconds
    if isinstance(ttl, bool) or not isinstance(ttl, int) \
            or not 1 <= ttl <= MAX_PENDING_FEEDBACK_TTL_SECONDS:
        raise InvalidParameterError(
            f"Invalid pending_feedback_ttl_seconds {ttl!r}: expected whole seconds, 1 to "
            f"{MAX_PENDING_FEEDBACK_TTL_SECONDS:,} (30 days)")
    rate = settings.feedback_rate_limit_per_minute
    if isinstance(rate, bool) or not isinstance(rate, int) \
            or not 1 <= rate <= MAX_FEEDBACK_RATE_LIMIT_PER_MINUTE:
        raise InvalidParameterError(
            f"Invalid feedback_rate_limit_per_minute {rate!r}: expected a whole number, 1 to "
            f"{MAX_FEEDBACK_RATE_LIMIT_PER_MINUTE:,}")
    if not isinstance(settings.cors_origins, tuple):
        raise InvalidParameterError(
            f"Invalid cors_origins {settings.cors_origins!r}: expected a tuple of origins")
    for origin in settings.cors_origins:
        if origin != "*" and (not isinstance(origin, str) or not _ORIGIN.fullmatch(origin)):
            raise InvalidParameterError(
                f"Invalid CORS origin {origin!r}: expected scheme://host[:port] with http or "
                "https and nothing after it (no path, no trailing slash), e.g. "
                "https://app.example.com, or * for any origin")


# A DNS name (letters, digits, hyphens, dots), an IPv4 address, or an IPv6 one in brackets.
_HOST_NAME = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                        r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?)")


def _check_allowed_hosts(allowed_hosts: tuple[str, ...]) -> None:
    if not isinstance(allowed_hosts, tuple):
        raise InvalidParameterError(
            f"Invalid allowed_hosts {allowed_hosts!r}: expected a tuple of host names")
    for name in allowed_hosts:
        if name != "*" and (not isinstance(name, str) or len(name) > 253
                            or not _HOST_NAME.fullmatch(name)):
            raise InvalidParameterError(
                f"Invalid allowed host {name!r}: expected a host name without scheme or port "
                "(assay.example.com, 10.0.0.5, [fd00::1]), or * for any")
