"""JSON encoding that never fails: what cannot be encoded is recorded as a readable string.

Tracing records whatever an application passes around (objects, bytes, datetimes, numpy
values, pydantic models). A trace must never break the app, so the encoder turns anything it
does not know into the closest readable form instead of raising.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import json
import json.scanner
import math
import uuid
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring
from pathlib import PurePath
from typing import Any

__all__ = ["dumps", "loads", "to_jsonable"]


def _default(obj: Any) -> Any:
    # Order matters: the cheap, common cases first.
    if isinstance(obj, (dt.datetime, dt.date, dt.time)):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, (bytes, bytearray, memoryview)):
        raw = bytes(obj)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(raw).decode("ascii")
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (uuid.UUID, decimal.Decimal, PurePath)):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    # pydantic v2 / v1 models, numpy scalars and arrays, and friends: duck-typed so that
    # none of those packages is imported here.
    for method in ("model_dump", "dict", "to_dict"):
        fn = getattr(obj, method, None)
        if callable(fn) and not isinstance(obj, type):
            try:
                return fn()
            except Exception:  # a broken to_dict must not break tracing
                break
    for method in ("tolist", "item"):
        fn = getattr(obj, method, None)
        if callable(fn) and not isinstance(obj, type):
            try:
                return fn()
            except Exception:
                break
    if isinstance(obj, Mapping):
        return dict(obj)
    try:
        return str(obj)
    except Exception:
        return f"<unprintable {type(obj).__name__}>"


def _clean_floats(obj: Any) -> Any:
    """Replace NaN and infinities, which are not JSON, by their names."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean_floats(v) for v in obj]
    return obj


def _make_fast_encoder() -> Callable[[Any, int], list[str]] | None:
    # json.dumps builds a new C encoder on every call, which costs more than the encoding of
    # a small dict; tracing encodes a few values per span, so one encoder is built and kept.
    # markers=None turns off the circular-reference check (a cycle then ends in
    # RecursionError, which dumps() handles), so the encoder holds no state between calls
    # and threads can share it.
    try:
        from json.encoder import c_make_encoder  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - CPython always has it
        return None
    if c_make_encoder is None:  # pragma: no cover
        return None
    encoder: Callable[[Any, int], list[str]] = c_make_encoder(
        None, _default, encode_basestring, None, ":", ",", False, False, False)
    return encoder


_FAST = _make_fast_encoder()


def dumps(obj: Any) -> str:
    """Encode ``obj`` as compact JSON; never raises."""
    try:
        if _FAST is not None:
            return "".join(_FAST(obj, 0))
        return json.dumps(obj, default=_default, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False)
    except ValueError:
        # NaN/inf somewhere, or a circular reference.
        try:
            return json.dumps(_clean_floats(json.loads(json.dumps(obj, default=_default))),
                              ensure_ascii=False, separators=(",", ":"))
        except (ValueError, RecursionError):
            return json.dumps(repr(obj), ensure_ascii=False)
    except (TypeError, RecursionError):
        # Keys that are not strings, and similar: fall back to a readable string.
        try:
            return json.dumps(str(obj), ensure_ascii=False)
        except Exception:
            return json.dumps(f"<unprintable {type(obj).__name__}>")


# json.loads without its Python layers: the C scanner, which takes text that starts with a
# JSON value and says where the value ends. (typeshed types its argument as a scanner; it
# is the decoder whose settings it copies.)
_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def loads(text: str | None) -> Any:
    """Decode JSON text; ``None`` stays ``None`` and text that is not JSON is returned as is."""
    if text is None:
        return None
    if type(text) is str:
        # Values are small and many (attributes, previews, stored spans): the scanner at
        # once, and json.loads only for what it does not take whole (surrounding
        # whitespace, text that is not JSON), so that the result is json.loads's.
        try:
            value, end = _scan(text, 0)
        except (StopIteration, ValueError, RecursionError):
            end = -1
        if end == len(text):
            return value
    try:
        return json.loads(text)
    except ValueError:
        return text


def to_jsonable(obj: Any) -> Any:
    """The value as plain JSON types (what a reader would get back after a round trip)."""
    return json.loads(dumps(obj))
