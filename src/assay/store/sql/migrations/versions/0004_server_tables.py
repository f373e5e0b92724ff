"""The server's own tables: users, API keys and login sessions (auth), the keys that sign
browser feedback tokens, and feedback kept until its trace arrives.

Revision ID: 0004
Revises: 0003

* ``users``: who may use a server started with ``--auth``, with a role (admin, member,
  reviewer, viewer) and a password hash (for the web pages; NULL for API-only users).
* ``api_keys``: what SDKs send as a bearer token. Only a hash of the secret is kept;
  ``key_id`` is the public prefix shown in listings, so a key can be named and revoked.
* ``login_sessions``: the web pages' logins, by the hash of the cookie's value.
* ``signing_keys``: random secrets by purpose (feedback tokens, CSRF), created on first use,
  so every server process over one database signs and checks alike.
* ``pending_assessments``: feedback (or expectations) for a trace that has not arrived yet,
  as the JSON of the assessment; attached when the trace is written, dropped (and counted)
  once ``expires_time_ms`` has passed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from assay.store.sql.dialect import ID_TYPE

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(250), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("created_time_ms", sa.BigInteger, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint("role IN ('admin', 'member', 'reviewer', 'viewer')",
                           name="ck_users_role"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("user_id", ID_TYPE, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("created_time_ms", sa.BigInteger, nullable=False),
        sa.Column("last_used_time_ms", sa.BigInteger, nullable=True),
        sa.Column("expires_time_ms", sa.BigInteger, nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_id", name="uq_api_keys_key_id"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_api_keys_user_id_users"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "login_sessions",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("session_hash", sa.String(128), nullable=False),
        sa.Column("user_id", ID_TYPE, nullable=False),
        sa.Column("created_time_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_time_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_sessions"),
        sa.UniqueConstraint("session_hash", name="uq_login_sessions_session_hash"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_login_sessions_user_id_users"),
    )
    op.create_index("ix_login_sessions_user_id", "login_sessions", ["user_id"])
    op.create_index("ix_login_sessions_expires_time_ms", "login_sessions", ["expires_time_ms"])
    op.create_table(
        "signing_keys",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_time_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signing_keys"),
        sa.UniqueConstraint("purpose", name="uq_signing_keys_purpose"),
    )
    op.create_table(
        "pending_assessments",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("assessment_id", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_time_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_time_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pending_assessments"),
        sa.UniqueConstraint("assessment_id", name="uq_pending_assessments_assessment_id"),
    )
    op.create_index("ix_pending_assessments_trace_id", "pending_assessments", ["trace_id"])
    op.create_index("ix_pending_assessments_expires_time_ms", "pending_assessments",
                    ["expires_time_ms"])


def downgrade() -> None:
    op.drop_table("pending_assessments")
    op.drop_table("signing_keys")
    op.drop_table("login_sessions")
    op.drop_table("api_keys")
    op.drop_table("users")
