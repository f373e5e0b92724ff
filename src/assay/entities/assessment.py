"""Assessments: a Feedback or an Expectation attached to a trace, or to one of its spans.

A **Feedback** says how good something was (a thumbs up from an end user, a 1-5 rating from
a developer, a judge's verdict); an **Expectation** says what the right answer was (ground
truth from an expert). Each carries its **source**: who gave it (HUMAN, LLM_JUDGE or CODE)
and their id. Overriding a feedback keeps the old one with ``valid=False``; the rules of
overrides, updates and session-level assessments are :mod:`assay.rules`.

The constructors mirror MLflow's (``Feedback(name="feedback", value=None, error=None,
source=None, ...)``, ``Expectation(name, value, ...)``) and check their arguments, so an
assessment that exists can be stored: a bad value raises an
:class:`~assay.errors.InvalidParameterError` (a ``ValueError``) naming the field.

Values are JSON: bool, int, float, str, None, and lists and dicts (with string keys) of
those, nested. They are kept as given; an int stays an int.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from assay.entities._checks import MAX_ID_CHARS, check_metadata, check_ms, check_text, check_value
from assay.entities._time import ms_to_rfc3339, now_ms, rfc3339_to_ms
from assay.entities.assessment_error import AssessmentError
from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
from assay.errors import InvalidParameterError

__all__ = [
    "DEFAULT_FEEDBACK_NAME",
    "MAX_NAME_CHARS",
    "MAX_RATIONALE_CHARS",
    "Assessment",
    "AssessmentError",
    "AssessmentSource",
    "AssessmentSourceType",
    "Expectation",
    "ExpectationValue",
    "Feedback",
    "FeedbackValue",
    "assessment_metadata_keys",
    "encode_value",
    "new_assessment_id",
    "numeric_value",
]

#: The name of a Feedback created without one (MLflow's default).
DEFAULT_FEEDBACK_NAME = "feedback"
#: Longest assessment name (it is indexed for aggregation).
MAX_NAME_CHARS = 250
#: Longest rationale, in characters.
MAX_RATIONALE_CHARS = 10_000

_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_JSON_FORMAT = "JSON_FORMAT"


class assessment_metadata_keys:
    """Reserved assessment metadata keys (MLflow's names)."""

    #: The session a session-level assessment is about (see ``Assessment.session_id``).
    SESSION = "mlflow.trace.session"
    #: The run that produced the assessment (an evaluation run); also ``Assessment.run_id``.
    SOURCE_RUN_ID = "mlflow.assessment.sourceRunId"


# -- values --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedbackValue:
    """A feedback's value and error (MLflow's ``assessment.feedback``)."""

    value: Any
    error: AssessmentError | None = None


@dataclass(frozen=True)
class ExpectationValue:
    """An expectation's value (MLflow's ``assessment.expectation``)."""

    value: Any


# -- assessments --------------------------------------------------------------------------

@dataclass(frozen=True, init=False)
class Assessment:
    """What Feedback and Expectation share. Create one of those, not this.

    ``assessment_id`` is ``a-`` and 32 hex digits, given when the assessment is logged.
    ``valid`` is False once another assessment overrides this one (``overrides`` holds the
    id of the assessment it supersedes). Times are milliseconds since the epoch.
    """

    #: "feedback" or "expectation".
    kind: ClassVar[Literal["feedback", "expectation"]]

    name: str
    value: Any
    source: AssessmentSource
    trace_id: str | None
    span_id: str | None
    rationale: str | None
    metadata: dict[str, str]
    error: AssessmentError | None
    create_time_ms: int
    last_update_time_ms: int
    assessment_id: str | None
    overrides: str | None
    valid: bool
    run_id: str | None
    #: Set by ``log_feedback(..., idempotency_key=...)``: a retried call with the same key
    #: returns the assessment the first call stored.
    idempotency_key: str | None

    # MLflow's accessors.
    @property
    def feedback(self) -> FeedbackValue | None:
        return None

    @property
    def expectation(self) -> ExpectationValue | None:
        return None

    @property
    def session_id(self) -> str | None:
        """The session a session-level assessment is about (metadata ``mlflow.trace.session``)."""
        return self.metadata.get(assessment_metadata_keys.SESSION)

    def to_dictionary(self) -> dict[str, Any]:
        """MLflow's JSON form (also the REST body): ``assessment_name``, RFC 3339 times."""
        d: dict[str, Any] = {}
        if self.assessment_id is not None:
            d["assessment_id"] = self.assessment_id
        d["assessment_name"] = self.name
        d["trace_id"] = self.trace_id or ""
        if self.span_id is not None:
            d["span_id"] = self.span_id
        d["source"] = self.source.to_dictionary()
        d["create_time"] = ms_to_rfc3339(self.create_time_ms)
        d["last_update_time"] = ms_to_rfc3339(self.last_update_time_ms)
        d.update(self._value_dictionary())
        if self.rationale is not None:
            d["rationale"] = self.rationale
        if self.metadata:
            d["metadata"] = dict(self.metadata)
        if self.overrides is not None:
            d["overrides"] = self.overrides
        d["valid"] = self.valid
        if self.run_id is not None:
            d["run_id"] = self.run_id
        if self.idempotency_key is not None:
            d["idempotency_key"] = self.idempotency_key
        return d

    def _value_dictionary(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dictionary(cls, d: Mapping[str, Any]) -> Assessment:
        """Read :meth:`to_dictionary`'s form (or MLflow's): a Feedback or an Expectation."""
        if "feedback" in d and cls is not Expectation:
            return Feedback._from_dictionary(d)
        if "expectation" in d and cls is not Feedback:
            return Expectation._from_dictionary(d)
        wanted = cls.kind if cls in (Feedback, Expectation) else "feedback' or 'expectation"
        raise InvalidParameterError(
            f"Invalid assessment {d.get('assessment_name')!r}: its dictionary has no "
            f"'{wanted}' entry")

    @staticmethod
    def _common_from_dictionary(d: Mapping[str, Any]) -> dict[str, Any]:
        source = d.get("source")
        return {
            "name": d.get("assessment_name", d.get("name")),
            "source": (AssessmentSource.from_dictionary(source)
                       if isinstance(source, Mapping) else None),
            "trace_id": d.get("trace_id") or None,
            "span_id": d.get("span_id") or None,
            "metadata": d.get("metadata") or None,
            "create_time_ms": _time_field(d, "create_time"),
            "last_update_time_ms": _time_field(d, "last_update_time"),
            "rationale": d.get("rationale"),
            "overrides": d.get("overrides") or None,
            "valid": d.get("valid", True) is not False,
            "assessment_id": d.get("assessment_id") or None,
            "run_id": d.get("run_id") or None,
            "idempotency_key": d.get("idempotency_key") or None,
        }


class Feedback(Assessment):
    """A judgement of quality: a value (bool, number, text, list, dict), or an error.

    Args:
        name: what is judged, e.g. "user_feedback" (default "feedback").
        value: the judgement. None is allowed when ``error`` says why there is none.
        error: an Exception, an :class:`AssessmentError`, or a message (error code
            ``ASSESSMENT_ERROR``).
        source: who gave it (default CODE with id "default", as in MLflow); an
            :class:`AssessmentSource`, or a source type such as ``"HUMAN"``.
        trace_id: the trace it is about (filled in by ``log_feedback``).
        metadata: string keys and values; numbers and booleans are stored as strings.
        span_id: the span it is about, if not the whole trace (16 hex digits).
        create_time_ms, last_update_time_ms: default now.
        rationale: why (at most 10,000 characters).
        overrides: the id of the assessment this one supersedes.
        valid: False once overridden.
        assessment_id, run_id, idempotency_key: set by the store, or by
            ``log_feedback``'s keyword of the same name.
    """

    kind: ClassVar[Literal["feedback", "expectation"]] = "feedback"

    def __init__(
        self,
        name: str = DEFAULT_FEEDBACK_NAME,
        value: Any = None,
        error: BaseException | AssessmentError | str | None = None,
        source: AssessmentSource | AssessmentSourceType | str | None = None,
        trace_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        span_id: str | None = None,
        create_time_ms: int | None = None,
        last_update_time_ms: int | None = None,
        rationale: str | None = None,
        overrides: str | None = None,
        valid: bool = True,
        *,
        assessment_id: str | None = None,
        run_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        if isinstance(error, BaseException):
            error = AssessmentError.from_exception(error)
        elif isinstance(error, str):
            error = AssessmentError(error_code="ASSESSMENT_ERROR", error_message=error)
        elif error is not None and not isinstance(error, AssessmentError):
            raise InvalidParameterError(
                f"Invalid error of feedback {name!r}: expected an Exception, an "
                f"AssessmentError or a str, got {type(error).__name__}")
        _init(self, name=name, value=value, error=error,
              source=_source(source, AssessmentSourceType.CODE), trace_id=trace_id,
              metadata=metadata, span_id=span_id, create_time_ms=create_time_ms,
              last_update_time_ms=last_update_time_ms, rationale=rationale,
              overrides=overrides, valid=valid, assessment_id=assessment_id, run_id=run_id,
              idempotency_key=idempotency_key)

    @property
    def feedback(self) -> FeedbackValue:
        return FeedbackValue(self.value, self.error)

    @property
    def error_code(self) -> str | None:
        return None if self.error is None else self.error.error_code

    @property
    def error_message(self) -> str | None:
        return None if self.error is None else self.error.error_message

    def _value_dictionary(self) -> dict[str, Any]:
        feedback: dict[str, Any] = {"value": self.value}
        if self.error is not None:
            feedback["error"] = self.error.to_dictionary()
        return {"feedback": feedback}

    @classmethod
    def _from_dictionary(cls, d: Mapping[str, Any]) -> Feedback:
        body = d.get("feedback")
        if not isinstance(body, Mapping):
            raise InvalidParameterError(
                f"Invalid feedback {d.get('assessment_name')!r}: 'feedback' must be an object")
        error = body.get("error")
        kwargs = cls._common_from_dictionary(d)
        return cls(value=body.get("value"),
                   error=AssessmentError.from_dictionary(error) if error else None,
                   **kwargs)


class Expectation(Assessment):
    """The expected outcome, e.g. the right answer to a question (ground truth).

    Args:
        name: what is expected, e.g. "expected_response" (required).
        value: any JSON value; None is refused.
        source: who gave it (default HUMAN with id "default", as in MLflow).
        trace_id, metadata, span_id, create_time_ms, last_update_time_ms: as for
            :class:`Feedback`.
        rationale, overrides, valid, assessment_id, run_id, idempotency_key: keyword-only,
            as for :class:`Feedback`.
    """

    kind: ClassVar[Literal["feedback", "expectation"]] = "expectation"

    def __init__(
        self,
        name: str,
        value: Any,
        source: AssessmentSource | AssessmentSourceType | str | None = None,
        trace_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        span_id: str | None = None,
        create_time_ms: int | None = None,
        last_update_time_ms: int | None = None,
        *,
        rationale: str | None = None,
        overrides: str | None = None,
        valid: bool = True,
        assessment_id: str | None = None,
        run_id: str | None = None,
        idempotency_key: str | None = None,
        error: None = None,
    ) -> None:
        if value is None:
            raise InvalidParameterError(
                f"Invalid value of expectation {name!r}: an Expectation needs a value, "
                "got None")
        if error is not None:
            raise InvalidParameterError(
                f"Invalid error of expectation {name!r}: only a Feedback can carry an error")
        _init(self, name=name, value=value, error=None,
              source=_source(source, AssessmentSourceType.HUMAN), trace_id=trace_id,
              metadata=metadata, span_id=span_id, create_time_ms=create_time_ms,
              last_update_time_ms=last_update_time_ms, rationale=rationale,
              overrides=overrides, valid=valid, assessment_id=assessment_id, run_id=run_id,
              idempotency_key=idempotency_key)

    @property
    def expectation(self) -> ExpectationValue:
        return ExpectationValue(self.value)

    def _value_dictionary(self) -> dict[str, Any]:
        # MLflow's wire form: scalars in "value", lists and dicts as JSON text.
        if isinstance(self.value, (str, int, float, bool)):
            return {"expectation": {"value": self.value}}
        return {"expectation": {"serialized_value": {
            "serialization_format": _JSON_FORMAT, "value": encode_value(self.value)}}}

    @classmethod
    def _from_dictionary(cls, d: Mapping[str, Any]) -> Expectation:
        body = d.get("expectation")
        if not isinstance(body, Mapping):
            raise InvalidParameterError(
                f"Invalid expectation {d.get('assessment_name')!r}: 'expectation' must be an "
                "object")
        serialized = body.get("serialized_value")
        if isinstance(serialized, Mapping):
            fmt = serialized.get("serialization_format", _JSON_FORMAT)
            if fmt != _JSON_FORMAT:
                raise InvalidParameterError(
                    f"Invalid expectation {d.get('assessment_name')!r}: unknown "
                    f"serialization_format {fmt!r}; only {_JSON_FORMAT} is supported")
            try:
                value = json.loads(serialized.get("value") or "null")
            except ValueError:
                raise InvalidParameterError(
                    f"Invalid expectation {d.get('assessment_name')!r}: its serialized_value "
                    "is not JSON") from None
        else:
            value = body.get("value")
        kwargs = cls._common_from_dictionary(d)
        return cls(value=value, **kwargs)


# -- ids and values ------------------------------------------------------------------------

def new_assessment_id() -> str:
    """A fresh assessment id: ``a-`` and 32 hex digits."""
    return "a-" + uuid.uuid4().hex


def encode_value(value: Any) -> str:
    """A checked value as compact JSON text (non-ASCII kept as is)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def numeric_value(value: Any) -> float | None:
    """The value as a number for aggregation: booleans are 0/1, numbers themselves, else None."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond the range of a double
            return None
        return number if math.isfinite(number) else None
    return None


# -- checks ---------------------------------------------------------------------------------

def _init(obj: Assessment, *, name: object, value: object, error: AssessmentError | None,
          source: AssessmentSource, trace_id: object, metadata: Mapping[str, Any] | None,
          span_id: object, create_time_ms: object, last_update_time_ms: object,
          rationale: object, overrides: object, valid: object, assessment_id: object,
          run_id: object, idempotency_key: object) -> None:
    """Check every field of a new assessment and set it; InvalidParameterError otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(
            f"Invalid name {name!r}: an assessment needs a non-empty name")
    check_text("name", name, MAX_NAME_CHARS)
    check_value(value, "value", 0)
    if trace_id is not None:
        check_text("trace_id", trace_id, 64)
    if span_id is not None and (not isinstance(span_id, str) or not _SPAN_ID.fullmatch(span_id)):
        raise InvalidParameterError(
            f"Invalid span_id {span_id!r}: expected 16 lowercase hex digits, or None for the "
            "whole trace")
    if rationale is not None:
        check_text("rationale", rationale, MAX_RATIONALE_CHARS, allow_empty=True)
    meta = check_metadata(metadata)
    now = now_ms()
    created = now if create_time_ms is None else check_ms("create_time_ms", create_time_ms)
    updated = (created if last_update_time_ms is None and create_time_ms is not None
               else now if last_update_time_ms is None
               else check_ms("last_update_time_ms", last_update_time_ms))
    for field, text in (("assessment_id", assessment_id), ("overrides", overrides),
                        ("run_id", run_id), ("idempotency_key", idempotency_key)):
        if text is not None:
            check_text(field, text, MAX_ID_CHARS)
    if not isinstance(valid, bool):
        raise InvalidParameterError(f"Invalid valid {valid!r}: expected True or False")
    if run_id is None:
        run_id = meta.get(assessment_metadata_keys.SOURCE_RUN_ID)
    fields = {
        "name": name, "value": value, "source": source, "trace_id": trace_id,
        "span_id": span_id, "rationale": rationale, "metadata": meta, "error": error,
        "create_time_ms": created, "last_update_time_ms": updated,
        "assessment_id": assessment_id, "overrides": overrides, "valid": valid,
        "run_id": run_id, "idempotency_key": idempotency_key,
    }
    for key, field_value in fields.items():
        object.__setattr__(obj, key, field_value)


def _source(source: AssessmentSource | AssessmentSourceType | str | None,
            default: AssessmentSourceType) -> AssessmentSource:
    if source is None:
        return AssessmentSource(default)
    if isinstance(source, AssessmentSource):
        return source
    if isinstance(source, str):
        return AssessmentSource(AssessmentSourceType.coerce(source))
    raise InvalidParameterError(
        f"Invalid source {source!r}: expected an AssessmentSource or a source type "
        f"({', '.join(t.value for t in AssessmentSourceType)})")


def _time_field(d: Mapping[str, Any], key: str) -> int | None:
    raw = d.get(key, d.get(f"{key}_ms"))
    if raw is None:
        return None
    try:
        return rfc3339_to_ms(raw)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"Invalid {key} {raw!r}: expected an RFC 3339 time or milliseconds") from None

