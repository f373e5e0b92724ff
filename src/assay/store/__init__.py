"""Storage: the Store interface, what only a server's store does, and the tracking URI that
picks an implementation.

The package is split by capability:

* :mod:`.base`: :class:`Store`, what every backend does (experiments, traces, spans,
  sessions, assessments, feedback tokens). The SDK needs nothing else.
* :mod:`.capabilities`: what only a server's store does, one protocol each
  (:class:`PendingAssessments`, :class:`SigningKeys`, :class:`Accounts`), and
  :class:`ServerStore`, a Store with all three: what a server runs on.
* :mod:`.checks` and :mod:`.trace_rows`: the argument checks both stores apply before doing
  anything, so that a bad argument gets the same error from either; no backend imported.
* :mod:`.uri`: which kind of store a tracking URI names; :func:`open_store` opens it.
* :mod:`.sql`: :class:`~assay.store.sql.SqlStore` (SQLite, PostgreSQL), a ServerStore, one
  module per resource with its SQL. The only package that imports SQLAlchemy.
* :mod:`.rest`: :class:`~assay.store.rest.RestStore`, a Store over an Assay server's HTTP
  API (``http://``, ``https://``). It loads httpx and protobuf, never SQLAlchemy.

Importing this package loads neither backend: each is imported when a URI of its kind is
first opened.

Adding an operation:

1. Say who has it. Every store: an abstract method of :class:`Store` in ``base.py``, with
   its docstring (the contract both backends follow; ``get_*`` raises NotFoundError,
   ``find_*`` returns None, ``search_*`` a page). If other Store methods can answer it, it
   may instead be a plain method there that does so, which the SQL store overrides with a
   faster query. Only a server: a method of the protocol of its capability in
   ``capabilities.py`` (or a new protocol, added to :class:`ServerStore`); nothing changes
   in the REST store.
2. Checks that do not need the database go in ``checks.py``, where both stores call them.
3. The SQL: a function taking a Connection in ``sql/<resource>.py``, called from the method
   of :class:`~assay.store.sql.SqlStore` in ``sql/store.py`` inside one transaction
   (``self._reading()`` or ``self._writing()``).
4. For a Store method, the HTTP side: the route in ``server/api/<resource>.py`` that calls
   it, and the method of the REST store in ``rest/store.py`` that calls the route
   (``self._http.call``; errors come back as the server's ``error_code``). Regenerate
   ``server/openapi.json``.
5. Tests in ``tests/store/test_<resource>.py``: through the ``backend`` fixture a Store
   method runs on SQLite, PostgreSQL and a live server; a capability's, through
   ``sql_store``.
"""

from __future__ import annotations

from assay.store.base import Store
from assay.store.capabilities import (
    Accounts,
    PendingAssessments,
    ServerStore,
    SigningKeys,
    server_store,
)
from assay.store.uri import DEFAULT_TRACKING_URI, is_server_uri, validate_uri

__all__ = [
    "DEFAULT_TRACKING_URI",
    "Accounts",
    "PendingAssessments",
    "ServerStore",
    "SigningKeys",
    "Store",
    "open_store",
    "server_store",
]


def open_store(uri: str) -> Store:
    """Open the store a tracking URI names: the REST store for an Assay server
    (``http://``, ``https://``), the SQL store for ``sqlite://`` and ``postgresql://``.

    Raises:
        InvalidTrackingURIError: a URI Assay cannot use (the message says which it can).
        AssayError: the database cannot be reached or opened.
    """
    uri = validate_uri(uri)
    if is_server_uri(uri):
        from assay.store.rest import RestStore

        return RestStore(uri)
    from assay.store.sql import SqlStore

    return SqlStore(uri)
