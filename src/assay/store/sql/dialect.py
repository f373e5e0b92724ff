"""The SQL dialects Assay runs on, and every place where they differ.

Code elsewhere in the SQL store is written once for both databases; anything that has to be
spelled differently for SQLite and PostgreSQL is a function here that matches on
:class:`Dialect` and ends in ``assert_never``, so adding a dialect fails type checking until
every difference is handled.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import itertools
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, assert_never

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert

__all__ = [
    "ID_TYPE",
    "MAX_INDEXED_VALUE_CHARS",
    "Dialect",
    "floor_to_int",
    "has_single_writer",
    "in_chunks",
    "in_values",
    "insert_ignoring_conflicts",
    "is_transient_open_error",
    "json_member_text",
    "json_string_text",
    "like",
    "lock_for_migration",
    "lock_pending_assessments",
    "lock_vote",
    "not_joined",
    "regexp",
    "tune_for_analytics",
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
# The same for keeping and attaching pending assessments; "pending" in ASCII.
_PENDING_LOCK_KEY = 0x70656E64696E67
# Votes lock one key per (trace, name, voter) in the two-key space, which does not overlap
# the one-key space of the locks above; this first key is "vote" in ASCII.
_VOTE_LOCK_CLASS = 0x766F7465
# Handing out a labeling session's items locks one key per session in the two-key space;
# this first key is "clai" in ASCII.
_CLAIM_LOCK_CLASS = 0x636C6169


def upsert(dialect: Dialect, table: sa.Table, conflict_columns: Sequence[str],
           update_columns: Sequence[str], kept: Sequence[str] = (),
           where: sa.ColumnElement[bool] | None = None) -> Insert:
    """``INSERT … ON CONFLICT (conflict_columns) DO UPDATE SET`` the update columns.

    With no update columns the statement is ``ON CONFLICT DO NOTHING``. An update column in
    ``kept`` keeps its stored value when the new row has NULL there. With ``where`` (on the
    stored row), a conflicting row that does not match it is left as it is (and the
    statement counts no row). Execute it with a list of parameter dicts, or use
    :func:`upsert_many` for a batch.
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
        set_={name: _new_value(stmt, table, name, kept) for name in update_columns},
        where=where,
    )


def _new_value(stmt: sqlite.Insert | postgresql.Insert, table: sa.Table, name: str,
               kept: Sequence[str]) -> Any:
    """What an upsert sets ``name`` to: the new row's value, or for a ``kept`` column the
    stored one when the new row has NULL."""
    if name in kept:
        return sa.func.coalesce(stmt.excluded[name], table.c[name])
    return stmt.excluded[name]


