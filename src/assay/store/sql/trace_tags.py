"""The key/value rows of a trace: its tags (mutable) and its metadata (set when logged).

Both live in tables of the same shape, one row per (trace_id, key). Reads load them for many
traces at once, so a page of traces costs one query per table, not one per trace.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities._checks import check_key, replace_nul
from assay.entities.trace import metadata_keys
from assay.errors import InvalidParameterError, NotFoundError
from assay.store.checks import check_tag_key, truncate_tag_value
from assay.store.sql.dialect import Dialect, in_chunks, upsert
from assay.store.sql.schema import trace_tags, traces

__all__ = [
    "delete_trace_tag",
    "load_key_values",
    "set_trace_tag",
    "trace_not_found",
]

def trace_not_found(trace_id: str) -> NotFoundError:
    """The error for a trace id that names no stored trace."""
    return NotFoundError(f"Trace with ID {trace_id!r} not found")


def load_key_values(conn: Connection, dialect: Dialect, table: sa.Table,
                    trace_ids: list[str]) -> dict[str, dict[str, str]]:
    """The key/value pairs of each trace, from ``trace_tags`` or ``trace_metadata``.

    Every id in ``trace_ids`` has an entry (empty when the trace has no rows).
    """
    pairs: dict[str, dict[str, str]] = {trace_id: {} for trace_id in trace_ids}
    for chunk in in_chunks(trace_ids, dialect):
        query = (sa.select(table.c.trace_id, table.c.key, table.c.value)
                 .where(table.c.trace_id.in_(chunk))
                 .order_by(table.c.trace_id, table.c.key))
        for trace_id, key, value in conn.execute(query):
            pairs[trace_id][key] = value
    return pairs


def set_trace_tag(conn: Connection, dialect: Dialect, trace_id: str, key: str,
                  value: str) -> None:
    """Set a tag on a stored trace; the tag mlflow.traceName also renames the trace."""
    check_tag_key(key, trace_id)
    if not isinstance(value, str):
        raise InvalidParameterError(
            f"Invalid value for tag {key!r} on trace {trace_id!r}: expected a string, got "
            f"{type(value).__name__}")
    value = replace_nul(truncate_tag_value(value))
    _check_trace_exists(conn, trace_id)
    conn.execute(upsert(dialect, trace_tags, ("trace_id", "key"), ("value",)),
                 {"trace_id": trace_id, "key": key, "value": value})
    if key == metadata_keys.TRACE_NAME:
        conn.execute(traces.update().where(traces.c.trace_id == trace_id).values(name=value))


def delete_trace_tag(conn: Connection, trace_id: str, key: str) -> None:
    """Remove a tag from a stored trace; NotFoundError for an unknown trace or key."""
    check_tag_key(key, trace_id)
    _check_trace_exists(conn, trace_id)
    deleted = conn.execute(trace_tags.delete().where(
        trace_tags.c.trace_id == trace_id, trace_tags.c.key == key)).rowcount
    if not deleted:
        raise NotFoundError(f"No tag with key {key!r} on trace {trace_id!r}")
    if key == metadata_keys.TRACE_NAME:
        conn.execute(traces.update().where(traces.c.trace_id == trace_id).values(name=None))


def _check_trace_exists(conn: Connection, trace_id: str) -> None:
    if not isinstance(trace_id, str):
        raise InvalidParameterError(
            f"Invalid trace_id {trace_id!r}: expected a string, got {type(trace_id).__name__}")
    check_key("trace_id", trace_id)
    found = conn.execute(
        sa.select(traces.c.id).where(traces.c.trace_id == trace_id)).first()
    if found is None:
        raise trace_not_found(trace_id)
