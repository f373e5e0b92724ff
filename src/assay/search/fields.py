"""What each name in a filter means: entities, keys, aliases, and the operators each field takes.

This module is the one table of the language's vocabulary. It turns an identifier as written
(``attributes.timestamp``, ``tags.`mlflow.trace.user```, ``span.attributes.model``) into a
resolved :data:`~assay.search.ast.Field`, and it holds the :class:`Rule` for each field: the
operators it allows, which of them take an unquoted number, and the values it accepts.
The rules follow MLflow's (see the spec, section 3.3), plus Assay's extensions.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from assay.entities.span import SpanStatusCode
from assay.entities.trace import TraceState, metadata_keys
from assay.search.ast import (
    AssessmentField,
    Field,
    GoldField,
    IssueField,
    MetadataField,
    Op,
    SpanField,
    TagField,
    TraceField,
    TraceFieldName,
)
from assay.search.errors import FilterError

__all__ = [
    "ENTITIES",
    "FILTER_ATTRIBUTE_KEYS",
    "ORDER_BY_ATTRIBUTE_KEYS",
    "Ident",
    "Rule",
    "describe_ops",
    "resolve_filter_field",
    "resolve_order_field",
    "rule_for",
]

Entity = Literal["attribute", "tag", "metadata", "span", "feedback", "expectation", "gold",
                 "issue"]

# Entity names as written -> the entity. Case-sensitive, as in MLflow.
ENTITIES: dict[str, Entity] = {
    "trace": "attribute",
    "attribute": "attribute",
    "attributes": "attribute",
    "tag": "tag",
    "tags": "tag",
    "metadata": "metadata",
    "request_metadata": "metadata",
    "span": "span",
    "feedback": "feedback",
    "expectation": "expectation",
    "gold": "gold",
    "issue": "issue",
}

# Attribute keys as written -> the trace field. ``trace_id``, ``session_id`` and ``user_id``
# are Assay extensions (MLflow knows the id only as ``request_id``).
FILTER_ATTRIBUTE_KEYS: dict[str, TraceFieldName] = {
    "request_id": "trace_id",
    "trace_id": "trace_id",
    "status": "status",
    "timestamp_ms": "timestamp_ms",
    "timestamp": "timestamp_ms",
    "execution_time_ms": "execution_time_ms",
    "execution_time": "execution_time_ms",
    "end_time_ms": "end_time_ms",
    "end_time": "end_time_ms",
    "name": "name",
    "client_request_id": "client_request_id",
    "session_id": "session_id",
    "user_id": "user_id",
    "run_id": "run_id",
    "text": "text",
    "prompt": "prompt",
}

# order_by takes MLflow's keys plus end_time_ms (broken in MLflow), client_request_id,
# session_id and user_id; text and prompt are not orderable.
ORDER_BY_ATTRIBUTE_KEYS: dict[str, TraceFieldName] = {
    **{k: v for k, v in FILTER_ATTRIBUTE_KEYS.items() if v not in ("text", "prompt")},
    "experiment_id": "experiment_id",
}

# Reserved keys that live in trace columns: filters on them use the column.
_RESERVED_TAGS: dict[str, TraceFieldName] = {
    metadata_keys.SESSION: "session_id",
    metadata_keys.USER: "user_id",
    metadata_keys.TRACE_NAME: "name",
}
_RESERVED_METADATA: dict[str, TraceFieldName] = {
    metadata_keys.SESSION: "session_id",
    metadata_keys.USER: "user_id",
}

_SPAN_ATTRS: dict[str, Literal["name", "type", "status", "content"]] = {
    "name": "name", "type": "type", "status": "status", "content": "content",
}
_SPAN_HELP = "Supported: span.name, span.type, span.status, span.content, span.attributes.<name>."

_STRING = frozenset({Op.EQ, Op.NE, Op.LIKE, Op.ILIKE, Op.RLIKE})
_LIST = frozenset({Op.IN, Op.NOT_IN})
_NULL = frozenset({Op.IS_NULL, Op.IS_NOT_NULL})
_ORDER = frozenset({Op.LT, Op.LE, Op.GT, Op.GE})
_NUMERIC = _ORDER | {Op.EQ, Op.NE}
_NONE: frozenset[Op] = frozenset()


@dataclass(frozen=True, slots=True)
class Rule:
    """What one field accepts.

    Attributes:
        ops: the operators allowed.
        number_ops: those of ``ops`` that take an unquoted number; the others (except
            ``IS [NOT] NULL``) take quoted strings.
        choices: when set, the only values ``=``, ``!=``, ``IN`` and ``NOT IN`` accept,
            and ``choices_label`` how messages name them ("trace status").
        kind: how messages name the field's kind ("trace attribute", "tag", …).
    """

    ops: frozenset[Op]
    number_ops: frozenset[Op] = _NONE
    choices: tuple[str, ...] = ()
    kind: str = "field"
    choices_label: str = "value"


_TRACE_STATES = tuple(s.value for s in TraceState if s is not TraceState.STATE_UNSPECIFIED)
_SPAN_STATES = tuple(s.value for s in SpanStatusCode)

_TRACE_RULES: dict[TraceFieldName, Rule] = {
    "trace_id": Rule(_STRING | _LIST, kind="trace attribute"),
    "status": Rule(_STRING | _LIST, choices=_TRACE_STATES, kind="trace attribute",
                   choices_label="trace status"),
    "timestamp_ms": Rule(_NUMERIC, _NUMERIC, kind="numeric trace attribute"),
    "execution_time_ms": Rule(_NUMERIC, _NUMERIC, kind="numeric trace attribute"),
    "end_time_ms": Rule(_NUMERIC, _NUMERIC, kind="numeric trace attribute"),
    "name": Rule(_STRING | _NULL, kind="trace attribute"),
    "client_request_id": Rule(_STRING | _LIST, kind="trace attribute"),
    "session_id": Rule(_STRING | _LIST | _NULL, kind="trace attribute"),
    "user_id": Rule(_STRING | _LIST | _NULL, kind="trace attribute"),
    "run_id": Rule(_STRING | _NULL, kind="trace attribute"),
    "text": Rule(frozenset({Op.LIKE, Op.ILIKE}), kind="trace attribute"),
    "prompt": Rule(frozenset({Op.EQ}), kind="trace attribute"),
    "experiment_id": Rule(_NONE, kind="trace attribute"),
}
_TAG_RULE = Rule(_STRING | _NULL, kind="tag")
_METADATA_RULE = Rule(_STRING | _NULL, kind="metadata key")
_SPAN_RULES: dict[str, Rule] = {
    "name": Rule(_STRING | _LIST, kind="span field"),
    "type": Rule(_STRING | _LIST, kind="span field"),
    "status": Rule(_STRING | _LIST, choices=_SPAN_STATES, kind="span field",
                   choices_label="span status"),
    "content": Rule(frozenset({Op.LIKE, Op.ILIKE}), kind="span field"),
    "attributes": Rule(_STRING | _LIST, kind="span attribute"),
}
_ASSESSMENT_RULE = Rule(_STRING | _NULL | _ORDER, _ORDER, kind="assessment")
_GOLD_RULE = Rule(_STRING | _NULL | _ORDER, _ORDER, kind="gold label")
_ISSUE_RULE = Rule(frozenset({Op.EQ}), kind="issue field")


def rule_for(field: Field) -> Rule:
    """The rule of a resolved field."""
    if isinstance(field, TraceField):
        return _TRACE_RULES[field.name]
    if isinstance(field, TagField):
        return _TAG_RULE
    if isinstance(field, MetadataField):
        return _METADATA_RULE
    if isinstance(field, SpanField):
        return _SPAN_RULES[field.attr]
    if isinstance(field, AssessmentField):
        return _ASSESSMENT_RULE
    if isinstance(field, GoldField):
        return _GOLD_RULE
    return _ISSUE_RULE


def describe_ops(ops: frozenset[Op]) -> str:
    """The operators of a set, in the language's canonical order, comma-separated."""
    return ", ".join(op.value for op in Op if op in ops)


