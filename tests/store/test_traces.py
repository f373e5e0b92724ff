"""Traces in the SQL store, on SQLite and PostgreSQL: log, read, page, tag and delete."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
import sqlalchemy as sa

from assay.entities import SpanEvent, SpanStatus, SpanStatusCode, Trace, TraceState
from assay.entities.trace import sort_spans
from assay.errors import InvalidParameterError, NotFoundError
from assay.store.sql import SqlStore
from assay.store.sql.schema import spans, trace_metadata, trace_tags, traces
from conftest import Backend
from factories import BASE_TIME_MS, make_span, make_trace, new_trace_id

INJECTION = "x'); DROP TABLE traces; --"


def count_rows(db: sa.Engine, table: sa.Table, trace_ids: list[str] | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    if trace_ids is not None:
        query = query.where(table.c.trace_id.in_(trace_ids))
    with db.connect() as conn:
        return int(conn.execute(query).scalar_one())


def assert_same_trace(got: Trace, logged: Trace) -> None:
    assert got.info == logged.info
    assert got.data.spans == sort_spans(logged.data.spans)


# -- log and get -------------------------------------------------------------------------

def test_logged_trace_reads_back_identically(store: SqlStore) -> None:
    trace = make_trace(
        execution_duration=1234,
        state=TraceState.ERROR,
        tags={"env": "prod"},
        metadata={"mlflow.trace.session": "s-1", "mlflow.trace.user": "u-1",
                  "mlflow.source.type": "NOTEBOOK", "mlflow.sourceRun": "run-1",
                  "mlflow.trace.tokenUsage": '{"input_tokens": 1, "output_tokens": 2, '
                                             '"total_tokens": 3}'},
        client_request_id="req-42",
        request_preview="What is MLflow?",
        response_preview="A platform.",
    )
    store.log_traces([trace])
    got = store.get_trace(trace.info.trace_id)
    assert_same_trace(got, trace)
    assert got.info.assessments == []
    assert got.info.name == "root"
    assert got.info.session_id == "s-1"
    assert got.info.user_id == "u-1"
    assert got.info.token_usage == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    assert store.get_trace_info(trace.info.trace_id) == trace.info


def test_span_fields_round_trip(store: SqlStore) -> None:
    trace_id = new_trace_id()
    root = make_span(trace_id, name="root", start_time_ns=10, end_time_ns=99,
                     span_type="CUSTOM_TYPE",
                     status=SpanStatus(SpanStatusCode.ERROR, "boom"),
                     attributes={"model": "gpt", "n": 3, "nested": {"a": [1, 2.5, None]}},
                     events=[SpanEvent("exception", 42, {"exception.message": "boom"}),
                             SpanEvent("chunk", 43)])
    unfinished = make_span(trace_id, parent_id=root.span_id, name="running",
                           start_time_ns=11, end_time_ns=None,
                           status=SpanStatus(SpanStatusCode.UNSET))
    trace = make_trace(trace_id=trace_id, spans=[unfinished, root])
    store.log_traces([trace])
    got = store.get_trace(trace_id).data.spans
    assert got == [root, unfinished]
    assert got[0].status == SpanStatus(SpanStatusCode.ERROR, "boom")
    assert got[0].events[0].attributes == {"exception.message": "boom"}
    assert got[0].attributes["nested"] == {"a": [1, 2.5, None]}
    assert got[1].end_time_ns is None
    assert got[1].inputs is None


def test_inputs_and_outputs_are_stored_verbatim(store: SqlStore) -> None:
    trace_id = new_trace_id()
    odd_json = '{ "b" : 1,\n  "a": [1.50, 2e3, "\\u00e9"] }'
    span = make_span(trace_id, inputs_json=odd_json, outputs_json='"just a string"')
    store.log_traces([make_trace(trace_id=trace_id, spans=[span])])
    got = store.get_trace(trace_id).data.spans[0]
    assert got.inputs_json == odd_json
    assert got.outputs_json == '"just a string"'
    assert got.inputs == {"b": 1, "a": [1.5, 2000.0, "é"]}


def test_a_one_megabyte_input_is_stored_whole(store: SqlStore) -> None:
    trace_id = new_trace_id()
    big = json.dumps({"document": "ab€😀" * 262_144})
    assert len(big.encode("utf-8")) > 2_500_000
    span = make_span(trace_id, inputs_json=big, outputs_json=big[::-1])
    store.log_traces([make_trace(trace_id=trace_id, spans=[span])])
    got = store.get_trace(trace_id).data.spans[0]
    assert got.inputs_json == big
    assert got.outputs_json == big[::-1]


def test_unicode_everywhere_round_trips(store: SqlStore) -> None:
    texts = ["😀🚀👩‍🔬", "中文字符と日本語", "مرحبا بالعالم", "שלום עולם",  # emoji, CJK, RTL
             "e\u0301", "\u200f\u202e"]  # a combining accent, RTL marks
    trace_id = new_trace_id()
    root = make_span(trace_id, name=" ".join(texts), inputs={"q": texts},
                     outputs={"a": texts[::-1]}, attributes={t: t for t in texts})
    trace = make_trace(trace_id=trace_id, name="名前 😀 اسم", spans=[root],
                       tags={t: t * 3 for t in texts},
                       metadata={f"meta.{t}": t for t in texts},
                       request_preview=texts[1], response_preview=texts[2])
    store.log_traces([trace])
    assert_same_trace(store.get_trace(trace_id), trace)
    assert store.get_trace(trace_id).data.spans[0].inputs == {"q": texts}


def test_get_unknown_trace_names_the_id(store: SqlStore) -> None:
    trace_id = new_trace_id()
    with pytest.raises(NotFoundError) as info:
        store.get_trace(trace_id)
    assert str(info.value) == f"Trace with ID {trace_id!r} not found"
    with pytest.raises(NotFoundError, match=trace_id):
        store.get_trace_info(trace_id)


def test_get_trace_without_spans(store: SqlStore) -> None:
    trace = make_trace()
    store.log_traces([trace])
    got = store.get_trace(trace.info.trace_id, include_spans=False)
    assert got.info == trace.info
    assert got.data.spans == []


def test_spans_come_root_first_then_by_start_time(store: SqlStore) -> None:
    trace_id = new_trace_id()
    root = make_span(trace_id, name="root", start_time_ns=500)
    children = [make_span(trace_id, parent_id=root.span_id, name=f"c{t}", start_time_ns=t)
                for t in (900, 100, 700, 300)]
    store.log_traces([make_trace(trace_id=trace_id, spans=[*children, root])])
    names = [s.name for s in store.get_trace(trace_id).data.spans]
    assert names == ["root", "c100", "c300", "c700", "c900"]


def test_a_trace_of_1000_spans_round_trips(store: SqlStore) -> None:
    trace_id = new_trace_id()
    root = make_span(trace_id, name="root", start_time_ns=0)
    children = [make_span(trace_id, parent_id=root.span_id, name=f"step-{i}",
                          start_time_ns=1000 - i, inputs={"i": i}, attributes={"i": i})
                for i in range(999)]
    trace = make_trace(trace_id=trace_id, spans=[*children, root])
    store.log_traces([trace])
    got = store.get_trace(trace_id).data.spans
    assert len(got) == 1000
    assert got[0] == root
    assert [s.start_time_ns for s in got[1:]] == list(range(2, 1001))
    assert got == sort_spans(trace.data.spans)


# -- idempotency and atomicity -----------------------------------------------------------

def test_logging_a_trace_twice_stores_it_once(store: SqlStore, db: sa.Engine) -> None:
    trace = make_trace(tags={"t": "1"}, metadata={"m": "1"})
    store.log_traces([trace])
    store.log_traces([trace])
    store.log_traces([trace, trace])  # twice in one batch, too
    ids = [trace.info.trace_id]
    assert count_rows(db, traces, ids) == 1
    assert count_rows(db, spans, ids) == 3
    assert count_rows(db, trace_tags, ids) == 2
    assert count_rows(db, trace_metadata, ids) == 1
    assert_same_trace(store.get_trace(trace.info.trace_id), trace)


def test_logging_again_updates_the_trace_and_upserts_spans(store: SqlStore) -> None:
    trace_id = new_trace_id()
    root = make_span(trace_id, name="root", end_time_ns=None)
    first = make_trace(trace_id=trace_id, state=TraceState.IN_PROGRESS,
                       execution_duration=None, spans=[root], tags={"a": "1"})
    store.log_traces([first])
    finished_root = make_span(trace_id, span_id=root.span_id, name="root",
                              end_time_ns=root.start_time_ns + 7, outputs={"done": True})
    child = make_span(trace_id, parent_id=root.span_id, name="child",
                      start_time_ns=root.start_time_ns + 1)
    second = make_trace(trace_id=trace_id, state=TraceState.OK, execution_duration=7,
                        spans=[finished_root, child], tags={"b": "2"})
    store.log_traces([second])
    got = store.get_trace(trace_id)
    assert got.info.state == TraceState.OK
    assert got.info.execution_duration == 7
    assert got.info.tags == {"mlflow.traceName": "root", "a": "1", "b": "2"}
    assert got.data.spans == [finished_root, child]


def test_a_batch_with_an_unknown_experiment_writes_nothing(store: SqlStore,
                                                          db: sa.Engine) -> None:
    good = make_trace()
    bad = make_trace(experiment_id="777")
    with pytest.raises(NotFoundError) as info:
        store.log_traces([good, bad])
    assert "Experiment with ID '777' not found" in str(info.value)
    assert bad.info.trace_id in str(info.value)
    assert count_rows(db, traces) == 0
    assert count_rows(db, spans) == 0


def test_a_batch_with_a_bad_span_writes_nothing(store: SqlStore, db: sa.Engine) -> None:
    good = make_trace()
    trace_id = new_trace_id()
    bad = make_trace(trace_id=trace_id, spans=[make_span(trace_id, span_id="not-hex!")])
    with pytest.raises(InvalidParameterError, match="Invalid span_id 'not-hex!'"):
        store.log_traces([good, bad])
    assert count_rows(db, traces) == 0


def test_a_span_of_another_trace_is_rejected(store: SqlStore) -> None:
    trace_id = new_trace_id()
    stray = make_span(new_trace_id())
    with pytest.raises(InvalidParameterError, match=f"logged in trace '{trace_id}'"):
        store.log_traces([make_trace(trace_id=trace_id, spans=[stray])])


@pytest.mark.parametrize(("field", "value", "message"), [
    ("trace_id", "", "Invalid trace_id ''"),
    ("trace_id", "t" * 65, "Invalid trace_id"),
    ("request_time", "yesterday", "Invalid request_time 'yesterday'"),
    ("client_request_id", "c" * 251, "Invalid client_request_id"),
    ("experiment_id", "not-a-number", "Experiment with ID 'not-a-number' not found"),
])
def test_invalid_trace_fields_are_named(store: SqlStore, field: str, value: object,
                                        message: str) -> None:
    trace = make_trace()
    info = dataclasses.replace(trace.info, **{field: value})  # type: ignore[arg-type]  # bad on purpose
    with pytest.raises((InvalidParameterError, NotFoundError), match=message):
        store.log_traces([Trace(info=info, data=trace.data)])


def test_non_string_metadata_is_rejected(store: SqlStore) -> None:
    trace = make_trace(metadata={"count": 3})  # type: ignore[dict-item]  # on purpose
    with pytest.raises(InvalidParameterError, match="Invalid metadata 'count'"):
        store.log_traces([trace])


def test_a_nameless_span_fails_the_batch_naming_it(store: SqlStore, db: sa.Engine) -> None:
    # Checked before the database sees it (it once came back as the database's own refusal).
    trace_id = new_trace_id()
    nameless = make_span(trace_id, name=None)  # type: ignore[arg-type]  # invalid on purpose
    with pytest.raises(InvalidParameterError, match="Invalid name None of span"):
        store.log_traces([make_trace(), make_trace(trace_id=trace_id, spans=[nameless])])
    assert count_rows(db, traces) == 0


def test_logging_an_empty_batch_does_nothing(store: SqlStore, db: sa.Engine) -> None:
    store.log_traces([])
    assert count_rows(db, traces) == 0


def test_batches_from_many_threads_all_land(store: SqlStore) -> None:
    batches = [[make_trace(request_time=BASE_TIME_MS + 10 * t + i) for i in range(10)]
               for t in range(6)]
    threads = [threading.Thread(target=store.log_traces, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = store.search_traces(["0"], max_results=1000)
    assert len(found) == 60
    assert {t.info.trace_id for t in found} == {t.info.trace_id for b in batches for t in b}


def test_overlapping_batches_from_many_threads_do_not_deadlock(store: SqlStore) -> None:
    shared = [make_trace(request_time=BASE_TIME_MS + i) for i in range(40)]
    batches = [shared[i::2] + shared[1 - i::2][::-1] for i in range(2)] * 3
    errors: list[BaseException] = []

    def log(batch: list[Trace]) -> None:
        try:
            store.log_traces(batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=log, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    found = store.search_traces(["0"], max_results=1000)
    assert sorted(t.info.trace_id for t in found) == sorted(t.info.trace_id for t in shared)
    assert all(len(t.data.spans) == 3 for t in found)


# -- columns derived from tags and metadata ----------------------------------------------

def test_reserved_keys_fill_their_columns(store: SqlStore, db: sa.Engine) -> None:
    trace = make_trace(
        name="chat",
        client_request_id="req-1",
        metadata={"mlflow.trace.session": "session-9", "mlflow.trace.user": "alice",
                  "mlflow.sourceRun": "run-3",
                  "mlflow.trace.tokenUsage": json.dumps(
                      {"input_tokens": 11, "output_tokens": 22, "total_tokens": 33})},
    )
    store.log_traces([trace])
    with db.connect() as conn:
        row = conn.execute(sa.select(traces).where(
            traces.c.trace_id == trace.info.trace_id)).one()._mapping
    assert row["name"] == "chat"
    assert row["client_request_id"] == "req-1"
    assert row["session_id"] == "session-9"
    assert row["user_id"] == "alice"
    assert row["run_id"] == "run-3"
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (11, 22, 33)
    assert row["experiment_id"] == 0
    assert row["request_time_ms"] == BASE_TIME_MS
    # The reserved keys stay in the metadata too, exactly as logged.
    assert store.get_trace_info(trace.info.trace_id).trace_metadata == trace.info.trace_metadata


@pytest.mark.parametrize("usage", ["not json", "[1, 2]", '{"input_tokens": "many"}', ""])
def test_unreadable_token_usage_leaves_the_columns_empty(store: SqlStore, db: sa.Engine,
                                                         usage: str) -> None:
    trace = make_trace(metadata={"mlflow.trace.tokenUsage": usage})
    store.log_traces([trace])
    with db.connect() as conn:
        row = conn.execute(sa.select(traces.c.input_tokens, traces.c.total_tokens).where(
            traces.c.trace_id == trace.info.trace_id)).one()
    assert tuple(row) == (None, None)
    assert store.get_trace_info(trace.info.trace_id).trace_metadata == {
        "mlflow.trace.tokenUsage": usage}


# -- search and paging -------------------------------------------------------------------

def test_search_pages_through_250_traces_once_each_in_order(store: SqlStore) -> None:
    # Three traces per millisecond, so the trace id has to break ties.
    logged = [make_trace(request_time=BASE_TIME_MS + i // 3, num_spans=2) for i in range(250)]
    store.log_traces(logged[:100])
    store.log_traces(logged[100:])
    expected = [t.info.trace_id for t in sorted(
        logged, key=lambda t: (-t.info.request_time, t.info.trace_id))]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.search_traces(["0"], max_results=7, page_token=token)
        pages += 1
        assert 0 < len(page) <= 7
        for trace in page:
            assert len(trace.data.spans) == 2
            assert trace.data.spans[0].parent_id is None
        seen.extend(t.info.trace_id for t in page)
        token = page.token
        if token is None:
            break
    assert seen == expected
    assert pages == 36


def test_search_returns_whole_traces(store: SqlStore) -> None:
    trace = make_trace(tags={"k": "v"}, metadata={"m": "n"})
    store.log_traces([trace])
    [found] = store.search_traces(["0"])
    assert_same_trace(found, trace)
    [header_only] = store.search_traces(["0"], include_spans=False)
    assert header_only.info == trace.info
    assert header_only.data.spans == []


def test_search_keeps_to_the_given_experiments(store: SqlStore) -> None:
    other = store.create_experiment("other")
    third = store.create_experiment("third")
    in_default = make_trace(request_time=3)
    in_other = make_trace(experiment_id=other, request_time=2)
    in_third = make_trace(experiment_id=third, request_time=1)
    store.log_traces([in_default, in_other, in_third])
    assert [t.info.trace_id for t in store.search_traces([other])] == [in_other.info.trace_id]
    both = store.search_traces([third, "0"])
    assert [t.info.trace_id for t in both] == [in_default.info.trace_id, in_third.info.trace_id]
    assert list(store.search_traces(["424242", "nope"])) == []


def test_search_needs_experiment_ids(store: SqlStore) -> None:
    with pytest.raises(InvalidParameterError, match="experiment_ids"):
        store.search_traces([])
    with pytest.raises(InvalidParameterError, match="experiment_ids"):
        store.search_traces("0")


@pytest.mark.parametrize("token", ["garbage", "eyJ2IjoxfQ==", "e30=", "\u00e9", "a" * 5000])
def test_search_rejects_malformed_tokens(store: SqlStore, token: str) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid page_token"):
        store.search_traces(["0"], page_token=token)


def test_search_rejects_a_token_from_search_experiments(store: SqlStore) -> None:
    store.create_experiment("x")
    token = store.search_experiments(max_results=1).token
    assert token is not None
    with pytest.raises(InvalidParameterError, match="Invalid page_token"):
        store.search_traces(["0"], page_token=token)


class _StatementCounter:
    """Counts the statements sent to the test's database while it is installed: by the
    store, or by the server in front of it (REST). Other engines of the process, such as a
    background thread another test left writing its own file, are not counted."""

    def __init__(self, database_uri: str) -> None:
        self.statements: list[tuple[str, bool]] = []
        self._database = _database_of(sa.make_url(database_uri))

    def __call__(self, conn: sa.Connection, cursor: object, statement: str,
                 parameters: object, context: object, executemany: bool) -> None:
        if _database_of(conn.engine.url) == self._database:
            self.statements.append((statement, executemany))

    def __enter__(self) -> _StatementCounter:
        sa.event.listen(sa.Engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(sa.Engine, "before_cursor_execute", self)


def _database_of(url: sa.URL) -> tuple[str | None, object]:
    # A SQLite file, or a PostgreSQL database and the schema its search path names.
    return url.database, url.query.get("options")


def test_search_cost_in_statements_does_not_grow_with_the_page(store: SqlStore,
                                                                backend: Backend) -> None:
    store.log_traces([make_trace(request_time=i, tags={"i": str(i)}) for i in range(60)])
    store.search_traces(["0"], max_results=2)  # warm up the connection pool
    with _StatementCounter(backend.database_uri) as small:
        store.search_traces(["0"], max_results=2)
    with _StatementCounter(backend.database_uri) as large:
        store.search_traces(["0"], max_results=50)
    assert len(large.statements) == len(small.statements)
    span_queries = [s for s, _ in large.statements if "FROM spans" in s]
    assert len(span_queries) == 1


def test_log_traces_sends_one_statement_per_table(store: SqlStore, backend: Backend) -> None:
    store.log_traces([make_trace()])  # warm up
    with _StatementCounter(backend.database_uri) as small:
        store.log_traces([make_trace(metadata={"m": "1"}) for _ in range(2)])
    with _StatementCounter(backend.database_uri) as large:
        store.log_traces([make_trace(metadata={"m": "1"}) for _ in range(200)])
    assert len(large.statements) == len(small.statements)
    inserts = [s.split("(")[0].strip() for s, many in large.statements if s.startswith("INSERT")]
    assert inserts == ["INSERT INTO traces", "INSERT INTO trace_tags",
                       "INSERT INTO trace_metadata", "INSERT INTO spans"]


def test_injection_attempts_are_stored_as_plain_values(store: SqlStore, db: sa.Engine) -> None:
    trace = make_trace(name=INJECTION, tags={INJECTION: INJECTION},
                       metadata={INJECTION: INJECTION}, client_request_id=INJECTION)
    store.log_traces([trace])
    store.set_trace_tag(trace.info.trace_id, "note", INJECTION)
    info = store.get_trace_info(trace.info.trace_id)
    assert info.tags[INJECTION] == INJECTION
    assert info.tags["note"] == INJECTION
    assert info.trace_metadata == {INJECTION: INJECTION}
    assert info.client_request_id == INJECTION
    with pytest.raises(NotFoundError):
        store.get_trace(INJECTION)
    assert store.delete_traces("0", trace_ids=[INJECTION]) == 0
    assert count_rows(db, traces) == 1


# -- delete ------------------------------------------------------------------------------

def _log_at(store: SqlStore, times: list[int], experiment_id: str = "0") -> list[str]:
    batch = [make_trace(experiment_id=experiment_id, request_time=t, tags={"t": str(t)},
                        metadata={"m": str(t)}) for t in times]
    store.log_traces(batch)
    return [t.info.trace_id for t in batch]


def test_delete_by_timestamp_is_inclusive(store: SqlStore) -> None:
    ids = _log_at(store, [100, 200, 300, 400])
    assert store.delete_traces("0", max_timestamp_millis=200) == 2
    left = [t.info.trace_id for t in store.search_traces(["0"])]
    assert left == [ids[3], ids[2]]


def test_delete_with_max_traces_takes_the_oldest(store: SqlStore) -> None:
    ids = _log_at(store, [400, 100, 300, 200, 500])
    assert store.delete_traces("0", max_timestamp_millis=450, max_traces=2) == 2
    left = {t.info.trace_id for t in store.search_traces(["0"])}
    assert left == {ids[0], ids[2], ids[4]}


def test_delete_by_ids_with_children(store: SqlStore, db: sa.Engine) -> None:
    ids = _log_at(store, [1, 2, 3])
    assert store.delete_traces("0", trace_ids=[ids[0], ids[2], new_trace_id()]) == 2
    for gone in (ids[0], ids[2]):
        with pytest.raises(NotFoundError):
            store.get_trace(gone)
    deleted = [ids[0], ids[2]]
    assert count_rows(db, spans, deleted) == 0
    assert count_rows(db, trace_tags, deleted) == 0
    assert count_rows(db, trace_metadata, deleted) == 0
    assert count_rows(db, spans, [ids[1]]) == 3
    assert store.get_trace(ids[1]).info.tags["t"] == "2"


def test_delete_keeps_to_the_experiment(store: SqlStore) -> None:
    other = store.create_experiment("other")
    [mine] = _log_at(store, [1])
    [theirs] = _log_at(store, [1], experiment_id=other)
    assert store.delete_traces("0", trace_ids=[mine, theirs]) == 1
    assert store.get_trace(theirs).info.experiment_id == other
    assert store.delete_traces(other, max_timestamp_millis=10) == 1
    assert store.delete_traces("12345", max_timestamp_millis=10) == 0
    assert store.delete_traces("nope", max_timestamp_millis=10) == 0


def test_delete_with_nothing_matching_returns_zero(store: SqlStore) -> None:
    _log_at(store, [100])
    assert store.delete_traces("0", max_timestamp_millis=99) == 0
    assert len(store.search_traces(["0"])) == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "Either `max_timestamp_millis` or `trace_ids` must be specified."),
    ({"trace_ids": []}, "Either `max_timestamp_millis` or `trace_ids` must be specified."),
    ({"max_traces": 3}, "Either `max_timestamp_millis` or `trace_ids` must be specified."),
    ({"max_timestamp_millis": 1, "trace_ids": ["tr-1"]}, "Only one of"),
    ({"trace_ids": ["tr-1"], "max_traces": 1}, "`max_traces` can't be specified"),
    ({"max_timestamp_millis": 1, "max_traces": 0}, "must be a positive integer, received 0"),
    ({"max_timestamp_millis": "soon"}, "`max_timestamp_millis` must be an integer"),
    ({"trace_ids": "tr-1"}, "not one string"),
])
def test_delete_argument_rules(store: SqlStore, kwargs: dict[str, object],
                               message: str) -> None:
    _log_at(store, [1])
    with pytest.raises(InvalidParameterError) as info:
        store.delete_traces("0", **kwargs)  # type: ignore[arg-type]  # invalid on purpose
    assert message in str(info.value)
    assert len(store.search_traces(["0"])) == 1

