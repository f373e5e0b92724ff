"""Assessments: feedback and expectations on traces, with history and a numeric projection.

Revision ID: 0002
Revises: 0001

A snapshot, like every migration: the table is spelled out here, not imported from
``schema.py``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from assay.store.sql.dialect import ID_TYPE

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("assessment_id", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("experiment_id", ID_TYPE, nullable=False),
        sa.Column("span_id", sa.String(16), nullable=True),
        sa.Column("session_id", sa.String(250), nullable=True),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("numeric_value", sa.Double, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("source_type", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(250), nullable=True),
        sa.Column("rationale", sa.Text, nullable=True),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("create_time_ms", sa.BigInteger, nullable=False),
        sa.Column("last_update_time_ms", sa.BigInteger, nullable=False),
        sa.Column("overrides", sa.String(64), nullable=True),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("run_id", sa.String(250), nullable=True),
        sa.Column("idempotency_key", sa.String(250), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_assessments"),
        sa.UniqueConstraint("assessment_id", name="uq_assessments_assessment_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_assessments_idempotency_key"),
        sa.CheckConstraint("kind IN ('feedback', 'expectation')", name="ck_assessments_kind"),
        sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], ondelete="CASCADE",
                                name="fk_assessments_trace_id_traces"),
    )
    op.create_index("ix_assessments_trace_id", "assessments", ["trace_id"])
    op.create_index("ix_assessments_session_id", "assessments", ["session_id"])
    op.create_index("ix_assessments_overrides", "assessments", ["overrides"])
    op.create_index("ix_assessments_experiment_id_name_valid", "assessments",
                    ["experiment_id", "name", "valid"])


def downgrade() -> None:
    op.drop_table("assessments")