class Ident(NamedTuple):
    """An identifier as written: its entity (``None`` when bare), its key, and where."""

    entity: str | None
    key: str
    text: str
    pos: int
    key_pos: int


def resolve_filter_field(ident: Ident) -> Field:
    """The field a filter identifier names.

    Raises:
        FilterError: an unknown entity, attribute key, span field or issue key, or an empty
            key.
    """
    entity = _entity(ident)
    key = ident.key
    if entity == "attribute":
        return TraceField(_attribute(ident, FILTER_ATTRIBUTE_KEYS))
    if entity == "tag":
        column = _RESERVED_TAGS.get(key)
        return TraceField(column) if column else TagField(key)
    if entity == "metadata":
        column = _RESERVED_METADATA.get(key)
        return TraceField(column) if column else MetadataField(key)
    if entity == "span":
        attr = _SPAN_ATTRS.get(key)
        if attr is not None:
            return SpanField(attr)
        if key.startswith("attributes.") and len(key) > len("attributes."):
            return SpanField("attributes", key[len("attributes."):])
        raise _error(f"Invalid span field {key!r}", ident.key_pos, key, _SPAN_HELP)
    if entity == "issue":
        if key == "id":
            return IssueField()
        raise _error(f"Invalid issue key {key!r}", ident.key_pos, key, "Supported: issue.id.")
    if entity == "gold":
        return GoldField(key)
    return AssessmentField(entity, key)


