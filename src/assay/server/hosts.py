"""Which ``Host`` a request may be addressed to: the defence against DNS rebinding.

A server without ``--auth`` listens on loopback only, but any web page its user opens can
still reach it: the page's own site re-points its domain name at 127.0.0.1 (DNS rebinding)
and its scripts then read and write through the server as if same-origin. Such requests
carry the attacker's name in ``Host``, so a server without auth answers only requests
addressed to a loopback name — ``localhost`` (and its subdomains, which browsers resolve to
loopback themselves), an address in 127.0.0.0/8, or ``[::1]`` — plus the names given with
``--allowed-host`` (a reverse proxy's name, say). Anything else gets 403 before any route runs.

With ``--auth`` (or ``--insecure-no-auth``) every name is allowed by default: the server is
meant to be reached by name, and a rebound page has no credentials for it. ``--allowed-host``
then narrows it to those names (loopback names stay allowed, for local health checks).
``--allowed-host '*'`` allows any name in every case.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from assay.server.errors import error_response

__all__ = ["ANY_HOST", "HostCheckMiddleware", "allowed_host_names", "host_name"]

#: The ``allowed_hosts`` entry that allows every name.
ANY_HOST = "*"


def host_name(header: str) -> str:
    """The name in a ``Host`` header: without its port, in lower case, with no final dot."""
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:5000
        end = header.find("]")
        return header[: end + 1] if end > 0 else header
    name, _, _ = header.partition(":")
    return name.rstrip(".")


def is_loopback_name(name: str) -> bool:
    """Whether ``name`` (as :func:`host_name` gives it) can only mean this machine."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_host_names(auth: bool, insecure_no_auth: bool,
                       allowed_hosts: Collection[str]) -> frozenset[str] | None:
    """The names besides loopback ones that requests may be addressed to; None for any."""
    names = frozenset(host_name(h) for h in allowed_hosts)
    if ANY_HOST in names or ((auth or insecure_no_auth) and not names):
        return None
    return names


class HostCheckMiddleware:
    """Refuse requests whose ``Host`` is neither a loopback name nor one of ``allowed``
    (``None``: let every request through). A request without ``Host`` (HTTP/1.0, which no
    browser sends) passes: rebinding needs a browser."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str] | None) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allowed is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"host":
                name = host_name(value.decode("latin-1"))
                if name not in self.allowed and not is_loopback_name(name):
                    shown = name if len(name) <= 100 else name[:100] + "…"
                    response = error_response(
                        403, "PERMISSION_DENIED",
                        f"Host {shown!r} is not allowed: without --auth this server answers "
                        "only requests addressed to localhost, 127.0.0.1 or [::1] (a guard "
                        "against DNS rebinding); start it with --allowed-host NAME to allow "
                        "another name")
                    await response(scope, receive, send)
                    return
                break
        await self.app(scope, receive, send)
