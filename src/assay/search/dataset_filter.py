"""The filter and order of ``search_datasets``: a small language over dataset fields.

A filter is comparisons joined by ``AND``::

    name = 'golden' AND tags.team LIKE 'search%' AND created_time > 1700000000000

Fields: ``name``, ``dataset_id``, ``created_by``, ``last_updated_by`` (``= != LIKE
ILIKE``), ``tags.<key>`` (the same, the key backticked if it is not a plain word), and
``created_time``, ``last_update_time`` (milliseconds; ``= != < <= > >=``). ``order_by``
entries are ``name``, ``created_time`` or ``last_update_time``, then ASC or DESC; the
default is ``created_time DESC``. Strings come from the same tokenizer as trace filters
(:mod:`assay.search.lexer`), with its limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assay.search.errors import FilterError
from assay.search.lexer import Token, tokenize

__all__ = [
    "DatasetClause",
    "DatasetOrder",
    "parse_dataset_filter",
    "parse_dataset_order",
]

_TEXT_FIELDS = frozenset({"name", "dataset_id", "created_by", "last_updated_by"})
_TIME_FIELDS = frozenset({"created_time", "last_update_time"})
_TEXT_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
_TIME_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_MAX_CLAUSES = 50
_FIELDS_HELP = ("name, dataset_id, created_by, last_updated_by, tags.<key>, created_time, "
                "last_update_time")


@dataclass(frozen=True, slots=True)
class DatasetClause:
    """One comparison: ``field`` is a field name or ``tags`` (then ``key`` is the tag)."""

    field: str
    op: str
    value: str | int
    key: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetOrder:
    """The sort: a field (``name``, ``created_time``, ``last_update_time``) and direction."""

    field: str = "created_time"
    ascending: bool = False


def parse_dataset_filter(text: str | None) -> list[DatasetClause]:
    """Parse a dataset filter; None or blank gives no clauses.

    Raises:
        FilterError: anything else than the language above, naming the position.
    """
    if text is None:
        return []
    if not isinstance(text, str):
        raise FilterError(f"filter_string must be a string, not {type(text).__name__}")
    if not text.strip():
        return []
    tokens = tokenize(text)
    clauses: list[DatasetClause] = []
    i = 0
    while True:
        clause, i = _clause(tokens, i)
        clauses.append(clause)
        if len(clauses) > _MAX_CLAUSES:
            raise FilterError(f"The filter has more than {_MAX_CLAUSES} comparisons.")
        tok = tokens[i]
        if tok.kind == "eof":
            return clauses
        if tok.kind == "word" and tok.value == "AND":
            i += 1
            continue
        raise FilterError(f"Expected AND or the end at position {tok.pos}, found "
                          f"{tok.text!r}; dataset filters join comparisons with AND.",
                          position=tok.pos, fragment=tok.text)


def _clause(tokens: list[Token], i: int) -> tuple[DatasetClause, int]:
    tok = tokens[i]
    if tok.kind not in ("word", "backtick"):
        raise _expected_field(tok)
    name = str(tok.text if tok.kind == "word" else tok.value)
    key: str | None = None
    i += 1
    if name.lower() in ("tags", "tag") and tokens[i].kind == ".":
        part = tokens[i + 1]
        if part.kind not in ("word", "backtick"):
            raise FilterError(f"Expected a tag key after 'tags.' at position {part.pos}.",
                              position=part.pos, fragment=part.text)
        key = str(part.text if part.kind == "word" else part.value)
        name, i = "tags", i + 2
    elif name.lower() in _TEXT_FIELDS | _TIME_FIELDS:
        name = name.lower()
    else:
        raise FilterError(f"Unknown dataset field {name!r} at position {tok.pos}; the fields "
                          f"are {_FIELDS_HELP}.", position=tok.pos, fragment=tok.text)
    op_tok = tokens[i]
    op = str(op_tok.value) if op_tok.kind in ("op", "word") else ""
    allowed = _TIME_OPS if name in _TIME_FIELDS else _TEXT_OPS
    if op not in allowed:
        raise FilterError(
            f"Invalid comparison for {name} at position {op_tok.pos}: {op_tok.text!r}; use "
            f"one of {', '.join(sorted(allowed))}.", position=op_tok.pos,
            fragment=op_tok.text)
    value_tok = tokens[i + 1]
    if name in _TIME_FIELDS:
        if value_tok.kind != "number" or not isinstance(value_tok.value, int):
            raise FilterError(f"Expected a whole number (milliseconds) for {name} at position "
                              f"{value_tok.pos}.", position=value_tok.pos,
                              fragment=value_tok.text)
    elif value_tok.kind != "string":
        raise FilterError(f"Expected a quoted string for {name} at position "
                          f"{value_tok.pos}.", position=value_tok.pos, fragment=value_tok.text)
    assert value_tok.value is not None and not isinstance(value_tok.value, float)
    return DatasetClause(name, op, value_tok.value, key), i + 2


def _expected_field(tok: Token) -> FilterError:
    return FilterError(f"Expected a field at position {tok.pos}, found "
                       f"{tok.text or 'the end'!r}; the fields are {_FIELDS_HELP}.",
                       position=tok.pos, fragment=tok.text)


def parse_dataset_order(order_by: Sequence[str] | None) -> DatasetOrder:
    """The sort of ``order_by`` (one entry; more is an error), or the default."""
    if order_by is None or len(order_by) == 0:
        return DatasetOrder()
    if isinstance(order_by, str) or len(order_by) > 1:
        raise FilterError("order_by must be a list of one string, e.g. ['name ASC']")
    item = order_by[0]
    parts = item.split() if isinstance(item, str) else []
    if not 1 <= len(parts) <= 2 or parts[0].lower() not in ("name", "created_time",
                                                            "last_update_time") \
            or (len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC")):
        raise FilterError(f"Invalid order_by entry {str(item)[:100]!r}: expected name, "
                          "created_time or last_update_time, then ASC or DESC")
    return DatasetOrder(parts[0].lower(), len(parts) == 1 or parts[1].upper() == "ASC")