def resolve_order_field(ident: Ident) -> TraceField | TagField | MetadataField | AssessmentField:
    """The field an ``order_by`` identifier names (``feedback.<name>`` is an extension).

    Raises:
        FilterError: an unknown entity or key, or an entity that cannot be ordered by.
    """
    entity = _entity(ident)
    if entity == "attribute":
        return TraceField(_attribute(ident, ORDER_BY_ATTRIBUTE_KEYS))
    if entity == "tag":
        column = _RESERVED_TAGS.get(ident.key)
        return TraceField(column) if column else TagField(ident.key)
    if entity == "metadata":
        column = _RESERVED_METADATA.get(ident.key)
        return TraceField(column) if column else MetadataField(ident.key)
    if entity == "feedback":
        return AssessmentField("feedback", ident.key)
    raise _error(f"Cannot order by {entity} fields: {ident.text!r}", ident.pos, ident.text,
                 "order_by takes trace attributes, tags.<key>, metadata.<key> and "
                 "feedback.<name>.")


def _entity(ident: Ident) -> Entity:
    if ident.entity is None:
        return "attribute"
    entity = ENTITIES.get(ident.entity)
    if entity is None:
        valid = ", ".join(sorted(ENTITIES))
        hint = _did_you_mean(ident.entity, ENTITIES)
        raise _error(f"Invalid entity type {ident.entity!r}", ident.pos, ident.entity,
                     f"Valid values are: {valid}.{hint}")
    if not ident.key:
        raise _error(f"Empty key after {ident.entity!r}", ident.key_pos, ident.text,
                     f"Write {ident.entity}.<key>.")
    return entity


def _attribute(ident: Ident, keys: dict[str, TraceFieldName]) -> TraceFieldName:
    name = keys.get(ident.key)
    if name is not None:
        return name
    valid = ", ".join(sorted(keys))
    if ident.entity is None and ident.key in ENTITIES:
        hint = f" Did you mean {ident.key}.<key>?"
    elif ident.key == "experiment_id":
        hint = " Choose experiments with the experiment_ids (or locations) argument."
    elif ident.key == "state":
        hint = " Did you mean 'status'?"
    else:
        hint = _did_you_mean(ident.key, keys)
    raise _error(f"Invalid attribute key {ident.key!r}", ident.key_pos, ident.key,
                 f"Valid keys are: {valid}.{hint}")


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    names = list(choices)
    lowered = {c.lower(): c for c in names}
    if word.lower() in lowered:
        return f" Names are case-sensitive: did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word, names, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _error(what: str, pos: int, fragment: str, help_text: str) -> FilterError:
    return FilterError(f"{what} at position {pos}. {help_text}", position=pos,
                       fragment=fragment)
