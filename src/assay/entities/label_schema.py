"""Label schemas: the questions a labeling session asks its reviewers, and what each accepts.

A schema is named like the assessments it collects (a reviewer's answer to ``accuracy`` is a
Feedback named ``accuracy``), is a feedback or an expectation question, and has one *input*
saying which values are answers:

===========================  ==============================================  ==================
input                        parameters                                      value stored
===========================  ==============================================  ==================
:class:`InputPassFail`       positive_label, negative_label                  bool (True = pass)
:class:`InputCategorical`    options (1-100), multi_select                   str, or list[str]
:class:`InputCategoricalList`  options                                       list[str]
:class:`InputNumeric`        min_value, max_value (either may be None)        int or float
:class:`InputText`           max_length                                      str
:class:`InputTextList`       max_length_each, max_count                      list[str]
===========================  ==============================================  ==================

Once a schema exists in an experiment, every value written there under its name is checked
with :meth:`LabelSchema.check_value`, whichever way it arrives (SDK, REST, web page, review
app), and refused with a message naming the schema and what it accepts. An edit must keep
the answers already given valid: :func:`edit_conflicts` says which answers a new input
would refuse, and :func:`edit_refused` the error that names them.

Everything here is pure: no I/O, safe to import anywhere.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeAlias

from assay.entities._checks import check_key, check_ms, check_text
from assay.entities.assessment import MAX_NAME_CHARS
from assay.errors import InvalidParameterError

__all__ = [
    "EXPECTED_FACTS",
    "EXPECTED_RESPONSE",
    "GUIDELINES",
    "MAX_INSTRUCTION_CHARS",
    "MAX_OPTIONS",
    "MAX_OPTION_CHARS",
    "EditConflict",
    "InputCategorical",
    "InputCategoricalList",
    "InputNumeric",
    "InputPassFail",
    "InputText",
    "InputTextList",
    "LabelInput",
    "LabelSchema",
    "LabelSchemaType",
    "edit_conflicts",
    "edit_refused",
    "input_from_dict",
    "input_to_dict",
]

#: Names of the built-in expectations that judges read (MLflow's constants).
EXPECTED_FACTS = "expected_facts"
EXPECTED_RESPONSE = "expected_response"
GUIDELINES = "guidelines"

#: Longest instruction and title.
MAX_INSTRUCTION_CHARS = 1000
#: Most options of a categorical input, and the longest option or pass/fail label.
MAX_OPTIONS = 100
MAX_OPTION_CHARS = 64
#: Longest text answer when a text input sets no max_length, and most items of a text list.
MAX_TEXT_CHARS = 100_000
MAX_LIST_ITEMS = 1000


class LabelSchemaType(enum.StrEnum):
    """Whether a schema's answers are Feedback (a judgment) or Expectations (ground truth)."""

    FEEDBACK = "feedback"
    EXPECTATION = "expectation"

    @classmethod
    def parse(cls, value: object) -> LabelSchemaType:
        """A type from its name in any case (MLflow's REST protocol writes FEEDBACK)."""
        if isinstance(value, LabelSchemaType):
            return value
        if isinstance(value, str):
            try:
                return cls(value.lower())
            except ValueError:
                pass
        raise InvalidParameterError(
            f"Invalid type {value!r}: expected 'feedback' or 'expectation'")


def _invalid(schema: str, accepts: str, value: object) -> InvalidParameterError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidParameterError(
        f"Invalid value {shown} for label schema {schema!r}: it accepts {accepts}")


def _check_options(field_name: str, options: object) -> tuple[str, ...]:
    if isinstance(options, str) or not isinstance(options, Sequence):
        raise InvalidParameterError(
            f"Invalid {field_name}: expected a list of strings, got {type(options).__name__}")
    if not 1 <= len(options) <= MAX_OPTIONS:
        raise InvalidParameterError(
            f"Invalid {field_name}: give 1 to {MAX_OPTIONS} options, not {len(options)}")
    seen: set[str] = set()
    for option in options:
        check_text(f"{field_name} item", option, MAX_OPTION_CHARS)
        if option in seen:
            raise InvalidParameterError(f"Invalid {field_name}: {option!r} is listed twice")
        seen.add(option)
    return tuple(options)


