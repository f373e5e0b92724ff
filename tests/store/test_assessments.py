"""Assessments in the SQL store, on SQLite and PostgreSQL: log, read, override, update, delete."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
    Trace,
)
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.store.sql import SqlStore
from assay.store.sql.schema import assessments
from factories import make_span, make_trace, new_span_id, new_trace_id

HUMAN = AssessmentSource(AssessmentSourceType.HUMAN, "alice")


def logged_trace(store: SqlStore, **kwargs: Any) -> Trace:
    trace = make_trace(**kwargs)
    store.log_traces([trace])
    return trace


def rows(db: sa.Engine, **where: Any) -> list[sa.RowMapping]:
    query = sa.select(assessments).order_by(assessments.c.id)
    for column, value in where.items():
        query = query.where(assessments.c[column] == value)
    with db.connect() as conn:
        return [row._mapping for row in conn.execute(query)]


def feedback(trace_id: str, value: Any = True, **kwargs: Any) -> Feedback:
    return Feedback(name=kwargs.pop("name", "correct"), value=value, trace_id=trace_id,
                    **kwargs)


def same_json(a: Any, b: Any) -> bool:
    """Equal, and of the same JSON types all the way down (True is not 1, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return bool(a == b)


# -- log and read ------------------------------------------------------------------------

def test_logged_feedback_reads_back_with_every_field(store: SqlStore) -> None:
    trace = logged_trace(store)
    span_id = trace.data.spans[1].span_id
    logged = store.log_assessment(Feedback(
        name="user_feedback", value=False, trace_id=trace.info.trace_id, span_id=span_id,
        source=HUMAN, rationale="Missing details", metadata={"app": "chat", "n": 3},
        create_time_ms=1_700_000_000_000))
    assert logged.assessment_id is not None
    assert logged.assessment_id.startswith("a-") and len(logged.assessment_id) == 34
    assert logged.valid is True and logged.overrides is None
    assert logged.metadata == {"app": "chat", "n": "3"}
    assert logged.create_time_ms == logged.last_update_time_ms == 1_700_000_000_000
    assert store.get_assessment(trace.info.trace_id, logged.assessment_id) == logged
    got = store.get_trace(trace.info.trace_id)
    assert got.info.assessments == [logged]
    assert got.data.assessments == [logged]
    assert store.get_trace_info(trace.info.trace_id).assessments == [logged]
    assert Assessment.from_dictionary(logged.to_dictionary()) == logged


def test_expectation_with_a_structured_value(store: SqlStore) -> None:
    trace = logged_trace(store)
    value = {"facts": ["Projects", "Model Registry"], "score": 4, "exact": 0.5, "ok": None}
    logged = store.log_assessment(Expectation("expected_facts", value,
                                              trace_id=trace.info.trace_id))
    got = store.get_assessment(trace.info.trace_id, str(logged.assessment_id))
    assert isinstance(got, Expectation)
    assert same_json(got.value, value)
    assert got.source == AssessmentSource(AssessmentSourceType.HUMAN, "default")
    assert got.to_dictionary()["expectation"]["serialized_value"]["value"] == json.dumps(
        value, separators=(",", ":"))


def test_feedback_with_an_error_instead_of_a_value(store: SqlStore) -> None:
    trace = logged_trace(store)
    try:
        raise TimeoutError("judge timed out")
    except TimeoutError as exc:
        logged = store.log_assessment(Feedback(name="judge", error=exc,
                                               trace_id=trace.info.trace_id))
    got = store.get_assessment(trace.info.trace_id, str(logged.assessment_id))
    assert isinstance(got, Feedback)
    assert got.value is None
    assert got.error_code == "TimeoutError"
    assert got.error_message == "judge timed out"
    assert got.error is not None and "raise TimeoutError" in str(got.error.stack_trace)
    plain = store.log_assessment(Feedback(name="judge2", trace_id=trace.info.trace_id,
                                          error=AssessmentError("RATE_LIMIT", "slow down")))
    assert store.get_assessment(trace.info.trace_id, str(plain.assessment_id)).error == \
        AssessmentError("RATE_LIMIT", "slow down")


def test_values_keep_their_type_and_get_a_numeric_projection(store: SqlStore,
                                                            db: sa.Engine) -> None:
    trace_id = logged_trace(store).info.trace_id
    cases: list[tuple[Any, float | None]] = [
        (True, 1.0), (False, 0.0), (4, 4.0), (-7, -7.0), (0.25, 0.25), (10**30, 1e30),
        (10**400, None), ("good", None), (["a", 1], None), ({"k": 1}, None), (None, None),
    ]
    for i, (value, _) in enumerate(cases):
        store.log_assessment(feedback(trace_id, value, name=f"v{i}"))
    got = {a.name: a.value for a in store.get_trace(trace_id).info.assessments}
    stored = {row["name"]: row for row in rows(db, trace_id=trace_id)}
    for i, (value, number) in enumerate(cases):
        assert same_json(got[f"v{i}"], value), (value, got[f"v{i}"])
        assert stored[f"v{i}"]["numeric_value"] == number
        assert stored[f"v{i}"]["kind"] == "feedback"
        assert stored[f"v{i}"]["experiment_id"] == 0
    assert stored["v0"]["value"] == "true"
    assert stored["v10"]["value"] is None


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON_VALUES)
def test_any_allowed_value_round_trips_unchanged(store: SqlStore, value: Any) -> None:
    trace_id = new_trace_id()
    store.log_traces([make_trace(trace_id=trace_id, num_spans=1)])
    logged = store.log_assessment(feedback(trace_id, value))
    got = store.get_trace(trace_id).info.assessments[0].value
    assert same_json(got, value)
    assert same_json(logged.value, value)
    if value is not None:
        expected = store.log_assessment(Expectation("exp", value, trace_id=trace_id))
        assert same_json(store.get_assessment(trace_id, str(expected.assessment_id)).value,
                         value)


