"""The form of the ids Assay gives traces: ``tr-`` and 32 lowercase hex digits.

The store takes other trace ids too (MLflow's clients may bring their own), but where an id
names a trace that is not stored yet, as feedback that arrives before its trace does, only
this form is accepted, so that a typo is an error rather than a vote kept for nothing.
All zeros is not a trace id (OpenTelemetry's invalid id, which OTLP ingestion refuses), so
``tr-`` and 32 zeros is refused too: no trace can ever come for it.
"""

from __future__ import annotations

import re

from assay.errors import InvalidParameterError

__all__ = ["TRACE_ID_FORM", "ZERO_TRACE_ID", "check_trace_id", "is_trace_id"]

#: What a trace id looks like, for messages.
TRACE_ID_FORM = "'tr-' followed by 32 lowercase hex digits, not all zero"

_TRACE_ID = re.compile(r"tr-[0-9a-f]{32}")
#: OpenTelemetry's invalid trace id, in Assay's form.
ZERO_TRACE_ID = "tr-" + "0" * 32


def is_trace_id(value: object) -> bool:
    """Whether ``value`` is a trace id of Assay's form (and not all zeros)."""
    return (isinstance(value, str) and _TRACE_ID.fullmatch(value) is not None
            and value != ZERO_TRACE_ID)


def check_trace_id(value: object, field: str = "trace_id") -> str:
    """``value`` if it is a trace id of Assay's form; InvalidParameterError naming
    ``field`` otherwise."""
    if not is_trace_id(value):
        raise InvalidParameterError(f"Invalid {field} {value!r}: expected {TRACE_ID_FORM}")
    assert isinstance(value, str)
    return value
