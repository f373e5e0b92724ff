"""Gold labels of labeling sessions (adjudications, and the gold value kept at write time)
and routing rules that add traces to sessions as they arrive.

Revision ID: 0006
Revises: 0005

* ``labeling_adjudications``: the final value an adjudicator set for one (session, item,
  schema); setting it again replaces it.
* ``labeling_gold``: the gold label of each (session, item, schema) that has one: the
  adjudicated value, else the value every reviewer gave once enough reviewed. Kept up to
  date by every write that changes it, so reading and searching never scan answers.
* ``labeling_routing_rules``: a filter string and a sample rate that route matching traces
  of the session's experiment into the session, with a count of the traces routed.
* ``labeling_routed_traces``: which traces each rule has routed, so a rule routes a trace
  once only (one removed from the session by hand is not added again by the same rule).

Every row goes with its session (and its trace): deleting either deletes it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from assay.store.sql.dialect import ID_TYPE

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "labeling_adjudications",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("adjudicator", sa.String(250), nullable=True),
        sa.Column("updated_time_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_labeling_adjudications"),
        sa.UniqueConstraint("run_id", "trace_id", "name",
                            name="uq_labeling_adjudications_run_id_trace_id_name"),
        sa.ForeignKeyConstraint(["run_id"], ["labeling_sessions.run_id"], ondelete="CASCADE",
                                name="fk_labeling_adjudications_run_id_labeling_sessions"),
        sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], ondelete="CASCADE",
                                name="fk_labeling_adjudications_trace_id_traces"),
    )
    op.create_index("ix_labeling_adjudications_trace_id", "labeling_adjudications",
                    ["trace_id"])
    op.create_table(
        "labeling_gold",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("numeric_value", sa.Double, nullable=True),
        sa.Column("adjudicated", sa.Boolean, nullable=False),
        sa.Column("updated_time_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_labeling_gold"),
        sa.UniqueConstraint("run_id", "trace_id", "name",
                            name="uq_labeling_gold_run_id_trace_id_name"),
        sa.ForeignKeyConstraint(["run_id"], ["labeling_sessions.run_id"], ondelete="CASCADE",
                                name="fk_labeling_gold_run_id_labeling_sessions"),
        sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], ondelete="CASCADE",
                                name="fk_labeling_gold_trace_id_traces"),
    )
    op.create_index("ix_labeling_gold_trace_id_name", "labeling_gold", ["trace_id", "name"])
    op.create_table(
        "labeling_routing_rules",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("experiment_id", ID_TYPE, nullable=False),
        sa.Column("filter_string", sa.Text, nullable=False),
        sa.Column("sample_rate", sa.Double, nullable=False),
        sa.Column("hit_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(250), nullable=True),
        sa.Column("created_time_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_labeling_routing_rules"),
        sa.UniqueConstraint("rule_id", name="uq_labeling_routing_rules_rule_id"),
        sa.ForeignKeyConstraint(["run_id"], ["labeling_sessions.run_id"], ondelete="CASCADE",
                                name="fk_labeling_routing_rules_run_id_labeling_sessions"),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"],
                                name="fk_labeling_routing_rules_experiment_id_experiments"),
    )
    op.create_index("ix_labeling_routing_rules_experiment_id", "labeling_routing_rules",
                    ["experiment_id"])
    op.create_index("ix_labeling_routing_rules_run_id", "labeling_routing_rules", ["run_id"])
    op.create_table(
        "labeling_routed_traces",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("routed_time_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_labeling_routed_traces"),
        sa.UniqueConstraint("rule_id", "trace_id",
                            name="uq_labeling_routed_traces_rule_id_trace_id"),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["labeling_routing_rules.rule_id"], ondelete="CASCADE",
            name="fk_labeling_routed_traces_rule_id_labeling_routing_rules"),
        sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], ondelete="CASCADE",
                                name="fk_labeling_routed_traces_trace_id_traces"),
    )
    op.create_index("ix_labeling_routed_traces_trace_id", "labeling_routed_traces",
                    ["trace_id"])


def downgrade() -> None:
    op.drop_table("labeling_routed_traces")
    op.drop_table("labeling_routing_rules")
    op.drop_table("labeling_gold")
    op.drop_table("labeling_adjudications")