def _check_limit(field_name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(
            f"Invalid {field_name} {value!r}: expected a whole number of at least 1, or None")
    return value


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _texts(schema: str, accepts: str, value: object, max_each: int | None,
           max_count: int | None) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _invalid(schema, accepts, value)
    limit = MAX_LIST_ITEMS if max_count is None else max_count
    if len(value) > limit:
        raise _invalid(schema, accepts, value)
    for item in value:
        if not isinstance(item, str) or len(item) > (max_each or MAX_TEXT_CHARS):
            raise _invalid(schema, accepts, value)
        check_key(f"value of label schema {schema!r}", item)
    return list(value)


def _choices(options: Sequence[str]) -> str:
    return ", ".join(repr(option) for option in options)


@dataclass(frozen=True)
class InputPassFail:
    """A pass/fail question: the answer is True (``positive_label``) or False. The labels
    themselves are accepted too, and stored as the boolean."""

    positive_label: str = "Pass"
    negative_label: str = "Fail"

    kind: ClassVar[str] = "pass_fail"

    def __post_init__(self) -> None:
        check_text("positive_label", self.positive_label, MAX_OPTION_CHARS)
        check_text("negative_label", self.negative_label, MAX_OPTION_CHARS)
        if self.positive_label == self.negative_label:
            raise InvalidParameterError(
                f"Invalid negative_label {self.negative_label!r}: it must differ from "
                "positive_label")

    def describe(self) -> str:
        return (f"true ({self.positive_label!r}) or false ({self.negative_label!r})")

    def check_value(self, schema: str, value: object) -> bool:
        if isinstance(value, bool):
            return value
        if value == self.positive_label:
            return True
        if value == self.negative_label:
            return False
        raise _invalid(schema, self.describe(), value)

    def parameters(self) -> dict[str, Any]:
        return {"positive_label": self.positive_label, "negative_label": self.negative_label}


@dataclass(frozen=True)
class InputCategorical:
    """One of ``options`` (a str), or several of them (a list) when ``multi_select``."""

    options: Sequence[str]
    multi_select: bool = False

    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _check_options("options", self.options))
        if not isinstance(self.multi_select, bool):
            raise InvalidParameterError(
                f"Invalid multi_select {self.multi_select!r}: expected true or false")

    def describe(self) -> str:
        if self.multi_select:
            return f"a list of distinct options among {_choices(self.options)}"
        return f"one of {_choices(self.options)}"

    def check_value(self, schema: str, value: object) -> str | list[str]:
        if not self.multi_select:
            if isinstance(value, str) and value in self.options:
                return value
            raise _invalid(schema, self.describe(), value)
        return _check_selection(schema, self.describe(), self.options, value)

    def parameters(self) -> dict[str, Any]:
        return {"options": list(self.options), "multi_select": self.multi_select}


def _check_selection(schema: str, accepts: str, options: Sequence[str],
                     value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _invalid(schema, accepts, value)
    if any(not isinstance(item, str) or item not in options for item in value):
        raise _invalid(schema, accepts, value)
    if len(set(value)) != len(value):
        raise _invalid(schema, accepts, value)
    return list(value)


@dataclass(frozen=True)
class InputCategoricalList:
    """A list of distinct options among ``options`` (possibly empty)."""

    options: Sequence[str]

    kind: ClassVar[str] = "categorical_list"

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _check_options("options", self.options))

    def describe(self) -> str:
        return f"a list of distinct options among {_choices(self.options)}"

    def check_value(self, schema: str, value: object) -> list[str]:
        return _check_selection(schema, self.describe(), self.options, value)

    def parameters(self) -> dict[str, Any]:
        return {"options": list(self.options)}


