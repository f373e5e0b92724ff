"""Evaluation datasets: datasets, the experiments and tags of each, their versions, and
their records, each row one state of a record over a range of versions.

Revision ID: 0007
Revises: 0005

* ``datasets``: unique by name; ``version`` is the latest.
* ``dataset_experiments``, ``dataset_tags``: which experiments a dataset is in; its tags.
* ``dataset_versions``: one row a version (when, by whom, how many records).
* ``dataset_records``: a record's state is in the versions ``valid_from`` ≤ v <
  ``valid_to`` (NULL: current), so a new version writes only what it changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from assay.store.sql.dialect import ID_TYPE

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.String(34), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_time_ms", sa.BigInteger, nullable=False),
        sa.Column("last_update_time_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=True),
        sa.Column("last_updated_by", sa.String(250), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("dataset_id", name="uq_datasets_dataset_id"),
        sa.UniqueConstraint("name", name="uq_datasets_name"),
    )
    op.create_index("ix_datasets_created_time_ms", "datasets", ["created_time_ms"])
    op.create_index("ix_datasets_last_update_time_ms", "datasets", ["last_update_time_ms"])
    op.create_table(
        "dataset_experiments",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.String(34), nullable=False),
        sa.Column("experiment_id", ID_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_experiments"),
        sa.UniqueConstraint("dataset_id", "experiment_id",
                            name="uq_dataset_experiments_dataset_id_experiment_id"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.dataset_id"], ondelete="CASCADE",
                                name="fk_dataset_experiments_dataset_id_datasets"),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"],
                                name="fk_dataset_experiments_experiment_id_experiments"),
    )
    op.create_index("ix_dataset_experiments_experiment_id", "dataset_experiments",
                    ["experiment_id"])
    op.create_table(
        "dataset_tags",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.String(34), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_tags"),
        sa.UniqueConstraint("dataset_id", "key", name="uq_dataset_tags_dataset_id_key"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.dataset_id"], ondelete="CASCADE",
                                name="fk_dataset_tags_dataset_id_datasets"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.String(34), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("num_records", sa.Integer, nullable=False),
        sa.Column("created_time_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.UniqueConstraint("dataset_id", "version",
                            name="uq_dataset_versions_dataset_id_version"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.dataset_id"], ondelete="CASCADE",
                                name="fk_dataset_versions_dataset_id_datasets"),
    )
    op.create_table(
        "dataset_records",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.String(34), nullable=False),
        sa.Column("record_id", sa.String(35), nullable=False),
        sa.Column("inputs_digest", sa.String(64), nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=True),
        sa.Column("expectations", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("created_time_ms", sa.BigInteger, nullable=False),
        sa.Column("last_update_time_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=True),
        sa.Column("last_updated_by", sa.String(250), nullable=True),
        sa.Column("valid_from", sa.Integer, nullable=False),
        sa.Column("valid_to", sa.Integer, nullable=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_records"),
        sa.UniqueConstraint("dataset_id", "inputs_digest", "valid_from",
                            name="uq_dataset_records_dataset_id_inputs_digest_valid_from"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.dataset_id"], ondelete="CASCADE",
                                name="fk_dataset_records_dataset_id_datasets"),
    )
    op.create_index("ix_dataset_records_dataset_id_record_id", "dataset_records",
                    ["dataset_id", "record_id"])
    op.create_index("ix_dataset_records_dataset_id_position", "dataset_records",
                    ["dataset_id", "position"])


def downgrade() -> None:
    op.drop_table("dataset_records")
    op.drop_table("dataset_versions")
    op.drop_table("dataset_tags")
    op.drop_table("dataset_experiments")
    op.drop_index("ix_datasets_last_update_time_ms", table_name="datasets")
    op.drop_index("ix_datasets_created_time_ms", table_name="datasets")
    op.drop_table("datasets")