def test_unicode_in_every_text_field(store: SqlStore) -> None:
    trace_id = logged_trace(store).info.trace_id
    text = "😀 中文 مرحبا e\u0301"
    logged = store.log_assessment(Feedback(
        name=f"nom {text}", value={text: [text]}, trace_id=trace_id, rationale=text,
        metadata={text: text}, source=AssessmentSource("HUMAN", text)))
    assert store.get_trace(trace_id).info.assessments == [logged]


# -- bad input ---------------------------------------------------------------------------

def test_unknown_trace_is_not_found_and_named(store: SqlStore) -> None:
    trace_id = new_trace_id()
    with pytest.raises(NotFoundError, match=f"Trace with ID '{trace_id}' not found"):
        store.log_assessment(feedback(trace_id))
    with pytest.raises(NotFoundError, match=trace_id):
        store.get_assessment(trace_id, "a-" + "0" * 32)
    with pytest.raises(NotFoundError, match=trace_id):
        store.update_assessment(trace_id, "a-" + "0" * 32, feedback(trace_id))
    with pytest.raises(NotFoundError, match=trace_id):
        store.delete_assessment(trace_id, "a-" + "0" * 32)


def test_unknown_assessment_is_not_found_and_named(store: SqlStore) -> None:
    trace_id = logged_trace(store).info.trace_id
    missing = "a-" + "f" * 32
    message = f"Assessment with ID '{missing}' not found for trace '{trace_id}'"
    with pytest.raises(NotFoundError, match=message):
        store.get_assessment(trace_id, missing)
    with pytest.raises(NotFoundError, match=message):
        store.update_assessment(trace_id, missing, feedback(trace_id))
    with pytest.raises(NotFoundError, match=message):
        store.log_assessment(feedback(trace_id, overrides=missing))
    # An assessment of another trace is not found through this one.
    other = logged_trace(store).info.trace_id
    theirs = store.log_assessment(feedback(other))
    with pytest.raises(NotFoundError, match=str(theirs.assessment_id)):
        store.get_assessment(trace_id, str(theirs.assessment_id))


