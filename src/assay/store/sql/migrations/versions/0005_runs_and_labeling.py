"""Runs (labeling sessions and evaluations), the traces in each run, label schemas, and
labeling sessions with each reviewer's state on each item.

Revision ID: 0005
Revises: 0004

* ``runs``: a run in MLflow's shape with a ``kind`` (labeling or evaluation); params,
  metrics and tags as JSON objects.
* ``run_traces``: which traces are in which run; a trace may be in several. Deleting a run or
  a trace deletes its links.
* ``label_schemas``: the questions labeling sessions ask, unique by name in an experiment,
  with their input as JSON.
* ``labeling_sessions``, ``labeling_reviewers``, ``labeling_reviews``: a session's settings
  (its run is the run of the same id), who is assigned, and each (item, reviewer)'s state;
  ``run_traces.completed_reviews`` counts an item's completed reviews.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from assay.store.sql.dialect import ID_TYPE

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("experiment_id", ID_TYPE, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time_ms", sa.BigInteger, nullable=False),
        sa.Column("end_time_ms", sa.BigInteger, nullable=True),
        sa.Column("user_id", sa.String(250), nullable=True),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("run_id", name="uq_runs_run_id"),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"],
                                name="fk_runs_experiment_id_experiments"),
        sa.CheckConstraint("kind IN ('labeling', 'evaluation')", name="ck_runs_kind"),
    )
    op.create_index("ix_runs_experiment_id_start_time_ms", "runs",
                    ["experiment_id", "start_time_ms"])
    op.create_table(
        "run_traces",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("added_time_ms", sa.BigInteger, nullable=False),
        sa.Column("completed_reviews", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_run_traces"),
        sa.UniqueConstraint("run_id", "trace_id", name="uq_run_traces_run_id_trace_id"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE",
                                name="fk_run_traces_run_id_runs"),
        sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], ondelete="CASCADE",
                                name="fk_run_traces_trace_id_traces"),
    )
    op.create_index("ix_run_traces_trace_id", "run_traces", ["trace_id"])
    op.create_index("ix_run_traces_run_id_completed_reviews_id", "run_traces",
                    ["run_id", "completed_reviews", "id"])
    op.create_table(
        "label_schemas",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("schema_id", sa.String(64), nullable=False),
        sa.Column("experiment_id", ID_TYPE, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("instruction", sa.Text, nullable=True),
        sa.Column("enable_comment", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=True),
        sa.Column("created_time_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_time_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_label_schemas"),
        sa.UniqueConstraint("schema_id", name="uq_label_schemas_schema_id"),
        sa.UniqueConstraint("experiment_id", "name",
                            name="uq_label_schemas_experiment_id_name"),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"],
                                name="fk_label_schemas_experiment_id_experiments"),
        sa.CheckConstraint("type IN ('feedback', 'expectation')", name="ck_label_schemas_type"),
    )
    op.create_table(
        "labeling_sessions",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("reviewers_per_item", sa.Integer, nullable=False),
        sa.Column("label_schemas", sa.Text, nullable=False),
        sa.Column("instructions", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_labeling_sessions"),
        sa.UniqueConstraint("run_id", name="uq_labeling_sessions_run_id"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE",
                                name="fk_labeling_sessions_run_id_runs"),
    )
    op.create_table(
        "labeling_reviewers",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("reviewer", sa.String(250), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_labeling_reviewers"),
        sa.UniqueConstraint("run_id", "reviewer", name="uq_labeling_reviewers_run_id_reviewer"),
        sa.ForeignKeyConstraint(["run_id"], ["labeling_sessions.run_id"], ondelete="CASCADE",
                                name="fk_labeling_reviewers_run_id_labeling_sessions"),
    )
    op.create_index("ix_labeling_reviewers_reviewer", "labeling_reviewers", ["reviewer"])
    op.create_table(
        "labeling_reviews",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("reviewer", sa.String(250), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claim_expires_ms", sa.BigInteger, nullable=True),
        sa.Column("updated_time_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_labeling_reviews"),
        sa.UniqueConstraint("run_id", "trace_id", "reviewer",
                            name="uq_labeling_reviews_run_id_trace_id_reviewer"),
        sa.ForeignKeyConstraint(["run_id"], ["labeling_sessions.run_id"], ondelete="CASCADE",
                                name="fk_labeling_reviews_run_id_labeling_sessions"),
        sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], ondelete="CASCADE",
                                name="fk_labeling_reviews_trace_id_traces"),
        sa.CheckConstraint("state IN ('in_progress', 'completed', 'skipped')",
                           name="ck_labeling_reviews_state"),
    )
    op.create_index("ix_labeling_reviews_run_id_reviewer_state", "labeling_reviews",
                    ["run_id", "reviewer", "state"])
    op.create_index("ix_labeling_reviews_trace_id", "labeling_reviews", ["trace_id"])


def downgrade() -> None:
    op.drop_table("labeling_reviews")
    op.drop_table("labeling_reviewers")
    op.drop_table("labeling_sessions")
    op.drop_table("label_schemas")
    op.drop_table("run_traces")
    op.drop_index("ix_runs_experiment_id_start_time_ms", table_name="runs")
    op.drop_table("runs")
