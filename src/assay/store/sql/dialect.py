"""The SQL dialects Assay runs on, and every place where they differ.

Code elsewhere in the SQL store is written once for both databases; anything that has to be
spelled differently for SQLite and PostgreSQL is a function here that matches on
:class:`Dialect` and ends in ``assert_never``, so adding a dialect fails type checking until
every difference is handled.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, assert_never

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert

__all__ = [
    "ID_TYPE",
    "Dialect",
    "has_single_writer",
    "in_chunks",
    "is_transient_open_error",
    "lock_for_migration",
    "upsert",
    "upsert_many",
    "value_lookup_index",
]


class Dialect(enum.Enum):
    """A database Assay can store into."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"

    @classmethod
    def of(cls, bind: sa.Engine | Connection) -> Dialect:
        """The dialect an engine or a connection speaks."""
        return cls(bind.dialect.name)


#: Surrogate keys: 64-bit on PostgreSQL (spans grow by thousands a second), but plain INTEGER
#: on SQLite, because only a column declared exactly ``INTEGER PRIMARY KEY`` becomes the rowid
#: and gets its values assigned automatically (SQLite integers are 64-bit anyway).
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

T = TypeVar("T")

# PostgreSQL's advisory lock key for schema migrations: any constant shared by every Assay
# process; this one is "assay" in ASCII.
_MIGRATION_LOCK_KEY = 0x6173736179


def upsert(dialect: Dialect, table: sa.Table, conflict_columns: Sequence[str],
           update_columns: Sequence[str]) -> Insert:
    """``INSERT … ON CONFLICT (conflict_columns) DO UPDATE SET`` the update columns.

    With no update columns the statement is ``ON CONFLICT DO NOTHING``. Execute it with a list
    of parameter dicts, or use :func:`upsert_many` for a batch.
    """
    stmt: sqlite.Insert | postgresql.Insert
    match dialect:
        case Dialect.SQLITE:
            stmt = sqlite.insert(table)
        case Dialect.POSTGRESQL:
            stmt = postgresql.insert(table)
        case _:
            assert_never(dialect)
    if not update_columns:
        return stmt.on_conflict_do_nothing(index_elements=list(conflict_columns))
    return stmt.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_={name: stmt.excluded[name] for name in update_columns},
    )


def upsert_many(conn: Connection, dialect: Dialect, table: sa.Table,
                conflict_columns: Sequence[str], columns: Sequence[str],
                rows: list[tuple[Any, ...]]) -> None:
    """Upsert many rows in one statement execution: the batch write of the hot path.

    Each row is a tuple of values for ``columns``, in that order; on a conflict on
    ``conflict_columns`` every other column is replaced. Rows must be unique on
    ``conflict_columns`` (PostgreSQL refuses to update one row twice in one statement).
    """
    if not rows:
        return
    update_columns = [name for name in columns if name not in conflict_columns]
    match dialect:
        case Dialect.SQLITE:
            # SQLite runs in-process, so a driver-level executemany costs no round trips.
            stmt = upsert(dialect, table, conflict_columns, update_columns)
            _execute_many(conn, stmt, columns, rows)
        case Dialect.POSTGRESQL:
            # One round trip for the whole batch: each column travels as one array parameter
            # and unnest() turns the arrays back into rows, server side. (executemany, even
            # pipelined, costs about twice as much.)
            conn.execute(_upsert_from_arrays(table, conflict_columns, update_columns, columns),
                         {name: list(values)
                          for name, values in zip(columns, zip(*rows, strict=True),
                                                  strict=True)})
        case _:
            assert_never(dialect)


def _upsert_from_arrays(table: sa.Table, conflict_columns: Sequence[str],
                        update_columns: Sequence[str], columns: Sequence[str]) -> Insert:
    arrays = [sa.bindparam(name, type_=postgresql.ARRAY(table.c[name].type))
              for name in columns]
    unnested = sa.func.unnest(*arrays).table_valued(*columns).render_derived(name="batch")
    stmt = postgresql.insert(table).from_select(
        list(columns), sa.select(*(unnested.c[name] for name in columns)))
    return stmt.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_={name: stmt.excluded[name] for name in update_columns},
    )


