"""Reading a labeling session's answers without its items' join, and a change counter that
lets a session's agreement be kept between its changes.

Revision ID: 0008
Revises: 0007

* ``ix_assessments_run_id_name_valid_source_type_create_time_ms``: a session's current
  answers to one question, oldest first, read as one index range (the answers of a
  100,000-item session were read by 300,000 probes of the items' traces before).
* ``labeling_sessions.answers_version``: counts the writes that can change a session's
  answers, adjudications or items (an answer, an adjudication, items added or removed, an
  assessment on one of its items logged, changed or deleted), so that what is computed from
  all its answers can be kept until the next one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_assessments_run_id_name_valid_source_type_create_time_ms",
                    "assessments", ["run_id", "name", "valid", "source_type", "create_time_ms"])
    with op.batch_alter_table("labeling_sessions") as batch:
        batch.add_column(sa.Column("answers_version", sa.BigInteger, nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("labeling_sessions") as batch:
        batch.drop_column("answers_version")
    op.drop_index("ix_assessments_run_id_name_valid_source_type_create_time_ms",
                  "assessments")