@dataclass(frozen=True)
class InputNumeric:
    """A number (int or float, not a bool) within ``[min_value, max_value]``; either bound
    may be None."""

    min_value: float | None = None
    max_value: float | None = None

    kind: ClassVar[str] = "numeric"

    def __post_init__(self) -> None:
        for name in ("min_value", "max_value"):
            bound = getattr(self, name)
            if bound is not None and not _is_number(bound):
                raise InvalidParameterError(
                    f"Invalid {name} {bound!r}: expected a finite number or None")
        if (self.min_value is not None and self.max_value is not None
                and self.min_value >= self.max_value):
            raise InvalidParameterError(
                f"Invalid max_value {self.max_value!r}: it must be greater than min_value "
                f"{self.min_value!r}")

    def describe(self) -> str:
        if self.min_value is not None and self.max_value is not None:
            return f"a number from {self.min_value:g} to {self.max_value:g}"
        if self.min_value is not None:
            return f"a number of at least {self.min_value:g}"
        if self.max_value is not None:
            return f"a number of at most {self.max_value:g}"
        return "a number"

    def check_value(self, schema: str, value: object) -> int | float:
        if not _is_number(value):
            raise _invalid(schema, self.describe(), value)
        assert isinstance(value, (int, float))
        if ((self.min_value is not None and value < self.min_value)
                or (self.max_value is not None and value > self.max_value)):
            raise _invalid(schema, self.describe(), value)
        return value

    def parameters(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value}


@dataclass(frozen=True)
class InputText:
    """Free text of at most ``max_length`` characters (None: up to 100,000)."""

    max_length: int | None = None

    kind: ClassVar[str] = "text"

    def __post_init__(self) -> None:
        _check_limit("max_length", self.max_length)

    def describe(self) -> str:
        limit = MAX_TEXT_CHARS if self.max_length is None else self.max_length
        return f"text of at most {limit:,} characters"

    def check_value(self, schema: str, value: object) -> str:
        limit = MAX_TEXT_CHARS if self.max_length is None else self.max_length
        if not isinstance(value, str) or len(value) > limit:
            raise _invalid(schema, self.describe(), value)
        check_key(f"value of label schema {schema!r}", value)
        return value

    def parameters(self) -> dict[str, Any]:
        return {"max_length": self.max_length}


@dataclass(frozen=True)
class InputTextList:
    """A list of at most ``max_count`` texts, each at most ``max_length_each`` characters."""

    max_length_each: int | None = None
    max_count: int | None = None

    kind: ClassVar[str] = "text_list"

    def __post_init__(self) -> None:
        _check_limit("max_length_each", self.max_length_each)
        _check_limit("max_count", self.max_count)

    def describe(self) -> str:
        count = MAX_LIST_ITEMS if self.max_count is None else self.max_count
        each = MAX_TEXT_CHARS if self.max_length_each is None else self.max_length_each
        return f"a list of at most {count:,} texts of at most {each:,} characters each"

    def check_value(self, schema: str, value: object) -> list[str]:
        return _texts(schema, self.describe(), value, self.max_length_each, self.max_count)

    def parameters(self) -> dict[str, Any]:
        return {"max_length_each": self.max_length_each, "max_count": self.max_count}


LabelInput: TypeAlias = (InputPassFail | InputCategorical | InputCategoricalList | InputNumeric
                         | InputText | InputTextList)

_INPUTS: dict[str, type[LabelInput]] = {
    cls.kind: cls for cls in (InputPassFail, InputCategorical, InputCategoricalList,
                              InputNumeric, InputText, InputTextList)
}


def input_to_dict(label_input: LabelInput) -> dict[str, Any]:
    """The JSON form of an input, as MLflow's REST protocol writes it:
    ``{"categorical": {"options": [...], "multi_select": false}}``."""
    return {label_input.kind: label_input.parameters()}


def input_from_dict(data: object) -> LabelInput:
    """An input from its JSON form (:func:`input_to_dict`); InvalidParameterError naming
    what is wrong."""
    if not isinstance(data, Mapping) or len(data) != 1:
        raise InvalidParameterError(
            "Invalid input: expected an object with one key, the input type "
            f"({', '.join(_INPUTS)}), e.g. {{\"text\": {{}}}}")
    ((kind, parameters),) = data.items()
    cls = _INPUTS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InvalidParameterError(
            f"Invalid input type {kind!r}: expected one of {', '.join(_INPUTS)}")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, Mapping):
        raise InvalidParameterError(f"Invalid input.{kind}: expected an object")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(str(key) for key in parameters if key not in known)
    if unknown:
        raise InvalidParameterError(
            f"Invalid input.{kind}: unknown field {unknown[0]!r}; expected "
            f"{', '.join(sorted(known)) or 'none'}")
    try:
        return cls(**{key: value for key, value in parameters.items() if value is not None})
    except TypeError as exc:  # a required field is missing
        raise InvalidParameterError(f"Invalid input.{kind}: {exc}") from None


