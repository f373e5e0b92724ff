"""The databases tests get are copies of one migrated per test process (``database_templates``):
each must be what the migrations make of an empty database, table for table, index for
index, row for row, or the copies would test another schema than users get."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from assay.feedback_tokens import FEEDBACK_TOKEN_PURPOSE
from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine
from conftest import PostgresServer
from database_templates import PostgresTemplate, copy_sqlite_template, new_schema
from factories import make_trace

# When the migrations ran: the default experiment's times differ from copy to copy.
_TIMES = {"creation_time_ms", "last_update_time_ms"}


def _rows(conn: sa.Connection, table: str) -> list[tuple[Any, ...]]:
    result = conn.execute(sa.text(f'SELECT * FROM "{table}"'))  # a name the database gave
    columns = list(result.keys())
    return sorted(tuple("<time>" if column in _TIMES else value
                        for column, value in zip(columns, row, strict=True))
                  for row in result)


def _describe_sqlite(conn: sa.Connection) -> dict[str, Any]:
    objects = conn.exec_driver_sql(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").all()
    tables = [name for type_, name, _, _ in objects if type_ == "table"]
    return {
        "objects": [tuple(row) for row in objects],
        "rows": {table: _rows(conn, table) for table in tables},
        "user_version": conn.exec_driver_sql("PRAGMA user_version").scalar(),
        "journal_mode": conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
    }


# Everything in the current schema, with the schema's own name taken out.
_POSTGRES_CATALOG = {
    "relations": """
        SELECT c.relname, c.relkind, c.relpersistence, c.relhasindex
        FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace
        ORDER BY c.relname""",
    "columns": """
        SELECT table_name, column_name, ordinal_position, column_default, is_nullable,
               data_type, character_maximum_length, numeric_precision, is_identity
        FROM information_schema.columns WHERE table_schema = current_schema()
        ORDER BY table_name, ordinal_position""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = current_schema() ORDER BY tablename, indexname""",
    "sequences": """
        SELECT sequencename, data_type, start_value, increment_by, max_value, last_value
        FROM pg_sequences WHERE schemaname = current_schema() ORDER BY sequencename""",
    "sequence_owners": """
        SELECT s.relname, t.relname, a.attname
        FROM pg_depend d
        JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        WHERE s.relnamespace = current_schema()::regnamespace AND d.deptype = 'a'
        ORDER BY 1""",
}


def _describe_postgres(conn: sa.Connection) -> dict[str, Any]:
    schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()

    def plain(value: Any) -> Any:
        return value.replace(f"{schema}.", "<schema>.") if isinstance(value, str) else value

    described: dict[str, Any] = {
        name: [tuple(plain(v) for v in row) for row in conn.exec_driver_sql(query)]
        for name, query in _POSTGRES_CATALOG.items()}
    tables = [name for name, kind, *_ in described["relations"] if kind == "r"]
    described["rows"] = {table: _rows(conn, table) for table in tables}
    # Where each sequence stands (pg_sequences leaves last_value NULL until first used).
    described["sequence_states"] = {
        name: tuple(conn.exec_driver_sql(f'SELECT last_value, is_called FROM "{name}"').one())
        for name, kind, *_ in described["relations"] if kind == "S"}
    return described


def _describe(uri: str) -> dict[str, Any]:
    engine, _ = create_engine(uri)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                return _describe_sqlite(conn)
            return _describe_postgres(conn)
    finally:
        engine.dispose()


KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _copy(kind: str, request: pytest.FixtureRequest, stack: ExitStack, path: Path) -> str:
    """A new copy of the test process's template database."""
    if kind == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        return copy_sqlite_template(template, path)
    postgres: PostgresTemplate = request.getfixturevalue("postgres_template")
    return stack.enter_context(postgres.schema())


def _empty(kind: str, request: pytest.FixtureRequest, stack: ExitStack, path: Path) -> str:
    """A new database nothing has set up."""
    if kind == "sqlite":
        return f"sqlite:///{path}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return stack.enter_context(new_schema(server.base_uri()))


@pytest.mark.parametrize("kind", KINDS)
def test_a_copied_database_is_what_the_migrations_make(kind: str, request: pytest.FixtureRequest,
                                                        tmp_path: Path) -> None:
    with ExitStack() as stack:
        copy = _copy(kind, request, stack, tmp_path / "copy.db")
        fresh = _empty(kind, request, stack, tmp_path / "fresh.db")
        SqlStore(fresh).close()  # migrated now, for real
        described, migrated = _describe(copy), _describe(fresh)
    assert described == migrated
    # Not two empty descriptions: the schema is there, with the default experiment.
    assert [row[:2] for row in migrated["rows"]["experiments"]] == [(0, "Default")]
    assert migrated["rows"]["alembic_version"] != []


@pytest.mark.parametrize("kind", KINDS)
def test_what_one_copy_gets_the_next_does_not(kind: str, request: pytest.FixtureRequest,
                                              tmp_path: Path) -> None:
    with ExitStack() as stack:
        for n in range(2):
            store = SqlStore(_copy(kind, request, stack, tmp_path / f"{n}.db"))
            try:
                assert [e.name for e in store.search_experiments()] == ["Default"]
                store.create_experiment("written to one copy")
            finally:
                store.close()


@pytest.mark.postgres
def test_a_postgresql_schema_used_again_is_what_the_migrations_make(
        postgres_template: PostgresTemplate, postgres_server: PostgresServer) -> None:
    # A test's schema is reset for the next one: its rows and sequences must then be what
    # a fresh migration leaves, whatever the test wrote.
    with postgres_template.schema() as first:
        store = SqlStore(first)
        try:
            experiment_id = store.create_experiment("written by the first test")
            store.log_traces([make_trace(experiment_id=experiment_id)])
            store.create_user("alice", "admin")
            store.signing_key(FEEDBACK_TOKEN_PURPOSE)
        finally:
            store.close()
    # Given back, it is reset while a later test runs on another schema; then it is used
    # again, not made anew.
    with postgres_template.schema() as one, postgres_template.schema() as two, \
            new_schema(postgres_server.base_uri()) as fresh:
        assert first in (one, two)
        SqlStore(fresh).close()
        assert _describe(first) == _describe(fresh)
        store = SqlStore(first)
        try:
            assert store.create_experiment("the next test's") == "1"
        finally:
            store.close()


@pytest.mark.postgres
def test_a_schema_whose_shape_a_test_changed_is_not_used_again(
        postgres_template: PostgresTemplate, postgres_server: PostgresServer) -> None:
    with postgres_template.schema() as changed:
        engine, _ = create_engine(changed)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE traces ADD COLUMN surprise TEXT")
        finally:
            engine.dispose()
    with postgres_template.schema() as next_one, \
            new_schema(postgres_server.base_uri()) as fresh:
        assert next_one != changed
        SqlStore(fresh).close()
        assert _describe(next_one) == _describe(fresh)
