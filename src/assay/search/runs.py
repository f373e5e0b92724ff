"""The runs filter: MLflow's ``search_runs`` grammar, parsed into a list of clauses.

Pure Python with no I/O. A runs filter is a conjunction (AND only, as in MLflow: no OR,
parentheses or NOT) of clauses ``<entity>.<key> <op> <value>``:

=================================================  ==========================================
field                                              comparators and values
=================================================  ==========================================
``metrics.<k>``                                    ``= != < <= > >=`` an unquoted number
``params.<k>``, ``tags.<k>``                       ``= != LIKE ILIKE`` a quoted string
``attributes.start_time``, ``end_time``            ``= != < <= > >=`` milliseconds (``created``
                                                   is ``start_time``)
``attributes.status``, ``run_name``, ``run_id``,   ``= != LIKE ILIKE IN NOT IN`` quoted strings
``user_id``, ``kind``
=================================================  ==========================================

Entities are spelled as MLflow spells them (``metric``/``metrics``, ``param``/``params``/
``parameter``/``parameters``, ``tag``/``tags``, ``attribute``/``attributes``/``attr``/``run``);
a bare key is an attribute, and ``name`` is ``run_name``, as is ``tags.mlflow.runName``.
``attributes.kind`` (``'labeling'`` or ``'evaluation'``) is Assay's. ``status`` and ``kind``
values are checked against their choices. Every error is a :class:`FilterError` naming the
part of the filter at fault and its position.

>>> parse_run_filter("metrics.accuracy > 0.9 AND attributes.kind = 'labeling'")
(RunClause(field=RunField(entity='metric', key='accuracy'), op=<Op.GT: '>'>, value=0.9), \
RunClause(field=RunField(entity='attribute', key='kind'), op=<Op.EQ: '='>, value='labeling'))
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from assay.entities.run import RunKind, RunStatus
from assay.search.ast import Op
from assay.search.errors import FilterError
from assay.search.fields import Ident, describe_ops
from assay.search.lexer import Token
from assay.search.parser import MAX_CLAUSES, MAX_IN_VALUES, MAX_VALUES, TokenReader
from assay.search.values import check_number, describe_token

__all__ = [
    "DEFAULT_RUN_ORDER_BY",
    "RunAttribute",
    "RunClause",
    "RunField",
    "RunOrderKey",
    "parse_run_filter",
    "parse_run_order_by",
    "with_run_tie_breakers",
]

RunEntity: TypeAlias = Literal["attribute", "metric", "param", "tag"]
RunAttribute: TypeAlias = Literal["run_id", "run_name", "status", "kind", "user_id",
                                  "start_time", "end_time"]


@dataclass(frozen=True, slots=True)
class RunField:
    """A resolved field: an attribute of the run (``key`` is a :data:`RunAttribute`), or the
    metric, param or tag named ``key``."""

    entity: RunEntity
    key: str


@dataclass(frozen=True, slots=True)
class RunClause:
    """One clause, ``field op value``; ``value`` is a tuple for IN and NOT IN.

    ``position`` and ``text`` say where the clause was written (not part of equality)."""

    field: RunField
    op: Op
    value: str | int | float | tuple[str, ...]
    position: int = dataclasses.field(default=0, compare=False, repr=False)
    text: str = dataclasses.field(default="", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RunOrderKey:
    """One sort key (NULLs, i.e. runs without the metric, param or tag, sort last)."""

    field: RunField
    ascending: bool = True


DEFAULT_RUN_ORDER_BY: tuple[RunOrderKey, ...] = (
    RunOrderKey(RunField("attribute", "start_time"), ascending=False),
    RunOrderKey(RunField("attribute", "run_id"), ascending=True),
)
"""MLflow's order of runs, newest first, which also breaks ties in any other order."""

_ENTITIES: dict[str, RunEntity] = {
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
}
_ATTRIBUTES: dict[str, RunAttribute] = {
    "run_id": "run_id", "run_name": "run_name", "name": "run_name", "status": "status",
    "kind": "kind", "user_id": "user_id", "start_time": "start_time", "created": "start_time",
    "Created": "start_time", "end_time": "end_time",
}
# Tags MLflow keeps run attributes in: a filter on them uses the attribute.
_RESERVED_TAGS: dict[str, RunAttribute] = {"mlflow.runName": "run_name",
                                            "mlflow.user": "user_id"}
