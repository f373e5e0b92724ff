"""Tree shape: AND/OR/NOT/parentheses, the same-span grouping rule, resolution, positions."""

from __future__ import annotations

import pytest

from assay.search import (
    And,
    AssessmentField,
    Comparison,
    Expr,
    FilterError,
    Not,
    Op,
    Or,
    SpanField,
    SpanGroup,
    TagField,
    TraceField,
    conjoin,
    iter_comparisons,
    parse_filter,
    to_filter_string,
)


def tag(key: str, value: str = "x") -> Comparison:
    return Comparison(TagField(key), Op.EQ, value)


def span(attr: str, value: str) -> Comparison:
    return Comparison(SpanField(attr), Op.EQ, value)  # type: ignore[arg-type]


def test_blank_filters_are_none() -> None:
    assert parse_filter(None) is None
    assert parse_filter("") is None
    assert parse_filter(" \t\n") is None


def test_and_is_flat_and_case_insensitive() -> None:
    expr = parse_filter("tags.a = 'x' and tags.b = 'x' AnD tags.c = 'x'")
    assert expr == And((tag("a"), tag("b"), tag("c")))


def test_precedence_not_over_and_over_or() -> None:
    expr = parse_filter("tags.a = 'x' OR NOT tags.b = 'x' AND tags.c = 'x'")
    assert expr == Or((tag("a"), And((Not(tag("b")), tag("c")))))


def test_parentheses_override_precedence_and_nested_ors_flatten() -> None:
    expr = parse_filter("(tags.a = 'x' OR (tags.b = 'x' or tags.c = 'x')) AND NOT (tags.d = 'x')")
    assert expr == And((Or((tag("a"), tag("b"), tag("c"))), Not(tag("d"))))


def test_not_can_nest_and_is_not_confused_with_not_in() -> None:
    assert parse_filter("NOT NOT tags.a = 'x'") == Not(Not(tag("a")))
    expr = parse_filter("not trace.status not in ('OK')")
    assert expr == Not(Comparison(TraceField("status"), Op.NOT_IN, ("OK",)))


def test_keywords_as_keys_after_a_dot() -> None:
    expr = parse_filter("tags.and = 'x' AND tags.not = 'y' AND feedback.in > 1")
    assert expr == And((tag("and"), tag("not", "y"),
                        Comparison(AssessmentField("feedback", "in"), Op.GT, 1)))


# --- the same-span rule ------------------------------------------------------------------

def test_span_clauses_of_one_conjunction_form_one_group_where_the_first_was() -> None:
    expr = parse_filter("span.name = 'inner' AND trace.status = 'OK' AND span.type = 'CHAIN'")
    assert expr == And((SpanGroup((span("name", "inner"), span("type", "CHAIN"))),
                        Comparison(TraceField("status"), Op.EQ, "OK")))


def test_grouping_ignores_parentheses_around_ands() -> None:
    a = parse_filter("(span.name = 'a' AND tags.t = 'x') AND (span.type = 'LLM')")
    assert a == And((SpanGroup((span("name", "a"), span("type", "LLM"))), tag("t")))


def test_a_lone_span_clause_is_a_group_of_one() -> None:
    assert parse_filter("span.name = 'a'") == SpanGroup((span("name", "a"),))
    expr = parse_filter("span.name = 'a' AND span.type = 'LLM'")
    assert expr == SpanGroup((span("name", "a"), span("type", "LLM")))


def test_or_and_not_separate_span_groups() -> None:
    expr = parse_filter("span.name = 'a' OR span.type = 'LLM'")
    assert expr == Or((SpanGroup((span("name", "a"),)), SpanGroup((span("type", "LLM"),))))
    expr = parse_filter("span.name = 'a' AND NOT span.type = 'LLM'")
    assert expr == And((SpanGroup((span("name", "a"),)),
                        Not(SpanGroup((span("type", "LLM"),)))))
    expr = parse_filter("span.name = 'a' AND (span.type = 'LLM' OR span.type = 'TOOL')")
    assert isinstance(expr, And)
    assert expr.items[0] == SpanGroup((span("name", "a"),))
    assert isinstance(expr.items[1], Or)


