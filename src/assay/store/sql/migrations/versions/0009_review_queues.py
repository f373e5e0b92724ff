"""Review queues (MLflow's ``mlflow.genai.review_queues``) over labeling sessions.

Revision ID: 0009
Revises: 0008

* ``labeling_sessions.queue_type``, ``queue_key`` (unique: a queue's name once per
  experiment regardless of case) and ``queue_updated_ms``: a session that is a review queue;
  NULL in all three for the others.
* ``run_traces.review_status``, ``completed_by``, ``completed_time_ms``, ``status_time_ms``:
  an item's status shared by its queue's reviewers (NULL: pending), with the index
  ``(run_id, review_status, id)`` to list a queue's items of one status newest first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("labeling_sessions") as batch:
        batch.add_column(sa.Column("queue_type", sa.String(8), nullable=True))
        batch.add_column(sa.Column("queue_key", sa.String(300), nullable=True))
        batch.add_column(sa.Column("queue_updated_ms", sa.BigInteger, nullable=True))
    op.create_index("ix_labeling_sessions_queue_key", "labeling_sessions", ["queue_key"],
                    unique=True)
    with op.batch_alter_table("run_traces") as batch:
        batch.add_column(sa.Column("review_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("completed_by", sa.String(250), nullable=True))
        batch.add_column(sa.Column("completed_time_ms", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("status_time_ms", sa.BigInteger, nullable=True))
    op.create_index("ix_run_traces_run_id_review_status_id", "run_traces",
                    ["run_id", "review_status", "id"])


def downgrade() -> None:
    op.drop_index("ix_run_traces_run_id_review_status_id", "run_traces")
    with op.batch_alter_table("run_traces") as batch:
        for column in ("status_time_ms", "completed_time_ms", "completed_by", "review_status"):
            batch.drop_column(column)
    op.drop_index("ix_labeling_sessions_queue_key", "labeling_sessions")
    with op.batch_alter_table("labeling_sessions") as batch:
        for column in ("queue_updated_ms", "queue_key", "queue_type"):
            batch.drop_column(column)
