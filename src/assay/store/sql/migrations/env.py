"""Alembic's entry point for the SQL store's migrations.

Assay runs migrations itself (``assay.store.sql.migrations.upgrade_schema``), with no
alembic.ini: it passes an open connection, already inside the transaction that holds the
migration lock, in ``config.attributes["connection"]``, and commits when this returns.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "Assay's migrations run through assay.store.sql.migrations.upgrade_schema(), "
        "which passes an open connection; they cannot run from the alembic command line")

context.configure(connection=connection, target_metadata=None)
# The connection is already in a transaction, so this neither begins nor commits: the caller
# commits the migration together with its lock.
with context.begin_transaction():
    context.run_migrations()