def test_no_span_comparison_outside_a_group() -> None:
    def check(e: Expr, inside: bool = False) -> None:
        if isinstance(e, Comparison):
            assert inside or not isinstance(e.field, SpanField)
        elif isinstance(e, SpanGroup):
            for c in e.clauses:
                check(c, True)
        elif isinstance(e, Not):
            check(e.item)
        else:
            for item in e.items:
                check(item)

    expr = parse_filter("NOT span.name = 'a' OR (span.type = 'x' AND tags.a = 'y' "
                        "AND span.status = 'OK') OR span.content LIKE '%z%'")
    assert expr is not None
    check(expr)


def test_conjoin_merges_span_groups_and_skips_none() -> None:
    first = parse_filter("span.name = 'a' AND tags.t = 'x'")
    second = parse_filter("span.type = 'LLM'")
    assert conjoin(first, None, second) == parse_filter(
        "span.name = 'a' AND tags.t = 'x' AND span.type = 'LLM'")
    assert conjoin(None, None) is None
    assert conjoin(first) == first


# --- resolution, positions, helpers ------------------------------------------------------

def test_reserved_keys_resolve_to_columns_under_tags_and_metadata() -> None:
    for text, field in [
        ("tags.`mlflow.trace.user` = 'u'", TraceField("user_id")),
        ("metadata.`mlflow.trace.user` = 'u'", TraceField("user_id")),
        ("trace.user_id = 'u'", TraceField("user_id")),
        ("tags.`mlflow.trace.session` = 'u'", TraceField("session_id")),
        ("request_metadata.`mlflow.trace.session` = 'u'", TraceField("session_id")),
        ("trace.session_id = 'u'", TraceField("session_id")),
        ("tags.`mlflow.traceName` = 'u'", TraceField("name")),
    ]:
        expr = parse_filter(text)
        assert isinstance(expr, Comparison)
        assert expr.field == field, text


@pytest.mark.parametrize("text", ["TRACE.status = 'OK'", "Tags.a = 'x'", "Span.name = 'a'",
                                  "FEEDBACK.a = 'x'", "trace.STATUS = 'OK'", "STATUS = 'OK'"])
def test_entity_names_and_keys_are_case_sensitive(text: str) -> None:
    with pytest.raises(FilterError, match="case-sensitive"):
        parse_filter(text)


def test_backticks_around_the_entity_and_quoted_key_segments() -> None:
    assert parse_filter("`tags`.`a` = 'x'") == tag("a")
    assert parse_filter('tags."a b" = \'x\'') == tag("a b")
    assert parse_filter("tags.a.b.c = 'x'") == tag("a.b.c")


def test_positions_and_source_text_of_each_clause() -> None:
    text = "  tags.a = 'x'  AND (trace.status IN ('OK','ERROR') OR tags.b IS NULL)"
    clauses = list(iter_comparisons(parse_filter(text)))
    assert [(c.position, c.text) for c in clauses] == [
        (2, "tags.a = 'x'"),
        (21, "trace.status IN ('OK','ERROR')"),
        (55, "tags.b IS NULL"),
    ]
    for c in clauses:
        assert text[c.position:].startswith(c.text)


def test_equality_ignores_position_and_spacing() -> None:
    assert parse_filter("tags.a='x'") == parse_filter("   tags.a   =   'x' ")


def test_to_filter_string_round_trips() -> None:
    text = ("NOT (span.name = 'a' AND span.attributes.`x.y` IN ('1')) OR feedback.`a b` >= -1.5 "
            "AND trace.status != 'OK' AND tags.`it's` = 'it''s \\\\' AND metadata.m IS NOT NULL")
    expr = parse_filter(text)
    assert parse_filter(to_filter_string(expr)) == expr
