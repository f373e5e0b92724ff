"""Databases migrated once per test process and copied for each test.

Migrating a new database costs tens of milliseconds on SQLite and over a hundred on
PostgreSQL, and most tests want nothing but an empty database at the newest schema. So
each test process migrates one database with the store's own migrations and hands every
test a copy of it:

- SQLite: the migrated file, copied byte for byte.
- PostgreSQL (a schema per test): the statements the migrations executed, recorded while
  they migrated a template schema and executed again, in one round trip, in a new schema.
  The same statements on the same empty schema make the same tables, indexes, sequences
  and rows. When its test is over, a schema whose tables the test left as they were is
  reset (rows deleted, the migrations' rows put back, sequences set back) and given to the
  next test: creating and dropping tables for every test costs far more, and leaves the
  server's catalogs full of dead rows. The reset (a few milliseconds) runs in a thread of
  its own, on a connection of its own, while the next test runs on a second schema. A
  store stays open on each schema for as long as the schema is kept, so that the tests'
  stores on it share its connections (see ``assay.store.sql.engine.open_engine``): a
  PostgreSQL test starts on warm backends instead of opening new ones, whose first
  statements load the catalogs anew.

``tests/store/test_database_templates.py`` compares each copy, and a schema used again,
with a freshly migrated database, so the shortcut cannot drift from the migrations; the
tests of the migrations themselves open empty databases (the ``empty_*`` fixtures) and
migrate them for real.
"""

from __future__ import annotations

import shutil
import threading
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


# The tables and sequences the migrations made (by name), as one string, with the schema's
# own name taken out: what a test must have left alone for its schema to be reset and used
# again. Looked up through the catalogs' indexes, so that it stays cheap however large
# the catalogs grow.
_SHAPE = """
WITH made(name, oid) AS (
    SELECT name, to_regclass(format('%%I.%%I', %(schema)s::text, name))
    FROM unnest(%(names)s::text[]) AS names(name)
)
SELECT string_agg(part, E'\\n' ORDER BY part) FROM (
    SELECT 'relation ' || m.name || ' ' || coalesce(c.relkind::text, 'missing')
    FROM made m LEFT JOIN pg_class c ON c.oid = m.oid
    UNION ALL
    SELECT 'column ' || m.name || '.' || a.attname || ' '
        || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' '
        || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM made m JOIN pg_attribute a ON a.attrelid = m.oid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || m.name || ' ' || conname || ' ' || pg_get_constraintdef(k.oid)
    FROM made m JOIN pg_constraint k ON k.conrelid = m.oid
    UNION ALL
    SELECT 'index ' || m.name || ' ' || pg_get_indexdef(i.indexrelid)
    FROM made m JOIN pg_index i ON i.indrelid = m.oid
) AS parts(part)
"""


