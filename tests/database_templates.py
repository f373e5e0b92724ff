"""Databases migrated once per test process and copied for each test.

Migrating a new database costs tens of milliseconds on SQLite and over a hundred on
PostgreSQL, and most tests want nothing but an empty database at the newest schema. So
each test process migrates one database with the store's own migrations and hands every
test a copy of it:

- SQLite: the migrated file, copied byte for byte.
- PostgreSQL (a schema per test): the statements the migrations executed, recorded while
  they migrated a template schema and executed again, in one round trip, in the test's new
  schema. The same statements on the same empty schema make the same tables, indexes,
  sequences and rows.

``tests/store/test_database_templates.py`` compares each copy with a freshly migrated
database, so the shortcut cannot drift from the migrations; the tests of the migrations
themselves open empty databases (the ``empty_*`` fixtures) and migrate them for real.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event

from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine
from assay.store.sql.migrations import upgrade_schema

__all__ = [
    "PostgresTemplate",
    "copy_sqlite_template",
    "libpq_uri",
    "migrate_sqlite_template",
    "schema_uri",
]


def libpq_uri(uri: str) -> str:
    """``uri`` as psycopg takes it: without SQLAlchemy's ``+driver`` part."""
    scheme, sep, rest = uri.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


def schema_uri(base: str, schema: str) -> str:
    """``base`` with ``schema`` alone on the search path of every connection, so that
    Alembic's version table, the tables and every query land in it."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


def migrate_sqlite_template(path: Path) -> Path:
    """A SQLite file at ``path``, migrated by opening a store on it, and closed."""
    SqlStore(f"sqlite:///{path}").close()
    # Closing the last connection checkpoints the write-ahead log into the file and deletes
    # it: the file alone is the database.
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert not leftovers, f"the template left {leftovers} beside it"
    return path


def copy_sqlite_template(template: Path, target: Path) -> str:
    """A copy of ``template`` at ``target``, and its URI."""
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


class PostgresTemplate:
    """The statements that migrating an empty PostgreSQL schema executes, recorded once;
    :meth:`schema` makes a new schema and executes them in it."""

    def __init__(self, base_uri: str) -> None:
        import psycopg

        self.base_uri = base_uri
        name = f"assay_template_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(libpq_uri(base_uri), autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{name}"')
            try:
                self.script = self._record_migration(admin, schema_uri(base_uri, name))
            finally:
                admin.execute(f'DROP SCHEMA "{name}" CASCADE')

    @staticmethod
    def _record_migration(admin: Any, uri: str) -> str:
        import psycopg

        engine, dialect = create_engine(uri)
        executed: list[tuple[str, Any]] = []

        def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                   executemany: bool) -> None:
            for params in (parameters if executemany else [parameters]):
                executed.append((statement, params or None))

        event.listen(engine, "before_cursor_execute", record)
        try:
            upgrade_schema(engine, dialect)
        finally:
            engine.dispose()
        assert executed, "migrating an empty schema executed nothing"
        # The values bound to a statement (the default experiment's row) are written into
        # it, as psycopg would send them, so that the whole script is one string.
        with psycopg.ClientCursor(admin) as cursor:
            return ";\n".join(cursor.mogrify(statement, params)
                              for statement, params in executed)

    @contextmanager
    def schema(self) -> Iterator[str]:
        """A new schema at the newest revision, as the migrations leave it; its URI.
        Dropped afterwards."""
        with new_schema(self.base_uri, self.script) as uri:
            yield uri


@contextmanager
def new_schema(base_uri: str, script: str | None = None) -> Iterator[str]:
    """A new schema on the server of ``base_uri``, empty or made by ``script``; its URI.
    Dropped, with everything in it, afterwards."""
    import psycopg

    name = f"assay_test_{uuid.uuid4().hex[:12]}"
    setup = f'CREATE SCHEMA "{name}"'
    if script is not None:
        # One round trip, one transaction: the migration's statements, in the new schema.
        setup += f';\nSET search_path TO "{name}";\n{script}'
    with psycopg.connect(libpq_uri(base_uri), autocommit=True) as admin:
        admin.execute(setup.encode())
    try:
        yield schema_uri(base_uri, name)
    finally:
        with psycopg.connect(libpq_uri(base_uri), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{name}" CASCADE')
