"""Why a feedback has no value: an error code, a message and a stack trace."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assay.entities._checks import MAX_ID_CHARS, check_text

__all__ = ["MAX_STACK_TRACE_CHARS", "AssessmentError"]

#: Longest stack trace kept in an AssessmentError; longer ones keep their end.
MAX_STACK_TRACE_CHARS = 10_000

_STACK_TRACE_CUT_PREFIX = "[Stack trace is truncated]\n...\n"


@dataclass(frozen=True)
class AssessmentError:
    """Why a feedback has no value: an error code, a message and a stack trace.

    A stack trace longer than 10,000 characters keeps its last part, after a line saying
    it was cut.
    """

    error_code: str
    error_message: str | None = None
    stack_trace: str | None = None

    def __post_init__(self) -> None:
        check_text("error.error_code", self.error_code, MAX_ID_CHARS)
        if self.error_message is not None:
            check_text("error.error_message", self.error_message, allow_empty=True)
        if self.stack_trace is not None:
            check_text("error.stack_trace", self.stack_trace, allow_empty=True)
            if len(self.stack_trace) > MAX_STACK_TRACE_CHARS:
                keep = MAX_STACK_TRACE_CHARS - len(_STACK_TRACE_CUT_PREFIX)
                object.__setattr__(self, "stack_trace",
                                   _STACK_TRACE_CUT_PREFIX + self.stack_trace[-keep:])

    @classmethod
    def from_exception(cls, exc: BaseException) -> AssessmentError:
        """The error of an exception: its class name, message and formatted traceback."""
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(error_code=type(exc).__name__, error_message=str(exc), stack_trace=stack)

    def to_dictionary(self) -> dict[str, Any]:
        return {"error_code": self.error_code, "error_message": self.error_message,
                "stack_trace": self.stack_trace}

    @classmethod
    def from_dictionary(cls, d: Mapping[str, Any]) -> AssessmentError:
        error_code: Any = d.get("error_code")  # checked by __post_init__
        return cls(error_code=error_code,
                   error_message=d.get("error_message"), stack_trace=d.get("stack_trace"))
