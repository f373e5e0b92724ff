"""The typed syntax tree of a parsed filter: operators, resolved fields and boolean nodes.

A filter string becomes a tree of frozen dataclasses::

    Expr        := And | Or | Not | Comparison | SpanGroup
    Comparison  := field  op  value            (one clause, e.g. ``trace.status = 'OK'``)
    Field       := TraceField | TagField | MetadataField | SpanField | AssessmentField
                   | GoldField
                 | IssueField

Fields are already *resolved*: aliases are gone (``attributes.timestamp`` is
``TraceField("timestamp_ms")``), and reserved keys point at their columns
(``tags.`mlflow.trace.user``` is ``TraceField("user_id")``), so a compiler maps each field to
exactly one place in the database.

Values are typed: ``str`` for quoted strings, ``int``/``float`` for unquoted numbers,
``tuple[str, ...]`` for ``IN``/``NOT IN`` lists and ``None`` for ``IS [NOT] NULL``.

The same-span rule: a :class:`Comparison` on a :class:`SpanField` never appears on its own;
it is always inside a :class:`SpanGroup`. All span clauses that are conjuncts of one AND chain
(after flattening nested ANDs, whatever their order and whatever sits between them) form a
single group, placed where the first of them was. A group means "some single span satisfies
every clause in it". Span clauses under different OR branches or under NOT are separate
groups (``NOT span.name = 'x'`` is "no span is named x").
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "And",
    "AssessmentField",
    "Comparison",
    "Expr",
    "Field",
    "GoldField",
    "IssueField",
    "MetadataField",
    "Not",
    "Op",
    "Or",
    "SpanField",
    "SpanGroup",
    "TagField",
    "TraceField",
    "TraceFieldName",
    "Value",
    "conjoin",
    "iter_comparisons",
    "make_and",
    "make_not",
    "make_or",
]


class Op(enum.Enum):
    """A comparison operator; the value is how it is written (keywords in upper case)."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    ILIKE = "ILIKE"
    RLIKE = "RLIKE"
    IN = "IN"
    NOT_IN = "NOT IN"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"

    # Members are singletons, so identity hashing is correct, and it is C code: Enum's own
    # __hash__ is Python and shows up when the parser checks operators against sets.
    __hash__ = object.__hash__


TraceFieldName: TypeAlias = Literal[
    "trace_id", "experiment_id", "status", "timestamp_ms", "execution_time_ms", "end_time_ms",
    "name", "client_request_id", "session_id", "user_id", "run_id", "text", "prompt",
]
"""Columns (or derived values) of a trace. ``experiment_id`` is only used by order_by."""


@dataclass(frozen=True, slots=True)
class TraceField:
    """A trace attribute (``trace.<name>``, ``attributes.<name>`` or a bare ``<name>``)."""

    name: TraceFieldName


@dataclass(frozen=True, slots=True)
class TagField:
    """A trace tag, ``tags.<key>``, other than the reserved keys that resolve to columns."""

    key: str


@dataclass(frozen=True, slots=True)
class MetadataField:
    """A trace metadata entry, ``metadata.<key>``, other than the reserved keys."""

    key: str


@dataclass(frozen=True, slots=True)
class SpanField:
    """A property of a span: ``name``, ``type``, ``status``, ``content``, or an attribute.

    ``key`` is the attribute name for ``span.attributes.<key>`` and ``None`` otherwise.
    """

    attr: Literal["name", "type", "status", "content", "attributes"]
    key: str | None = None


@dataclass(frozen=True, slots=True)
class AssessmentField:
    """The value of the valid assessments of one kind and name (``feedback.<name>``)."""

    kind: Literal["feedback", "expectation"]
    name: str


@dataclass(frozen=True, slots=True)
class GoldField:
    """The gold label of one label schema in any labeling session (``gold.<name>``)."""

    name: str


@dataclass(frozen=True, slots=True)
class IssueField:
    """An issue linked to the trace (``issue.id``)."""

    key: Literal["id"] = "id"


Field: TypeAlias = (TraceField | TagField | MetadataField | SpanField | AssessmentField
                    | GoldField | IssueField)
Value: TypeAlias = str | int | float | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """One clause: ``field op value``.

    ``position`` is the 0-based offset of the clause in the filter string and ``text`` the
    clause as written; neither takes part in equality or the repr, so two parses of
    differently spaced filters compare equal.
    """

    field: Field
    op: Op
    value: Value
    position: int = dataclasses.field(default=0, compare=False, repr=False)
    text: str = dataclasses.field(default="", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SpanGroup:
    """Span clauses that must all hold on the same span (see the module docstring)."""

    clauses: tuple[Comparison, ...]

    @property
    def position(self) -> int:
        return self.clauses[0].position


@dataclass(frozen=True, slots=True)
class And:
    """All items hold. Never nested directly in another And; at least two items."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one item holds. Never nested directly in another Or; at least two items."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The item does not hold."""

    item: Expr


Expr: TypeAlias = And | Or | Not | Comparison | SpanGroup


def iter_comparisons(expr: Expr | None) -> Iterator[Comparison]:
    """Every clause of a tree, left to right (handy to check which fields a filter uses)."""
    if expr is None:
        return
    if isinstance(expr, Comparison):
        yield expr
    elif isinstance(expr, SpanGroup):
        yield from expr.clauses
    elif isinstance(expr, Not):
        yield from iter_comparisons(expr.item)
    else:
        for item in expr.items:
            yield from iter_comparisons(item)


def make_and(items: Sequence[Expr]) -> Expr:
    """The conjunction of ``items``: nested ANDs flattened, span clauses grouped.

    All span clauses among the conjuncts become one :class:`SpanGroup`, placed where the first
    of them was. One item is returned as is.
    """
    flat: list[Expr] = []
    spans: list[Comparison] = []
    group_at = -1
    stack = list(reversed(items))
    while stack:
        item = stack.pop()
        if isinstance(item, And):
            stack.extend(reversed(item.items))
            continue
        if isinstance(item, Comparison) and isinstance(item.field, SpanField):
            item = SpanGroup((item,))
        if isinstance(item, SpanGroup):
            if group_at < 0:
                group_at = len(flat)
                flat.append(item)
            spans.extend(item.clauses)
        else:
            flat.append(item)
    if group_at >= 0:
        flat[group_at] = SpanGroup(tuple(spans))
    if not flat:
        raise ValueError("make_and() needs at least one item")
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def make_or(items: Sequence[Expr]) -> Expr:
    """The disjunction of ``items``: nested ORs flattened; one item is returned as is."""
    flat: list[Expr] = []
    for item in items:
        if isinstance(item, Or):
            flat.extend(item.items)
        else:
            flat.append(_grouped(item))
    if not flat:
        raise ValueError("make_or() needs at least one item")
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def make_not(item: Expr) -> Not:
    """The negation of ``item`` (a lone span clause is wrapped in its own group first)."""
    return Not(_grouped(item))


def conjoin(*exprs: Expr | None) -> Expr | None:
    """AND together filters, skipping ``None`` (e.g. a parsed filter and a ``run_id`` clause).

    Span clauses of the parts are grouped as if they had been written in one filter.
    """
    items = [e for e in exprs if e is not None]
    return make_and(items) if items else None


def _grouped(item: Expr) -> Expr:
    if isinstance(item, Comparison) and isinstance(item.field, SpanField):
        return SpanGroup((item,))
    return item
