"""Every operator on every field: accepted or rejected as the spec's tables (3.3) say.

The expectations below are written out by hand from the spec rather than read from
``assay.search.fields``, so a wrong rule in the implementation makes a test fail.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from assay.search import (
    AssessmentField,
    Comparison,
    Field,
    FilterError,
    IssueField,
    MetadataField,
    Op,
    SpanField,
    SpanGroup,
    TagField,
    TraceField,
    Value,
    parse_filter,
)

EQ, NE, LT, LE, GT, GE = Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE
LIKES = {Op.LIKE, Op.ILIKE, Op.RLIKE}
STRING = {EQ, NE} | LIKES
LIST = {Op.IN, Op.NOT_IN}
NULL = {Op.IS_NULL, Op.IS_NOT_NULL}
ORDER = {LT, LE, GT, GE}
NUMERIC = ORDER | {EQ, NE}


@dataclass(frozen=True)
class Case:
    ident: str
    field: Field
    ops: frozenset[Op]
    sample: str = "v"  # a quoted value this field accepts
    number_ops: frozenset[Op] = frozenset()  # operators that take an unquoted number

    def __str__(self) -> str:
        return self.ident


def case(ident: str, field: Field, ops: set[Op], sample: str = "v",
         number_ops: set[Op] | None = None) -> Case:
    return Case(ident, field, frozenset(ops), sample, frozenset(number_ops or ()))


SESSION = TraceField("session_id")
USER = TraceField("user_id")

CASES = [
    # trace attributes, every alias and prefix
    case("trace.request_id", TraceField("trace_id"), STRING | LIST, "tr-1"),
    case("trace.trace_id", TraceField("trace_id"), STRING | LIST, "tr-1"),
    case("request_id", TraceField("trace_id"), STRING | LIST, "tr-1"),
    case("trace.status", TraceField("status"), STRING | LIST, "OK"),
    case("attributes.status", TraceField("status"), STRING | LIST, "ERROR"),
    case("attribute.status", TraceField("status"), STRING | LIST, "IN_PROGRESS"),
    case("status", TraceField("status"), STRING | LIST, "OK"),
    case("trace.timestamp_ms", TraceField("timestamp_ms"), NUMERIC, number_ops=NUMERIC),
    case("trace.timestamp", TraceField("timestamp_ms"), NUMERIC, number_ops=NUMERIC),
    case("timestamp_ms", TraceField("timestamp_ms"), NUMERIC, number_ops=NUMERIC),
    case("trace.execution_time_ms", TraceField("execution_time_ms"), NUMERIC,
         number_ops=NUMERIC),
    case("attributes.execution_time", TraceField("execution_time_ms"), NUMERIC,
         number_ops=NUMERIC),
    case("trace.end_time_ms", TraceField("end_time_ms"), NUMERIC, number_ops=NUMERIC),
    case("trace.end_time", TraceField("end_time_ms"), NUMERIC, number_ops=NUMERIC),
    case("trace.name", TraceField("name"), STRING | NULL),
    case("name", TraceField("name"), STRING | NULL),
    case("trace.client_request_id", TraceField("client_request_id"), STRING | LIST),
    case("trace.session_id", SESSION, STRING | LIST | NULL),
    case("trace.user_id", USER, STRING | LIST | NULL),
    case("trace.run_id", TraceField("run_id"), STRING | NULL),
    case("trace.text", TraceField("text"), {Op.LIKE, Op.ILIKE}, "%hello%"),
    case("text", TraceField("text"), {Op.LIKE, Op.ILIKE}, "%hello%"),
    case("trace.prompt", TraceField("prompt"), {EQ}, "qa-prompt/3"),
    # tags and metadata, with the reserved keys resolving to columns under both prefixes
    case("tags.env", TagField("env"), STRING | NULL),
    case("tag.env", TagField("env"), STRING | NULL),
    case("tags.`my key.with dots`", TagField("my key.with dots"), STRING | NULL),
    case("metadata.k", MetadataField("k"), STRING | NULL),
    case("request_metadata.k", MetadataField("k"), STRING | NULL),
    case("metadata.`mlflow.sourceRun`", MetadataField("mlflow.sourceRun"), STRING | NULL),
    case("tags.`mlflow.trace.session`", SESSION, STRING | LIST | NULL),
    case("tags.`mlflow.trace.user`", USER, STRING | LIST | NULL),
    case("metadata.`mlflow.trace.session`", SESSION, STRING | LIST | NULL),
    case("request_metadata.`mlflow.trace.user`", USER, STRING | LIST | NULL),
    case("tags.`mlflow.traceName`", TraceField("name"), STRING | NULL),
    case("tags.mlflow.traceName", TraceField("name"), STRING | NULL),
    case("metadata.`mlflow.traceName`", MetadataField("mlflow.traceName"), STRING | NULL),
    # spans
    case("span.name", SpanField("name"), STRING | LIST),
    case("span.type", SpanField("type"), STRING | LIST, "LLM"),
    case("span.status", SpanField("status"), STRING | LIST, "ERROR"),
    case("span.content", SpanField("content"), {Op.LIKE, Op.ILIKE}, "%tool%"),
    case("span.attributes.model", SpanField("attributes", "model"), STRING | LIST),
    case("span.attributes.`llm.model`", SpanField("attributes", "llm.model"), STRING | LIST),
    # assessments: strings with = != LIKE…, numbers with < <= > >=
    case("feedback.rating", AssessmentField("feedback", "rating"), STRING | NULL | ORDER,
         number_ops=ORDER),
    case("feedback.`user feedback`", AssessmentField("feedback", "user feedback"),
         STRING | NULL | ORDER, number_ops=ORDER),
    case("expectation.answer", AssessmentField("expectation", "answer"),
         STRING | NULL | ORDER, number_ops=ORDER),
    # issues
    case("issue.id", IssueField(), {EQ}, "iss-1"),
]

SPELLING = {
    EQ: "=", NE: "!=", LT: "<", LE: "<=", GT: ">", GE: ">=", Op.LIKE: "LIKE",
    Op.ILIKE: "ILIKE", Op.RLIKE: "RLIKE", Op.IN: "IN", Op.NOT_IN: "NOT IN",
    Op.IS_NULL: "IS NULL", Op.IS_NOT_NULL: "IS NOT NULL",
}


def clause_for(c: Case, op: Op, *, quoted: bool | None = None) -> tuple[str, Value]:
    """A clause using ``op`` with the natural value for it, and the value it should parse to.

    ``quoted`` forces a quoted (True) or unquoted number (False) value; by default the kind
    the field takes with this operator.
    """
    if op in NULL:
        return f"{c.ident} {SPELLING[op]}", None
    if op in LIST:
        return f"{c.ident} {SPELLING[op]} ('{c.sample}', '{c.sample}')", (c.sample, c.sample)
    if quoted is None:
        quoted = op not in c.number_ops
    if quoted:
        return f"{c.ident} {SPELLING[op]} '{c.sample}'", c.sample
    return f"{c.ident} {SPELLING[op]} 1700000000000", 1700000000000


def unwrap(expr: object) -> Comparison:
    if isinstance(expr, SpanGroup):
        assert len(expr.clauses) == 1
        expr = expr.clauses[0]
    assert isinstance(expr, Comparison)
    return expr


ALL_PAIRS = [(c, op) for c in CASES for op in Op]


@pytest.mark.parametrize(("c", "op"), ALL_PAIRS, ids=[f"{c}-{op.name}" for c, op in ALL_PAIRS])
def test_operator_is_accepted_or_rejected_as_the_spec_says(c: Case, op: Op) -> None:
    text, expected_value = clause_for(c, op)
    if op in c.ops:
        parsed = unwrap(parse_filter(text))
        assert (parsed.field, parsed.op, parsed.value) == (c.field, op, expected_value)
        assert parsed.text == text
        assert parsed.position == 0
    else:
        with pytest.raises(FilterError) as info:
            parse_filter(text)
        assert info.value.position == len(c.ident) + 1, info.value.message  # at the operator
        assert "comparator" in info.value.message
        assert SPELLING[op] in info.value.message


VALUE_PAIRS = [(c, op) for c in CASES for op in sorted(c.ops, key=lambda o: o.name)
               if op not in NULL | LIST]


@pytest.mark.parametrize(("c", "op"), VALUE_PAIRS,
                         ids=[f"{c}-{op.name}" for c, op in VALUE_PAIRS])
def test_the_other_kind_of_value_is_rejected_at_its_position(c: Case, op: Op) -> None:
    # A quoted value where a number belongs (trace.timestamp_ms > '5', which MLflow silently
    # accepts) and a number where a string belongs are both errors pointing at the value.
    wants_number = op in c.number_ops
    text, _ = clause_for(c, op, quoted=wants_number)
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    value_pos = len(c.ident) + len(SPELLING[op]) + 2
    assert info.value.position == value_pos, info.value.message
    assert f"position {value_pos}" in info.value.message
    assert ("numeric" in info.value.message) == wants_number


def test_keywords_are_case_insensitive() -> None:
    for text, op in [("tags.a like 'x'", Op.LIKE), ("tags.a iLiKe 'x'", Op.ILIKE),
                     ("tags.a rlike 'x'", Op.RLIKE), ("trace.status in ('OK')", Op.IN),
                     ("trace.status Not In ('OK')", Op.NOT_IN), ("tags.a is null", Op.IS_NULL),
                     ("tags.a Is Not Null", Op.IS_NOT_NULL)]:
        assert unwrap(parse_filter(text)).op is op, text


def test_status_values_are_checked_for_equality_and_lists_but_not_patterns() -> None:
    for text in ["trace.status = 'ok'", "trace.status != 'DONE'",
                 "trace.status IN ('OK', 'FINISHED')", "span.status = 'SUCCESS'",
                 "trace.status = 'STATE_UNSPECIFIED'"]:
        with pytest.raises(FilterError, match=r"Valid values are .*OK"):
            parse_filter(text)
    assert unwrap(parse_filter("trace.status LIKE 'O%'")).value == "O%"
    assert unwrap(parse_filter("span.status = 'UNSET'")).value == "UNSET"


def test_prompt_must_be_name_slash_version() -> None:
    for bad in ["'qa'", "'/3'", "'qa/'"]:
        with pytest.raises(FilterError, match="name/version"):
            parse_filter(f"trace.prompt = {bad}")


def test_rlike_pattern_must_compile() -> None:
    with pytest.raises(FilterError, match="regular expression") as info:
        parse_filter("trace.name RLIKE 'a(b'")
    assert info.value.position == 17
    assert unwrap(parse_filter(r"trace.name RLIKE '^a\d+(b|c)$'")).value == r"^a\d+(b|c)$"
    # Patterns Python's re cannot even compile without OverflowError or RecursionError.
    for pattern in ["a{99999999999}", "(" * 5000 + ")" * 5000]:
        with pytest.raises(FilterError, match="regular expression"):
            parse_filter(f"span.name RLIKE '{pattern}'")
