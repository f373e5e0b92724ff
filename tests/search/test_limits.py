"""The search language's bounds: filter length, clauses, IN lists, regular expressions, and a
lexer whose memory is linear in the filter."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from assay.search import FilterError, parse_filter
from assay.search.lexer import MAX_FILTER_CHARS, tokenize
from assay.search.parser import MAX_CLAUSES, MAX_IN_VALUES, MAX_VALUES
from assay.search.regex import MAX_REGEX_CHARS, pattern_problem, regex_search


def _peak_bytes(text: str) -> int:
    tracemalloc.start()
    try:
        tokenize(text)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("make", [
    lambda n: "tags.k = '" + "x" * n + "'",
    lambda n: "tags.k = '" + "''" * (n // 2) + "'",
    lambda n: 'tags.k = "' + "\\\\" * (n // 2) + '"',
    lambda n: "tags.`" + "x" * n + "` = 'a'",
], ids=["plain", "doubled-quotes", "escapes", "backtick"])
def test_the_lexer_takes_memory_linear_in_a_quoted_value(make: object) -> None:
    assert callable(make)
    text = make(MAX_FILTER_CHARS - 20)
    # The value and its decoded copy: a few bytes per character. Before, a repeated group
    # kept ~200 bytes of backtracking state per character (13 MB for this string).
    assert _peak_bytes(text) < 8 * len(text)


def test_a_filter_over_the_length_limit_is_refused_at_once_and_small() -> None:
    text = "tags.k = '" + "x" * (1 << 20) + "'"  # 1 MiB
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(FilterError, match="too long: 1,048,587 characters") as caught:
            parse_filter(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 0.5
    assert peak < 1 << 20
    assert caught.value.position == MAX_FILTER_CHARS
    parse_filter("tags.k = '" + "x" * (MAX_FILTER_CHARS - 11) + "'")  # at the limit: fine


def test_unterminated_and_empty_names_still_say_where() -> None:
    with pytest.raises(FilterError, match="Unterminated string starting at position 9"):
        parse_filter("tags.k = 'abc''")
    with pytest.raises(FilterError, match="Empty backticked name at position 5"):
        parse_filter("tags.`` = 'a'")
    tokens = tokenize("tags.```` = 'it''s'")
    assert (tokens[2].value, tokens[4].value) == ("`", "it's")


def test_too_many_clauses_is_a_filter_error_naming_the_limit() -> None:
    at_limit = " AND ".join(f"tags.k{i} = 'v'" for i in range(MAX_CLAUSES))
    parse_filter(at_limit)
    over = at_limit + " OR trace.status = 'OK'"
    with pytest.raises(FilterError, match=f"too many clauses.*limit of {MAX_CLAUSES}") as caught:
        parse_filter(over)
    assert caught.value.position == len(at_limit) + 4


def test_an_in_list_has_a_size_limit_and_a_filter_a_value_limit() -> None:
    values = ", ".join(f"'v{i}'" for i in range(MAX_IN_VALUES))
    parse_filter(f"span.name IN ({values})")
    with pytest.raises(FilterError, match=f"too many values: more than {MAX_IN_VALUES:,}"):
        parse_filter(f"span.name IN ({values}, 'one more')")
    lists = " OR ".join(f"span.name IN ({values})" for _ in range(MAX_VALUES // MAX_IN_VALUES))
    with pytest.raises(FilterError, match=f"limit of {MAX_VALUES:,}"):
        parse_filter(lists + " OR trace.status = 'OK'")


def test_nesting_is_bounded() -> None:
    with pytest.raises(FilterError, match="nests too deeply"):
        parse_filter("(" * 40 + "trace.status = 'OK'" + ")" * 40)
    with pytest.raises(FilterError, match="nests too deeply"):
        parse_filter("NOT " * 40 + "trace.status = 'OK'")


@pytest.mark.parametrize(("pattern", "problem"), [
    (r"(a)\1", "back-references"),
    ("(?=a)b", "look-around"),
    ("(?<!a)b", "look-around"),
    (r"\bword", "word boundaries"),
    ("a(?i)b", "only at the start"),
    ("(?P<n>a)", "named groups"),
    ("x{256}", "bound over 255"),
    ("x{2", "malformed bound"),
    ("[[=a=]]", "collating element"),
    (r"\x41", "escape"),
    ("(ab", "missing )"),
    ("a**", "bad repetition"),
    ("a" * (MAX_REGEX_CHARS + 1), "longer than"),
])
def test_rlike_refuses_what_the_databases_read_differently(pattern: str, problem: str) -> None:
    quoted = pattern.replace("\\", "\\\\").replace("'", "\\'")
    with pytest.raises(FilterError, match="Invalid regular expression") as caught:
        parse_filter(f"span.name RLIKE '{quoted}'")
    assert problem in caught.value.message
    assert caught.value.position == 16


@pytest.mark.parametrize("pattern", [
    "^(a+)+$", "(?i)^gpt", "[[:alpha:]]+", "x{2,3}", "[]a]", r"\d+\.\d", r"\w\s\W\S\D",
    "a*?b", r"\-\/\_\!\{", "a|", "(?:ab)+", "x{,3}", "[^a]",
])
def test_rlike_accepts_the_common_ground(pattern: str) -> None:
    assert pattern_problem(pattern) is None


def test_a_catastrophic_pattern_matches_in_linear_time() -> None:
    # With Python's re, ^(a+)+$ against 40 a's and a '!' runs for hours.
    started = time.perf_counter()
    assert not regex_search("^(a+)+$", "a" * 40 + "!")
    assert not regex_search(r"^(\w+\s?)*$", "an ordinary sentence of some words ending with!")
    assert regex_search("^(a+)+$", "a" * 100_000)
    assert time.perf_counter() - started < 0.5
