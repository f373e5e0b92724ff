"""Search filters compiled to SQL: a parsed filter becomes one boolean expression on ``traces``.

The parser (:mod:`assay.search`) has already checked every clause; this module gives each a
meaning in SQL, the same on SQLite and PostgreSQL. Every value travels as a bound parameter:
no part of a filter string ever becomes SQL text.

What each field means:

* Trace attributes are columns of ``traces`` (``end_time_ms`` is request time plus
  duration). A trace whose column is NULL matches no comparison, ``!=`` included, so
  ``NOT`` is its exact complement; ``IS NULL`` finds it. ``trace.text`` matches the name,
  inputs, outputs or attributes (as JSON text) of any span of the trace. Assay links no
  prompt versions or issues to traces yet, so ``trace.prompt`` and ``issue.id`` match
  nothing.
* ``tags.<k>`` / ``metadata.<k>``: the trace has the key and its value satisfies the
  comparison; ``!=`` does not match traces without the key (MLflow's rule), ``IS NULL`` does.
  The reserved session, user and name keys use their columns (resolved by the parser).
* Span clauses of one AND chain (a :class:`~assay.search.SpanGroup`) must all hold on one
  span: one ``EXISTS`` over ``spans``. ``span.content`` is the span's name, inputs, outputs
  or attributes; ``span.attributes.<k>`` is that attribute's value (a string as is, other
  values as JSON text).
* ``feedback.<n>`` / ``expectation.<n>``: some *valid* assessment of that kind and name,
  on the trace or on its session, satisfies the comparison. ``=``, ``!=``, IN and the LIKE
  family compare the decoded value: a string without its JSON quotes, anything else its
  JSON text (``'false'`` matches false, ``'4'`` matches 4 but ``'4.0'`` does not).
  ``< <= > >=`` compare numbers only (not booleans, not strings). ``IS NOT NULL``: such an
  assessment exists; ``IS NULL``: none does. The session part is left out of the SQL when
  the experiments have no valid session-level assessment of that name (looked up first):
  a lone ``EXISTS`` lets PostgreSQL plan a semi-join that stops at the page's end.
* ``gold.<n>``: the trace's gold label for label schema ``n`` in some labeling session
  (kept at write time in ``labeling_gold``: the adjudicated value, else the answer every
  reviewer gave) satisfies the comparison, with the value semantics of ``feedback.<n>``.
  ``IS NOT NULL``: some session has a gold label of that name for the trace; ``IS NULL``:
  none has.
* LIKE: ``%`` any run, ``_`` one character, backslash escapes; case-sensitive. ILIKE: the
  same, ignoring case. RLIKE: a regular-expression search (see ``dialect.regexp``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities.assessment import encode_value
from assay.entities.trace import metadata_keys
from assay.errors import InvalidParameterError
from assay.search import (
    And,
    AssessmentField,
    Comparison,
    Expr,
    FilterError,
    GoldField,
    MetadataField,
    Not,
    Op,
    Or,
    SpanField,
    SpanGroup,
    TagField,
    TraceField,
    Value,
    conjoin,
    iter_comparisons,
    parse_filter,
)
from assay.search.ast import TraceFieldName
from assay.store.sql.dialect import (
    MAX_INDEXED_VALUE_CHARS,
    Dialect,
    json_member_text,
    json_string_text,
    like,
    not_joined,
    regexp,
)
from assay.store.sql.schema import (
    MAX_KEY_CHARS,
    assessments,
    labeling_gold,
    run_traces,
    spans,
    trace_metadata,
    trace_tags,
    traces,
)

__all__ = [
    "TraceFilter", "compile_filter", "has_session_assessments", "in_experiments", "trace_filter",
]

Condition = sa.ColumnElement[bool]
#: Whether any valid session-level assessment of this kind and name exists (None: unknown).
SessionCheck = Callable[[str, str], bool]

_COLUMNS: dict[TraceFieldName, sa.ColumnElement[Any]] = {
    "trace_id": traces.c.trace_id,
    "experiment_id": traces.c.experiment_id,
    "status": traces.c.state,
    "timestamp_ms": traces.c.request_time_ms,
    "execution_time_ms": traces.c.execution_time_ms,
    "end_time_ms": traces.c.request_time_ms + traces.c.execution_time_ms,
    "name": traces.c.name,
    "client_request_id": traces.c.client_request_id,
    "session_id": traces.c.session_id,
    "user_id": traces.c.user_id,
    "run_id": traces.c.run_id,
}
#: Columns that may be NULL (end_time_ms is NULL with the duration).
_NULLABLE: frozenset[TraceFieldName] = frozenset({
    "execution_time_ms", "end_time_ms", "name", "client_request_id", "session_id", "user_id",
    "run_id",
})
#: Columns that keep the first MAX_KEY_CHARS characters of a longer metadata value.
_PROJECTIONS: frozenset[TraceFieldName] = frozenset({"session_id", "user_id", "run_id"})
_BOOLEANS = ("true", "false")
#: Up to this many EXISTS conjuncts, a database may join them in (see dialect.not_joined).
_JOINED_SUBQUERIES = 8


class TraceFilter:
    """The parsed filter of a search and the SQL condition it compiles to.

    Attributes:
        expr: the whole filter as a tree (``run_id``/``model_id`` conditions included), or
            None for "every trace of the experiments".
        where: the condition on ``traces``: the experiments, then the filter.
    """

    def __init__(self, expr: Expr | None, where: Condition) -> None:
        self.expr = expr
        self.where = where


def in_experiments(experiment_keys: Sequence[int]) -> Condition:
    """``traces.experiment_id`` is one of these (``=`` for one, so indexes order by the rest)."""
    if len(experiment_keys) == 1:
        return traces.c.experiment_id == experiment_keys[0]
    return traces.c.experiment_id.in_(list(experiment_keys))


def trace_filter(dialect: Dialect, experiment_keys: Sequence[int], filter_string: str | None,
                 run_id: str | None = None, model_id: str | None = None,
                 conn: Connection | None = None) -> TraceFilter:
    """The traces of the experiments that match a filter string and, if given, a run and a
    model (``run_id`` ANDs ``trace.run_id = '<id>'``, ``model_id`` the metadata
    ``mlflow.modelId``). With ``conn``, assessment clauses check first whether session-level
    assessments need considering (see the module docstring).

    Raises:
        FilterError: the filter does not parse, or has a value no database can hold.
        InvalidParameterError: ``run_id`` with a filter that already names the run.
    """
    expr = parse_filter(filter_string)
    extra: list[Expr] = []
    if run_id is not None:
        _check_argument("run_id", run_id)
        if any(c.field in (TraceField("run_id"), MetadataField(metadata_keys.SOURCE_RUN))
               for c in iter_comparisons(expr)):
            raise InvalidParameterError(
                "Invalid run_id: the filter already selects a run (trace.run_id or metadata "
                f"{metadata_keys.SOURCE_RUN!r}); give the run in one place only")
        extra.append(Comparison(TraceField("run_id"), Op.EQ, run_id))
    if model_id is not None:
        _check_argument("model_id", model_id)
        extra.append(Comparison(MetadataField(metadata_keys.MODEL_ID), Op.EQ, model_id))
    expr = conjoin(expr, *extra)
    where = in_experiments(experiment_keys)
    if expr is not None:
        check = None if conn is None else _cached_check(conn, experiment_keys)
        where = sa.and_(where, compile_filter(expr, dialect, check))
    return TraceFilter(expr, where)


def has_session_assessments(conn: Connection, experiment_keys: Sequence[int], kind: str,
                            names: str | Sequence[str] | None) -> bool:
    """Whether the experiments hold a valid session-level assessment of this kind and name
    (or of any of these names; None: any name). One probe of the partial index on
    ``assessments.session_id``."""
    a = assessments
    query = (sa.select(a.c.id)
             .where(a.c.session_id.is_not(None), a.c.experiment_id.in_(list(experiment_keys)),
                    a.c.kind == kind, a.c.valid == sa.true())
             .limit(1))
    if isinstance(names, str):
        query = query.where(a.c.name == names)
    elif names is not None:
        query = query.where(a.c.name.in_(list(names)))
    return conn.execute(query).first() is not None


def _cached_check(conn: Connection, experiment_keys: Sequence[int]) -> SessionCheck:
    found: dict[tuple[str, str], bool] = {}

    def check(kind: str, name: str) -> bool:
        if (kind, name) not in found:
            found[kind, name] = has_session_assessments(conn, experiment_keys, kind, name)
        return found[kind, name]

    return check


def compile_filter(expr: Expr, dialect: Dialect,
                   session_check: SessionCheck | None = None) -> Condition:
    """The condition on ``traces`` that a filter tree means (see the module docstring).

    ``session_check`` tells whether session-level assessments of a name exist; without it
    they are always considered.

    Raises:
        FilterError: a value or name holds a NUL character or an unpaired surrogate, which
            neither database can take.
    """
    return _Compiler(dialect, session_check).expr(expr)


class _Compiler:
    def __init__(self, dialect: Dialect, session_check: SessionCheck | None) -> None:
        self.dialect = dialect
        self.session_check = session_check

    def expr(self, expr: Expr) -> Condition:
        if isinstance(expr, Comparison):
            return self.comparison(expr)
        if isinstance(expr, SpanGroup):
            return self.span_group(expr)
        if isinstance(expr, Not):
            return sa.not_(self.expr(expr.item))
        items = [self.expr(item) for item in expr.items]
        if isinstance(expr, And):
            if sum(map(_is_subquery, expr.items)) > _JOINED_SUBQUERIES:
                items = [not_joined(self.dialect, condition) if _is_subquery(item) else condition
                         for item, condition in zip(expr.items, items, strict=True)]
            return sa.and_(*items)
        assert isinstance(expr, Or)
        return sa.or_(*items)

    def comparison(self, c: Comparison) -> Condition:
        _check_storable(c)
        field = c.field
        if isinstance(field, TraceField):
            return self.trace(field.name, c)
        if isinstance(field, TagField):
            return self.key_value(trace_tags, field.key, c)
        if isinstance(field, MetadataField):
            return self.key_value(trace_metadata, field.key, c)
        if isinstance(field, AssessmentField):
            return self.assessment(field, c)
        if isinstance(field, GoldField):
            return self.gold(field, c)
        # IssueField: Assay links no issues to traces yet. (SpanField clauses always come
        # inside a SpanGroup.)
        return sa.false()

    # -- trace attributes --------------------------------------------------------------
    def trace(self, name: TraceFieldName, c: Comparison) -> Condition:
        if name == "text":
            span_matches = sa.or_(*(self.match(column, c.op, c.value)
                                    for column in _span_content()))
            return sa.exists().where(spans.c.trace_id == traces.c.trace_id, span_matches)
        if name == "prompt":  # no prompt versions are linked to traces yet
            return sa.false()
        if name == "run_id":
            return self.run(c)
        column = _COLUMNS[name]
        if c.op is Op.IS_NULL:
            return column.is_(None)
        if c.op is Op.IS_NOT_NULL:
            return column.is_not(None)
        value = c.value
        if name in _PROJECTIONS:
            value = _projected(value)
        condition = self.match(column, c.op, value)
        if name in _NULLABLE:
            # NULL = 'x' is NULL, not false, and NOT NULL is NULL again: without this guard
            # NOT would not be the complement of its clause.
            condition = sa.and_(column.is_not(None), condition)
        return condition

    def run(self, c: Comparison) -> Condition:
        # A trace is in a run when it was logged in it (mlflow.sourceRun, the run_id column)
        # or linked to it since (a labeling session's items, an evaluation's rows).
        column = traces.c.run_id
        linked = sa.exists().where(run_traces.c.trace_id == traces.c.trace_id)
        if c.op is Op.IS_NULL:
            return sa.and_(column.is_(None), sa.not_(linked))
        if c.op is Op.IS_NOT_NULL:
            return sa.or_(column.is_not(None), linked)
        own = sa.and_(column.is_not(None), self.match(column, c.op, _projected(c.value)))
        return sa.or_(own, linked.where(self.match(run_traces.c.run_id, c.op, c.value)))

    # -- tags and metadata ---------------------------------------------------------------
    def key_value(self, table: sa.Table, key: str, c: Comparison) -> Condition:
        has_key = [table.c.trace_id == traces.c.trace_id, table.c.key == key]
        if c.op is Op.IS_NULL:
            return sa.not_(sa.exists().where(*has_key))
        if c.op is Op.IS_NOT_NULL:
            return sa.exists().where(*has_key)
        condition = self.match(table.c.value, c.op, c.value)
        values = c.value if isinstance(c.value, tuple) else (c.value,)
        if c.op in (Op.EQ, Op.IN) and all(isinstance(v, str) and len(v) <= MAX_INDEXED_VALUE_CHARS
                                          for v in values):
            # Implied by the equality; it lets PostgreSQL use its partial value index.
            condition = sa.and_(condition,
                                sa.func.length(table.c.value) <= MAX_INDEXED_VALUE_CHARS)
        return sa.exists().where(*has_key, condition)

    # -- spans ---------------------------------------------------------------------------
    def span_group(self, group: SpanGroup) -> Condition:
        conditions = []
        for c in group.clauses:
            _check_storable(c)
            field = c.field
            assert isinstance(field, SpanField)
            if field.attr == "content":
                conditions.append(sa.or_(*(self.match(column, c.op, c.value)
                                           for column in _span_content())))
                continue
            column: sa.ColumnElement[Any]
            if field.attr == "attributes":
                column = json_member_text(self.dialect, spans.c.attributes, field.key or "")
            elif field.attr == "name":
                column = spans.c.name
            elif field.attr == "type":
                column = spans.c.span_type
            else:
                column = spans.c.status_code
            conditions.append(self.match(column, c.op, c.value))
        return sa.exists().where(spans.c.trace_id == traces.c.trace_id, *conditions)

    # -- assessments ---------------------------------------------------------------------
    def assessment(self, field: AssessmentField, c: Comparison) -> Condition:
        a = assessments
        conditions: list[Condition] = [a.c.kind == field.kind, a.c.name == field.name,
                                       a.c.valid == sa.true()]
        if c.op in (Op.LT, Op.LE, Op.GT, Op.GE):
            conditions += [self.match(a.c.numeric_value, c.op, c.value),
                           a.c.value.not_in(_BOOLEANS)]
        elif c.op in (Op.EQ, Op.NE, Op.IN, Op.NOT_IN):
            conditions.append(_value_is(a.c.value, c.op, c.value))
        elif c.op not in (Op.IS_NULL, Op.IS_NOT_NULL):
            conditions.append(self.match(json_string_text(self.dialect, a.c.value), c.op,
                                         c.value))
        found: Condition = sa.exists().where(a.c.trace_id == traces.c.trace_id, *conditions)
        if self.session_check is None or self.session_check(field.kind, field.name):
            # A session-level assessment is stored on one trace of the session and holds for
            # every trace of that session in the same experiment. Not correlated, so the
            # database reads the (few) session-level rows once, by the partial index.
            sessions = sa.select(a.c.experiment_id, a.c.session_id).where(
                a.c.session_id.is_not(None), *conditions)
            found = sa.or_(found, sa.and_(
                traces.c.session_id.is_not(None),
                sa.tuple_(traces.c.experiment_id, traces.c.session_id).in_(sessions)))
        return sa.not_(found) if c.op is Op.IS_NULL else found

    # -- gold labels ---------------------------------------------------------------------
    def gold(self, field: GoldField, c: Comparison) -> Condition:
        g = labeling_gold
        conditions: list[Condition] = [g.c.trace_id == traces.c.trace_id, g.c.name == field.name]
        if c.op in (Op.LT, Op.LE, Op.GT, Op.GE):
            conditions += [self.match(g.c.numeric_value, c.op, c.value),
                           g.c.value.not_in(_BOOLEANS)]
        elif c.op in (Op.EQ, Op.NE, Op.IN, Op.NOT_IN):
            conditions.append(_value_is(g.c.value, c.op, c.value))
        elif c.op not in (Op.IS_NULL, Op.IS_NOT_NULL):
            conditions.append(self.match(json_string_text(self.dialect, g.c.value), c.op,
                                         c.value))
        found = sa.exists().where(*conditions)
        return sa.not_(found) if c.op is Op.IS_NULL else found

    # -- operators -----------------------------------------------------------------------
    def match(self, column: sa.ColumnElement[Any], op: Op, value: Value) -> Condition:
        """``column op value`` for the comparison operators (not IS [NOT] NULL)."""
        if op is Op.IN or op is Op.NOT_IN:
            assert isinstance(value, tuple)
            return column.in_(value) if op is Op.IN else column.not_in(value)
        if op in (Op.LIKE, Op.ILIKE, Op.RLIKE):
            assert isinstance(value, str)
            if op is Op.RLIKE:
                return regexp(self.dialect, column, value)
            return like(self.dialect, column, value, ignore_case=op is Op.ILIKE)
        assert value is not None and not isinstance(value, tuple)
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
        raise AssertionError(f"unexpected operator {op}")  # pragma: no cover


def _is_subquery(expr: Expr) -> bool:
    """Whether a conjunct compiles to an EXISTS over another table."""
    return isinstance(expr, Comparison) and (
        isinstance(expr.field, TagField | MetadataField | AssessmentField | GoldField)
        or expr.field == TraceField("text"))


def _value_is(column: sa.ColumnElement[Any], op: Op, value: Value) -> Condition:
    """``=``, ``!=``, IN, NOT IN on an assessment's decoded value, as a plain comparison of
    the stored JSON text (which an index can serve; decoding every row could not).

    Exact because every stored value is written by ``encode_value``, so a string has one
    JSON text: the decoded value is ``v`` exactly when the stored text is ``encode_value(v)``
    (a string) or ``v`` itself (a number, boolean, list or object, whose decoded form is its
    JSON text; never text starting with a quote, which is a string).
    """
    values = value if isinstance(value, tuple) else (value,)
    texts = []
    for v in values:
        assert isinstance(v, str)
        texts.append(encode_value(v))
        if not v.startswith('"'):
            texts.append(v)
    if op is Op.EQ or op is Op.IN:
        return column.in_(texts)
    return column.not_in(texts)


def _span_content() -> tuple[sa.ColumnElement[Any], ...]:
    return spans.c.name, spans.c.inputs, spans.c.outputs, spans.c.attributes


def _projected(value: Value) -> Value:
    # The session, user and run columns keep the first MAX_KEY_CHARS characters of the
    # metadata value, so an exact value is compared by that much too.
    if isinstance(value, str):
        return value[:MAX_KEY_CHARS]
    if isinstance(value, tuple):
        return tuple(v[:MAX_KEY_CHARS] for v in value)
    return value


def _check_storable(c: Comparison) -> None:
    field = c.field
    names: list[str] = []
    if isinstance(field, TagField | MetadataField | SpanField):
        names.append(field.key or "")
    elif isinstance(field, AssessmentField | GoldField):
        names.append(field.name)
    values = c.value if isinstance(c.value, tuple) else (c.value,)
    for text in (*names, *(v for v in values if isinstance(v, str))):
        problem = _unstorable(text)
        if problem:
            raise FilterError(
                f"Invalid text in the clause at position {c.position}: {problem}, which no "
                "database can store.", position=c.position, fragment=c.text or None)


def _unstorable(text: str) -> str:
    if "\x00" in text:
        return "it holds the NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "it holds an unpaired surrogate"
    return ""


def _check_argument(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or _unstorable(value):
        raise InvalidParameterError(f"Invalid {name} {value!r}: expected a non-empty string")