_TIMES = frozenset({"start_time", "end_time"})
_CHOICES: dict[str, tuple[str, ...]] = {
    "status": tuple(s.value for s in RunStatus),
    "kind": tuple(k.value for k in RunKind),
}

_NUMERIC = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
_TEXT = frozenset({Op.EQ, Op.NE, Op.LIKE, Op.ILIKE})
_ATTRIBUTE_TEXT = _TEXT | {Op.IN, Op.NOT_IN}
_SYMBOL_OPS = {"=": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}
_WORD_OPS = {"LIKE": Op.LIKE, "ILIKE": Op.ILIKE, "IN": Op.IN}


def parse_run_filter(text: str | None) -> tuple[RunClause, ...]:
    """Parse and check a runs filter; ``None`` or a blank string gives no clauses.

    Raises:
        FilterError: the string is not a runs filter; the message names the part at fault
            and its 0-based position.
    """
    if text is None:
        return ()
    if not isinstance(text, str):
        raise FilterError(f"filter_string must be a string, not {type(text).__name__}")
    if not text or text.isspace():
        return ()
    return _RunFilterParser(text).parse()


def parse_run_order_by(items: Sequence[str] | None) -> list[RunOrderKey]:
    """Parse ``order_by`` entries such as ``"metrics.accuracy DESC"``; None gives ``[]``.

    Raises:
        FilterError: an entry that is not a string, names an unknown field, has something
            other than ASC/DESC after the field, or repeats a field.
    """
    if items is None:
        return []
    if isinstance(items, str):
        raise FilterError("order_by must be a list of strings, e.g. ['metrics.accuracy DESC'], "
                          f"not the string {items!r}.")
    keys: list[RunOrderKey] = []
    seen: dict[RunField, str] = {}
    for index, item in enumerate(items):
        key = _parse_order_item(item, index)
        if key.field in seen:
            raise FilterError(
                f"`order_by` contains duplicate fields: {item!r} (entry {index}) orders by the "
                f"same field as {seen[key.field]!r}.", fragment=item)
        seen[key.field] = item
        keys.append(key)
    return keys


def with_run_tie_breakers(keys: Sequence[RunOrderKey]) -> list[RunOrderKey]:
    """``keys`` then ``start_time DESC, run_id ASC`` where not already there: a total order,
    which keyset paging needs."""
    out = list(keys)
    fields = {k.field for k in out}
    out.extend(k for k in DEFAULT_RUN_ORDER_BY if k.field not in fields)
    return out


