"""Run search: a runs filter and an order compiled to one parameterized query per page.

Runs keep their params, metrics and tags as JSON objects in the ``runs`` row (migration
0005), so a clause on ``metrics.<k>``, ``params.<k>`` or ``tags.<k>`` reads the member
``k`` of that document (``dialect.json_member_text``; a metric is cast to a number). No
index serves those: the query is a scan of the experiments' runs, which the index on
``(experiment_id, start_time_ms)`` narrows to the experiments searched. An experiment holds
runs by the hundreds or thousands (a run is a labeling session or an evaluation, not a
trace), so the scan stays well under a millisecond a run; an index per metric would need
a key-value table of its own.

What each clause means (MLflow's rules): a run without the metric, param or tag matches no
comparison on it, ``!=`` included. Attributes are columns; ``end_time`` and ``user_id`` can
be NULL and then match nothing either. LIKE and ILIKE mean the same on both databases
(``dialect.like``). Every value is a bound parameter; no part of a filter becomes SQL text.

Paging is keyset, as for traces: the order is the ``order_by`` keys then ``start_time
DESC, run_id ASC``, NULLs last; a page token holds the sort values of the page's last run,
tied to the search that made it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities.run import Run
from assay.paging import PagedList
from assay.search import Op
from assay.search.runs import (
    RunClause,
    RunField,
    RunOrderKey,
    parse_run_filter,
    parse_run_order_by,
    with_run_tie_breakers,
)
from assay.store.checks import check_max_results, experiment_keys
from assay.store.sql.dialect import Dialect, json_member_text, like
from assay.store.sql.runs import run_from_row
from assay.store.sql.schema import runs
from assay.store.sql.search import (
    SortKey,
    ValueKind,
    after_cursor,
    decode_search_token,
    encode_search_token,
    order_terms,
    run_query,
)

__all__ = ["search_runs"]

_TOKEN_KIND = "run_search"

_ATTRIBUTE_SORT: dict[str, tuple[sa.ColumnElement[Any], bool, ValueKind]] = {
    # attribute: (column, nullable, kind of value)
    "run_id": (runs.c.run_id, False, "str"),
    "run_name": (runs.c.name, False, "str"),
    "status": (runs.c.status, False, "str"),
    "kind": (runs.c.kind, False, "str"),
    "user_id": (runs.c.user_id, True, "str"),
    "start_time": (runs.c.start_time_ms, False, "int"),
    "end_time": (runs.c.end_time_ms, True, "int"),
}
_JSON_COLUMNS = {"metric": runs.c.metrics, "param": runs.c.params, "tag": runs.c.tags}


def search_runs(conn: Connection, dialect: Dialect, experiment_ids: Sequence[str],
                max_results: int, page_token: str | None = None,
                filter_string: str | None = None,
                order_by: Sequence[str] | None = None) -> PagedList[Run]:
    """One page of the runs of these experiments that match the filter, in order.

    ``.token`` is the next page's cursor, or None after the last page; it is only valid for
    the same experiments, filter and order.

    Raises:
        FilterError: a filter or order_by entry that is not MLflow's runs grammar.
        InvalidParameterError: bad experiment ids, max_results or page token.
    """
    keys = experiment_keys(experiment_ids)
    check_max_results(max_results)
    clauses = parse_run_filter(filter_string)
    order = with_run_tie_breakers(parse_run_order_by(order_by))
    if not keys:
        return PagedList([], None)
    sort = [_sort_key(dialect, key) for key in order]
    fingerprint = _fingerprint(keys, clauses, order)
    after = None if page_token is None else decode_search_token(
        page_token, fingerprint, sort, kind=_TOKEN_KIND)
    where = [runs.c.experiment_id.in_(keys), *(_condition(dialect, c) for c in clauses)]
    query = (sa.select(runs, *(k.expr.label(f"k{i}") for i, k in enumerate(sort)))
             .where(*where, *after_cursor(sort, after))
             .order_by(*order_terms(sort))
             .limit(max_results + 1))
    rows = run_query(conn, query)
    width = len(runs.c)
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token = encode_search_token(fingerprint, list(rows[-1][width:]), kind=_TOKEN_KIND)
    names = [c.name for c in runs.c]
    return PagedList([run_from_row(dict(zip(names, row[:width], strict=True)))
                      for row in rows], token)


def _value_of(dialect: Dialect, field: RunField) -> sa.ColumnElement[Any]:
    if field.entity == "attribute":
        return _ATTRIBUTE_SORT[field.key][0]
    text = json_member_text(dialect, _JSON_COLUMNS[field.entity], field.key)
    if field.entity == "metric":
        # Metrics are stored as JSON numbers (checked finite when the run is written).
        return sa.cast(text, sa.Float)
    return text


def _condition(dialect: Dialect, clause: RunClause) -> sa.ColumnElement[bool]:
    column = _value_of(dialect, clause.field)
    op, value = clause.op, clause.value
    if op is Op.IN or op is Op.NOT_IN:
        assert isinstance(value, tuple)
        return column.in_(value) if op is Op.IN else column.not_in(value)
    assert not isinstance(value, tuple)
    if op is Op.LIKE or op is Op.ILIKE:
        assert isinstance(value, str)
        return like(dialect, column, value, ignore_case=op is Op.ILIKE)
    match op:
        case Op.EQ:
            return column == value
        case Op.NE:
            return column != value
        case Op.LT:
            return column < value
        case Op.LE:
            return column <= value
        case Op.GT:
            return column > value
        case Op.GE:
            return column >= value
    raise AssertionError(f"the runs filter parser let {op} through")  # pragma: no cover


def _sort_key(dialect: Dialect, key: RunOrderKey) -> SortKey:
    field = key.field
    if field.entity == "attribute":
        expr, nullable, kind = _ATTRIBUTE_SORT[field.key]
        return SortKey(expr, key.ascending, nullable, kind)
    return SortKey(_value_of(dialect, field), key.ascending, True,
                   "float" if field.entity == "metric" else "str")


def _fingerprint(keys: list[int], clauses: tuple[RunClause, ...],
                 order: list[RunOrderKey]) -> str:
    # A token is only valid for the search that made it: with another filter or order its
    # values would point at the wrong place and pages would skip or repeat runs.
    spec = json.dumps([keys, [[c.field.entity, c.field.key, c.op.value,
                               list(c.value) if isinstance(c.value, tuple) else c.value]
                              for c in clauses],
                       [[k.field.entity, k.field.key, k.ascending] for k in order]],
                      ensure_ascii=False)
    return hashlib.blake2b(spec.encode("utf-8"), digest_size=8).hexdigest()
