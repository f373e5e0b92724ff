"""Write a filter tree back as a filter string that parses to the same tree.

Useful for logs, for error messages that show a normalised filter, and for tests: for any
tree ``t`` that :func:`~assay.search.parser.parse_filter` produced,
``parse_filter(to_filter_string(t)) == t``.
"""

from __future__ import annotations

import re

from assay.search.ast import (
    And,
    AssessmentField,
    Comparison,
    Expr,
    Field,
    GoldField,
    IssueField,
    MetadataField,
    Not,
    Op,
    Or,
    SpanField,
    SpanGroup,
    TagField,
    TraceField,
    Value,
)
from assay.search.lexer import KEYWORDS

__all__ = ["quote_name", "quote_string", "to_filter_string"]

_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def to_filter_string(expr: Expr | None) -> str:
    """The canonical filter string of a tree (``""`` for ``None``)."""
    if expr is None:
        return ""
    if isinstance(expr, Comparison):
        return _comparison(expr)
    if isinstance(expr, SpanGroup):
        return " AND ".join(_comparison(c) for c in expr.clauses)
    if isinstance(expr, Not):
        inner = to_filter_string(expr.item)
        simple = isinstance(expr.item, Comparison | Not) or (
            isinstance(expr.item, SpanGroup) and len(expr.item.clauses) == 1)
        return f"NOT {inner}" if simple else f"NOT ({inner})"
    joiner = " AND " if isinstance(expr, And) else " OR "
    return joiner.join(_operand(item) for item in expr.items)


def quote_string(value: str) -> str:
    """A single-quoted literal for ``value`` (backslashes doubled, quotes doubled)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def quote_name(name: str) -> str:
    """``name`` as a key segment: bare when it is a plain word, else in backticks."""
    if _BARE.fullmatch(name) and name.upper() not in KEYWORDS:
        return name
    if not name:
        return '""'
    return "`" + name.replace("`", "``") + "`"


def _operand(item: Expr) -> str:
    text = to_filter_string(item)
    compound = isinstance(item, And | Or) or (
        isinstance(item, SpanGroup) and len(item.clauses) > 1)
    return f"({text})" if compound else text


def _comparison(c: Comparison) -> str:
    ident = _ident(c.field)
    if c.op is Op.IS_NULL or c.op is Op.IS_NOT_NULL:
        return f"{ident} {c.op.value}"
    return f"{ident} {c.op.value} {_value(c.value)}"


def _ident(field: Field) -> str:
    if isinstance(field, TraceField):
        return "trace.request_id" if field.name == "trace_id" else f"trace.{field.name}"
    if isinstance(field, TagField):
        return f"tags.{quote_name(field.key)}"
    if isinstance(field, MetadataField):
        return f"metadata.{quote_name(field.key)}"
    if isinstance(field, SpanField):
        if field.attr == "attributes":
            return f"span.attributes.{quote_name(field.key or '')}"
        return f"span.{field.attr}"
    if isinstance(field, AssessmentField):
        return f"{field.kind}.{quote_name(field.name)}"
    if isinstance(field, GoldField):
        return f"gold.{quote_name(field.name)}"
    assert isinstance(field, IssueField)
    return f"issue.{field.key}"


def _value(value: Value) -> str:
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(quote_string(v) for v in value) + ")"
    if isinstance(value, float):
        return repr(value)
    return str(value)
