"""A session's questions as the review form shows them, and the form's answers read back.

Each label schema becomes one question of the form, in the session's order, named ``a0``,
``a1``, … (schema names may hold any character; the position is a safe field name). What a
field holds depends on the schema's input:

====================  ==========================================  =========================
input                 control                                     field value(s)
====================  ==========================================  =========================
pass/fail             two radio buttons with the schema's labels  ``pass`` or ``fail``
categorical           radio buttons (checkboxes if multi_select)  an option (repeated)
categorical list      checkboxes                                  an option, repeated
numeric               a number input with min/max                 the number as typed
text                  a textarea with maxlength                   the text
text list             a textarea, one item per line               the lines
====================  ==========================================  =========================

A question whose schema enables comments has a comment box too, named ``c0``, ``c1``, … by
the same position: its text is that answer's rationale (a comment without its answer is
refused, as it would be lost). A question left empty is not answered (the reviewer's
earlier answer to it, if any, stays); at least one must be answered. :func:`read_answers`
returns the answers checked against their schemas, or a message per field that is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.entities import Assessment
from assay.entities.label_schema import (
    MAX_LIST_ITEMS,
    MAX_TEXT_CHARS,
    InputCategorical,
    InputCategoricalList,
    InputNumeric,
    InputPassFail,
    InputText,
    InputTextList,
    LabelSchema,
)
from assay.errors import InvalidParameterError

__all__ = [
    "COMMENT_FIELD",
    "FormAnswers",
    "comment_field",
    "earlier_answers",
    "field_name",
    "form_values",
    "question_context",
    "read_answers",
]

#: The field of one comment for every answer (the form before per-question comments; still
#: read, so that a page loaded before an upgrade can be submitted).
COMMENT_FIELD = "comment"
#: The longest comment (as the labeling API takes it).
MAX_COMMENT_CHARS = 10_000
_INT = re.compile(r"[+-]?\d+")
#: A form field's value as the template shows it: a text, or the options ticked.
FieldValue = str | list[str]


def field_name(index: int) -> str:
    """The form field of the session's question at ``index``."""
    return f"a{index}"


def comment_field(index: int) -> str:
    """The form field of the comment on the session's question at ``index``."""
    return f"c{index}"


def question_context(index: int, name: str, schema: LabelSchema | None,
                     value: FieldValue | None = None,
                     error: str | None = None, *, comment: str | None = None,
                     comment_error: str | None = None) -> dict[str, Any]:
    """One question for the template: its field, title, instruction, control and limits,
    the value shown (an earlier answer, or what was posted) and the message at it; where
    the schema enables comments, ``comment`` is its box (field, text, message).
    ``schema`` None: the schema was deleted since the session was made (shown, not asked)."""
    base: dict[str, Any] = {
        "index": index, "number": index + 1, "field": field_name(index), "name": name,
        "value": value if value is not None else "", "error": error,
    }
    if schema is None:
        return {**base, "kind": "missing", "title": name, "instruction": None,
                "type": "feedback", "enable_comment": False, "accepts": "", "comment": None}
    control = schema.input
    base.update({
        "kind": control.kind, "title": schema.question, "instruction": schema.instruction,
        "type": schema.type.value, "enable_comment": schema.enable_comment,
        "accepts": schema.accepts(),
        "comment": ({"field": comment_field(index), "value": comment or "",
                     "error": comment_error, "max_length": MAX_COMMENT_CHARS}
                    if schema.enable_comment else None),
    })
    if isinstance(control, InputPassFail):
        base["options"] = [{"value": "pass", "label": control.positive_label},
                           {"value": "fail", "label": control.negative_label}]
    elif isinstance(control, InputCategorical):
        base["options"] = [{"value": o, "label": o} for o in control.options]
        base["multiple"] = control.multi_select
    elif isinstance(control, InputCategoricalList):
        base["options"] = [{"value": o, "label": o} for o in control.options]
        base["multiple"] = True
    elif isinstance(control, InputNumeric):
        base["min"] = control.min_value
        base["max"] = control.max_value
    elif isinstance(control, InputText):
        base["max_length"] = control.max_length or MAX_TEXT_CHARS
    elif isinstance(control, InputTextList):
        base["max_length_each"] = control.max_length_each or MAX_TEXT_CHARS
        base["max_count"] = control.max_count or MAX_LIST_ITEMS
    if base.get("multiple") and not isinstance(base["value"], list):
        base["value"] = [base["value"]] if base["value"] else []
    return base