class _RunFilterParser(TokenReader):
    __slots__ = ("num_values",)

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.num_values = 0

    def parse(self) -> tuple[RunClause, ...]:
        clauses = [self.clause()]
        while True:
            tok = self.peek()
            if tok.kind == "eof":
                return tuple(clauses)
            if tok.kind == "word" and tok.value == "AND":
                self.next()
                if len(clauses) >= MAX_CLAUSES:
                    start = self.peek()
                    raise FilterError(
                        f"The filter has too many clauses: the one at position {start.pos} is "
                        f"past the limit of {MAX_CLAUSES}. Use IN ('a', 'b', ...) for "
                        "alternatives of one attribute, or split the search.",
                        position=start.pos, fragment=start.text)
                clauses.append(self.clause())
                continue
            if tok.kind == "word" and tok.value == "OR":
                raise FilterError(
                    f"OR is not supported in a runs filter (position {tok.pos}): clauses are "
                    "joined with AND, as in MLflow. Use IN ('a', 'b') for alternatives of one "
                    "attribute.", position=tok.pos, fragment=tok.text)
            raise self.unexpected(tok, "AND or the end of the filter")

    def clause(self) -> RunClause:
        start = self.peek()
        if start.kind == "(" or (start.kind == "word" and start.value == "NOT"
                                 and self.tokens[self.i + 1].kind != "."):
            raise FilterError(
                f"{start.text!r} at position {start.pos} is not supported in a runs filter: "
                "it is a list of clauses joined with AND, as in MLflow.",
                position=start.pos, fragment=start.text)
        if start.kind not in ("word", "backtick"):
            raise self.unexpected(start, "a clause such as metrics.accuracy > 0.9")
        self.count_value(start)
        ident = self.identifier()
        field = _resolve(ident)
        ops = _ops_for(field)
        op_tok = self.peek()
        op = self.operator(ident)
        if op not in ops:
            raise FilterError(
                f"Invalid comparator {op.value!r} for {_describe(field)} {ident.text!r} at "
                f"position {op_tok.pos}. Allowed comparators: {describe_ops(ops)}.",
                position=op_tok.pos, fragment=self.text[op_tok.pos:self.end_of_previous()])
        value = self.value(ident, field, op)
        last = self.tokens[self.i - 1]
        return RunClause(field, op, value, ident.pos,
                         self.text[ident.pos:last.pos + len(last.text)])

    def operator(self, ident: Ident) -> Op:
        tok = self.next()
        if tok.kind == "op":
            op = _SYMBOL_OPS.get(tok.text)
            if op is None:
                better = "=" if tok.text == "==" else "!="
                raise FilterError(f"Invalid comparator {tok.text!r} at position {tok.pos}. "
                                  f"Use {better!r}.", position=tok.pos, fragment=tok.text)
            return op
        word = tok.value if tok.kind == "word" else ""
        if word in _WORD_OPS:
            return _WORD_OPS[word]
        if word == "NOT":
            after = self.next()
            if after.kind == "word" and after.value == "IN":
                return Op.NOT_IN
            raise self.unexpected(after, "IN after NOT")
        raise FilterError(
            f"Expected a comparator after {ident.text!r} at position {tok.pos}, found "
            f"{describe_token(tok)}. Names with special characters need backticks, e.g. "
            "metrics.`my-metric`.", position=tok.pos, fragment=tok.text)

    def value(self, ident: Ident, field: RunField, op: Op) -> str | int | float | tuple[str, ...]:
        tok = self.next()
        if tok.kind == "eof":
            raise FilterError(f"Missing value after {op.value!r} at position {tok.pos}.",
                              position=tok.pos, fragment="")
        if op is Op.IN or op is Op.NOT_IN:
            return self.value_list(field, op, tok)
        numeric = _is_numeric(field)
        if tok.kind == "number":
            if not numeric:
                raise FilterError(
                    f"{ident.text!r} takes a quoted string, but got the number {tok.text} at "
                    f"position {tok.pos}. Quote it: '{tok.text}'.",
                    position=tok.pos, fragment=tok.text)
            value = check_number(tok)
            if field.entity == "attribute" and not isinstance(value, int):
                raise FilterError(
                    f"{ident.text!r} is in whole milliseconds since the epoch: got {tok.text} "
                    f"at position {tok.pos}.", position=tok.pos, fragment=tok.text)
            return value
        if tok.kind == "string":
            assert isinstance(tok.value, str)
            if numeric:
                raise FilterError(
                    f"{ident.text!r} is numeric: compare it with an unquoted number, not the "
                    f"string {tok.text} at position {tok.pos}.",
                    position=tok.pos, fragment=tok.text)
            if op is Op.EQ or op is Op.NE:
                _check_choice(ident.text, field, tok.value, tok)
            return tok.value
        raise _bad_value(op, tok)

    def value_list(self, field: RunField, op: Op, tok: Token) -> tuple[str, ...]:
        if tok.kind != "(":
            raise FilterError(
                f"{op.value} at position {tok.pos} needs a parenthesized list of quoted "
                f"strings, e.g. {op.value} ('a', 'b'); found {describe_token(tok)}.",
                position=tok.pos, fragment=tok.text)
        values: list[str] = []
        while True:
            item = self.next()
            if item.kind == ")" and not values:
                raise FilterError(
                    f"Empty {op.value} list at position {tok.pos}: give at least one quoted "
                    "value.", position=tok.pos, fragment=self.text[tok.pos:item.pos + 1])
            if item.kind != "string":
                raise FilterError(
                    f"{op.value} lists take quoted strings: found {describe_token(item)} at "
                    f"position {item.pos}.", position=item.pos, fragment=item.text)
            assert isinstance(item.value, str)
            _check_choice(f"{field.entity}s.{field.key}", field, item.value, item)
            if len(values) >= MAX_IN_VALUES:
                raise FilterError(
                    f"The {op.value} list at position {tok.pos} has too many values: more "
                    f"than {MAX_IN_VALUES:,}.", position=item.pos, fragment=item.text)
            if values:
                self.count_value(item)
            values.append(item.value)
            sep = self.next()
            if sep.kind == ")":
                return tuple(values)
            if sep.kind != ",":
                raise self.unexpected(sep, f"',' or ')' in the {op.value} list")

    def count_value(self, tok: Token) -> None:
        self.num_values += 1
        if self.num_values > MAX_VALUES:
            raise FilterError(
                f"The filter has too many values: the one at position {tok.pos} is past the "
                f"limit of {MAX_VALUES:,} (clauses and IN list items together).",
                position=tok.pos, fragment=tok.text)


