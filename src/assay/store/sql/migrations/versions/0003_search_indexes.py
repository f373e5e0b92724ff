"""Search indexes: a user's or session's traces in time order, ordering by duration, and
session-level assessments.

Revision ID: 0003
Revises: 0002

What each index serves (plans checked with EXPLAIN QUERY PLAN on SQLite and EXPLAIN ANALYZE
on PostgreSQL over 1,000,000 traces; see benchmarks/README.md):

* ``(user_id, request_time_ms)`` and ``(session_id, request_time_ms)`` replace the single
  column indexes: a page of one user's (or session's) traces, newest first, is a range scan
  that stops after the page instead of fetching and sorting all of them. They still serve
  plain ``user_id = ?`` / ``session_id = ?`` lookups.
* ``(experiment_id, execution_time_ms, request_time_ms)``: ``order_by execution_time_ms``
  (either direction) reads the index in order; the search reads NULL durations as a
  separate section, so no ``NULLS LAST`` index variant is needed.
* ``(trace_id, experiment_id, request_time_ms)``: feedback analytics join each assessment to
  its trace for the filter and the time bucket; SQLite then reads this index alone instead
  of the (wide) table row, which halves the join (the unique index on trace_id cannot be
  widened: foreign keys point at it).
* PostgreSQL only: the hash indexes on ``trace_tags.value`` and ``trace_metadata.value``
  become partial B-trees on (key, value) for values of up to 400 characters (see
  ``dialect.value_lookup_index``). A hash index slows down quadratically with repeated
  values, and every trace repeats some (``mlflow.trace_schema.version = 3``): inserting
  100,000 equal values took 2.8 s against 0.36 s, and a million took minutes.
* ``assessments (session_id, experiment_id) WHERE session_id IS NOT NULL`` replaces the full
  index on session_id: only session-level assessments (few) have one, so the partial index
  is tiny, and the planners stop mistaking "all NULL" for "one value" (SQLite's statistics
  count NULLs as equal, which made a filter scan every assessment once per trace).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from assay.store.sql.dialect import Dialect, value_lookup_index

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_SESSION_LEVEL = sa.text("session_id IS NOT NULL")
_KEY_VALUE_TABLES = ("trace_tags", "trace_metadata")


def upgrade() -> None:
    op.drop_index("ix_traces_user_id", "traces")
    op.drop_index("ix_traces_session_id", "traces")
    op.create_index("ix_traces_user_id_request_time_ms", "traces",
                    ["user_id", "request_time_ms"])
    op.create_index("ix_traces_session_id_request_time_ms", "traces",
                    ["session_id", "request_time_ms"])
    op.create_index("ix_traces_experiment_id_execution_time_ms_request_time_ms", "traces",
                    ["experiment_id", "execution_time_ms", "request_time_ms"])
    op.create_index("ix_traces_trace_id_experiment_id_request_time_ms", "traces",
                    ["trace_id", "experiment_id", "request_time_ms"])
    op.drop_index("ix_assessments_session_id", "assessments")
    op.create_index("ix_assessments_session_id_experiment_id", "assessments",
                    ["session_id", "experiment_id"], sqlite_where=_SESSION_LEVEL,
                    postgresql_where=_SESSION_LEVEL)
    if Dialect(op.get_bind().dialect.name) is Dialect.POSTGRESQL:
        for table in _KEY_VALUE_TABLES:
            name, columns, kwargs = value_lookup_index(Dialect.POSTGRESQL, table)
            # 0001 made it a hash index (a database created since gets the B-tree at once)
            op.drop_index(name, table, if_exists=True)
            op.create_index(name, table, columns, **kwargs)


def downgrade() -> None:
    if Dialect(op.get_bind().dialect.name) is Dialect.POSTGRESQL:
        for table in _KEY_VALUE_TABLES:
            name = f"ix_{table}_value"
            op.drop_index(name, table)
            op.create_index(name, table, ["value"], postgresql_using="hash")
    op.drop_index("ix_assessments_session_id_experiment_id", "assessments")
    op.create_index("ix_assessments_session_id", "assessments", ["session_id"])
    op.drop_index("ix_traces_trace_id_experiment_id_request_time_ms", "traces")
    op.drop_index("ix_traces_experiment_id_execution_time_ms_request_time_ms", "traces")
    op.drop_index("ix_traces_session_id_request_time_ms", "traces")
    op.drop_index("ix_traces_user_id_request_time_ms", "traces")
    op.create_index("ix_traces_session_id", "traces", ["session_id"])
    op.create_index("ix_traces_user_id", "traces", ["user_id"])