def test_a_span_of_another_trace_is_refused_and_nothing_is_written(store: SqlStore,
                                                                  db: sa.Engine) -> None:
    trace_id = logged_trace(store).info.trace_id
    span_id = new_span_id()
    with pytest.raises(InvalidParameterError, match=f"span_id '{span_id}'.*no span"):
        store.log_assessment(feedback(trace_id, span_id=span_id))
    assert rows(db) == []


# -- overrides ---------------------------------------------------------------------------

def test_an_override_chain_keeps_only_the_newest_valid(store: SqlStore) -> None:
    trace_id = logged_trace(store).info.trace_id
    a = store.log_assessment(feedback(trace_id, False, source=HUMAN))
    b = store.log_assessment(feedback(trace_id, True, overrides=a.assessment_id))
    c = store.log_assessment(feedback(trace_id, 0.5, overrides=b.assessment_id))
    trace = store.get_trace(trace_id)
    assert [(x.assessment_id, x.valid, x.overrides) for x in trace.info.assessments] == [
        (a.assessment_id, False, None),
        (b.assessment_id, False, a.assessment_id),
        (c.assessment_id, True, b.assessment_id),
    ]
    assert trace.search_assessments("correct") == [trace.info.assessments[2]]
    assert len(trace.search_assessments("correct", all=True)) == 3


def test_overriding_an_overridden_assessment_supersedes_the_newest(store: SqlStore) -> None:
    trace_id = logged_trace(store).info.trace_id
    a = store.log_assessment(feedback(trace_id, 1))
    b = store.log_assessment(feedback(trace_id, 2, overrides=a.assessment_id))
    c = store.log_assessment(feedback(trace_id, 3, overrides=a.assessment_id))
    assert c.overrides == b.assessment_id
    assert [x.valid for x in store.get_trace(trace_id).info.assessments] == [False, False, True]