@dataclass(frozen=True)
class LabelSchema:
    """A question of labeling sessions, scoped to an experiment and unique there by name.

    ``title`` is the question as reviewers read it (the name when None), ``instruction``
    the guidance beneath it; ``enable_comment`` adds a free-text comment to each answer.
    """

    name: str
    type: LabelSchemaType
    input: LabelInput
    instruction: str | None = None
    enable_comment: bool = False
    title: str | None = None
    schema_id: str = ""
    experiment_id: str = ""
    created_by: str | None = None
    created_at: int = 0
    updated_at: int = 0

    def __post_init__(self) -> None:
        check_text("name", self.name, MAX_NAME_CHARS)
        if self.name != self.name.strip():
            raise InvalidParameterError(
                f"Invalid name {self.name!r}: it must not start or end with spaces")
        object.__setattr__(self, "type", LabelSchemaType.parse(self.type))
        if not isinstance(self.input, tuple(_INPUTS.values())):
            raise InvalidParameterError(
                f"Invalid input {self.input!r}: expected one of InputPassFail, "
                "InputCategorical, InputCategoricalList, InputNumeric, InputText, "
                "InputTextList")
        for name in ("instruction", "title"):
            text = getattr(self, name)
            if text is not None:
                check_text(name, text, MAX_INSTRUCTION_CHARS, allow_empty=True)
        if not isinstance(self.enable_comment, bool):
            raise InvalidParameterError(
                f"Invalid enable_comment {self.enable_comment!r}: expected true or false")

    @property
    def question(self) -> str:
        """What reviewers read: the title, or the name when there is none."""
        return self.title or self.name

    def accepts(self) -> str:
        """What values this schema accepts, in words ("one of 'Yes', 'No'")."""
        return self.input.describe()

    def check_value(self, value: object) -> Any:
        """``value`` as stored (a pass/fail label becomes its boolean), or an
        InvalidParameterError naming this schema and what it accepts."""
        return self.input.check_value(self.name, value)

    def updated(self, *, name: str | None = None, instruction: str | None = None,
                enable_comment: bool | None = None, title: str | None = None,
                input: LabelInput | None = None, updated_at: int | None = None,
                ) -> LabelSchema:
        """This schema with the given fields changed (a sparse update; the type cannot
        change). Whether the answers already given allow the change is the store's to
        check, with :func:`edit_conflicts`."""
        changes: dict[str, Any] = {
            key: value for key, value in (
                ("name", name), ("instruction", instruction),
                ("enable_comment", enable_comment), ("title", title), ("input", input),
                ("updated_at", updated_at))
            if value is not None
        }
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (MLflow's ``LabelSchema`` fields, with Assay's ``title``)."""
        return {
            "schema_id": self.schema_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "type": self.type.value,
            "title": self.title,
            "instruction": self.instruction,
            "enable_comment": self.enable_comment,
            "input": input_to_dict(self.input),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "last_updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelSchema:
        """A schema from :meth:`to_dict`'s form; InvalidParameterError naming a missing or
        bad field."""
        for key in ("name", "type", "input"):
            if key not in data:
                raise InvalidParameterError(f"Invalid label schema: {key!r} is missing")
        return cls(
            name=data["name"],
            type=LabelSchemaType.parse(data["type"]),
            input=input_from_dict(data["input"]),
            instruction=data.get("instruction"),
            enable_comment=data.get("enable_comment", False),
            title=data.get("title"),
            schema_id=str(data.get("schema_id") or ""),
            experiment_id=str(data.get("experiment_id") or ""),
            created_by=data.get("created_by"),
            created_at=check_ms("created_at", data.get("created_at") or 0),
            updated_at=check_ms("last_updated_at", data.get("last_updated_at") or 0),
        )


# -- editing a schema that has answers --------------------------------------------------------

@dataclass(frozen=True)
class EditConflict:
    """Answers a schema edit would leave invalid, for one reason: ``field`` is the input's
    parameter the edit conflicts on (``kind``, ``multi_select``, ``options``,
    ``min_value``, ``max_value``, ``max_length``, ``max_count``, ``max_length_each``;
    ``name`` for a rename), ``count`` how many answers, ``example`` one of them in words."""

    field: str
    count: int
    example: str


def edit_conflicts(schema: LabelSchema, new: LabelInput,
                   answers: Iterable[tuple[Any, int]]) -> list[EditConflict]:
    """The answers that ``new`` would refuse among ``answers`` (each distinct stored value
    with how many answers hold it), grouped by reason, the most answers first. Values the
    current input already refuses (logged before the schema existed) are not counted:
    the edit does not make them invalid. A change of kind, or of ``multi_select``,
    conflicts with every answer, since they answered another kind of question."""
    old = schema.input
    found: dict[str, list[Any]] = {}
    for value, count in answers:
        try:
            old.check_value(schema.name, value)
        except InvalidParameterError:
            continue
        why = _why_refused(old, new, value)
        if why is None:
            continue
        field_name, example = why
        entry = found.setdefault(field_name, [0, example])
        entry[0] += count
    conflicts = [EditConflict(name, total, example)
                 for name, (total, example) in found.items()]
    return sorted(conflicts, key=lambda c: -c.count)


def edit_refused(schema: LabelSchema, conflicts: Sequence[EditConflict]
                 ) -> InvalidParameterError:
    """The error that refuses an edit: it names the first conflict's field (so that a form
    shows it there), the schema, how many answers, and why."""
    total = sum(c.count for c in conflicts)
    reasons = "; ".join(f"{c.example} ({c.count:,} answer{'' if c.count == 1 else 's'})"
                        for c in conflicts[:3])
    return InvalidParameterError(
        f"Invalid {conflicts[0].field}: label schema {schema.name!r} has {total:,} "
        f"answer{'' if total == 1 else 's'} this change would make invalid: {reasons}. "
        "Answers already given must stay valid: keep what they use, or create another "
        "schema")


def _why_refused(old: LabelInput, new: LabelInput,
                 value: Any) -> tuple[str, str] | None:
    """Why ``new`` refuses an answer ``old`` accepts: (field, in words); None if it does
    not."""
    if new.kind != old.kind:
        return "kind", f"they answer a {old.kind} question, not a {new.kind} one"
    if (isinstance(old, InputCategorical) and isinstance(new, InputCategorical)
            and old.multi_select != new.multi_select):
        several = "several options" if old.multi_select else "one option"
        return "multi_select", f"each holds {several}"
    try:
        new.check_value("", value)
        return None
    except InvalidParameterError:
        pass
    if isinstance(new, (InputCategorical, InputCategoricalList)):
        chosen = value if isinstance(value, list) else [value]
        gone = next((o for o in chosen if o not in new.options), None)
        return "options", f"{_short(gone)} is no longer an option"
    if isinstance(new, InputNumeric):
        if new.min_value is not None and value < new.min_value:
            return "min_value", f"{value:g} is below {new.min_value:g}"
        return "max_value", f"{value:g} is above {new.max_value:g}"
    if isinstance(new, InputText):
        return ("max_length", f"a text of {len(value):,} characters is longer than "
                              f"{new.max_length:,}")
    if isinstance(new, InputTextList):
        if new.max_count is not None and len(value) > new.max_count:
            return ("max_count", f"a list of {len(value):,} texts is more than "
                                 f"{new.max_count:,}")
        longest = max((len(item) for item in value), default=0)
        return ("max_length_each", f"an item of {longest:,} characters is longer than "
                                   f"{new.max_length_each:,}")
    return "input", f"{_short(value)} is no longer accepted"


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
