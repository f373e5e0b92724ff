"""Schema migrations: bring a database to the schema this version of Assay expects.

The check costs one small query, made with plain SQLAlchemy; Alembic (slow to import) is
loaded only when the database actually needs upgrading: the first time a new database is
opened, or after Assay was upgraded. The upgrade runs inside one transaction that first takes
a lock (SQLite's write lock, or a PostgreSQL advisory lock) and then checks the version
again, so two processes opening a new database at once migrate it exactly once.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.errors import AssayError
from assay.store.sql.dialect import Dialect, lock_for_migration
from assay.store.sql.engine import WRITE_OPTION

__all__ = ["HEAD_REVISION", "read_revision", "upgrade_schema"]

#: The newest revision in ``versions/``; a test checks it against Alembic's own view.
HEAD_REVISION = "0009"

_VERSION_TABLE = "alembic_version"
_version_table = sa.table(_VERSION_TABLE, sa.column("version_num", sa.String))


def read_revision(conn: Connection) -> str | None:
    """The schema revision of the database, or None for a database Assay never set up."""
    if not sa.inspect(conn).has_table(_VERSION_TABLE):
        return None
    revision = conn.execute(sa.select(_version_table.c.version_num)).scalar_one_or_none()
    return None if revision is None else str(revision)


def upgrade_schema(engine: sa.Engine, dialect: Dialect) -> None:
    """Bring the database to :data:`HEAD_REVISION` unless it is there already."""
    with engine.connect() as conn:
        if read_revision(conn) == HEAD_REVISION:
            return
    _run_alembic_upgrade(engine, dialect)


def _run_alembic_upgrade(engine: sa.Engine, dialect: Dialect) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            lock_for_migration(conn, dialect)
            current = read_revision(conn)
            if current == HEAD_REVISION:  # another process got there first
                return
            config = Config()
            config.set_main_option("script_location", str(Path(__file__).parent))
            # Set explicitly: Alembic warns when a configuration lacks it.
            config.set_main_option("path_separator", "os")
            config.attributes["connection"] = conn
            try:
                command.upgrade(config, "head")
            except CommandError as exc:
                raise AssayError(
                    f"The database has schema revision {current!r}, which this version of "
                    f"Assay does not know (it expects {HEAD_REVISION!r}); it was probably "
                    "created by a newer Assay: upgrade Assay to use it") from exc