class PostgresTemplate:
    """New PostgreSQL schemas as the migrations make them, for one test process.

    The statements that migrating an empty schema executes are recorded once (``script``);
    :meth:`schema` executes them in a new schema. A schema whose test is over is reset and
    handed to a later test instead of being dropped, when the test left its shape alone:
    its rows are deleted, the rows the migrations wrote put back, and its sequences set
    back to where the migrations left them. Resetting takes milliseconds where creating
    tables and indexes takes a hundred or more, and it runs in a thread of its own (the
    ``resetter``, with its own connection): two schemas take turns, one in a test's hands
    while the other is reset.
    """

    #: Schemas to keep in turn: one for the running test, one being reset meanwhile.
    TAKING_TURNS = 2
    #: Idle connections a schema keeps between tests; more (a test that ran many threads)
    #: are closed when the test is over, so that the test processes stay well within the
    #: server's connection limit.
    IDLE_CONNECTIONS = 4

    def __init__(self, base_uri: str) -> None:
        import psycopg

        self.base_uri = base_uri
        self._admin: psycopg.Connection[Any] | None = None  # the test's thread's
        self._changed = threading.Condition()
        self._idle: list[str] = []  # schemas reset and ready for the next test
        self._to_reset: list[str] = []
        self._resetting = 0  # taken from _to_reset by the resetter, not done yet
        self._made = 0  # schemas made and not dropped
        self._keepers: dict[str, SqlStore] = {}  # a store open on each schema kept
        self._failures: list[BaseException] = []
        self._closing = False
        name = f"assay_template_{uuid.uuid4().hex[:12]}"
        admin = self._connection()
        try:
            admin.execute(f'CREATE SCHEMA "{name}"')
            try:
                self.script = self._record_migration(admin, schema_uri(base_uri, name))
                self._names = [row[0] for row in admin.execute(
                    "SELECT relname FROM pg_class WHERE relkind IN ('r', 'S') AND "
                    "relnamespace = %s::text::regnamespace ORDER BY relname", [name])]
                self._shape = self._shape_of(admin, name)
                self._reset_script = self._record_contents(admin, name)
            finally:
                admin.execute(f'DROP SCHEMA "{name}" CASCADE')
        except BaseException:
            admin.close()
            raise
        self._resetter = threading.Thread(target=self._reset_in_turn, daemon=True,
                                          name="schema-resetter")
        self._resetter.start()

    def _connection(self) -> Any:
        """The test thread's connection for making and dropping schemas."""
        if self._admin is None or self._admin.closed or self._admin.broken:
            self._admin = self._connect()
        return self._admin

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(libpq_uri(self.base_uri), autocommit=True)

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

    def _shape_of(self, admin: Any, schema: str) -> str:
        row = admin.execute(_SHAPE, {"schema": schema, "names": self._names}).fetchone()
        return str(row[0] if row else "").replace(f"{schema}.", "")

    @staticmethod
    def _record_contents(admin: Any, schema: str) -> str:
        """The statements that bring a schema of this shape back to what the migrations
        left in ``schema``: its tables emptied, their rows put back, its sequences set."""
        import psycopg

        tables = [row[0] for row in admin.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
            [schema])]
        # The tables each table refers to (foreign keys): referring rows go first.
        refers: dict[str, set[str]] = {table: set() for table in tables}
        for table, referred in admin.execute(
                "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
                " WHERE contype = 'f' AND connamespace = %s::regnamespace", [schema]):
            refers[table.removeprefix(f"{schema}.")].add(referred.removeprefix(f"{schema}."))
        order: list[str] = []
        while len(order) < len(tables):
            # A table nothing left refers to is emptied next.
            ready = [t for t in tables if t not in order and not any(
                t in refers[other] for other in tables if other not in order and other != t)]
            assert ready, f"foreign keys in a cycle among {tables}"
            order.extend(ready)
        statements = [f'DELETE FROM "{table}"' for table in order]
        with psycopg.ClientCursor(admin) as cursor:
            for table in reversed(order):
                rows = admin.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
                for row in rows:
                    placeholders = ", ".join(["%s"] * len(row))
                    statements.append(cursor.mogrify(
                        f'INSERT INTO "{table}" VALUES ({placeholders})', row))
            for (sequence,) in admin.execute(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = %s", [schema]):
                last_value, is_called = admin.execute(
                    f'SELECT last_value, is_called FROM "{schema}"."{sequence}"').fetchone()
                statements.append(cursor.mogrify(
                    "SELECT setval(%s, %s, %s)", [f'"{sequence}"', last_value, is_called]))
        return ";\n".join(statements)

    @contextmanager
    def schema(self) -> Iterator[str]:
        """A schema at the newest revision, with what the migrations left in it and nothing
        else; its URI. Afterwards reset for a later test, or dropped if the test changed
        its shape."""
        name = self._take()
        try:
            yield schema_uri(self.base_uri, name)
        finally:
            pool = self._keepers[name]._engine.pool
            if pool.checkedin() > self.IDLE_CONNECTIONS:  # type: ignore[attr-defined]
                pool.dispose()
            with self._changed:
                self._to_reset.append(name)
                self._changed.notify_all()

    def _take(self) -> str:
        """A reset schema; one being reset when the schemas taking turns are all made (the
        reset takes milliseconds); else a new one."""
        with self._changed:
            while True:
                self._raise_failures()
                if self._idle:
                    return self._idle.pop()
                if self._made >= self.TAKING_TURNS and (self._to_reset or self._resetting):
                    self._changed.wait(timeout=1)
                    continue
                self._made += 1
                break
        name = f"assay_test_{uuid.uuid4().hex[:12]}"
        try:
            self._connection().execute(
                f'CREATE SCHEMA "{name}";\nSET search_path TO "{name}";\n{self.script};\n'
                "RESET search_path".encode())
            try:
                self._keepers[name] = SqlStore(schema_uri(self.base_uri, name))
            except BaseException:
                self._connection().execute(f'DROP SCHEMA "{name}" CASCADE')
                raise
        except BaseException:
            with self._changed:
                self._made -= 1
            raise
        return name

    def _reset_in_turn(self) -> None:
        """The resetter: resets each schema a test gave back (or drops it), until closed."""
        admin = None
        while True:
            with self._changed:
                while not self._to_reset and not self._closing:
                    self._changed.wait()
                if not self._to_reset:
                    break
                name = self._to_reset.pop(0)
                self._resetting += 1
            try:
                if admin is None or admin.closed or admin.broken:
                    admin = self._connect()
                kept = self._reset(admin, name)
            except BaseException as exc:  # raised in the tests' thread, by _take or close
                kept = False
                with self._changed:
                    self._failures.append(exc)
            with self._changed:
                self._resetting -= 1
                if kept:
                    self._idle.append(name)
                else:
                    self._made -= 1
                self._changed.notify_all()
        if admin is not None:
            admin.close()

    def _reset(self, admin: Any, name: str) -> bool:
        """Reset ``name`` for another test (True), or drop it if its test changed its
        shape or the reset failed (False)."""
        import psycopg

        if self._shape_of(admin, name) == self._shape:
            try:
                admin.execute(f'BEGIN;\nSET LOCAL search_path TO "{name}";\n'
                              f"{self._reset_script};\nCOMMIT".encode())
            except psycopg.Error:
                admin.execute("ROLLBACK")
            else:
                return True
        self._drop(admin, name)
        return False

    def _drop(self, admin: Any, name: str) -> None:
        keeper = self._keepers.pop(name, None)
        if keeper is not None:
            keeper.close()
        admin.execute(f'DROP SCHEMA "{name}" CASCADE')

    def _raise_failures(self) -> None:
        if self._failures:
            failure = self._failures.pop(0)
            raise RuntimeError("resetting a test's PostgreSQL schema failed") from failure

    def close(self) -> None:
        """Reset what tests gave back, then drop every schema kept for reuse."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._resetter.join(timeout=60)
        admin = self._connection()
        while self._idle:
            self._drop(admin, self._idle.pop())
        admin.close()
        self._raise_failures()


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