def test_concurrent_overrides_of_one_feedback_form_one_chain(store: SqlStore) -> None:
    trace_id = logged_trace(store).info.trace_id
    first = store.log_assessment(feedback(trace_id, 0))
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def override(i: int) -> None:
        start.wait()
        try:
            store.log_assessment(feedback(trace_id, i, overrides=first.assessment_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=override, args=(i,)) for i in range(1, 13)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    found = store.get_trace(trace_id).info.assessments
    assert len(found) == 13
    assert sum(a.valid for a in found) == 1
    # One linear chain: every assessment is overridden by at most one other.
    overridden = [a.overrides for a in found if a.overrides is not None]
    assert len(overridden) == len(set(overridden)) == 12


def test_an_override_must_be_of_the_same_kind(store: SqlStore, db: sa.Engine) -> None:
    trace_id = logged_trace(store).info.trace_id
    expected = store.log_assessment(Expectation("answer", "Paris", trace_id=trace_id))
    with pytest.raises(InvalidParameterError, match="expectation, not a feedback"):
        store.log_assessment(feedback(trace_id, overrides=expected.assessment_id))
    assert [row["valid"] for row in rows(db)] == [True]


# -- delete ------------------------------------------------------------------------------

def test_deleting_the_newest_override_restores_the_one_before(store: SqlStore) -> None:
    trace_id = logged_trace(store).info.trace_id
    a = store.log_assessment(feedback(trace_id, 1))
    b = store.log_assessment(feedback(trace_id, 2, overrides=a.assessment_id))
    c = store.log_assessment(feedback(trace_id, 3, overrides=b.assessment_id))
    store.delete_assessment(trace_id, str(c.assessment_id))
    assert [(x.value, x.valid) for x in store.get_trace(trace_id).info.assessments] == [
        (1, False), (2, True)]
    store.delete_assessment(trace_id, str(b.assessment_id))
    assert [(x.value, x.valid) for x in store.get_trace(trace_id).info.assessments] == [
        (1, True)]


def test_deleting_the_middle_of_a_chain_splices_it(store: SqlStore) -> None:
    trace_id = logged_trace(store).info.trace_id
    a = store.log_assessment(feedback(trace_id, 1))
    b = store.log_assessment(feedback(trace_id, 2, overrides=a.assessment_id))
    c = store.log_assessment(feedback(trace_id, 3, overrides=b.assessment_id))
    store.delete_assessment(trace_id, str(b.assessment_id))
    got = store.get_trace(trace_id).info.assessments
    assert [(x.assessment_id, x.valid, x.overrides) for x in got] == [
        (a.assessment_id, False, None), (c.assessment_id, True, a.assessment_id)]


def test_delete_is_idempotent(store: SqlStore, db: sa.Engine) -> None:
    trace_id = logged_trace(store).info.trace_id
    logged = store.log_assessment(feedback(trace_id))
    store.delete_assessment(trace_id, str(logged.assessment_id))
    store.delete_assessment(trace_id, str(logged.assessment_id))
    store.delete_assessment(trace_id, "a-" + "0" * 32)
    assert rows(db) == []


def test_deleting_a_trace_deletes_its_assessments(store: SqlStore, db: sa.Engine) -> None:
    trace = logged_trace(store)
    store.log_assessment(feedback(trace.info.trace_id))
    assert store.delete_traces("0", trace_ids=[trace.info.trace_id]) == 1
    assert rows(db) == []


# -- update ------------------------------------------------------------------------------

def test_update_is_in_place_and_merges_metadata(store: SqlStore) -> None:
    trace = logged_trace(store)
    trace_id = trace.info.trace_id
    span_id = trace.data.spans[0].span_id
    old = store.log_assessment(Feedback(
        name="quality", value=2, trace_id=trace_id, span_id=span_id, source=HUMAN,
        rationale="meh", metadata={"a": "1", "b": "1"}, create_time_ms=1_000))
    new = store.update_assessment(trace_id, str(old.assessment_id), Feedback(
        name="quality_v2", value=5, metadata={"b": "2", "c": "3"},
        source=AssessmentSource("CODE", "someone else"), span_id=new_span_id()))
    assert new == store.get_assessment(trace_id, str(old.assessment_id))
    assert new.name == "quality_v2" and new.value == 5
    assert new.rationale == "meh"  # None keeps the rationale
    assert new.metadata == {"a": "1", "b": "2", "c": "3"}
    assert new.source == HUMAN and new.span_id == span_id  # immutable
    assert new.create_time_ms == 1_000 < new.last_update_time_ms
    assert new.assessment_id == old.assessment_id and new.valid
    again = store.update_assessment(trace_id, str(old.assessment_id),
                                    Feedback(name="quality_v2", value=1, rationale="better"))
    assert again.rationale == "better" and again.value == 1
    assert len(store.get_trace(trace_id).info.assessments) == 1


def test_update_refuses_the_other_kind(store: SqlStore) -> None:
    trace_id = logged_trace(store).info.trace_id
    fb = store.log_assessment(feedback(trace_id))
    ex = store.log_assessment(Expectation("answer", "Paris", trace_id=trace_id))
    with pytest.raises(InvalidParameterError,
                       match="Cannot update expectation value on a Feedback assessment"):
        store.update_assessment(trace_id, str(fb.assessment_id), Expectation("x", "y"))
    with pytest.raises(InvalidParameterError,
                       match=r"Cannot update feedback value on an? Expectation assessment"):
        store.update_assessment(trace_id, str(ex.assessment_id), Feedback(value=True))
    assert [a.value for a in store.get_trace(trace_id).info.assessments] == [True, "Paris"]


# -- idempotency -------------------------------------------------------------------------

def test_an_idempotency_key_stores_one_assessment(store: SqlStore, db: sa.Engine) -> None:
    trace_id = logged_trace(store).info.trace_id
    first = store.log_assessment(feedback(trace_id, True, idempotency_key="vote-1"))
    retry = store.log_assessment(feedback(trace_id, False, idempotency_key="vote-1"))
    assert retry == first
    assert [row["value"] for row in rows(db)] == ["true"]
    other_trace = logged_trace(store).info.trace_id
    with pytest.raises(AlreadyExistsError, match="vote-1"):
        store.log_assessment(feedback(other_trace, idempotency_key="vote-1"))
    assert len(rows(db)) == 1


def test_concurrent_retries_with_one_key_store_one(store: SqlStore, db: sa.Engine) -> None:
    trace_id = logged_trace(store).info.trace_id
    results: list[Assessment] = []
    start = threading.Barrier(8)

    def log() -> None:
        start.wait()
        results.append(store.log_assessment(feedback(trace_id, idempotency_key="k")))

    threads = [threading.Thread(target=log) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len({a.assessment_id for a in results}) == 1
    assert len(rows(db)) == 1


# -- sessions ----------------------------------------------------------------------------

def test_session_assessments_show_with_every_trace_of_the_session(store: SqlStore) -> None:
    session = {"mlflow.trace.session": "conv-1"}
    first = logged_trace(store, metadata=session, request_time=1_000)
    second = logged_trace(store, metadata=session, request_time=2_000)
    outsider = logged_trace(store, metadata={"mlflow.trace.session": "conv-2"})
    other_experiment = store.create_experiment("elsewhere")
    same_id_elsewhere = logged_trace(store, metadata=session, experiment_id=other_experiment)
    rating = store.log_assessment(Feedback(name="conversation", value=4, metadata=session,
                                           trace_id=first.info.trace_id))
    own = store.log_assessment(feedback(second.info.trace_id))
    assert rating.session_id == "conv-1"
    assert store.get_trace(first.info.trace_id).info.assessments == [rating]
    assert store.get_trace(second.info.trace_id).info.assessments == [rating, own]
    assert store.get_trace(outsider.info.trace_id).info.assessments == []
    assert store.get_trace(same_id_elsewhere.info.trace_id).info.assessments == []
    page = store.search_traces(["0"])
    by_id = {t.info.trace_id: t.info.assessments for t in page}
    assert by_id[second.info.trace_id] == [rating, own]
    # Found, updated and deleted through any trace of the session.
    assert store.get_assessment(second.info.trace_id, str(rating.assessment_id)) == rating
    store.delete_assessment(second.info.trace_id, str(rating.assessment_id))
    assert store.get_trace(first.info.trace_id).info.assessments == []


def test_a_session_assessment_must_be_on_a_trace_of_that_session(store: SqlStore) -> None:
    trace_id = logged_trace(store, metadata={"mlflow.trace.session": "conv-1"}).info.trace_id
    with pytest.raises(InvalidParameterError, match="not part of that session"):
        store.log_assessment(Feedback(name="x", value=1, trace_id=trace_id,
                                      metadata={"mlflow.trace.session": "conv-9"}))


def test_search_sessions_newest_first_turns_in_order(store: SqlStore) -> None:
    def turn(session: str, at: int) -> Trace:
        return logged_trace(store, metadata={"mlflow.trace.session": session},
                            request_time=at)

    a1, b1, a2, c1 = turn("a", 1_000), turn("b", 2_000), turn("a", 3_000), turn("c", 500)
    logged_trace(store)  # no session
    sessions = store.search_sessions(["0"])
    assert [s.id for s in sessions] == ["a", "b", "c"]
    assert [t.info.trace_id for t in sessions[0]] == [a1.info.trace_id, a2.info.trace_id]
    assert len(sessions[0]) == 2 and sessions[1][0].info.trace_id == b1.info.trace_id
    assert sessions[2].traces[0].info.trace_id == c1.info.trace_id
    first = store.search_sessions(["0"], max_results=2)
    assert [s.id for s in first] == ["a", "b"] and first.token is not None
    rest = store.search_sessions(["0"], max_results=2, page_token=first.token)
    assert [s.id for s in rest] == ["c"] and rest.token is None
    no_spans = store.search_sessions(["0"], include_spans=False)
    assert no_spans[0][0].data.spans == []


# -- traces that carry their assessments -------------------------------------------------

def test_assessments_inside_a_logged_trace_are_stored_once(store: SqlStore,
                                                           db: sa.Engine) -> None:
    trace_id = new_trace_id()
    root = make_span(trace_id)
    kept = Feedback(name="inline", value=3, trace_id=trace_id, span_id=root.span_id,
                    assessment_id="a-" + "1" * 32)
    trace = make_trace(trace_id=trace_id, spans=[root])
    trace.info.assessments.append(kept)
    store.log_traces([trace])
    store.log_traces([trace])
    assert store.get_trace(trace_id).info.assessments == [kept]
    assert len(rows(db)) == 1


def test_a_trace_with_a_bad_assessment_is_not_written(store: SqlStore, db: sa.Engine) -> None:
    trace_id = new_trace_id()
    trace = make_trace(trace_id=trace_id)
    trace.info.assessments.append(Feedback(name="x", value=1, trace_id=trace_id,
                                           span_id=new_span_id()))
    with pytest.raises(InvalidParameterError, match="no span"):
        store.log_traces([trace])
    with pytest.raises(NotFoundError):
        store.get_trace(trace_id)


def test_a_page_of_traces_loads_assessments_in_a_fixed_number_of_queries(
        store: SqlStore) -> None:
    def statements_for_page(n: int) -> int:
        experiment_id = store.create_experiment(f"page-{n}")
        for i in range(n):
            trace = logged_trace(store, experiment_id=experiment_id,
                                 metadata={"mlflow.trace.session": f"s{n}-{i % 3}"})
            store.log_assessment(feedback(trace.info.trace_id))
        count = 0

        def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            nonlocal count
            # Over REST the server runs in this process, and its minutely sweep of pending
            # feedback may run meanwhile: not the page's statements.
            if "pending_assessments" not in statement:
                count += 1

        sa.event.listen(sa.Engine, "before_cursor_execute", on_execute)
        try:
            page = store.search_traces([experiment_id], max_results=100)
        finally:
            sa.event.remove(sa.Engine, "before_cursor_execute", on_execute)
        assert all(len(t.info.assessments) >= 1 for t in page) and len(page) == n
        return count

    assert statements_for_page(3) == statements_for_page(30)


def test_numeric_projection_ignores_non_finite_ints() -> None:
    from assay.entities.assessment import numeric_value

    assert numeric_value(10**400) is None
    assert numeric_value(True) == 1.0
    assert math.isclose(numeric_value(2**70) or 0, 2.0**70)


def test_a_database_of_the_first_schema_is_upgraded_with_its_traces(
        empty_database_uri: str) -> None:
    from alembic import command
    from alembic.config import Config

    import assay.store.sql.migrations as migrations_package
    from assay.store.sql.engine import create_engine
    from assay.store.sql.schema import traces

    engine, _ = create_engine(empty_database_uri)
    trace_id = new_trace_id()
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location",
                                   str(Path(migrations_package.__file__).parent))
            config.set_main_option("path_separator", "os")
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            assert not sa.inspect(conn).has_table("assessments")
            conn.execute(traces.insert().values(
                trace_id=trace_id, experiment_id=0, request_time_ms=1, state="OK"))
    finally:
        engine.dispose()
    store = SqlStore(empty_database_uri)  # upgrades to the head revision
    try:
        logged = store.log_assessment(feedback(trace_id))
        assert store.get_trace(trace_id).info.assessments == [logged]
    finally:
        store.close()
