"""Search filters against real data, on SQLite and PostgreSQL: every operator on every field,
the same-span rule, valid and session-level assessments, injection attempts, and generated
filters that must either run or raise FilterError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.errors import InvalidParameterError
from assay.search import FilterError
from assay.store.sql import SqlStore
from conftest import PostgresServer
from database_templates import new_schema
from search.test_errors import SPEC_ERROR_TABLE
from search.test_fuzz import grammarish, valid_clause
from store.search_data import ALL, build, tid


@pytest.fixture(scope="module", params=["sqlite",
                                        pytest.param("postgresql", marks=pytest.mark.postgres)])
def searchable(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               postgres_server: PostgresServer) -> Iterator[SqlStore]:
    """One store with the traces of ``search_data``, shared by the tests of this module
    (they only read)."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            uri = f"sqlite:///{tmp_path_factory.mktemp('search') / 'a.db'}"
        else:
            uri = stack.enter_context(new_schema(postgres_server.base_uri()))
        store = SqlStore(uri)
        build(store)
        yield store
        store.close()


def found(store: SqlStore, filter_string: str) -> set[str]:
    """The labels (t0 … t4) of the traces a filter finds."""
    labels = {tid(label): label for label in ALL}
    page = store.search_traces(["0"], max_results=100, filter_string=filter_string,
                               include_spans=False)
    return {labels[t.info.trace_id] for t in page}


def but(*labels: str) -> set[str]:
    return set(ALL) - set(labels)


