"""Generated filters either parse (and round-trip) or raise FilterError, never anything else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.search import (
    Comparison,
    Expr,
    FilterError,
    SpanGroup,
    iter_comparisons,
    parse_filter,
    parse_order_by,
    to_filter_string,
)
from assay.search.unparse import quote_string

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def check(text: str) -> Expr | None:
    """Parse; a failure must be our error, pointing inside the string."""
    try:
        expr = parse_filter(text)
    except FilterError as e:
        assert e.position is None or 0 <= e.position <= len(text), (text, e.position)
        assert e.message
        return None
    if expr is not None:
        # Whatever parses writes back to a string that parses to the same tree.
        assert parse_filter(to_filter_string(expr)) == expr
        for c in iter_comparisons(expr):
            assert text[c.position:c.position + len(c.text)] == c.text
    return expr


# --- pieces of the language, valid and not ----------------------------------------------

IDENTS = [
    "trace.status", "status", "attributes.timestamp_ms", "trace.timestamp", "execution_time",
    "trace.end_time_ms", "trace.name", "trace.request_id", "trace.client_request_id",
    "trace.session_id", "trace.user_id", "trace.run_id", "trace.text", "trace.prompt",
    "tags.env", "tag.`a b`", "metadata.k", "request_metadata.`mlflow.trace.user`",
    "tags.`mlflow.trace.session`", "tags.`mlflow.traceName`", "span.name", "span.type",
    "span.status", "span.content", "span.attributes.model", "span.attributes.`a.b`",
    "feedback.rating", "feedback.`user feedback`", "expectation.answer", "issue.id",
    # invalid ones
    "assessment.x", "TRACE.status", "trace.state", "span.foo", "issue.x", "tags.", "x",
    "feedback", "`tags`.`x`", "tags.\"q\"", "span.attributes", "trace.", "1", "tags.1.5",
]
OPS = ["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "RLIKE", "IN", "NOT IN",
       "IS NULL", "IS NOT NULL", "==", "<>", "NOT LIKE", "IS", "NOT", "like", "Is Not Null"]
WORDS = ["AND", "OR", "NOT", "and", "or", "not", "(", ")", ";", ",", ".", "`", "'", '"',
         "--", "/*", "*/", "\\", "NULL", "true", "OK", "-", "%"]

text_values = st.text(max_size=12)
quoted = st.one_of(
    text_values.map(quote_string),
    text_values.map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '""') + '"'),
    text_values.map(lambda s: "'" + s + "'"),  # raw: may be malformed
    st.sampled_from(["'OK'", "'ERROR'", "'IN_PROGRESS'", "'UNSET'", "'p/1'", "'%a%'",
                     "'('", "'a\\'", "''"]),
)
numbers = st.one_of(st.integers(-(2**70), 2**70).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["1e999", "-0", "3.", "1e-5", "007"]))
values = st.one_of(
    quoted, numbers,
    st.lists(quoted, max_size=3).map(lambda xs: "(" + ", ".join(xs) + ")"),
    st.lists(st.one_of(quoted, numbers), max_size=3).map(lambda xs: "(" + ",".join(xs) + ")"),
    st.sampled_from(["OK", "NULL", "true", "`x`", "", "(", ")"]),
)
clauses = st.builds(lambda i, o, v, sp: f"{i}{sp}{o}{sp}{v}",
                    st.sampled_from(IDENTS), st.sampled_from(OPS), values,
                    st.sampled_from([" ", "", "  ", "\t", "\n"]))


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a, j, b: f"{a} {j} {b}", children, st.sampled_from(
            ["AND", "OR", "and", "or", "AND NOT", "", ";", ","]), children),
        children.map(lambda c: f"({c})"),
        children.map(lambda c: f"NOT {c}"),
        children.map(lambda c: f"({c}"),
    )


grammarish = st.recursive(clauses, combine, max_leaves=8)


@FUZZ
@given(grammarish)
def test_grammar_like_filters_parse_or_raise_filter_error(text: str) -> None:
    check(text)


@FUZZ
@given(st.text(max_size=80))
def test_random_text_parses_or_raises_filter_error(text: str) -> None:
    check(text)


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(IDENTS + OPS + WORDS), quoted, numbers),
                max_size=12))
def test_token_soup_parses_or_raises_filter_error(tokens: list[str]) -> None:
    check(" ".join(tokens))
    check("".join(tokens))


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=20),
                          st.sampled_from(IDENTS).map(lambda i: i + " DESC")), max_size=4))
def test_order_by_parses_or_raises_filter_error(entries: list[str]) -> None:
    try:
        keys = parse_order_by(entries)
    except FilterError as e:
        assert e.message.startswith(("Invalid order_by entry", "`order_by` contains"))
    else:
        assert len(keys) == len(entries)


# --- valid by construction ----------------------------------------------------------------

@st.composite
def valid_clause(draw: st.DrawFn) -> tuple[str, object]:
    """A clause that must parse, and the value it must parse to."""
    s = draw(text_values.filter(lambda v: "\x00" not in v))
    kind = draw(st.sampled_from(["tag", "meta", "feedback_num", "time", "status_in", "span"]))
    if kind == "tag":
        return f"tags.`{draw(st.sampled_from(['k', 'a b', 'x.y']))}` = {quote_string(s)}", s
    if kind == "meta":
        return f"metadata.k LIKE {quote_string(s)}", s
    if kind == "feedback_num":
        n = draw(st.floats(allow_nan=False, allow_infinity=False))
        return f"feedback.`{s.replace('`', '``') or 'x'}` >= {n!r}", n
    if kind == "time":
        n = draw(st.integers(-(2**63) + 1, 2**63 - 1))
        return f"trace.timestamp_ms < {n}", n
    if kind == "status_in":
        states = draw(st.lists(st.sampled_from(["OK", "ERROR", "IN_PROGRESS"]), min_size=1))
        return f"trace.status NOT IN ({', '.join(map(quote_string, states))})", tuple(states)
    return f"span.attributes.`{s.replace('`', '``') or 'x'}` != {quote_string(s)}", s


@FUZZ
@given(st.lists(valid_clause(), min_size=1, max_size=5),
       st.lists(st.sampled_from([" AND ", " OR ", " and NOT "]), min_size=4, max_size=4))
def test_valid_filters_parse_with_exact_values(parts: list[tuple[str, object]],
                                               joins: list[str]) -> None:
    text = parts[0][0]
    for (clause, _), join in zip(parts[1:], joins, strict=False):
        text += join + clause
    expr = check(text)
    assert expr is not None, text
    got = sorted((c.position, c.value) for c in iter_comparisons(expr))
    assert [v for _, v in got] == [v for _, v in parts]


@FUZZ
@given(st.text().filter(lambda s: "\x00" not in s))
def test_any_string_value_survives_quoting(value: str) -> None:
    expr = parse_filter(f"tags.k = {quote_string(value)}")
    assert isinstance(expr, Comparison)
    assert expr.value == value
    expr2 = parse_filter(f"span.name IN ({quote_string(value)})")
    assert isinstance(expr2, SpanGroup)
    assert expr2.clauses[0].value == (value,)
