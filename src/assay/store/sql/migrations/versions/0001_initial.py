"""Initial schema: experiments (with "0" Default), traces, trace tags and metadata, spans.

Revision ID: 0001
Revises: (none)

A migration is a snapshot: it spells its tables out instead of importing ``schema.py``, so
that later changes to the schema module never change what this revision creates. Only the
dialect differences (the surrogate key type, the key/value lookup index) come from
``dialect.py``, where every such difference lives.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

from assay.store.sql.dialect import ID_TYPE, Dialect, value_lookup_index

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_KEY_VALUE_TABLES = ("trace_tags", "trace_metadata")


def upgrade() -> None:
    experiments = op.create_table(
        "experiments",
        sa.Column("experiment_id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("creation_time_ms", sa.BigInteger, nullable=False),
        sa.Column("last_update_time_ms", sa.BigInteger, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", name="pk_experiments"),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
    )
    op.create_index("ix_experiments_creation_time_ms", "experiments", ["creation_time_ms"])
    now_ms = int(time.time() * 1000)
    op.bulk_insert(experiments, [{
        "experiment_id": 0, "name": "Default", "lifecycle_stage": "active",
        "creation_time_ms": now_ms, "last_update_time_ms": now_ms, "tags": "{}",
    }])

    op.create_table(
        "traces",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("experiment_id", ID_TYPE, nullable=False),
        sa.Column("request_time_ms", sa.BigInteger, nullable=False),
        sa.Column("execution_time_ms", sa.BigInteger, nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("client_request_id", sa.String(250), nullable=True),
        sa.Column("session_id", sa.String(250), nullable=True),
        sa.Column("user_id", sa.String(250), nullable=True),
        sa.Column("request_preview", sa.Text, nullable=True),
        sa.Column("response_preview", sa.Text, nullable=True),
        sa.Column("input_tokens", sa.BigInteger, nullable=True),
        sa.Column("output_tokens", sa.BigInteger, nullable=True),
        sa.Column("total_tokens", sa.BigInteger, nullable=True),
        sa.Column("run_id", sa.String(250), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_traces"),
        sa.UniqueConstraint("trace_id", name="uq_traces_trace_id"),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"],
                                name="fk_traces_experiment_id_experiments"),
    )
    op.create_index("ix_traces_experiment_id_request_time_ms", "traces",
                    ["experiment_id", "request_time_ms"])
    for column in ("client_request_id", "session_id", "user_id", "run_id"):
        op.create_index(f"ix_traces_{column}", "traces", [column])

    dialect = Dialect.of(op.get_bind())
    for table in _KEY_VALUE_TABLES:
        op.create_table(
            table,
            sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
            sa.Column("trace_id", sa.String(64), nullable=False),
            sa.Column("key", sa.String(250) if table == "trace_tags" else sa.Text,
                      nullable=False),
            sa.Column("value", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
            sa.UniqueConstraint("trace_id", "key", name=f"uq_{table}_trace_id_key"),
            sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], ondelete="CASCADE",
                                    name=f"fk_{table}_trace_id_traces"),
        )
        index_name, columns, kwargs = value_lookup_index(dialect, table)
        op.create_index(index_name, table, columns, **kwargs)

    op.create_table(
        "spans",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("parent_id", sa.String(16), nullable=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("span_type", sa.Text, nullable=False),
        sa.Column("status_code", sa.String(16), nullable=False),
        sa.Column("status_message", sa.Text, nullable=False),
        sa.Column("start_time_ns", sa.BigInteger, nullable=False),
        sa.Column("end_time_ns", sa.BigInteger, nullable=True),
        sa.Column("inputs", sa.Text, nullable=True),
        sa.Column("outputs", sa.Text, nullable=True),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spans"),
        sa.UniqueConstraint("trace_id", "span_id", name="uq_spans_trace_id_span_id"),
        sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], ondelete="CASCADE",
                                name="fk_spans_trace_id_traces"),
    )


def downgrade() -> None:
    op.drop_table("spans")
    for table in reversed(_KEY_VALUE_TABLES):
        op.drop_table(table)
    op.drop_table("traces")
    op.drop_table("experiments")