CASES: list[tuple[str, set[str]]] = [
    # -- trace attributes -------------------------------------------------------------------
    (f"trace.request_id = '{tid('t0')}'", {"t0"}),
    (f"request_id != '{tid('t0')}'", but("t0")),
    ("trace.request_id LIKE '%3'", {"t3"}),
    ("trace.request_id ILIKE 'TR-%4'", {"t4"}),
    ("trace.request_id RLIKE '[12]$'", {"t1", "t2"}),
    (f"trace.request_id IN ('{tid('t0')}', '{tid('t1')}')", {"t0", "t1"}),
    (f"trace.trace_id NOT IN ('{tid('t0')}')", but("t0")),
    ("trace.status = 'OK'", {"t0", "t3", "t4"}),
    ("attributes.status != 'OK'", {"t1", "t2"}),
    ("status LIKE 'IN%'", {"t2"}),
    ("trace.status ILIKE 'error'", {"t1"}),
    ("trace.status RLIKE '^(OK|ERROR)$'", {"t0", "t1", "t3", "t4"}),
    ("trace.status IN ('ERROR', 'IN_PROGRESS')", {"t1", "t2"}),
    ("trace.status NOT IN ('OK')", {"t1", "t2"}),
    ("trace.timestamp_ms = 2000", {"t1"}),
    ("trace.timestamp != 2000", but("t1")),
    ("timestamp_ms < 3000", {"t0", "t1"}),
    ("trace.timestamp_ms <= 3000", {"t0", "t1", "t2"}),
    ("trace.timestamp_ms > 4000", {"t4"}),
    ("trace.timestamp_ms >= 4000.0", {"t3", "t4"}),
    ("trace.execution_time_ms = 10", {"t0"}),
    ("trace.execution_time != 10", {"t1", "t3", "t4"}),  # t2 has no duration
    ("trace.execution_time_ms < 20", {"t0", "t4"}),
    ("trace.execution_time_ms <= 20", {"t0", "t1", "t4"}),
    ("trace.execution_time_ms > 10", {"t1", "t3"}),
    ("trace.execution_time_ms >= 10", {"t0", "t1", "t3"}),
    ("NOT trace.execution_time_ms > 10", {"t0", "t2", "t4"}),
    ("trace.end_time_ms = 1010", {"t0"}),
    ("trace.end_time > 2000", {"t1", "t3", "t4"}),
    ("trace.end_time_ms != 1010", {"t1", "t3", "t4"}),
    ("trace.end_time_ms <= 4040", {"t0", "t1", "t3"}),
    ("trace.name = 'alpha'", {"t0"}),
    ("trace.name != 'alpha'", {"t1", "t3", "t4"}),
    ("trace.name LIKE '%a'", {"t0", "t1", "t3"}),
    ("trace.name LIKE 'ALPHA'", set()),
    ("trace.name ILIKE 'ALPHA'", {"t0"}),
    ("trace.name LIKE 'delta\\\\%\\\\_x'", {"t4"}),  # \% and \_ are literal
    ("trace.name LIKE 'delta\\\\%'", set()),
    ("trace.name LIKE 'gam_a'", {"t3"}),
    ("trace.name RLIKE '^[ab]'", {"t0", "t1"}),
    ("trace.name IS NULL", {"t2"}),
    ("trace.name IS NOT NULL", but("t2")),
    ("tags.`mlflow.traceName` = 'beta'", {"t1"}),
    ("trace.client_request_id = 'req-a'", {"t0"}),
    ("trace.client_request_id != 'req-a'", {"t1", "t3", "t4"}),
    ("trace.client_request_id LIKE 'req-_'", {"t0", "t1", "t4"}),
    ("trace.client_request_id ILIKE 'req-c'", {"t3"}),
    ("trace.client_request_id LIKE 'req-\\\\%'", {"t4"}),
    ("trace.client_request_id RLIKE '^req'", {"t0", "t1", "t4"}),
    ("trace.client_request_id IN ('req-a', 'REQ-C')", {"t0", "t3"}),
    ("trace.client_request_id NOT IN ('req-a')", {"t1", "t3", "t4"}),
    ("trace.session_id = 's1'", {"t0", "t1"}),
    ("trace.session_id != 's1'", {"t3", "t4"}),
    ("trace.session_id LIKE 's%'", {"t0", "t1", "t3", "t4"}),
    ("trace.session_id IN ('s2')", {"t3", "t4"}),
    ("trace.session_id NOT IN ('s2')", {"t0", "t1"}),
    ("trace.session_id IS NULL", {"t2"}),
    ("metadata.`mlflow.trace.session` = 's2'", {"t3", "t4"}),
    ("tags.`mlflow.trace.session` IS NOT NULL", but("t2")),
    ("trace.user_id = 'alice'", {"t0", "t3"}),
    ("tags.`mlflow.trace.user` = 'alice'", {"t0", "t3"}),
    ("request_metadata.`mlflow.trace.user` != 'alice'", {"t1", "t4"}),
    ("trace.user_id ILIKE 'ALICE'", {"t0", "t3"}),
    ("trace.user_id RLIKE 'o'", {"t1", "t4"}),
    ("trace.user_id IS NULL", {"t2"}),
    ("trace.run_id = 'run-1'", {"t0"}),
    ("trace.run_id != 'run-1'", {"t1"}),  # traces without a run never match !=
    ("trace.run_id LIKE 'run-%'", {"t0", "t1"}),
    ("trace.run_id IS NULL", {"t2", "t3", "t4"}),
    ("metadata.`mlflow.sourceRun` = 'run-2'", {"t1"}),
    ("trace.text LIKE '%hello%'", {"t0"}),
    ("trace.text ILIKE '%HELLO%'", {"t0"}),
    ("trace.text LIKE '%gpt-4o%'", {"t3"}),
    ("trace.prompt = 'my-prompt/1'", set()),
    # -- tags and metadata ----------------------------------------------------------------
    ("tags.env = 'prod'", {"t0", "t4"}),
    ("tags.env != 'prod'", {"t1", "t3"}),  # t2 has no env tag
    ("tag.env LIKE 'pro%'", {"t0", "t4"}),
    ("tags.env ILIKE 'PROD'", {"t0", "t3", "t4"}),
    ("tags.env RLIKE '^P'", {"t3"}),
    ("tags.env IS NULL", {"t2"}),
    ("tags.env IS NOT NULL", but("t2")),
    ("NOT tags.env = 'prod'", {"t1", "t2", "t3"}),
    ("tags.`dotted.key` = 'v.1'", {"t4"}),
    ("metadata.model = 'gpt-4'", {"t0"}),
    ("metadata.model != 'gpt-4'", {"t1", "t3"}),
    ("metadata.model LIKE 'gpt%'", {"t0", "t3"}),
    ("metadata.model ILIKE 'GPT-4%'", {"t0", "t3"}),
    ("metadata.model RLIKE '^gpt-4$'", {"t0"}),
    ("metadata.model IS NULL", {"t2", "t4"}),
    ("request_metadata.model IS NOT NULL", {"t0", "t1", "t3"}),
    # -- spans --------------------------------------------------------------------------------
    ("span.name = 'llm-call'", {"t0", "t3"}),
    ("span.name != 'chain'", {"t0", "t1", "t2", "t3"}),
    ("span.name LIKE 'llm%'", {"t0", "t3"}),
    ("span.name ILIKE 'LLM%'", {"t0", "t3"}),
    ("span.name RLIKE 'ret'", {"t1"}),
    ("span.name IN ('agent', 'retrieve')", {"t1", "t2"}),
    ("span.name NOT IN ('chain')", {"t0", "t1", "t2", "t3"}),
    ("span.type = 'LLM'", {"t0", "t3"}),
    ("span.type != 'CHAIN'", {"t0", "t1", "t2", "t3"}),
    ("span.type LIKE 'RETR%'", {"t1"}),
    ("span.type ILIKE 'agent'", {"t2"}),
    ("span.type RLIKE '^T'", {"t3"}),
    ("span.type IN ('TOOL', 'AGENT')", {"t2", "t3"}),
    ("span.type NOT IN ('CHAIN', 'LLM')", {"t1", "t2", "t3"}),
    ("span.status = 'ERROR'", {"t1"}),
    ("span.status != 'OK'", {"t1", "t2"}),
    ("span.status LIKE 'UN%'", {"t2"}),
    ("span.status ILIKE 'error'", {"t1"}),
    ("span.status RLIKE 'R+OR'", {"t1"}),
    ("span.status IN ('UNSET')", {"t2"}),
    ("span.status NOT IN ('OK')", {"t1", "t2"}),
    ("span.content LIKE '%hello%'", {"t0"}),
    ("span.content ILIKE '%HELLO%'", {"t0"}),
    ("span.attributes.model = 'gpt-4'", {"t0"}),
    ("span.attributes.model != 'gpt-4'", {"t3"}),
    ("span.attributes.model LIKE 'gpt%'", {"t0", "t3"}),
    ("span.attributes.model ILIKE 'GPT%'", {"t0", "t3"}),
    ("span.attributes.model RLIKE '4o$'", {"t3"}),
    ("span.attributes.model IN ('gpt-4o', 'x')", {"t3"}),
    ("span.attributes.model NOT IN ('gpt-4')", {"t3"}),
    ("span.attributes.temperature = '0.5'", {"t0"}),
    ("span.attributes.stream = 'true'", {"t0"}),
    ("span.attributes.top_k = '3'", {"t1"}),
    ("span.attributes.`a.b` = 'dot'", {"t1"}),
    # the same span must satisfy every span clause of an AND chain
    ("span.name = 'llm-call' AND span.type = 'LLM'", {"t0"}),
    ("span.type = 'LLM' AND trace.status = 'OK' AND span.name = 'llm-call'", {"t0"}),
    ("span.name = 'llm-call' OR span.type = 'LLM'", {"t0", "t3"}),
    ("NOT span.name = 'chain'", {"t2"}),
    # -- assessments: valid only, decoded values, numbers, session-level ------------------------
    ("feedback.correct = 'true'", {"t0"}),  # t3's true was overridden by false
    ("feedback.correct = 'false'", {"t1", "t3"}),
    ("feedback.correct = 'False'", set()),
    ("feedback.correct != 'true'", {"t1", "t3"}),
    ("feedback.correct LIKE 'tr%'", {"t0"}),
    ("feedback.correct ILIKE 'TRUE'", {"t0"}),
    ("feedback.correct RLIKE '^f'", {"t1", "t3"}),
    ("feedback.correct IS NULL", {"t2", "t4"}),
    ("feedback.correct IS NOT NULL", {"t0", "t1", "t3"}),
    ("feedback.correct > 0", set()),  # booleans are not numbers
    ("feedback.score > 3", {"t0", "t4"}),
    ("feedback.score >= 4", {"t0", "t4"}),
    ("feedback.score < 3", {"t1"}),
    ("feedback.score <= 2.5", {"t1"}),
    ("feedback.score = '4'", {"t0"}),
    ("feedback.score = '4.0'", set()),
    ("feedback.score = '2.5'", {"t1"}),
    ("feedback.score != '4'", {"t1", "t4"}),
    ("feedback.rating = '4'", {"t0", "t1"}),  # the string "4" and the number 4
    ("feedback.rating > 3", {"t1"}),  # strings are not numbers
    ("feedback.label = 'yes'", {"t0"}),
    ("feedback.label = 'YES'", {"t3"}),
    ("feedback.label LIKE 'y%'", {"t0"}),  # the decoded string, no JSON quotes
    ("feedback.label ILIKE 'y%'", {"t0", "t3"}),
    ("feedback.label RLIKE '^(yes|no)$'", {"t0", "t1"}),
    ("feedback.label LIKE '%\"a\"%'", {"t4"}),  # a list matches by its JSON text
    ("feedback.label = '[\"a\",\"b\"]'", {"t4"}),
    ("feedback.label != 'yes'", {"t1", "t3", "t4"}),
    ("feedback.judge IS NOT NULL", {"t3"}),  # an error feedback exists
    ("feedback.judge = 'x'", set()),
    ("feedback.session_quality = 'good'", {"t3", "t4"}),  # session-level: every trace of s2
    ("feedback.session_quality IS NULL", {"t0", "t1", "t2"}),
    ("expectation.answer = '42'", {"t0"}),
    ("feedback.answer IS NOT NULL", set()),  # the kind must match
    ("expectation.correct IS NOT NULL", set()),
    ("issue.id = 'issue-1'", set()),
    # -- OR, parentheses, NOT -----------------------------------------------------------------
    ("(trace.status = 'ERROR' OR tags.env = 'prod') AND NOT trace.user_id = 'carol'",
     {"t0", "t1"}),
    ("NOT (trace.session_id = 's1' OR trace.session_id = 's2')", {"t2"}),
    ("trace.status = 'OK' and tags.env = 'prod' or trace.name = 'beta'", {"t0", "t1", "t4"}),
]


