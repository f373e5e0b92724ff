"""order_by entries (spec 3.4) plus feedback ordering, duplicates and the tie-breakers."""

from __future__ import annotations

import pytest

from assay.search import (
    DEFAULT_ORDER_BY,
    AssessmentField,
    FilterError,
    MetadataField,
    OrderKey,
    TagField,
    TraceField,
    parse_order_by,
    with_tie_breakers,
)

TS = TraceField("timestamp_ms")
ID = TraceField("trace_id")


@pytest.mark.parametrize(("entry", "key"), [
    ("timestamp_ms", OrderKey(TS)),
    ("timestamp DESC", OrderKey(TS, ascending=False)),
    ("trace.timestamp_ms asc", OrderKey(TS)),
    ("attributes.timestamp_ms Desc", OrderKey(TS, ascending=False)),
    ("execution_time_ms DESC", OrderKey(TraceField("execution_time_ms"), False)),
    ("execution_time", OrderKey(TraceField("execution_time_ms"))),
    ("end_time_ms", OrderKey(TraceField("end_time_ms"))),
    ("status", OrderKey(TraceField("status"))),
    ("request_id", OrderKey(ID)),
    ("trace.trace_id DESC", OrderKey(ID, False)),
    ("experiment_id", OrderKey(TraceField("experiment_id"))),
    ("name", OrderKey(TraceField("name"))),
    ("run_id", OrderKey(TraceField("run_id"))),
    ("client_request_id", OrderKey(TraceField("client_request_id"))),
    ("trace.session_id", OrderKey(TraceField("session_id"))),
    ("trace.user_id DESC", OrderKey(TraceField("user_id"), False)),
    ("tags.env", OrderKey(TagField("env"))),
    ("tags.`my key` DESC", OrderKey(TagField("my key"), False)),
    ("metadata.`mlflow.source.type`", OrderKey(MetadataField("mlflow.source.type"))),
    ("metadata.`mlflow.trace.session`", OrderKey(TraceField("session_id"))),
    ("tags.`mlflow.trace.user` DESC", OrderKey(TraceField("user_id"), False)),
    ("tags.`mlflow.traceName`", OrderKey(TraceField("name"))),
    ("feedback.rating DESC", OrderKey(AssessmentField("feedback", "rating"), False)),
    ("feedback.`user feedback`", OrderKey(AssessmentField("feedback", "user feedback"))),
])
def test_order_by_entries(entry: str, key: OrderKey) -> None:
    assert parse_order_by([entry]) == [key]


def test_none_and_empty() -> None:
    assert parse_order_by(None) == []
    assert parse_order_by([]) == []


@pytest.mark.parametrize(("entry", "words"), [
    ("foo", ["Invalid attribute key 'foo'", "timestamp_ms"]),
    ("text", ["Invalid attribute key 'text'"]),
    ("trace.prompt", ["Invalid attribute key 'prompt'"]),
    ("span.name", ["Cannot order by span"]),
    ("expectation.answer", ["Cannot order by expectation"]),
    ("issue.id", ["Cannot order by issue"]),
    ("assessment.x", ["Invalid entity type 'assessment'"]),
    ("timestamp_ms DOWN", ["ASC, DESC", "'DOWN'"]),
    ("timestamp_ms DESC ASC", ["'ASC'"]),
    ("timestamp_ms;", ["Multiple statements"]),
    ("", ["Empty order_by entry"]),
    ("   ", ["Empty order_by entry"]),
    ("'timestamp_ms'", ["field name"]),
])
def test_bad_entries(entry: str, words: list[str]) -> None:
    with pytest.raises(FilterError) as info:
        parse_order_by([entry])
    assert f"Invalid order_by entry {entry!r}" in info.value.message
    for word in words:
        assert word in info.value.message


def test_error_position_is_within_the_entry() -> None:
    with pytest.raises(FilterError) as info:
        parse_order_by(["timestamp_ms", "tags.x   sideways"])
    assert info.value.position == 9
    assert info.value.fragment == "sideways"


@pytest.mark.parametrize("entries", [
    ["timestamp_ms", "timestamp_ms DESC"],
    ["timestamp", "trace.timestamp_ms"],
    ["request_id", "trace_id"],
    ["tags.`mlflow.trace.user`", "trace.user_id"],
    ["feedback.a", "feedback.a DESC"],
])
def test_duplicate_fields(entries: list[str]) -> None:
    with pytest.raises(FilterError, match="`order_by` contains duplicate fields"):
        parse_order_by(entries)


def test_not_a_list_of_strings() -> None:
    with pytest.raises(FilterError, match="list of strings"):
        parse_order_by("timestamp_ms DESC")
    with pytest.raises(FilterError, match="must be a string"):
        parse_order_by([3])  # type: ignore[list-item]


def test_default_order_and_tie_breakers() -> None:
    assert with_tie_breakers([]) == [OrderKey(TS, False), OrderKey(ID, True)]
    assert list(DEFAULT_ORDER_BY) == with_tie_breakers([])
    rating = OrderKey(AssessmentField("feedback", "rating"), False)
    assert with_tie_breakers([rating]) == [rating, OrderKey(TS, False), OrderKey(ID, True)]
    assert with_tie_breakers([OrderKey(TS)]) == [OrderKey(TS), OrderKey(ID)]
    assert with_tie_breakers([OrderKey(ID, False)]) == [OrderKey(ID, False), OrderKey(TS, False)]
