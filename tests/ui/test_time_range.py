"""The dashboard's time ranges: presets, from/to, errors naming the parameter, buckets."""

from __future__ import annotations

import re

import pytest

from assay.errors import InvalidParameterError
from assay.server.ui.time_range import (
    TimeRange,
    bucket_floor,
    choose_bucket,
    parse_time,
    parse_time_range,
)

NOW_MS = 1_735_732_800_000  # 2025-01-01T12:00:00Z
DAY_MS = 86_400_000
JAN_1 = 1_735_689_600_000


def test_presets_reach_back_from_now() -> None:
    assert parse_time_range("24h", None, None, NOW_MS) == TimeRange(
        "24h", NOW_MS - DAY_MS, NOW_MS + 1)
    assert parse_time_range("7d", None, None, NOW_MS).start_ms == NOW_MS - 7 * DAY_MS
    assert parse_time_range(None, None, None, NOW_MS) == TimeRange("all", None, None)
    assert parse_time_range("all", "", "", NOW_MS).filter_clause() is None


def test_from_and_to_are_utc_and_a_bare_to_date_includes_its_day() -> None:
    found = parse_time_range("7d", "2025-01-01", "2025-01-01", NOW_MS)
    assert found == TimeRange("custom", JAN_1, JAN_1 + DAY_MS)
    assert found.filter_clause() == (f"trace.timestamp_ms >= {JAN_1} AND "
                                     f"trace.timestamp_ms < {JAN_1 + DAY_MS}")
    assert parse_time("2025-01-01T06:30", "from") == JAN_1 + 6.5 * 3_600_000
    assert parse_time("2025-01-01T06:30:00+02:00", "from") == JAN_1 + 4.5 * 3_600_000
    assert parse_time_range(None, None, "2025-01-02T00:00Z", NOW_MS) == TimeRange(
        "custom", None, JAN_1 + DAY_MS)


@pytest.mark.parametrize(("preset", "start", "end", "named"), [
    ("week", None, None, "range"),
    (None, "yesterday", None, "from"),
    (None, None, "2025-13-01", "to"),
    (None, "2025-01-02", "2025-01-01", "from (2025-01-02) must be before to"),
])
def test_bad_ranges_name_what_is_wrong(preset: str | None, start: str | None,
                                       end: str | None, named: str) -> None:
    with pytest.raises(InvalidParameterError, match=re.escape(named)):
        parse_time_range(preset, start, end, NOW_MS)


def test_buckets_fit_the_span() -> None:
    assert choose_bucket(DAY_MS) == "hour"
    assert choose_bucket(14 * DAY_MS) == "day"
    assert choose_bucket(400 * DAY_MS) == "week"
    assert choose_bucket(14 * DAY_MS, "hour") == "hour"
    # Hours over two years would be too many points: the next width that fits.
    assert choose_bucket(730 * DAY_MS, "hour") == "week"
    with pytest.raises(InvalidParameterError, match="bucket"):
        choose_bucket(DAY_MS, "month")


def test_bucket_floor_matches_the_store_weeks_start_on_monday() -> None:
    assert bucket_floor(NOW_MS, "day") == JAN_1
    assert bucket_floor(NOW_MS, "hour") == NOW_MS
    # 2025-01-01 was a Wednesday; its week started on Monday 2024-12-30.
    assert bucket_floor(NOW_MS, "week") == JAN_1 - 2 * DAY_MS