@pytest.mark.parametrize(("filter_string", "expected"), CASES, ids=[c[0] for c in CASES])
def test_filter_finds_exactly_the_expected_traces(searchable: SqlStore, filter_string: str,
                                                  expected: set[str]) -> None:
    assert found(searchable, filter_string) == expected


def test_every_trace_without_a_filter(searchable: SqlStore) -> None:
    assert found(searchable, "") == set(ALL)
    page = searchable.search_traces(["0"], max_results=100)
    assert [t.info.trace_id for t in page] == [tid(f"t{i}") for i in (4, 3, 2, 1, 0)]


INJECTIONS = [
    "'; DROP TABLE traces; --",
    "x' OR '1'='1",
    "prod' --",
    "prod/* comment */",
    "\\'; SELECT 1; --",
    "%' OR 1=1 --",
    "😀 ü",
    "C:\\dir",
    "x'y",
    "\" OR \"\"=\"",
    "$1 $$ :name ? %s %(x)s",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_attempts_are_plain_values(searchable: SqlStore, value: str) -> None:
    from assay.search.unparse import quote_string

    quoted = quote_string(value)
    expected = {"tags.team": {"t0"} if value == "x'y" else set(),
                "tags.emoji": {"t1"} if value == "😀 ü" else set(),
                "tags.path": {"t2"} if value == "C:\\dir" else set()}
    for field, labels in expected.items():
        assert found(searchable, f"{field} = {quoted}") == labels
        found(searchable, f"{field} LIKE {quoted} OR {field} ILIKE {quoted}")  # runs
    name = value.replace("`", "``")
    for clause in (f"trace.name = {quoted}", f"trace.client_request_id IN ({quoted}, 'x')",
                   f"span.name NOT IN ({quoted}) AND span.name IN ({quoted})",
                   f"span.attributes.`{name}` = {quoted}", f"feedback.`{name}` = {quoted}",
                   f"metadata.model RLIKE {quoted}" if _compiles(value) else "trace.name = ''"):
        assert found(searchable, clause) == set()
    assert len(found(searchable, "")) == 5  # nothing was dropped


def _compiles(pattern: str) -> bool:
    from assay.search.regex import pattern_problem

    return pattern_problem(pattern) is None


def test_double_quoted_values_and_backticked_entities(searchable: SqlStore) -> None:
    assert found(searchable, 'tags.team = "x\'y"') == {"t0"}
    assert found(searchable, "`tags`.`env` = 'staging'") == {"t1"}
    assert found(searchable, "tags.path = 'C:\\\\dir'") == {"t2"}


@pytest.mark.parametrize(("text", "position", "message"), SPEC_ERROR_TABLE)
def test_spec_error_table_examples_fail_the_search(searchable: SqlStore, text: str,
                                                   position: int, message: str) -> None:
    with pytest.raises(FilterError, match=f"position {position}") as info:
        searchable.search_traces(["0"], filter_string=text)
    assert message in info.value.message


def test_a_quoted_value_against_a_numeric_field_is_an_error_not_silence(
        searchable: SqlStore) -> None:
    with pytest.raises(FilterError, match="position 21"):
        searchable.search_traces(["0"], filter_string="trace.timestamp_ms > '2024-01-01'")


@pytest.mark.parametrize("value", ["a\x00b", "\ud800"])
def test_values_no_database_can_hold_are_filter_errors(searchable: SqlStore,
                                                       value: str) -> None:
    with pytest.raises(FilterError, match=r"position 1[23]"):
        searchable.search_traces(["0"], filter_string=f"tags.env = '{value}'")


@pytest.mark.parametrize("value", ["a\x00b", "\ud800"])
def test_trees_built_in_code_are_checked_too(value: str) -> None:
    from assay.search import Comparison, Op, TagField
    from assay.store.sql.dialect import Dialect
    from assay.store.sql.filters import compile_filter

    with pytest.raises(FilterError, match="no database can store"):
        compile_filter(Comparison(TagField("env"), Op.EQ, value), Dialect.SQLITE)


def test_run_id_argument_ands_the_run(searchable: SqlStore) -> None:
    page = searchable.search_traces(["0"], run_id="run-1", filter_string="tags.env = 'prod'")
    assert [t.info.trace_id for t in page] == [tid("t0")]
    assert list(searchable.search_traces(["0"], run_id="run-3")) == []
    with pytest.raises(InvalidParameterError, match="run_id"):
        searchable.search_traces(["0"], run_id="run-1", filter_string="trace.run_id = 'run-1'")


def test_a_regex_outside_the_common_syntax_is_refused_on_every_database(
        searchable: SqlStore) -> None:
    # RE2 accepts named groups; PostgreSQL's regular expressions do not.
    with pytest.raises(FilterError, match="position 17") as caught:
        found(searchable, "trace.name RLIKE '(?P<n>alpha)'")
    assert caught.value.position == 17


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(grammarish)
def test_generated_filters_run_or_raise_filter_error(searchable: SqlStore, text: str) -> None:
    try:
        searchable.search_traces(["0"], max_results=10, filter_string=text,
                                 include_spans=False)
    except FilterError as e:
        assert e.message


@FUZZ
@given(st.lists(valid_clause(), min_size=1, max_size=4),
       st.sampled_from([" AND ", " OR ", " AND NOT "]))
def test_generated_valid_filters_run(searchable: SqlStore,
                                     parts: list[tuple[str, object]], join: str) -> None:
    text = join.join(clause for clause, _ in parts)
    try:
        searchable.search_traces(["0"], max_results=10, filter_string=text,
                                 include_spans=False)
    except FilterError as e:  # only what no database can store
        assert "no database can store" in e.message or "cannot run" in e.message, e


def test_unknown_experiments_find_nothing_but_bad_filters_still_fail(
        searchable: SqlStore) -> None:
    assert list(searchable.search_traces(["424242", "nope"], filter_string="tags.a = 'b'")) \
        == []
    with pytest.raises(FilterError):
        searchable.search_traces(["424242"], filter_string="tags.a = b")


def test_filter_on_a_file_path(tmp_path: Path) -> None:
    # Patterns with characters special to GLOB stay literal on SQLite.
    store = SqlStore(f"sqlite:///{tmp_path / 'g.db'}")
    from factories import make_trace

    store.log_traces([make_trace(tags={"p": "a*b?[c]"}), make_trace(tags={"p": "axxb"})])
    assert len(store.search_traces(["0"], filter_string="tags.p LIKE 'a*b?[c]'")) == 1
    assert len(store.search_traces(["0"], filter_string="tags.p LIKE 'a%b%'")) == 2
    assert len(store.search_traces(["0"], filter_string="tags.p ILIKE 'A*B?[C]'")) == 1
    store.close()
