"""The search language: filter strings and ``order_by`` entries parsed into typed trees.

Pure Python with no I/O: :func:`parse_filter` turns MLflow's filter grammar (plus Assay's
OR, parentheses, NOT, ``trace.session_id``/``trace.user_id`` and reserved-key resolution)
into an :mod:`assay.search.ast` tree, validating every clause; :func:`parse_order_by` does the
same for sort keys. A SQL compiler in the store turns the trees into parameterized queries.
Every error is a :class:`FilterError` (an ``InvalidParameterError``, so a ``ValueError``)
naming what is wrong and where.

>>> parse_filter("trace.status = 'OK' AND tags.`mlflow.trace.user` = 'alice'")
And(items=(Comparison(field=TraceField(name='status'), op=<Op.EQ: '='>, value='OK'), \
Comparison(field=TraceField(name='user_id'), op=<Op.EQ: '='>, value='alice')))
"""

from __future__ import annotations

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
    conjoin,
    iter_comparisons,
)
from assay.search.errors import FilterError
from assay.search.order_by import DEFAULT_ORDER_BY, OrderKey, parse_order_by, with_tie_breakers
from assay.search.parser import parse_filter
from assay.search.unparse import to_filter_string

__all__ = [
    "DEFAULT_ORDER_BY",
    "And",
    "AssessmentField",
    "Comparison",
    "Expr",
    "Field",
    "FilterError",
    "GoldField",
    "IssueField",
    "MetadataField",
    "Not",
    "Op",
    "Or",
    "OrderKey",
    "SpanField",
    "SpanGroup",
    "TagField",
    "TraceField",
    "Value",
    "conjoin",
    "iter_comparisons",
    "parse_filter",
    "parse_order_by",
    "to_filter_string",
    "with_tie_breakers",
]