def _resolve(ident: Ident) -> RunField:
    if ident.entity is None:
        return RunField("attribute", _attribute(ident))
    entity = _ENTITIES.get(ident.entity)
    if entity is None:
        valid = ", ".join(sorted(_ENTITIES))
        raise FilterError(
            f"Invalid entity type {ident.entity!r} at position {ident.pos}. Valid values "
            f"are: {valid}.{_did_you_mean(ident.entity, _ENTITIES)}",
            position=ident.pos, fragment=ident.entity)
    if not ident.key:
        raise FilterError(f"Empty key after {ident.entity!r} at position {ident.key_pos}.",
                          position=ident.key_pos, fragment=ident.text)
    if entity == "attribute":
        return RunField("attribute", _attribute(ident))
    if entity == "tag" and ident.key in _RESERVED_TAGS:
        return RunField("attribute", _RESERVED_TAGS[ident.key])
    return RunField(entity, ident.key)


def _attribute(ident: Ident) -> RunAttribute:
    name = _ATTRIBUTES.get(ident.key)
    if name is not None:
        return name
    valid = ", ".join(sorted(_ATTRIBUTES))
    hint = _did_you_mean(ident.key, _ATTRIBUTES)
    if ident.entity is None and ident.key in _ENTITIES:
        hint = f" Did you mean {ident.key}.<key>?"
    elif ident.key == "experiment_id":
        hint = " Choose experiments with the experiment_ids argument."
    raise FilterError(
        f"Invalid attribute key {ident.key!r} at position {ident.key_pos}. Valid keys are: "
        f"{valid}.{hint}", position=ident.key_pos, fragment=ident.key)


def _is_numeric(field: RunField) -> bool:
    return field.entity == "metric" or (field.entity == "attribute" and field.key in _TIMES)


def _ops_for(field: RunField) -> frozenset[Op]:
    if _is_numeric(field):
        return _NUMERIC
    if field.entity == "attribute":
        return _ATTRIBUTE_TEXT
    return _TEXT


def _describe(field: RunField) -> str:
    return {"attribute": "attribute", "metric": "metric", "param": "param",
            "tag": "tag"}[field.entity]


def _check_choice(shown: str, field: RunField, value: str, tok: Token) -> None:
    choices = _CHOICES.get(field.key) if field.entity == "attribute" else None
    if choices and value not in choices:
        raise FilterError(
            f"Invalid {field.key} {value!r} for {shown!r} at position {tok.pos}. Valid values "
            f"are {', '.join(choices)} (case-sensitive).", position=tok.pos, fragment=tok.text)


def _bad_value(op: Op, tok: Token) -> FilterError:
    if tok.kind == "word":
        return FilterError(
            f"Value {tok.text!r} at position {tok.pos} is not quoted. Put string values in "
            f"single or double quotes, e.g. '{tok.text}'.", position=tok.pos, fragment=tok.text)
    if tok.kind == "(":
        return FilterError(f"A list of values at position {tok.pos} needs IN or NOT IN, not "
                           f"{op.value!r}.", position=tok.pos, fragment="(")
    return FilterError(f"Expected a value after {op.value!r} at position {tok.pos}, found "
                       f"{describe_token(tok)}.", position=tok.pos, fragment=tok.text)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _parse_order_item(item: object, index: int) -> RunOrderKey:
    if not isinstance(item, str):
        raise FilterError(f"order_by entry {index} must be a string, not "
                          f"{type(item).__name__}.")
    try:
        reader = TokenReader(item)
        tok = reader.peek()
        if tok.kind not in ("word", "backtick"):
            raise reader.unexpected(tok, "a field such as 'metrics.accuracy DESC'")
        field = _resolve(reader.identifier())
        ascending = True
        tok = reader.next()
        if tok.kind == "word" and tok.value in ("ASC", "DESC"):
            ascending = tok.value == "ASC"
            tok = reader.next()
        if tok.kind != "eof":
            raise reader.unexpected(tok, "ASC, DESC or the end of the entry")
    except FilterError as e:
        raise FilterError(f"Invalid order_by entry {item!r}: {e.message}",
                          position=e.position, fragment=e.fragment) from None
    return RunOrderKey(field, ascending)
