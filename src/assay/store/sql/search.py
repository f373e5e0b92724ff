"""Trace search: a filter, an order and a keyset cursor, as one indexed query per page.

``search_traces`` compiles the filter (``filters.py``), sorts by the ``order_by`` keys
followed by the tie-breakers ``timestamp_ms DESC, request_id ASC`` (so the order is total),
and pages with a keyset cursor: the page token holds the sort values of the last trace
returned, and the next page is "the rows after those values", which an index serves as a
range scan. Page 1,000 costs what page 1 costs; an OFFSET would read all the rows before it.

NULLs sort last in both directions. When the first key can be NULL, the rows where it is
set and the rows where it is NULL are read as two sections, one after the other: within a
section the key is never NULL, so a plain index on it serves ``ORDER BY key`` in either
direction (an index scan yields NULLs first or last depending on the direction, never "last
in both").

Sort keys:

* trace attributes are their columns (``end_time_ms`` is request time plus duration);
* ``tags.<k>`` / ``metadata.<k>`` the value of that key (NULL without it);
* ``feedback.<name>`` (an Assay extension) the mean numeric value of the trace's valid
  feedback of that name, session-level feedback included: booleans count as 0 and 1,
  strings and lists are NULL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities import Trace
from assay.entities.overview import TraceCount
from assay.errors import InvalidParameterError
from assay.paging import PagedList
from assay.search import (
    AssessmentField,
    FilterError,
    MetadataField,
    OrderKey,
    TagField,
    TraceField,
    parse_order_by,
    to_filter_string,
    with_tie_breakers,
)
from assay.store.checks import (
    check_max_count,
    check_max_results,
    check_trace_offset,
    experiment_keys,
)
from assay.store.sql.dialect import Dialect
from assay.store.sql.engine import driver_message
from assay.store.sql.filters import TraceFilter, has_session_assessments, trace_filter
from assay.store.sql.schema import assessments, trace_metadata, trace_tags, traces
from assay.store.sql.traces import load_traces

__all__ = [
    "SortKey",
    "ValueKind",
    "after_cursor",
    "count_traces",
    "decode_search_token",
    "encode_search_token",
    "find_page_token",
    "order_terms",
    "run_query",
    "search_traces",
]

_TOKEN_KIND = "trace_search"
_TOKEN_VERSION = 1
_MAX_TOKEN_CHARS = 8192

ValueKind = Literal["int", "float", "str"]

_TRACE_SORT: dict[str, tuple[sa.ColumnElement[Any], bool, ValueKind]] = {
    # field name: (expression, nullable, kind of value)
    "timestamp_ms": (traces.c.request_time_ms, False, "int"),
    "execution_time_ms": (traces.c.execution_time_ms, True, "int"),
    "end_time_ms": (traces.c.request_time_ms + traces.c.execution_time_ms, True, "int"),
    "status": (traces.c.state, False, "str"),
    "trace_id": (traces.c.trace_id, False, "str"),
    "experiment_id": (traces.c.experiment_id, False, "int"),
    "name": (traces.c.name, True, "str"),
    "client_request_id": (traces.c.client_request_id, True, "str"),
    "session_id": (traces.c.session_id, True, "str"),
    "user_id": (traces.c.user_id, True, "str"),
    "run_id": (traces.c.run_id, True, "str"),
}


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY term: its SQL expression, direction, whether it can be NULL, and the
    kind of value it has (to check the values a page token brings back)."""

    expr: sa.ColumnElement[Any]
    ascending: bool
    nullable: bool
    kind: ValueKind


def search_traces(conn: Connection, dialect: Dialect, experiment_ids: Sequence[str],
                  max_results: int, page_token: str | None, include_spans: bool,
                  filter_string: str | None = None, order_by: Sequence[str] | None = None,
                  run_id: str | None = None,
                  model_id: str | None = None) -> PagedList[Trace]:
    """One page of the traces of the experiments that match the filter, in order.

    Assessments are not loaded (the caller adds them). ``.token`` is the next page's cursor,
    or None after the last page; it is only valid with the same experiments, filter and
    order.

    Raises:
        FilterError: a filter or order_by entry Assay cannot take.
        InvalidParameterError: bad experiment ids, max_results or page token.
    """
    keys = experiment_keys(experiment_ids)
    check_max_results(max_results)
    found = trace_filter(dialect, keys or [-1], filter_string, run_id, model_id,
                         conn if keys else None)
    order = with_tie_breakers(parse_order_by(order_by))
    if not keys:
        return PagedList([], None)
    sort = [sort_key(key, has_session_assessments(conn, keys, field.kind, field.name)
                     if isinstance(field := key.field, AssessmentField) else False)
            for key in order]
    fingerprint = _fingerprint(keys, found, order)
    after = None if page_token is None else decode_search_token(page_token, fingerprint, sort)
    rows = _page_rows(conn, found.where, sort, after, max_results + 1)
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token = encode_search_token(fingerprint, list(rows[-1][1:]))
    trace_ids = [row[0] for row in rows]
    loaded = load_traces(conn, dialect, trace_ids, include_spans)
    return PagedList([loaded[t] for t in trace_ids if t in loaded], token)


