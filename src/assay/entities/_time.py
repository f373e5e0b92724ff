"""Timestamps in the JSON forms of entities: milliseconds since the epoch <-> RFC 3339 text."""

from __future__ import annotations

import datetime as dt
import time

__all__ = ["ms_to_rfc3339", "now_ms", "rfc3339_to_ms"]


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def ms_to_rfc3339(ms: int) -> str:
    """``2025-01-01T00:00:00.000Z`` for a time in milliseconds (MLflow's JSON form)."""
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def rfc3339_to_ms(value: str | int | float) -> int:
    """Milliseconds since the epoch of an RFC 3339 string (or of a number of milliseconds)."""
    if isinstance(value, (int, float)):
        return int(value)
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    # Truncated to the millisecond, as MLflow's Timestamp.ToMilliseconds() does (rounding
    # put a trace half a millisecond later than MLflow does, and changed the order of two
    # traces it sees in the same millisecond); integer arithmetic, so no float error.
    return (t - _EPOCH) // dt.timedelta(milliseconds=1)