def form_values(schema: LabelSchema, value: Any) -> FieldValue:
    """A stored answer as its field shows it (to pre-fill the form)."""
    control = schema.input
    if isinstance(control, InputPassFail):
        return "pass" if value is True else "fail" if value is False else ""
    if isinstance(control, (InputCategorical, InputCategoricalList)):
        if isinstance(value, list):
            return [str(v) for v in value]
        return "" if value is None else str(value)
    if isinstance(control, InputNumeric):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return "" if value is None else str(value)
    if isinstance(control, InputTextList):
        return "\n".join(str(v) for v in value) if isinstance(value, list) else ""
    return "" if value is None else str(value)


def earlier_answers(assessments: Sequence[Assessment], run_id: str,
                    reviewer: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The reviewer's current answers in this session (schema name → value) and the
    comment on each (schema name → its rationale; answers without one left out), from a
    trace's assessments."""
    answers: dict[str, Any] = {}
    comments: dict[str, str] = {}
    for a in sorted(assessments, key=lambda a: a.create_time_ms):
        if (a.valid and a.run_id == run_id and a.source.source_type.value == "HUMAN"
                and a.source.source_id == reviewer):
            answers[a.name] = a.value
            if a.rationale:
                comments[a.name] = a.rationale
            else:
                comments.pop(a.name, None)
    return answers, comments


@dataclass
class FormAnswers:
    """What a posted review form says: the answers (schema name → value as stored), the
    comment on each (schema name → text, None to clear it), a comment for every answer
    (the older form's one box), what each field held (to show it again), and a message
    per wrong field."""

    answers: dict[str, Any] = field(default_factory=dict)
    comments: dict[str, str | None] = field(default_factory=dict)
    comment: str | None = None
    values: dict[str, FieldValue] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def read_answers(names: Sequence[str], schemas: Mapping[str, LabelSchema],
                 pairs: Sequence[tuple[str, str]]) -> FormAnswers:
    """The answers of a posted form (``pairs``, in order, repeated fields kept), each
    checked against its schema; a message per field that is wrong (``errors`` keyed by
    field name, ``form`` for the form as a whole)."""
    fields: dict[str, list[str]] = {}
    for key, value in pairs:
        fields.setdefault(key, []).append(value)
    result = FormAnswers()
    for index, name in enumerate(names):
        schema = schemas.get(name)
        key = field_name(index)
        given = fields.get(key, [])
        if schema is None:
            continue
        multiple = isinstance(schema.input, InputCategoricalList) or (
            isinstance(schema.input, InputCategorical) and schema.input.multi_select)
        result.values[key] = [g for g in given if g] if multiple else (given[-1] if given
                                                                        else "")
        try:
            value = _field_value(schema, given)
        except InvalidParameterError as exc:
            result.errors[key] = exc.message
            continue
        if value is not None:
            result.answers[name] = value
        if schema.enable_comment:
            _read_comment(result, index, name, fields.get(comment_field(index), []))
    if COMMENT_FIELD in fields:
        comment = fields[COMMENT_FIELD][-1]
        result.values[COMMENT_FIELD] = comment
        if len(comment) > MAX_COMMENT_CHARS:
            result.errors[COMMENT_FIELD] = _too_long(comment)
        result.comment = comment.strip() or None
    if not result.answers and not result.errors:
        first = next((field_name(i) for i, n in enumerate(names) if n in schemas), "form")
        result.errors[first] = "Answer at least one question (or skip this item)"
    return result


def _read_comment(result: FormAnswers, index: int, name: str, given: list[str]) -> None:
    """The comment on question ``index``, kept for its answer; a message when it is too
    long, or written to a question left unanswered (it would be lost)."""
    key = comment_field(index)
    if not given:  # no box posted (a page from before per-question comments)
        return
    text = given[-1]
    result.values[key] = text
    if len(text) > MAX_COMMENT_CHARS:
        result.errors[key] = _too_long(text)
    elif name in result.answers:
        result.comments[name] = text.strip() or None
    elif text.strip() and field_name(index) not in result.errors:
        result.errors[key] = (f"Answer question {index + 1} too, or clear this comment: "
                              "a comment is saved with its answer")


def _too_long(comment: str) -> str:
    return (f"The comment is {len(comment):,} characters long; the limit is "
            f"{MAX_COMMENT_CHARS:,}")


def _field_value(schema: LabelSchema, given: list[str]) -> Any:
    """One field's answer as stored, None when it is left empty; InvalidParameterError
    with a message for the reviewer otherwise."""
    control = schema.input
    if isinstance(control, InputPassFail):
        choice = given[-1] if given else ""
        if not choice:
            return None
        if choice not in ("pass", "fail"):
            raise InvalidParameterError(
                f"Choose {control.positive_label!r} or {control.negative_label!r}")
        return choice == "pass"
    if isinstance(control, (InputCategorical, InputCategoricalList)):
        multiple = isinstance(control, InputCategoricalList) or control.multi_select
        chosen = list(dict.fromkeys(g for g in given if g))
        if not chosen:
            return None
        unknown = [c for c in chosen if c not in control.options]
        if unknown:
            shown = unknown[0] if len(unknown[0]) <= 40 else unknown[0][:39] + "\u2026"
            raise InvalidParameterError(
                f"{shown!r} is not one of the options; choose among "
                f"{', '.join(repr(o) for o in control.options[:10])}")
        if not multiple:
            if len(chosen) > 1:
                raise InvalidParameterError("Choose one option only")
            return schema.check_value(chosen[0])
        return schema.check_value(chosen)
    text = given[-1] if given else ""
    if isinstance(control, InputNumeric):
        raw = text.strip()
        if not raw:
            return None
        number = _number(raw)
        if number is None:
            raise InvalidParameterError(f"{raw[:30]!r} is not a number; enter "
                                        f"{control.describe()}")
        try:
            return schema.check_value(number)
        except InvalidParameterError:
            raise InvalidParameterError(
                f"{raw[:30]} is out of range; enter {control.describe()}") from None
    if isinstance(control, InputText):
        if not text.strip():
            return None
        limit = control.max_length or MAX_TEXT_CHARS
        if len(text) > limit:
            raise InvalidParameterError(
                f"The text is {len(text):,} characters long; the limit is {limit:,}")
        return _checked(schema, text)
    assert isinstance(control, InputTextList)
    items = [line.strip() for line in text.splitlines() if line.strip()]
    if not items:
        return None
    count = control.max_count or MAX_LIST_ITEMS
    each = control.max_length_each or MAX_TEXT_CHARS
    if len(items) > count:
        raise InvalidParameterError(f"{len(items):,} lines; at most {count:,} are taken")
    long = next((i for i, item in enumerate(items) if len(item) > each), None)
    if long is not None:
        raise InvalidParameterError(
            f"Line {long + 1} is {len(items[long]):,} characters long; the limit is {each:,}")
    return _checked(schema, items)


def _checked(schema: LabelSchema, value: Any) -> Any:
    try:
        return schema.check_value(value)
    except InvalidParameterError:
        # What is left after the limits above: characters a value may not hold.
        raise InvalidParameterError(
            "The text holds characters that cannot be stored (a NUL or a lone "
            "surrogate); remove them") from None


def _number(raw: str) -> int | float | None:
    if len(raw) > 40:  # no real rating is this long; int() of thousands of digits is slow
        return None
    if _INT.fullmatch(raw):
        return int(raw)
    try:
        number = float(raw)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