def sort_key(key: OrderKey, with_sessions: bool = True) -> SortKey:
    """The SQL of one ``order_by`` key (see the module docstring).

    ``with_sessions``: whether ``feedback.<name>`` must consider session-level feedback
    (False when the store has none of that name: a simpler subquery).
    """
    field = key.field
    if isinstance(field, TraceField):
        expr, nullable, kind = _TRACE_SORT[field.name]
        return SortKey(expr, key.ascending, nullable, kind)
    if isinstance(field, TagField | MetadataField):
        table = trace_tags if isinstance(field, TagField) else trace_metadata
        value = (sa.select(table.c.value)
                 .where(table.c.trace_id == traces.c.trace_id, table.c.key == field.key)
                 .scalar_subquery())
        return SortKey(value, key.ascending, True, "str")
    assert isinstance(field, AssessmentField)
    a = assessments
    of_trace: sa.ColumnElement[bool] = a.c.trace_id == traces.c.trace_id
    if with_sessions:
        of_trace = sa.or_(of_trace, sa.and_(a.c.session_id == traces.c.session_id,
                                            a.c.experiment_id == traces.c.experiment_id))
    mean = (sa.select(sa.func.avg(a.c.numeric_value))
            .where(a.c.kind == field.kind, a.c.name == field.name, a.c.valid == sa.true(),
                   of_trace)
            .scalar_subquery())
    return SortKey(mean, key.ascending, True, "float")


def run_query(conn: Connection,
              query: sa.Select[Any] | sa.CompoundSelect[Any]) -> list[tuple[Any, ...]]:
    """Execute a search query; a filter the database refuses becomes a FilterError.

    Values are checked before they reach the database, but PostgreSQL's regular expressions
    are not Python's: a pattern ``re`` compiles may still be one PostgreSQL refuses.
    """
    try:
        return [tuple(row) for row in conn.execute(query)]
    except sa.exc.DataError as exc:
        raise FilterError(f"The database cannot run this filter: {driver_message(exc)}") \
            from None


# -- paging --------------------------------------------------------------------------------

def _page_rows(conn: Connection, where: sa.ColumnElement[bool], sort: list[SortKey],
               after: list[Any] | None, limit: int) -> list[tuple[Any, ...]]:
    """Up to ``limit`` rows (trace_id, sort values...) after the cursor, in order."""
    first = sort[0]
    columns = [traces.c.trace_id, *(k.expr.label(f"k{i}") for i, k in enumerate(sort))]
    base = sa.select(*columns).where(where)
    if not first.nullable:
        query = base.where(*after_cursor(sort, after)).order_by(*order_terms(sort))
        return run_query(conn, query.limit(limit))
    # Two sections: rows where the first key is set, then rows where it is NULL.
    rows: list[tuple[Any, ...]] = []
    set_key = SortKey(first.expr, first.ascending, False, first.kind)
    if after is None or after[0] is not None:
        query = (base.where(first.expr.is_not(None), *after_cursor([set_key, *sort[1:]], after))
                 .order_by(*order_terms([set_key, *sort[1:]])))
        rows = run_query(conn, query.limit(limit))
        after = None
    if len(rows) < limit:
        query = (base.where(first.expr.is_(None), *after_cursor(sort[1:], after and after[1:]))
                 .order_by(*order_terms(sort[1:])))
        rows += run_query(conn, query.limit(limit - len(rows)))
    return rows


def order_terms(sort: list[SortKey]) -> list[sa.UnaryExpression[Any]]:
    """The ORDER BY terms of these keys (NULLs last)."""
    terms = []
    for key in sort:
        term = key.expr.asc() if key.ascending else key.expr.desc()
        terms.append(term.nulls_last() if key.nullable else term)
    return terms


def after_cursor(sort: list[SortKey], values: list[Any] | None) -> list[sa.ColumnElement[bool]]:
    """Conditions for "the row sorts after the one with these values" (NULLs last)."""
    if values is None:
        return []
    condition: sa.ColumnElement[bool] = sa.false()
    for key, value in reversed(list(zip(sort, values, strict=True))):
        if value is None:  # nothing sorts after NULL within this key
            condition = sa.and_(key.expr.is_(None), condition)
            continue
        beyond = key.expr > value if key.ascending else key.expr < value
        if key.nullable:
            beyond = sa.or_(beyond, key.expr.is_(None))
        condition = sa.or_(beyond, sa.and_(key.expr == value, condition))
    first, value = sort[0], values[0]
    if first.nullable or value is None:
        return [condition]
    # Redundant with the condition, but a plain range an index can start from.
    bound = first.expr >= value if first.ascending else first.expr <= value
    return [bound, condition]


# -- page tokens ---------------------------------------------------------------------------

def _fingerprint(keys: list[int], found: TraceFilter, order: list[OrderKey]) -> str:
    # A token is only valid for the search that made it: with another filter or order its
    # values would point at the wrong place and pages would skip or repeat traces.
    spec = json.dumps([keys, to_filter_string(found.expr),
                       [[repr(k.field), k.ascending] for k in order]], ensure_ascii=False)
    return hashlib.blake2b(spec.encode("utf-8"), digest_size=8).hexdigest()


