"""The giver of an assessment: a person, an LLM judge or code, and its id.

MLflow keeps these in ``mlflow.entities.assessment_source``; they are also importable from
``assay.entities`` and ``assay.entities.assessment``.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.entities._checks import MAX_ID_CHARS, check_text
from assay.errors import InvalidParameterError

__all__ = ["AssessmentSource", "AssessmentSourceType"]


class AssessmentSourceType(enum.StrEnum):
    """Who gave an assessment: a person, an LLM judge, or code (a heuristic scorer)."""

    HUMAN = "HUMAN"
    LLM_JUDGE = "LLM_JUDGE"
    CODE = "CODE"

    @classmethod
    def coerce(cls, value: object) -> AssessmentSourceType:
        """The member for ``value``: a member, or its name in any case (``"human"``).

        MLflow's deprecated ``"AI_JUDGE"`` is read as LLM_JUDGE, with a FutureWarning.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            name = value.strip().upper()
            if name == "AI_JUDGE":
                warnings.warn("The assessment source type AI_JUDGE is deprecated; it is "
                              "stored as LLM_JUDGE", FutureWarning, stacklevel=4)
                return cls.LLM_JUDGE
            try:
                return cls(name)
            except ValueError:
                pass
        allowed = ", ".join(member.value for member in cls)
        raise InvalidParameterError(
            f"Invalid source_type {value!r}: expected one of {allowed} (in any case)")


@dataclass(frozen=True)
class AssessmentSource:
    """The giver of an assessment: its type and an id (a user id, a judge's model, a scorer).

    ``source_type`` takes an :class:`AssessmentSourceType` or its name in any case
    (``"HUMAN"``); anything else raises an InvalidParameterError listing the allowed types.
    """

    source_type: AssessmentSourceType
    source_id: str | None = "default"

    if TYPE_CHECKING:
        # The signature of the __init__ the dataclass makes: a type's name is read by
        # __post_init__, so a caller may pass "HUMAN" as MLflow's callers do.
        def __init__(self, source_type: AssessmentSourceType | str,
                     source_id: str | None = "default") -> None: ...

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_type", AssessmentSourceType.coerce(self.source_type))
        if self.source_id is not None:
            check_text("source_id", self.source_id, MAX_ID_CHARS)

    def to_dictionary(self) -> dict[str, Any]:
        return {"source_type": self.source_type.value, "source_id": self.source_id}

    @classmethod
    def from_dictionary(cls, d: Mapping[str, Any]) -> AssessmentSource:
        source_type: Any = d.get("source_type")  # checked by __post_init__
        return cls(source_type=source_type, source_id=d.get("source_id"))
