"""The time range of a dashboard: a preset (last 24 hours, 7 or 30 days, all time) or
explicit ``from``/``to`` times, and the time buckets its charts use.

Times are UTC. ``from`` and ``to`` take a date (``2025-03-01``) or a date and time
(``2025-03-01T14:30``, optionally with seconds and ``Z`` or an offset); a ``to`` that is a
bare date includes that whole day. The range is half-open: ``from <= time < to``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, cast

from assay.entities.analytics import TimeBucket
from assay.errors import InvalidParameterError

__all__ = [
    "BUCKET_MS",
    "PRESETS",
    "TimeRange",
    "bucket_floor",
    "check_bucket",
    "choose_bucket",
    "parse_time",
    "parse_time_range",
]

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS

#: The presets and how far back each reaches (None: all time).
PRESETS: dict[str, int | None] = {
    "24h": _DAY_MS,
    "7d": 7 * _DAY_MS,
    "30d": 30 * _DAY_MS,
    "all": None,
}

#: The width of each bucket, and where its buckets start (weeks on Mondays, as the store
#: buckets them: 1970-01-05 was a Monday).
BUCKET_MS: dict[TimeBucket, tuple[int, int]] = {
    "hour": (_HOUR_MS, 0),
    "day": (_DAY_MS, 0),
    "week": (7 * _DAY_MS, 4 * _DAY_MS),
}

_Preset = Literal["24h", "7d", "30d", "all"]

#: Above this many buckets a range uses the next wider bucket.
MAX_BUCKETS = 400


@dataclass(frozen=True)
class TimeRange:
    """A half-open range of request times, ms since the epoch (None: unbounded).

    Attributes:
        preset: the preset it came from ("24h", "7d", "30d", "all"), or "custom".
        start_ms: the first millisecond in the range, or None.
        end_ms: the first millisecond after the range, or None.
    """

    preset: _Preset | Literal["custom"]
    start_ms: int | None
    end_ms: int | None

    def filter_clause(self) -> str | None:
        """The range as a clause of the filter language, or None for all time."""
        clauses = []
        if self.start_ms is not None:
            clauses.append(f"trace.timestamp_ms >= {self.start_ms}")
        if self.end_ms is not None:
            clauses.append(f"trace.timestamp_ms < {self.end_ms}")
        return " AND ".join(clauses) or None


def parse_time(text: str, field: str, *, end_of_day: bool = False) -> int:
    """A UTC date or date-time as ms since the epoch.

    ``end_of_day``: a bare date means the end of that day (the start of the next).

    Raises:
        InvalidParameterError: naming ``field``, for anything else.
    """
    value = text.strip()
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            when = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            if end_of_day:
                when += dt.timedelta(days=1)
        else:
            when = dt.datetime.fromisoformat(value.replace(" ", "T", 1))
            when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when
    except ValueError:
        raise InvalidParameterError(
            f"Invalid {field} {text[:40]!r}: expected a date (YYYY-MM-DD) or a date and time "
            "(YYYY-MM-DDTHH:MM), in UTC") from None
    return int(when.timestamp() * 1000)


def parse_time_range(preset: str | None, start: str | None, end: str | None,
                     now_ms: int) -> TimeRange:
    """The range a dashboard's query parameters ask for.

    Explicit ``from``/``to`` win over a preset; with neither, the range is all time.

    Raises:
        InvalidParameterError: an unknown preset, a bad time, or ``from`` not before ``to``.
    """
    start = start.strip() if start else None
    end = end.strip() if end else None
    if start or end:
        start_ms = parse_time(start, "from") if start else None
        end_ms = parse_time(end, "to", end_of_day=True) if end else None
        if start_ms is not None and end_ms is not None and start_ms >= end_ms:
            raise InvalidParameterError(
                f"Invalid time range: from ({start}) must be before to ({end})")
        return TimeRange("custom", start_ms, end_ms)
    name = (preset or "all").strip()
    if name not in PRESETS:
        raise InvalidParameterError(
            f"Invalid range {name[:40]!r}: expected one of {', '.join(PRESETS)}")
    reach = PRESETS[name]
    if reach is None:
        return TimeRange("all", None, None)
    return TimeRange(cast(_Preset, name), now_ms - reach, now_ms + 1)


def choose_bucket(span_ms: int, wanted: str | None = None) -> TimeBucket:
    """The bucket for a range ``span_ms`` long: ``wanted`` if given and it makes at most
    :data:`MAX_BUCKETS` buckets (else the next wider one); otherwise hours up to two days,
    days up to 90 days, weeks beyond.

    Raises:
        InvalidParameterError: ``wanted`` is not hour, day or week.
    """
    order: list[TimeBucket] = ["hour", "day", "week"]
    if wanted:
        check_bucket(wanted)
        for bucket in order[order.index(cast(TimeBucket, wanted)):]:
            if span_ms // BUCKET_MS[bucket][0] < MAX_BUCKETS or bucket == "week":
                return bucket
    if span_ms <= 2 * _DAY_MS:
        return "hour"
    if span_ms <= 90 * _DAY_MS:
        return "day"
    return "week"


def check_bucket(wanted: str | None) -> None:
    """InvalidParameterError unless ``wanted`` is None, hour, day or week."""
    if wanted is not None and wanted not in BUCKET_MS:
        raise InvalidParameterError(
            f"Invalid bucket {wanted[:40]!r}: expected one of {', '.join(BUCKET_MS)}")


def bucket_floor(ms: int, bucket: TimeBucket) -> int:
    """The start of the bucket ``ms`` falls in."""
    width, offset = BUCKET_MS[bucket]
    return ms - (ms - offset) % width