def encode_search_token(fingerprint: str, values: list[Any], kind: str = _TOKEN_KIND) -> str:
    """The page token after the row with these sort ``values``, for the search whose
    fingerprint (a hash of what it searches, filters and orders by) is ``fingerprint``."""
    doc = {"v": _TOKEN_VERSION, "k": kind, "q": fingerprint, "after": values}
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_search_token(token: str, fingerprint: str, sort: list[SortKey],
                        kind: str = _TOKEN_KIND) -> list[Any]:
    """The sort values a token of this ``kind`` and search holds; InvalidParameterError for
    anything else."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
        raise _invalid_token(token)
    try:
        doc = json.loads(base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8"))
    except (binascii.Error, UnicodeError, ValueError):
        raise _invalid_token(token) from None
    if not isinstance(doc, dict) or doc.get("v") != _TOKEN_VERSION \
            or doc.get("k") != kind:
        raise _invalid_token(token)
    if doc.get("q") != fingerprint:
        raise _invalid_token(token, "it was made by a search with other experiments, "
                             "filter_string, run_id or order_by")
    after = doc.get("after")
    if not isinstance(after, list) or len(after) != len(sort) \
            or not all(_fits(key, value) for key, value in zip(sort, after, strict=True)):
        raise _invalid_token(token)
    return after


def _fits(key: SortKey, value: object) -> bool:
    if value is None:
        return key.nullable
    if isinstance(value, bool):
        return False
    if key.kind == "int":
        return isinstance(value, int) and -2**63 <= value < 2**63
    if key.kind == "float":
        return isinstance(value, int | float)
    return isinstance(value, str)


def _invalid_token(token: object, why: str = "") -> InvalidParameterError:
    shown = token if isinstance(token, str) and len(token) <= 100 else f"{str(token)[:100]}…"
    reason = f" ({why})" if why else ""
    return InvalidParameterError(
        f"Invalid page_token {shown!r}{reason}: pass the token returned with the previous "
        "page of the same search")


# -- counts and page jumps -----------------------------------------------------------------

def count_traces(conn: Connection, dialect: Dialect, experiment_ids: Sequence[str],
                 filter_string: str | None, max_count: int) -> TraceCount:
    """How many traces match, up to ``max_count``: one statement that counts the rows of
    ``SELECT 1 ... WHERE <filter> LIMIT max_count + 1``, so a large experiment costs at most
    ``max_count + 1`` rows of its index, and a selective filter what its search's last page
    costs (both read until the matches run out).

    Raises:
        FilterError: a filter Assay cannot take.
        InvalidParameterError: bad experiment ids or max_count.
    """
    keys = experiment_keys(experiment_ids)
    check_max_count(max_count)
    found = trace_filter(dialect, keys or [-1], filter_string, None, None,
                         conn if keys else None)
    if not keys:
        return TraceCount(0, False)
    matching = sa.select(sa.literal(1).label("one")).where(found.where) \
        .limit(max_count + 1).subquery()
    (count,), = run_query(conn, sa.select(sa.func.count()).select_from(matching))
    return TraceCount(min(int(count), max_count), int(count) > max_count)


def find_page_token(conn: Connection, dialect: Dialect, experiment_ids: Sequence[str],
                    offset: int, filter_string: str | None,
                    order_by: Sequence[str] | None) -> str | None:
    """The page token of :func:`search_traces` whose page starts after the first ``offset``
    matching traces, or None when no trace comes after them.

    It reads the sort values of row ``offset`` in the search's own order (an OFFSET the
    database skips; when the first sort key can be NULL, the rows up to it as a page of that
    size reads them), without loading a trace, and makes its token: the page after it is
    then an ordinary keyset page. ``offset`` is at most MAX_TRACE_OFFSET, so a jump costs at
    most that many rows of an index.

    Raises:
        FilterError: a filter or order_by entry Assay cannot take.
        InvalidParameterError: bad experiment ids or offset.
    """
    keys = experiment_keys(experiment_ids)
    check_trace_offset(offset)
    found = trace_filter(dialect, keys or [-1], filter_string, None, None,
                         conn if keys else None)
    order = with_tie_breakers(parse_order_by(order_by))
    if not keys:
        return None
    sort = [sort_key(key, has_session_assessments(conn, keys, field.kind, field.name)
                     if isinstance(field := key.field, AssessmentField) else False)
            for key in order]
    if sort[0].nullable:
        # Two sections (see _page_rows): read the rows up to the offset.
        rows = _page_rows(conn, found.where, sort, None, offset + 1)[offset - 1:]
    else:
        # One ordered scan: the database skips the rows before the page's last one itself.
        columns = [traces.c.trace_id, *(k.expr.label(f"k{i}") for i, k in enumerate(sort))]
        rows = run_query(conn, sa.select(*columns).where(found.where)
                         .order_by(*order_terms(sort)).offset(offset - 1).limit(2))
    if len(rows) < 2:
        return None
    return encode_search_token(_fingerprint(keys, found, order), list(rows[0][1:]))
