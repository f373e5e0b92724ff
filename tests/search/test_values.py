"""Values: quoting, escapes, numbers, and injection-like text that must stay plain values."""

from __future__ import annotations

import pytest

from assay.search import Comparison, FilterError, SpanGroup, parse_filter
from assay.search.unparse import quote_string


def value_of(text: str) -> object:
    expr = parse_filter(text)
    if isinstance(expr, SpanGroup):
        expr = expr.clauses[0]
    assert isinstance(expr, Comparison)
    return expr.value


INJECTIONS = [
    "'; DROP TABLE traces; --",
    "x' OR '1'='1",
    'x" OR "1"="1',
    "a; b; c",
    "-- comment",
    "/* block */ comment",
    "*/",
    "\\",
    "\\\\",
    "C:\\temp\\new",
    "back\\'slash",
    "100%_done",
    "%' AND 1=1 --",
    "`tick`",
    "( ) , . = != < > ;",
    "AND OR NOT IN IS NULL LIKE",
    "trace.status = 'OK'",
    "ünïcödé 日本語 😀 \u200b zero-width",
    "line\nbreak\ttab\r",
    "",
    " ",
    "'",
    '"',
    "''",
    "\"'\"'",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_like_values_are_plain_values(value: str) -> None:
    # Quoted with single quotes (our canonical escaping: doubled quotes, doubled backslashes).
    assert value_of(f"tags.k = {quote_string(value)}") == value
    # Backslash-escaped single quotes.
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    assert value_of(f"tags.k = '{escaped}'") == value
    # Double quotes, doubled and backslash-escaped.
    doubled = value.replace("\\", "\\\\").replace('"', '""')
    assert value_of(f'metadata.k LIKE "{doubled}"') == value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    assert value_of(f'feedback.k != "{escaped}"') == value
    # In IN lists and on span attributes, too.
    expr = parse_filter(f"span.attributes.`a;b` IN ({quote_string(value)}, 'x')")
    assert isinstance(expr, SpanGroup)
    assert expr.clauses[0].value == (value, "x")


def test_semicolons_and_comments_inside_quotes_do_not_split_the_filter() -> None:
    expr = parse_filter("tags.a = 'x; tags.b = 1' AND tags.c = \"-- /* */\"")
    assert [c.value for c in expr.items] == ["x; tags.b = 1", "-- /* */"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("literal", "value"), [
    ("'it''s'", "it's"),
    ("'it\\'s'", "it's"),
    ('"say ""hi"""', 'say "hi"'),
    ('"say \\"hi\\""', 'say "hi"'),
    ("'mixed \"double\" inside'", 'mixed "double" inside'),
    ('"mixed \'single\' inside"', "mixed 'single' inside"),
    ("'a\\\\b'", "a\\b"),
    ("'a\\nb'", "a\\nb"),  # other backslashes are kept as written
    ("'100\\%'", "100\\%"),  # so LIKE escapes reach the compiler
    ("'tail\\\\'", "tail\\"),
    ("''", ""),
    ('""', ""),
])
def test_quoted_string_escapes(literal: str, value: str) -> None:
    assert value_of(f"tags.k = {literal}") == value


@pytest.mark.parametrize(("literal", "value"), [
    ("5", 5), ("-5", -5), ("0", 0), ("1700000000000", 1700000000000), ("0.5", 0.5),
    ("-0.25", -0.25), ("1e3", 1000.0), ("2.5E-3", 0.0025), ("3.", 3.0),
    ("9223372036854775807", 9223372036854775807), ("-9223372036854775807", -9223372036854775807),
])
def test_numbers(literal: str, value: float) -> None:
    parsed = value_of(f"trace.timestamp_ms >= {literal}")
    assert parsed == value
    assert type(parsed) is type(value)


def test_numbers_need_no_space_around_operators() -> None:
    assert value_of("trace.timestamp_ms>-5") == -5
    assert value_of("feedback.score<=4.5") == 4.5


@pytest.mark.parametrize("text", ["trace.timestamp_ms > 5abc", "trace.timestamp_ms > - 5",
                                  "trace.timestamp_ms > .5", "trace.timestamp_ms > 0x10"])
def test_malformed_numbers_are_filter_errors(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)


def test_unicode_names_and_values() -> None:
    expr = parse_filter("tags.`clé été` = '日本' AND feedback.`👍 rating` > 3")
    assert expr is not None
    assert [c.value for c in expr.items] == ["日本", 3]  # type: ignore[union-attr]


def test_backticks_inside_backticks_are_doubled() -> None:
    expr = parse_filter("tags.`a``b` = 'x'")
    assert isinstance(expr, Comparison)
    assert expr.field.key == "a`b"  # type: ignore[union-attr]