def _execute_many(conn: Connection, stmt: Insert, columns: Sequence[str],
                  rows: list[tuple[Any, ...]]) -> None:
    # Execute stmt for every row with one driver-level executemany. conn.execute(stmt, dicts)
    # would run SQLAlchemy's parameter processing for every row, which on the hot path costs
    # as much as SQLite's insert itself. Here the statement is compiled once per call and the
    # rows go straight to the driver, still as bound parameters, never as SQL text. That is
    # only right when no column type converts values on their way to the driver (true of the
    # text and integer columns of the store); otherwise this takes the ordinary path.
    names = list(columns)
    compiled = stmt.compile(dialect=conn.dialect, column_keys=names, for_executemany=True)
    if (not isinstance(compiled, SQLCompiler) or not compiled.positional
            or any(bind.type.bind_processor(conn.dialect) is not None
                   for bind in compiled.binds.values())):
        conn.execute(stmt, [dict(zip(names, row, strict=True)) for row in rows])
        return
    params: list[tuple[Any, ...]] = rows
    if compiled.positiontup != names:  # placeholders in another order than the columns
        positions = [names.index(name) for name in compiled.positiontup or ()]
        params = [tuple(row[i] for i in positions) for row in rows]
    conn.exec_driver_sql(compiled.string, params)


def in_chunks(values: Sequence[T], dialect: Dialect) -> Iterator[Sequence[T]]:
    """``values`` in pieces small enough to bind as one ``IN (...)`` list."""
    size = _max_bind_params(dialect)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _max_bind_params(dialect: Dialect) -> int:
    # How many bound parameters one statement may safely carry.
    match dialect:
        case Dialect.SQLITE:
            # SQLITE_MAX_VARIABLE_NUMBER is 32766 since SQLite 3.32, but 999 before; stay
            # under the old limit so that any SQLite a Python build links against works.
            return 900
        case Dialect.POSTGRESQL:
            # The wire protocol counts parameters in 16 bits.
            return 30_000
        case _:
            assert_never(dialect)


def has_single_writer(dialect: Dialect) -> bool:
    """Whether the database admits one writing transaction at a time.

    The store then makes the threads of a process take turns on a lock before writing, which
    is cheaper than having them wait for the database's lock (SQLite's is a file lock, retried
    by polling while busy).
    """
    match dialect:
        case Dialect.SQLITE:
            return True
        case Dialect.POSTGRESQL:
            return False
        case _:
            assert_never(dialect)


def is_transient_open_error(dialect: Dialect, exc: sa.exc.OperationalError) -> bool:
    """Whether an error while opening a database is worth trying again in a moment."""
    match dialect:
        case Dialect.SQLITE:
            # A new file being switched to WAL by another connection, or WAL recovery.
            return "locked" in str(exc.orig)
        case Dialect.POSTGRESQL:
            return False
        case _:
            assert_never(dialect)


def lock_for_migration(conn: Connection, dialect: Dialect) -> None:
    """Serialize schema migrations between processes, until the current transaction ends."""
    match dialect:
        case Dialect.SQLITE:
            # Nothing to do: the migration transaction starts with BEGIN IMMEDIATE (see
            # engine.py), which already holds SQLite's single write lock.
            return
        case Dialect.POSTGRESQL:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
        case _:
            assert_never(dialect)


def value_lookup_index(dialect: Dialect, table_name: str) -> tuple[str, list[str], dict[str, Any]]:
    """The index that serves ``key = ? AND value = ?`` lookups on a key/value table.

    Returns the index name, its columns and the dialect keyword arguments. SQLite gets a
    B-tree on (key, value). PostgreSQL cannot: a B-tree entry must fit in about 2.7 kB and tag
    values reach 4096 characters (metadata values are unbounded), so it gets a hash index on
    the value, which stores only a 32-bit hash and serves the same equality lookups.
    """
    match dialect:
        case Dialect.SQLITE:
            return f"ix_{table_name}_key_value", ["key", "value"], {}
        case Dialect.POSTGRESQL:
            return f"ix_{table_name}_value", ["value"], {"postgresql_using": "hash"}
        case _:
            assert_never(dialect)
