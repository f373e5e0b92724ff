"""Checks that entity fields can be stored: text, JSON values, metadata, times.

Each raises an :class:`~assay.errors.InvalidParameterError` (a ``ValueError``) whose
message names the field.

NUL characters: PostgreSQL cannot store a NUL (U+0000) in a text column, where SQLite can.
So that both databases behave alike, what people type to name or find something (ids,
names, keys, page tokens) is refused when it holds one (:func:`check_key`, :func:`check_text`),
and free text an application recorded (span names, status messages, previews, tag and
metadata values) has each NUL replaced by U+FFFD (:func:`replace_nul`), so a trace is never
lost for it. JSON stored as text (attributes, events, values) writes a NUL as the escape
``\\u0000`` and keeps it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from assay.errors import InvalidParameterError

__all__ = [
    "MAX_ID_CHARS",
    "MAX_METADATA_KEY_CHARS",
    "MAX_VALUE_DEPTH",
    "check_key",
    "check_metadata",
    "check_ms",
    "check_text",
    "check_value",
    "fits_int64",
    "may_hold_wide_int",
    "replace_nul",
]

#: Longest source id, error code and idempotency key.
MAX_ID_CHARS = 250
#: Longest metadata key; values are not limited.
MAX_METADATA_KEY_CHARS = 250
#: Deepest nesting of lists and dicts in a value.
MAX_VALUE_DEPTH = 64

_INT64_LIMIT = 2**63
# 2**63 has 19 digits: a shorter run of digits is always a 64-bit integer.
_LONG_DIGITS = re.compile(r"\d{19}")


def check_text(field: str, value: object, max_chars: int | None = None,
               allow_empty: bool = False) -> None:
    """A str (non-empty unless allowed) of at most ``max_chars`` that a database can store."""
    if not isinstance(value, str):
        raise InvalidParameterError(
            f"Invalid {field} {value!r}: expected a str, got {type(value).__name__}")
    if not value and not allow_empty:
        raise InvalidParameterError(f"Invalid {field} '': it must not be empty")
    if max_chars is not None and len(value) > max_chars:
        raise InvalidParameterError(
            f"Invalid {field}: it is {len(value):,} characters long; the limit is "
            f"{max_chars:,}")
    _check_storable(field, value)


def check_key(field: str, value: object) -> None:
    """A str given to find or name something (an id, a name, a key), possibly empty, that a
    database can store: InvalidParameterError naming ``field`` for one holding a NUL (or a
    lone surrogate). Not a str: left to the caller's own checks."""
    if isinstance(value, str) and ("\x00" in value or not value.isascii()):
        _check_storable(field, value)


def may_hold_wide_int(json_text: str) -> bool:
    """Whether JSON text may hold an integer outside 64 bits (it has a run of 19 digits or
    more): a cheap test before :func:`fits_int64` walks the decoded value."""
    return _LONG_DIGITS.search(json_text) is not None


def fits_int64(value: object, depth: int = 0) -> bool:
    """Whether every int in a JSON value (lists and dicts walked) is within 64 bits:
    ``-2**63 <= n < 2**63``, what every reader of the value (a BIGINT, a filter, a client in
    another language) can hold."""
    if type(value) is int:
        return -_INT64_LIMIT <= value < _INT64_LIMIT
    if depth > MAX_VALUE_DEPTH * 2:
        return True  # deeper than anything walks it
    if isinstance(value, list):
        return all(fits_int64(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(fits_int64(item, depth + 1) for item in value.values())
    return True


def replace_nul(value: str) -> str:
    """``value`` with each NUL character replaced by U+FFFD, for free text that is kept
    rather than refused (see the module doc)."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _check_storable(field: str, value: str) -> None:
    # A NUL cannot be stored in a PostgreSQL text column, and a lone surrogate is not text
    # that UTF-8 can encode; both would fail the write half-way instead of here.
    if "\x00" in value:
        raise InvalidParameterError(f"Invalid {field}: it contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameterError(
            f"Invalid {field}: it contains a lone surrogate, which is not valid text") from None


def check_value(value: object, path: str = "value", depth: int = 0) -> None:
    """A JSON value: None, bool, int, finite float, str, and lists and str-keyed dicts of
    those, nested at most MAX_VALUE_DEPTH deep. ``path`` names the part being checked."""
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidParameterError(
                f"Invalid {path}: the string contains a lone surrogate, which is not valid "
                "text") from None
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidParameterError(
                f"Invalid {path} {value!r}: NaN and infinity are not JSON numbers")
        return
    if depth >= MAX_VALUE_DEPTH:
        raise InvalidParameterError(
            f"Invalid {path}: lists and dicts are nested deeper than {MAX_VALUE_DEPTH} levels")
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_value(item, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidParameterError(
                    f"Invalid {path}: dict keys must be str, got {type(key).__name__} {key!r}")
            check_value(key, f"{path} key", depth + 1)
            check_value(item, f"{path}[{key!r}]", depth + 1)
        return
    raise InvalidParameterError(
        f"Invalid {path}: a {type(value).__name__} is not a JSON value; expected a bool, int, "
        "float, str, None, or a list or dict (with str keys) of those")


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """Metadata as a dict of str to str (numbers and booleans are turned into strings)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidParameterError(
            f"Invalid metadata: expected a dict of str to str, got {type(metadata).__name__}")
    checked: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidParameterError(
                f"Invalid metadata key {key!r}: keys must be non-empty strings")
        check_text(f"metadata key {key[:50]!r}", key, MAX_METADATA_KEY_CHARS)
        if isinstance(value, bool) or (isinstance(value, (int, float))
                                       and math.isfinite(value)):
            value = str(value)  # MLflow sends metadata values as strings
        if not isinstance(value, str):
            raise InvalidParameterError(
                f"Invalid metadata[{key!r}]: values must be strings (numbers and booleans "
                f"are converted), got {type(value).__name__}")
        _check_storable(f"metadata[{key!r}]", value)
        checked[key] = value
    return checked


def check_ms(field: str, value: object) -> int:
    """A time in milliseconds since the epoch (a non-negative int)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidParameterError(
            f"Invalid {field} {value!r}: expected milliseconds since the epoch as an int")
    return value