def insert_ignoring_conflicts(dialect: Dialect, table: sa.Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING``: rows that would break any unique constraint of
    ``table`` are skipped (whichever constraint it is), the others inserted."""
    match dialect:
        case Dialect.SQLITE:
            return sqlite.insert(table).on_conflict_do_nothing()
        case Dialect.POSTGRESQL:
            return postgresql.insert(table).on_conflict_do_nothing()
        case _:
            assert_never(dialect)


def upsert_many(conn: Connection, dialect: Dialect, table: sa.Table,
                conflict_columns: Sequence[str], columns: Sequence[str],
                rows: Sequence[tuple[Any, ...]], *, replace: bool = True,
                kept: tuple[str, ...] = ()) -> None:
    """Upsert many rows in one statement execution: the batch write of the hot path.

    Each row is a tuple of values for ``columns``, in that order; on a conflict on
    ``conflict_columns`` every other column is replaced (``replace=False``: the stored row
    is kept as it is and the new one dropped), except that a column in ``kept`` keeps its
    stored value where the new row has NULL. Rows must be unique on ``conflict_columns``
    (PostgreSQL refuses to update one row twice in one statement).

    The statement is built and compiled once per table and column list, not per batch:
    compiling an upsert costs about as much as SQLite's writing a hundred rows.
    """
    if not rows:
        return
    match dialect:
        case Dialect.SQLITE:
            # SQLite runs in-process, so sending every row costs no round trip; what counts
            # is the Python work per row (see _execute_multi_row).
            sql = _sqlite_upsert_sql(conn.dialect, table, tuple(conflict_columns),
                                     tuple(columns), replace, kept)
            if sql is None:
                stmt = upsert(dialect, table, conflict_columns,
                              [c for c in columns if c not in conflict_columns] if replace
                              else (), kept)
                conn.execute(stmt, [dict(zip(columns, row, strict=True)) for row in rows])
                return
            _execute_multi_row(conn, sql, rows)
        case Dialect.POSTGRESQL:
            # One round trip for the whole batch: the rows travel as one JSON parameter and
            # json_to_recordset() turns it back into typed rows, server side. (executemany,
            # even pipelined, costs about twice as much; one array parameter per column
            # costs the driver a regular expression per value to quote it, json.dumps is
            # one C call for them all.)
            stmt = _upsert_from_json(table, tuple(conflict_columns), tuple(columns), replace,
                                     kept)
            names = list(columns)
            # ASCII-only JSON: a string that UTF-8 cannot encode (a lone surrogate) then
            # reaches the server as an escape, which it refuses as bad data.
            conn.execute(stmt, {"batch_rows": json.dumps(
                [dict(zip(names, row, strict=True)) for row in rows], separators=(",", ":"))})
        case _:
            assert_never(dialect)


@functools.lru_cache(maxsize=64)
def _upsert_from_json(table: sa.Table, conflict_columns: tuple[str, ...],
                      columns: tuple[str, ...], replace: bool,
                      kept: tuple[str, ...] = ()) -> Insert:
    # Kept, so that SQLAlchemy finds its compiled form in its cache at once rather than
    # building the statement and its cache key again for every batch.
    rows = sa.cast(sa.bindparam("batch_rows", type_=sa.Text), postgresql.JSON)
    batch = (sa.func.json_to_recordset(rows)
             .table_valued(*(sa.column(name, table.c[name].type) for name in columns))
             .render_derived(name="batch", with_types=True))
    stmt = postgresql.insert(table).from_select(
        list(columns), sa.select(*(batch.c[name] for name in columns)))
    if not replace:
        return stmt.on_conflict_do_nothing(index_elements=list(conflict_columns))
    return stmt.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_={name: _new_value(stmt, table, name, kept)
              for name in columns if name not in conflict_columns},
    )


@dataclass(frozen=True)
class _MultiRowSql:
    """A compiled one-row INSERT, cut around its placeholder group so that the group can be
    repeated: ``{head} VALUES {group}, {group}, ...{tail}``."""

    head: str
    group: str
    tail: str
    #: The index in the row tuple of each placeholder of the group, in order.
    positions: tuple[int, ...] | None
    width: int


@functools.lru_cache(maxsize=64)
def _sqlite_upsert_sql(sa_dialect: sa.Dialect, table: sa.Table,
                       conflict_columns: tuple[str, ...], columns: tuple[str, ...],
                       replace: bool, kept: tuple[str, ...] = ()) -> _MultiRowSql | None:
    """The upsert of ``table`` compiled once (per dialect object, table and columns); None
    when it cannot take the rows as they are (a column type that converts values on their
    way to the driver), and the ordinary path must be used."""
    update_columns = [name for name in columns if name not in conflict_columns] if replace \
        else []
    stmt = upsert(Dialect.SQLITE, table, conflict_columns, update_columns, kept)
    names = list(columns)
    compiled = stmt.compile(dialect=sa_dialect, column_keys=names, for_executemany=True)
    if (not isinstance(compiled, SQLCompiler) or not compiled.positional
            or any(bind.type.bind_processor(sa_dialect) is not None
                   for bind in compiled.binds.values())):
        return None
    head, marker, rest = compiled.string.partition(" VALUES ")
    group_end = rest.find(")") + 1
    group = rest[:group_end]
    if not marker or group_end <= 0 or group.count("?") != len(names):
        return None
    order = list(compiled.positiontup or ())
    positions = None if order == names else tuple(names.index(name) for name in order)
    return _MultiRowSql(head, group, rest[group_end:], positions, len(names))


def _execute_multi_row(conn: Connection, sql: _MultiRowSql,
                       rows: Sequence[tuple[Any, ...]]) -> None:
    # Rows go straight to the driver, still as bound parameters, never as SQL text: SQLAlchemy
    # would process the parameters of every row, which on the hot path costs as much as
    # SQLite's insert itself.
    #
    # And one INSERT with many VALUES groups rather than an executemany: the sqlite3 module
    # releases the GIL around every row of an executemany and must win it back afterwards;
    # next to a busy thread (an application's, or the server's request threads) each of
    # those hand-overs can wait a whole switch interval (5 ms), so a per-row executemany
    # crawls exactly when the process is busiest. The statement text is Assay's own compiled
    # SQL with its placeholder group repeated.
    if sql.positions is not None:  # placeholders in another order than the columns
        positions = sql.positions
        rows = [tuple(row[i] for i in positions) for row in rows]
    per_statement = max(1, _SQLITE_MULTI_ROW_PARAMS // sql.width)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        text = f"{sql.head} VALUES {', '.join([sql.group] * len(chunk))}{sql.tail}"
        conn.exec_driver_sql(text, tuple(itertools.chain.from_iterable(chunk)))


#: Bound parameters in one multi-row SQLite INSERT: SQLite allows 32766 since 3.32, and
#: 999 before.
_SQLITE_MULTI_ROW_PARAMS = 8_000 if sqlite3.sqlite_version_info >= (3, 32, 0) else 900


def in_chunks(values: Sequence[T], dialect: Dialect) -> Iterator[Sequence[T]]:
    """``values`` in pieces small enough to bind as one ``IN (...)`` list."""
    size = _max_bind_params(dialect)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def in_values(dialect: Dialect, column: sa.ColumnElement[str],
              values: Sequence[str]) -> sa.ColumnElement[bool]:
    """``column IN (values)`` with the values as one bound parameter, however many: a JSON
    array that ``json_each`` unpacks on SQLite, an array on PostgreSQL (``= ANY``).

    Both use an index on ``column``. The statement and its one parameter look the same for
    any number of values, so neither SQLAlchemy nor the driver handles each value apart: for
    a hundred values, an expanded ``IN`` list costs psycopg about a millisecond more.
    """
    match dialect:
        case Dialect.SQLITE:
            listed = sa.select(sa.column("value", sa.String)).select_from(
                sa.func.json_each(sa.literal(json.dumps(list(values)))))
            return column.in_(listed)
        case Dialect.POSTGRESQL:
            return column == sa.func.any(sa.literal(list(values), postgresql.ARRAY(sa.String)))
        case _:
            assert_never(dialect)


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


def lock_pending_assessments(conn: Connection, dialect: Dialect) -> None:
    """Make transactions that keep pending assessments take turns, until the current one
    ends: each sees what the one before kept (an idempotency key, the vote it overrides)."""
    match dialect:
        case Dialect.SQLITE:
            # Nothing to do: write transactions start with BEGIN IMMEDIATE (see engine.py),
            # so they never overlap.
            return
        case Dialect.POSTGRESQL:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PENDING_LOCK_KEY)))
        case _:
            assert_never(dialect)


def lock_vote(conn: Connection, dialect: Dialect, trace_id: str, name: str,
              voter_id: str) -> None:
    """Make transactions that record a vote of one voter, on one trace and name, take turns
    until the current one ends: each sees the vote the one before recorded."""
    match dialect:
        case Dialect.SQLITE:
            # Nothing to do: write transactions start with BEGIN IMMEDIATE (see engine.py),
            # so they never overlap.
            return
        case Dialect.POSTGRESQL:
            # A stable 32-bit hash (Python's hash() differs between processes); two votes
            # that collide merely take turns.
            text = "\0".join((trace_id, name, voter_id)).encode("utf-8", "surrogatepass")
            digest = hashlib.blake2b(text, digest_size=4).digest()
            key = int.from_bytes(digest, "big", signed=True)
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
                sa.cast(sa.literal(_VOTE_LOCK_CLASS), sa.Integer),
                sa.cast(sa.literal(key), sa.Integer))))
        case _:
            assert_never(dialect)


def lock_claims(conn: Connection, dialect: Dialect, run_id: str) -> None:
    """Make transactions that hand out a labeling session's items (or change which items and
    reviewers it has) take turns until the current one ends: each sees the claims the one
    before made, so two reviewers never get one free slot. A lock of its own rather than the
    session's row, which every answer also updates: handing out items never waits for
    answers being written."""
    match dialect:
        case Dialect.SQLITE:
            # Nothing to do: write transactions start with BEGIN IMMEDIATE (see engine.py),
            # so they never overlap.
            return
        case Dialect.POSTGRESQL:
            digest = hashlib.blake2b(run_id.encode("utf-8", "surrogatepass"),
                                     digest_size=4).digest()
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
                sa.cast(sa.literal(_CLAIM_LOCK_CLASS), sa.Integer),
                sa.cast(sa.literal(int.from_bytes(digest, "big", signed=True)), sa.Integer))))
        case _:
            assert_never(dialect)


#: Values up to this many characters are in PostgreSQL's key/value lookup index (see
#: :func:`value_lookup_index`); equality filters on shorter values say so to use it.
MAX_INDEXED_VALUE_CHARS = 400


def value_lookup_index(dialect: Dialect, table_name: str) -> tuple[str, list[str], dict[str, Any]]:
    """The index that serves ``key = ? AND value = ?`` lookups on a key/value table.

    Returns the index name, its columns and the dialect keyword arguments. SQLite gets a
    B-tree on (key, value). PostgreSQL cannot index every value: a B-tree entry must fit in
    about 2.7 kB and tag values reach 4096 characters (metadata values are unbounded). It
    gets a B-tree on (key, value) for values of at most :data:`MAX_INDEXED_VALUE_CHARS`
    characters (with a 250-character key, at most 2,600 bytes even in 4-byte UTF-8), a
    partial index that equality filters use by adding ``length(value) <= 400``.

    (Migration 0001 made it a hash index on the value, which degrades quadratically with
    repeated values: every trace has metadata such as ``mlflow.trace_schema.version = 3``,
    and each insert walked the whole overflow chain of that value's bucket. Migration 0003
    replaces it.)
    """
    match dialect:
        case Dialect.SQLITE:
            return f"ix_{table_name}_key_value", ["key", "value"], {}
        case Dialect.POSTGRESQL:
            return f"ix_{table_name}_value", ["key", "value"], {
                "postgresql_where": sa.text(f"length(value) <= {MAX_INDEXED_VALUE_CHARS:d}")}
        case _:
            assert_never(dialect)


# -- search: pattern matching, JSON values, arithmetic ------------------------------------

#: What a LIKE pattern is made of: literal text, ``%`` (any run) or ``_`` (one character).
_ANY_RUN = object()
_ONE_CHAR = object()


def _like_parts(pattern: str) -> list[str | object]:
    # Assay's LIKE patterns are the same on every database: % and _ are wildcards and a
    # backslash makes the next character literal (a trailing backslash is itself literal).
    # MLflow passes patterns through, so a backslash escapes on PostgreSQL and not on SQLite.
    parts: list[str | object] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append(next(chars, "\\"))
        elif char == "%":
            parts.append(_ANY_RUN)
        elif char == "_":
            parts.append(_ONE_CHAR)
        else:
            parts.append(char)
    return parts


def _like_to_glob(parts: list[str | object]) -> str:
    special = {"*": "[*]", "?": "[?]", "[": "[[]"}
    return "".join("*" if p is _ANY_RUN else "?" if p is _ONE_CHAR
                   else special.get(str(p), str(p)) for p in parts)


def _like_to_regex(parts: list[str | object]) -> str:
    # For RE2 (see engine.py): ASCII punctuation escaped, anything else literal; "." also
    # matches a newline there, and "$" is the end of the value.
    body = "".join(".*" if p is _ANY_RUN else "." if p is _ONE_CHAR else _re2_literal(str(p))
                   for p in parts)
    return f"(?i)^{body}$"


def _re2_literal(char: str) -> str:
    return "\\" + char if char.isascii() and not char.isalnum() and char.isprintable() \
        and not char.isspace() else char


def _like_to_postgres(parts: list[str | object]) -> str:
    return "".join("%" if p is _ANY_RUN else "_" if p is _ONE_CHAR
                   else "\\" + str(p) if p in ("%", "_", "\\") else str(p) for p in parts)


def like(dialect: Dialect, expr: sa.ColumnElement[Any], pattern: str, *,
         ignore_case: bool) -> sa.ColumnElement[bool]:
    """``expr LIKE pattern`` (or ILIKE) with one meaning on every database.

    ``%`` matches any run of characters, ``_`` one character, ``\\`` makes the next character
    literal. LIKE is case-sensitive and ILIKE is not, also on SQLite, whose own LIKE ignores
    the case of ASCII letters: there LIKE becomes GLOB (native, and able to use an index for
    a fixed prefix) and ILIKE a case-insensitive REGEXP (see ``engine.py``).
    """
    parts = _like_parts(pattern)
    match dialect:
        case Dialect.SQLITE:
            if ignore_case:
                return expr.op("REGEXP", is_comparison=True)(_like_to_regex(parts))
            return expr.op("GLOB", is_comparison=True)(_like_to_glob(parts))
        case Dialect.POSTGRESQL:
            # Backslash is PostgreSQL's default LIKE escape character.
            converted = _like_to_postgres(parts)
            return expr.ilike(converted) if ignore_case else expr.like(converted)
        case _:
            assert_never(dialect)


def regexp(dialect: Dialect, expr: sa.ColumnElement[Any],
           pattern: str) -> sa.ColumnElement[bool]:
    """``expr`` contains a match of the regular expression ``pattern`` (RLIKE).

    SQLite calls the function ``regexp`` that ``engine.py`` registers (RE2, linear time);
    PostgreSQL uses its own POSIX regular expressions (``~``). The parser only lets through
    patterns in their common ground (:mod:`assay.search.regex`), which mean the same on both.
    """
    match dialect:
        case Dialect.SQLITE:
            return expr.op("REGEXP", is_comparison=True)(pattern)
        case Dialect.POSTGRESQL:
            return expr.op("~", is_comparison=True)(pattern)
        case _:
            assert_never(dialect)


def not_joined(dialect: Dialect, condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """An ``EXISTS`` condition that the planner evaluates per row instead of joining in.

    PostgreSQL turns each ``EXISTS`` of a WHERE clause's AND list into a semi-join, and then
    searches join orders over all of them: with every subquery correlated on the same
    ``trace_id``, planning time grows steeply (100 tag clauses took 3 s, 200 took 35 s, for
    a query that runs in milliseconds). ``IS TRUE`` keeps the subquery a per-row index
    probe, planned in linear time. SQLite plans correlated subqueries per row anyway.
    """
    match dialect:
        case Dialect.SQLITE:
            return condition
        case Dialect.POSTGRESQL:
            return condition.is_(sa.true())
        case _:
            assert_never(dialect)


def json_string_text(dialect: Dialect, column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """The text of a column holding a JSON document: a JSON string decoded (no quotes, no
    escapes), anything else its JSON text as stored. NULL stays NULL.

    Strings without a backslash are unquoted with ``substr``; only the others are parsed.
    """
    is_string = sa.func.substr(column, 1, 1) == '"'
    unquoted = sa.func.substr(column, 2, sa.func.length(column) - 2)
    has_escape: sa.ColumnElement[bool]
    decoded: sa.ColumnElement[Any]
    match dialect:
        case Dialect.SQLITE:
            decoded = sa.func.json_extract(column, "$")
            has_escape = sa.func.instr(column, "\\") > 0
        case Dialect.POSTGRESQL:
            # \u0000 is valid JSON that PostgreSQL text cannot hold: such a value keeps its
            # JSON text rather than failing the whole query.
            has_escape = sa.func.strpos(column, "\\") > 0
            decoded = sa.case(
                (sa.func.strpos(column, "\\u0000") > 0, column),
                else_=sa.cast(column, postgresql.JSON).op("#>>", return_type=sa.Text)(
                    sa.cast(sa.literal("{}"), postgresql.ARRAY(sa.Text))))
        case _:
            assert_never(dialect)
    return sa.type_coerce(
        sa.case((is_string & has_escape, decoded), (is_string, unquoted), else_=column),
        sa.Text)


def json_member_text(dialect: Dialect, column: sa.ColumnElement[Any],
                     key: str) -> sa.ColumnElement[str]:
    """The member ``key`` of the JSON object in ``column``, as text: a string decoded, a
    number, boolean, list or object as its JSON text; NULL when absent or JSON null.

    (On SQLite a key containing a double quote cannot be named in a JSON path, so it is
    never found.)
    """
    match dialect:
        case Dialect.SQLITE:
            if '"' in key:  # a JSON path cannot name it (and would be a path error)
                return sa.type_coerce(sa.null(), sa.Text)
            path = '$."' + key + '"'
            kind = sa.func.json_type(column, path)
            return sa.type_coerce(
                sa.case((kind == "text", sa.func.json_extract(column, path)),
                        (kind == "null", sa.null()),
                        else_=column.op("->", return_type=sa.Text)(path)),
                sa.Text)
        case Dialect.POSTGRESQL:
            return sa.type_coerce(sa.case(
                (sa.func.strpos(column, "\\u0000") > 0, sa.null()),
                else_=sa.cast(column, postgresql.JSON).op("->>", return_type=sa.Text)(key)),
                sa.Text)
        case _:
            assert_never(dialect)


def floor_to_int(dialect: Dialect, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """The largest integer not above a non-negative number (histogram bins)."""
    match dialect:
        case Dialect.SQLITE:
            # CAST truncates toward zero, which is floor for the non-negative numbers this
            # gets; SQLite's floor() exists only in builds with the math functions.
            return sa.cast(expr, sa.Integer)
        case Dialect.POSTGRESQL:
            # PostgreSQL's CAST rounds to the nearest integer instead.
            return sa.cast(sa.func.floor(expr), sa.BigInteger)
        case _:
            assert_never(dialect)


def tune_for_analytics(conn: Connection, dialect: Dialect) -> None:
    """Settings for the rest of the current (read) transaction before a large aggregate.

    PostgreSQL: no JIT compilation (it costs more than it saves on queries of a second or
    less) and enough work memory to sort and hash a few hundred thousand feedback rows in
    memory rather than on disk. ``SET LOCAL`` ends with the transaction. SQLite: nothing.
    """
    match dialect:
        case Dialect.SQLITE:
            return
        case Dialect.POSTGRESQL:
            conn.execute(sa.text("SET LOCAL jit = off"))
            conn.execute(sa.text("SET LOCAL work_mem = '64MB'"))
        case _:
            assert_never(dialect)
