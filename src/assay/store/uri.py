"""Tracking URIs: which kind of store a URI names, the error for one Assay cannot use, and
a URI fit for a message (its password masked). :func:`assay.store.open_store` opens one."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from assay.errors import InvalidTrackingURIError

__all__ = ["DEFAULT_TRACKING_URI", "is_server_uri", "mask_uri", "validate_uri"]

#: A SQLite file in the working directory: no server, no set-up.
DEFAULT_TRACKING_URI = "sqlite:///assay.db"

_ACCEPTED = (
    "sqlite:///path/to/file.db (relative) or sqlite:////absolute/path.db, "
    "sqlite:///:memory:, postgresql://user:password@host:port/database, "
    "http(s)://host:port (an Assay server)"
)

_SQL_SCHEMES = re.compile(r"^(sqlite|postgresql|postgres)(\+[a-z0-9_]+)?$")


_SECRET_QUERY = re.compile(
    r"(?i)((?:^|&)(?:password|passwd|pwd|sslpassword|token|access_token|api_key|apikey"
    r"|secret|client_secret)=)[^&]*")


def mask_uri(uri: str) -> str:
    """The URI with any password (user part, or a ``password=``/``token=``-style query
    parameter) replaced by ``***``. (Free text that may quote URIs: ``errors.mask_secrets``.)"""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    query = _SECRET_QUERY.sub(r"\1***", parts.query) if parts.query else parts.query
    if parts.password is None and query == parts.query:
        return uri  # rebuilding would turn "sqlite:////abs" into "sqlite://abs"
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def validate_uri(uri: str) -> str:
    """Return the URI if Assay can use it; InvalidTrackingURIError otherwise."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidTrackingURIError(
            f"Invalid tracking URI {uri!r}: it is empty. Accepted: {_ACCEPTED}")
    uri = uri.strip()
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme in ("http", "https"):
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise InvalidTrackingURIError(
                f"Invalid tracking URI {mask_uri(uri)!r}: {exc}. Accepted: {_ACCEPTED}"
            ) from None
        if not parts.hostname:
            raise InvalidTrackingURIError(
                f"Invalid tracking URI {mask_uri(uri)!r}: no host. Accepted: {_ACCEPTED}")
        if parts.query or parts.fragment:
            raise InvalidTrackingURIError(
                f"Invalid tracking URI {mask_uri(uri)!r}: a server URI takes no query or "
                f"fragment. Accepted: {_ACCEPTED}")
        return uri
    if not _SQL_SCHEMES.match(scheme):
        raise InvalidTrackingURIError(
            f"Invalid tracking URI {mask_uri(uri)!r}: unknown scheme {scheme or '(none)'!r}. "
            f"Accepted: {_ACCEPTED}")
    if scheme.startswith("sqlite") and not uri.split(":", 1)[1].startswith("///"):
        raise InvalidTrackingURIError(
            f"Invalid tracking URI {mask_uri(uri)!r}: a SQLite URI needs three slashes "
            f"before the path. Accepted: {_ACCEPTED}")
    return uri


def is_server_uri(uri: str) -> bool:
    """Whether the URI names an Assay server (``http://`` or ``https://``)."""
    return uri.strip().lower().startswith(("http://", "https://"))


def __getattr__(name: str) -> Any:
    # open_store lived here before it moved to the package (assay.store.open_store), which
    # imports this module: it is looked up when asked for, not imported up front.
    if name == "open_store":
        from assay.store import open_store

        return open_store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
