"""The SQL store: experiments, traces, spans and assessments in SQLite or PostgreSQL.

:class:`SqlStore` (in :mod:`.store`) implements :class:`~assay.store.base.Store` and every
server-side capability of :mod:`assay.store.capabilities` on SQLAlchemy Core. It owns the
engine and the transactions; the SQL itself lives in one module per resource
(``experiments``, ``traces``, ``trace_tags``, ``spans``, ``assessments``, ``sessions``,
``pending``, ``votes``, ``users``, ``signing_keys``, …), whose functions take a Connection.
Where SQLite and PostgreSQL differ is in ``dialect``; the engine and its pragmas in
``engine``; the tables in ``schema``, changed only by the migrations in ``migrations``.

This is the only package that imports SQLAlchemy.
"""

from __future__ import annotations

from assay.store.sql.store import SqlStore

__all__ = ["SqlStore"]
