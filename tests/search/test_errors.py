"""Errors: every example of the spec's error table, and each error names what and where."""

from __future__ import annotations

import pytest

from assay.errors import InvalidParameterError
from assay.search import FilterError, parse_filter
from assay.search.parser import MAX_DEPTH

# The spec's error table (3.3). OR and parentheses are valid in Assay, so the first example
# still fails only because `a` and `b` are not attribute keys, and the second one parses.
SPEC_ERROR_TABLE = [
    ("a = 'x' OR b = 'y'", 0, "Invalid attribute key 'a'"),
    ("trace.status = OK", 15, "not quoted"),
    ("trace.status IS NULL", 13, "Invalid comparator 'IS NULL'"),
    ("trace.status = 'OK'; trace.name = 'x'", 19, "Multiple statements"),
    ("trace.status = 'OK'; ", 19, "Multiple statements"),
    ("tags.t IN ('v')", 7, "Invalid comparator 'IN'"),
    ("trace.name NOT IN ('a', 'b')", 11, "Invalid comparator 'NOT IN'"),
    ("metadata.m IN ('x')", 11, "Invalid comparator 'IN'"),
    ("TRACE.status = 'OK'", 0, "Invalid entity type 'TRACE'"),
]


@pytest.mark.parametrize(("text", "position", "message"), SPEC_ERROR_TABLE)
def test_spec_error_table_examples_raise_the_filter_error(text: str, position: int,
                                                          message: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    err = info.value
    assert message in err.message
    assert err.position == position
    assert f"position {position}" in err.message
    assert isinstance(err, InvalidParameterError)
    assert isinstance(err, ValueError)
    assert err.error_code == "INVALID_PARAMETER_VALUE"


def test_parenthesized_clause_from_the_error_table_is_valid_in_assay() -> None:
    assert parse_filter("(trace.status = 'OK')") == parse_filter("trace.status = 'OK'")


# (filter, position, fragment, words the message must contain)
POSITIONED = [
    ("assessment.x = 'a'", 0, "assessment",
     ["Invalid entity type 'assessment'", "Valid values are", "feedback", "tags"]),
    ("trace.status = 'OK' AND assessment.x = 'a'", 24, "assessment", ["entity"]),
    ("trace.state = 'OK'", 6, "state", ["Invalid attribute key 'state'", "status"]),
    ("trace.experiment_id = '1'", 6, "experiment_id", ["experiment_ids"]),
    ("trace.Status = 'OK'", 6, "Status", ["case-sensitive", "'status'"]),
    ("span.foo = 'x'", 5, "foo", ["Invalid span field 'foo'", "span.attributes.<name>"]),
    ("span.content = 'x'", 13, "=", ["LIKE, ILIKE"]),
    ("issue.title = 'x'", 6, "title", ["issue.id"]),
    ("trace.timestamp_ms > '2024-01-01'", 21, "'2024-01-01'", ["numeric", "unquoted"]),
    ("feedback.score > '0.5'", 17, "'0.5'", ["numeric value", "'>'"]),
    ("feedback.correct = true", 19, "true", ["not quoted"]),
    ("feedback.score = 4", 17, "4", ["quote it"]),
    ("tags.env = prod", 11, "prod", ["not quoted", "'prod'"]),
    ("trace.status IN ('OK', ERROR)", 23, "ERROR", ["not quoted"]),
    ("trace.status IN (1)", 17, "1", ["quoted strings"]),
    ("trace.status IN ()", 16, "()", ["Empty IN list"]),
    ("trace.status NOT IN ()", 20, "()", ["Empty NOT IN list"]),
    ("trace.status IN 'OK'", 16, "'OK'", ["parenthesized list"]),
    ("trace.status = ('OK')", 15, "(", ["IN or NOT IN"]),
    ("trace.status IN ('OK',)", 22, ")", ["Expected a value"]),
    ("trace.status IN ('OK' 'ERROR'", 22, "'ERROR'", ["',' or ')'"]),
    ("trace.status = 'ok'", 15, "'ok'", ["Invalid trace status 'ok'", "OK, ERROR, IN_PROGRESS"]),
    ("span.status = 'FAILED'", 14, "'FAILED'", ["span status", "UNSET"]),
    ("tags.x = NULL", 9, "NULL", ["IS NULL"]),
    ("tags.x == 'a'", 7, "==", ["'='"]),
    ("tags.x <> 'a'", 7, "<>", ["'!='"]),
    ("tags.x NOT LIKE 'a'", 7, "NOT LIKE", ["NOT tags.x LIKE"]),
    ("tags.x IS 'a'", 10, "'a'", ["NULL after IS"]),
    ("tags.x IS NOT 'a'", 14, "'a'", ["NULL after IS NOT"]),
    ("tags.x 'a'", 7, "'a'", ["comparator"]),
    ("tags.x =", 8, "", ["Missing value"]),
    ("tags.x = `a`", 9, "`a`", ["Backticks are for names"]),
    ("tags.x = 'a", 9, "'a", ["Unterminated string"]),
    ('tags.x = "a', 9, '"a', ["Unterminated string"]),
    ("tags.`x = 'a'", 5, "`x = 'a'", ["Unterminated backtick"]),
    ("tags.`` = 'a'", 5, "``", ["Empty backticked name"]),
    ("tags. = 'a'", 6, "=", ["name after '.'"]),
    ("tags.x = 'a' garbage", 13, "garbage", ["AND, OR or the end"]),
    ("tags.x = 'a' AND", 16, "", ["Expected a clause"]),
    ("tags.x = 'a' AND AND tags.y = 'b'", 17, "AND", ["Expected a clause"]),
    ("tags.x = 'a')", 12, ")", ["Unmatched ')'"]),
    ("(tags.x = 'a'", 13, "", ["Missing ')'", "position 0"]),
    ("()", 1, ")", ["Expected a clause"]),
    ("NOT", 3, "", ["Expected a clause"]),
    ("'x' = tags.a", 0, "'x'", ["Expected a clause"]),
    ("tags.x = 'a' # comment", 13, "#", ["Unexpected character '#'"]),
    ("feedback.x > 1e999 ", 13, "1e999", ["out of range"]),
    ("trace.timestamp_ms > 99999999999999999999", 21, "99999999999999999999", ["out of range"]),
    ("trace.timestamp_ms > abc", 21, "abc", ["Expected a number"]),
    ("trace.prompt = 'x'", 15, "'x'", ["name/version"]),
    ("tags.x = 'a\x00'", 11, "\x00", ["NUL"]),
    ("feedback = 'x'", 0, "feedback", ["feedback.<key>"]),
    ("tags.`` = 'x'", 5, "``", ["Empty"]),
    ('tags."" = \'x\'', 5, "tags.\"\"", ["Empty key"]),
]


@pytest.mark.parametrize(("text", "position", "fragment", "words"), POSITIONED)
def test_error_names_what_is_wrong_and_where(text: str, position: int, fragment: str,
                                             words: list[str]) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    err = info.value
    assert err.position == position, err.message
    assert err.fragment == fragment, err.message
    assert f"position {position}" in err.message
    for word in words:
        assert word in err.message


def test_nesting_is_limited_instead_of_overflowing_the_stack() -> None:
    deep_ok = "(" * MAX_DEPTH + "tags.a = 'x'" + ")" * MAX_DEPTH
    assert parse_filter(deep_ok) == parse_filter("tags.a = 'x'")
    with pytest.raises(FilterError, match="nests too deeply"):
        parse_filter("(" * 10_000 + "tags.a = 'x'" + ")" * 10_000)
    with pytest.raises(FilterError, match="nests too deeply"):
        parse_filter("NOT " * 10_000 + "tags.a = 'x'")


def test_filter_must_be_a_string() -> None:
    with pytest.raises(FilterError, match="must be a string"):
        parse_filter(42)  # type: ignore[arg-type]


def test_lone_surrogate_is_a_filter_error() -> None:
    with pytest.raises(FilterError, match="position 10"):
        parse_filter("tags.x = '\ud800'")
