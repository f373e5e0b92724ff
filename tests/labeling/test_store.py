"""Label schemas, runs and labeling sessions through the Store, on SQLite, PostgreSQL and an
Assay server over HTTP: the same results and the same errors on all three."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from assay.entities import Expectation, Feedback, Trace
from assay.entities.label_schema import (
    InputCategorical,
    InputNumeric,
    InputPassFail,
    InputText,
    LabelSchema,
    LabelSchemaType,
)
from assay.entities.labeling import LabelingSessionInfo
from assay.entities.run import RunKind, new_run_id
from assay.errors import (
    AlreadyExistsError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
)
from assay.store.base import Store
from assay.store.uri import open_store
from conftest import Backend
from factories import make_trace

ACCURACY = "response_accuracy"
EXPECTED = "expected_response"


def schema(name: str = ACCURACY, **overrides: Any) -> LabelSchema:
    fields: dict[str, Any] = dict(
        name=name, type=LabelSchemaType.FEEDBACK, experiment_id="0",
        input=InputCategorical(["Accurate", "Partially Accurate", "Inaccurate"]),
        title="Is the response factually accurate?")
    fields.update(overrides)
    return LabelSchema(**fields)


def logged_traces(store: Store, n: int, experiment_id: str = "0") -> list[Trace]:
    traces = [make_trace(experiment_id=experiment_id, request_time=1_735_689_600_000 + i)
              for i in range(n)]
    store.log_traces(traces)
    return traces


def new_session(store: Store, *, users: tuple[str, ...] = ("ana", "ben", "cy"),
                per_item: int = 1, schemas: tuple[str, ...] = (ACCURACY, EXPECTED),
                experiment_id: str = "0") -> LabelingSessionInfo:
    store.create_label_schema(schema(experiment_id=experiment_id), overwrite=True)
    store.create_label_schema(
        schema(EXPECTED, type=LabelSchemaType.EXPECTATION, input=InputText(max_length=500),
               title="What would be the ideal response?", experiment_id=experiment_id),
        overwrite=True)
    return store.create_labeling_session(LabelingSessionInfo(
        run_id=new_run_id(), experiment_id=experiment_id, name="quickstart_review",
        label_schemas=schemas, assigned_users=users, reviewers_per_item=per_item))


# -- label schemas ---------------------------------------------------------------------------

def test_a_label_schema_is_stored_found_by_id_and_name_and_listed(store: Store) -> None:
    created = store.create_label_schema(schema(), overwrite=False)
    assert created.schema_id.startswith("ls-") and created.created_at > 0
    assert created.experiment_id == "0" and created.input == schema().input
    assert store.get_label_schema(schema_id=created.schema_id) == created
    assert store.get_label_schema(experiment_id="0", name=ACCURACY) == created
    assert [s.name for s in store.list_label_schemas("0")] == [ACCURACY]


def test_an_existing_name_is_refused_unless_overwritten(store: Store) -> None:
    first = store.create_label_schema(schema(), overwrite=False)
    with pytest.raises(AlreadyExistsError, match=f"{ACCURACY!r} already exists"):
        store.create_label_schema(schema(), overwrite=False)
    replaced = store.create_label_schema(schema(input=InputPassFail()), overwrite=True)
    assert replaced.schema_id == first.schema_id
    assert replaced.input == InputPassFail()


def test_label_schemas_page(store: Store) -> None:
    for i in range(5):
        store.create_label_schema(schema(f"q{i}", input=InputText()), overwrite=False)
    first = store.list_label_schemas("0", max_results=2)
    assert [s.name for s in first] == ["q0", "q1"] and first.token
    rest = store.list_label_schemas("0", max_results=10, page_token=first.token)
    assert [s.name for s in rest] == ["q2", "q3", "q4"] and rest.token is None


def test_update_changes_options_and_without_answers_the_kind(store: Store) -> None:
    created = store.create_label_schema(schema(), overwrite=False)
    updated = store.update_label_schema(
        created.schema_id, input=InputCategorical(["Accurate", "Inaccurate"]),
        instruction="Check the facts")
    assert updated.instruction == "Check the facts"
    assert updated.input == InputCategorical(["Accurate", "Inaccurate"])
    # No answer yet: another kind of input is fine (tests/labeling/test_schema_edits.py
    # covers the edits that answers refuse).
    numeric = store.update_label_schema(created.schema_id, input=InputNumeric(1, 5))
    assert numeric.input == InputNumeric(1, 5)


def test_deleting_a_label_schema(store: Store) -> None:
    created = store.create_label_schema(schema(), overwrite=False)
    store.delete_label_schema(created.schema_id)
    with pytest.raises(NotFoundError, match=created.schema_id):
        store.get_label_schema(schema_id=created.schema_id)
    with pytest.raises(NotFoundError, match=f"{ACCURACY!r} not found in experiment '0'"):
        store.get_label_schema(experiment_id="0", name=ACCURACY)


def test_a_label_schema_in_a_missing_experiment_is_refused(store: Store) -> None:
    with pytest.raises(NotFoundError, match="'4242'"):
        store.create_label_schema(schema(experiment_id="4242"), overwrite=False)


# -- sessions --------------------------------------------------------------------------------

def test_a_session_is_a_labeling_run_with_its_settings(store: Store) -> None:
    info = new_session(store, per_item=2)
    assert store.get_labeling_session(info.run_id) == info
    assert info.assigned_users == ("ana", "ben", "cy") and info.reviewers_per_item == 2
    run = store.get_run(info.run_id)
    assert run.info.kind is RunKind.LABELING and run.info.run_name == "quickstart_review"
    assert [s.run_id for s in store.list_labeling_sessions(["0"])] == [info.run_id]


def test_a_reviewer_lists_only_the_sessions_open_to_them(store: Store) -> None:
    mine = new_session(store, users=("ana",))
    open_to_all = new_session(store, users=())
    new_session(store, users=("ben",))
    listed = {s.run_id for s in store.list_labeling_sessions(["0"], reviewer="ana")}
    assert listed == {mine.run_id, open_to_all.run_id}


@pytest.mark.parametrize(("change", "message"), [
    ({"label_schemas": ("nope",)}, "no label schema 'nope' in experiment '0'"),
    ({"reviewers_per_item": 3, "assigned_users": ("ana", "ben")},
     "only 2 reviewer\\(s\\) are assigned"),
    ({"reviewers_per_item": 0}, "reviewers_per_item 0"),
    ({"reviewers_per_item": 2**62, "assigned_users": ()}, "from 1 to 1,000"),
    ({"name": "a\x00b"}, "run_name: it contains a NUL"),
    ({"label_schemas": ("x" * 251,)}, "label_schemas item"),
])
def test_a_bad_session_is_refused_and_nothing_is_written(store: Store, change: dict[str, Any],
                                                         message: str) -> None:
    store.create_label_schema(schema(), overwrite=False)
    fields: dict[str, Any] = dict(run_id=new_run_id(), experiment_id="0", name="s",
                                  label_schemas=(ACCURACY,), assigned_users=("ana", "ben"))
    fields.update(change)
    with pytest.raises(InvalidParameterError, match=message):
        store.create_labeling_session(LabelingSessionInfo(**fields))
    assert store.list_labeling_sessions(["0"]) == []


def test_items_are_added_once_and_found_by_the_sessions_run(store: Store) -> None:
    info = new_session(store)
    traces = logged_traces(store, 3)
    ids = [t.info.trace_id for t in traces]
    assert store.add_labeling_items(info.run_id, ids[:2]) == ids[:2]
    assert store.add_labeling_items(info.run_id, ids) == ids[2:]
    found = store.search_traces(["0"], run_id=info.run_id, include_spans=False)
    assert {t.info.trace_id for t in found} == set(ids)
    assert store.remove_labeling_items(info.run_id, [ids[0], ids[0]]) == [ids[0]]
    found = store.search_traces(["0"], run_id=info.run_id, include_spans=False)
    assert {t.info.trace_id for t in found} == set(ids[1:])


def test_a_trace_of_another_experiment_is_refused_and_nothing_is_added(store: Store) -> None:
    info = new_session(store)
    other = store.create_experiment("other")
    here, there = logged_traces(store, 1)[0], logged_traces(store, 1, other)[0]
    with pytest.raises(InvalidParameterError, match=f"it is in experiment '{other}'"):
        store.add_labeling_items(info.run_id, [here.info.trace_id, there.info.trace_id])
    assert store.get_labeling_progress(info.run_id).items == 0
    with pytest.raises(NotFoundError, match="tr-"):
        store.add_labeling_items(info.run_id, ["tr-" + "a" * 32])


# -- reviewing -------------------------------------------------------------------------------

def test_items_go_to_as_many_reviewers_as_each_needs_oldest_first(store: Store) -> None:
    info = new_session(store, per_item=2)
    a, b, c = (t.info.trace_id for t in logged_traces(store, 3))
    store.add_labeling_items(info.run_id, [a, b, c])
    assert store.next_labeling_item(info.run_id, "ana") == a
    assert store.next_labeling_item(info.run_id, "ana") == a  # she still holds it
    assert store.next_labeling_item(info.run_id, "ben") == a  # the second slot
    assert store.next_labeling_item(info.run_id, "cy") == b  # a's two slots are taken
    store.submit_labeling_answers(info.run_id, a, "ana", {ACCURACY: "Accurate"}, None)
    assert store.next_labeling_item(info.run_id, "ana") == b
    store.skip_labeling_item(info.run_id, b, "ana")
    assert store.next_labeling_item(info.run_id, "ana") == c
    progress = store.get_labeling_progress(info.run_id)
    assert (progress.items, progress.done_items, progress.completed_reviews) == (3, 0, 1)
    assert progress.reviewers["ana"].completed == 1
    assert progress.reviewers["ana"].skipped == 1
    assert progress.reviewers["ana"].in_progress == 1
    assert progress.reviewers["ben"].in_progress == 1


@pytest.mark.parametrize("per_item", [2, 3, 12])
def test_the_oldest_open_item_comes_first_whatever_its_reviews(store: Store,
                                                               per_item: int) -> None:
    # Items with more completed reviews are found in other index ranges than fresh ones
    # (up to 10 reviewers per item; past that, in one), and the oldest still wins.
    info = new_session(store, users=(), per_item=per_item)
    a, b = (t.info.trace_id for t in logged_traces(store, 2))
    store.add_labeling_items(info.run_id, [a, b])
    assert store.next_labeling_item(info.run_id, "u0") == a
    store.submit_labeling_answers(info.run_id, a, "u0", {ACCURACY: "Accurate"}, None)
    assert store.next_labeling_item(info.run_id, "u1") == a  # 1 done, a slot left
    assert store.next_labeling_item(info.run_id, "u0") == b  # a is done by u0
    assert store.next_labeling_item(info.run_id, "u2") == (a if per_item > 2 else b)


def test_nothing_left_for_a_reviewer_is_none(store: Store) -> None:
    info = new_session(store)
    (only,) = (t.info.trace_id for t in logged_traces(store, 1))
    store.add_labeling_items(info.run_id, [only])
    assert store.next_labeling_item(info.run_id, "ana") == only
    assert store.next_labeling_item(info.run_id, "ben") is None  # one reviewer per item
    store.submit_labeling_answers(info.run_id, only, "ana", {ACCURACY: "Inaccurate"}, None)
    assert store.next_labeling_item(info.run_id, "ana") is None
    progress = store.get_labeling_progress(info.run_id)
    assert progress.done_items == 1 and progress.fraction_done == 1.0


def test_answers_are_human_assessments_linked_to_the_sessions_run(store: Store) -> None:
    info = new_session(store)
    trace = logged_traces(store, 1)[0]
    trace_id = trace.info.trace_id
    store.add_labeling_items(info.run_id, [trace_id])
    written = store.submit_labeling_answers(
        info.run_id, trace_id, "ana",
        {ACCURACY: "Partially Accurate", EXPECTED: "Paris is the capital."}, "close enough")
    assert [type(a) for a in written] == [Feedback, Expectation]
    stored = store.get_trace(trace_id, include_spans=False).info.assessments
    by_name = {a.name: a for a in stored}
    assert by_name[ACCURACY].value == "Partially Accurate"
    assert by_name[EXPECTED].value == "Paris is the capital."
    for answer in by_name.values():
        assert answer.source.source_type == "HUMAN" and answer.source.source_id == "ana"
        assert answer.run_id == info.run_id and answer.rationale == "close enough"
    assert store.get_labeling_answers(info.run_id) == {
        ACCURACY: {trace_id: {"ana": "Partially Accurate"}},
        EXPECTED: {trace_id: {"ana": "Paris is the capital."}}}


def test_answering_again_overrides_and_keeps_the_history(store: Store) -> None:
    info = new_session(store, per_item=1)
    trace_id = logged_traces(store, 1)[0].info.trace_id
    store.add_labeling_items(info.run_id, [trace_id])
    (first,) = store.submit_labeling_answers(info.run_id, trace_id, "ana",
                                             {ACCURACY: "Accurate"}, None)
    (second,) = store.submit_labeling_answers(info.run_id, trace_id, "ana",
                                              {ACCURACY: "Inaccurate"}, None)
    assert second.overrides == first.assessment_id
    history = [a for a in store.get_trace(trace_id, include_spans=False).info.assessments
               if a.name == ACCURACY]
    assert [(a.value, a.valid) for a in history] == [("Accurate", False), ("Inaccurate", True)]
    assert store.get_labeling_progress(info.run_id).completed_reviews == 1


@pytest.mark.parametrize(("answers", "error", "message"), [
    ({ACCURACY: "Great"}, InvalidParameterError,
     f"label schema {ACCURACY!r}: it accepts one of 'Accurate'"),
    ({ACCURACY: "Accurate", EXPECTED: "x" * 501}, InvalidParameterError,
     f"label schema {EXPECTED!r}: it accepts text of at most 500 characters"),
    ({"tone": "fine"}, InvalidParameterError, "'tone' is not a question of session"),
    ({}, InvalidParameterError, "at least one answer"),
])
def test_a_bad_answer_is_refused_naming_it_and_nothing_is_written(
        store: Store, answers: dict[str, Any], error: type[Exception], message: str) -> None:
    info = new_session(store)
    trace_id = logged_traces(store, 1)[0].info.trace_id
    store.add_labeling_items(info.run_id, [trace_id])
    with pytest.raises(error, match=message):
        store.submit_labeling_answers(info.run_id, trace_id, "ana", answers, None)
    assert store.get_trace(trace_id, include_spans=False).info.assessments == []
    assert store.get_labeling_progress(info.run_id).completed_reviews == 0


def test_a_reviewer_not_assigned_is_refused(store: Store) -> None:
    info = new_session(store, users=("ana",))
    trace_id = logged_traces(store, 1)[0].info.trace_id
    store.add_labeling_items(info.run_id, [trace_id])
    with pytest.raises(PermissionDeniedError, match="'eve' is not assigned"):
        store.next_labeling_item(info.run_id, "eve")
    with pytest.raises(PermissionDeniedError, match="'eve' is not assigned"):
        store.submit_labeling_answers(info.run_id, trace_id, "eve", {ACCURACY: "Accurate"},
                                      None)
    store.set_labeling_reviewers(info.run_id, ["ana", "eve"])
    assert store.next_labeling_item(info.run_id, "eve") == trace_id


def test_an_item_not_in_the_session_and_a_deleted_session_are_named(store: Store) -> None:
    info = new_session(store)
    trace_id = logged_traces(store, 1)[0].info.trace_id
    with pytest.raises(NotFoundError, match="not an item of labeling session"):
        store.submit_labeling_answers(info.run_id, trace_id, "ana", {ACCURACY: "Accurate"},
                                      None)
    store.add_labeling_items(info.run_id, [trace_id])
    store.submit_labeling_answers(info.run_id, trace_id, "ana", {ACCURACY: "Accurate"}, None)
    store.delete_labeling_session(info.run_id)
    with pytest.raises(NotFoundError, match=info.run_id):
        store.next_labeling_item(info.run_id, "ana")
    assert len(store.get_trace(trace_id, include_spans=False).info.assessments) == 1


def test_concurrent_reviewers_never_share_a_slot(backend: Backend) -> None:
    """Twelve reviewers ask for items at once, in their own connections: each of the eight
    items goes to exactly two of them."""
    setup = open_store(backend.tracking_uri)
    users = tuple(f"r{i}" for i in range(12))
    info = new_session(setup, users=users, per_item=2)
    ids = [t.info.trace_id for t in logged_traces(setup, 8)]
    setup.add_labeling_items(info.run_id, ids)
    got: dict[str, str | None] = {}
    start = threading.Barrier(len(users))

    def review(user: str) -> None:
        own = open_store(backend.tracking_uri)
        try:
            start.wait()
            got[user] = own.next_labeling_item(info.run_id, user)
        finally:
            own.close()

    threads = [threading.Thread(target=review, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handed = Counter(item for item in got.values() if item is not None)
    assert sorted(handed) == sorted(ids[:6]) and set(handed.values()) == {2}
    assert list(got.values()).count(None) == 0
    setup.close()


# -- every value written under a schema's name is checked against it ------------------------

def test_a_value_logged_under_a_schemas_name_is_checked_however_it_is_written(
        store: Store) -> None:
    store.create_label_schema(schema("verdict", input=InputPassFail("Good", "Bad")),
                              overwrite=False)
    trace_id = logged_traces(store, 1)[0].info.trace_id
    with pytest.raises(InvalidParameterError,
                       match="label schema 'verdict': it accepts true \\('Good'\\)"):
        store.log_assessment(Feedback("verdict", "maybe", trace_id=trace_id))
    with pytest.raises(InvalidParameterError, match="collects feedbacks"):
        store.log_assessment(Expectation("verdict", True, trace_id=trace_id))
    label = store.log_assessment(Feedback("verdict", "Bad", trace_id=trace_id))
    assert label.value is False and label.assessment_id is not None  # stored as its boolean
    failed = store.log_assessment(Feedback("verdict", error="judge timed out",
                                           trace_id=trace_id))
    assert failed.value is None and failed.error is not None
    with pytest.raises(InvalidParameterError, match="label schema 'verdict'"):
        store.update_assessment(trace_id, label.assessment_id,
                                Feedback("verdict", 3, trace_id=trace_id))
    other = store.create_experiment("elsewhere")
    there = logged_traces(store, 1, other)[0].info.trace_id
    assert store.log_assessment(Feedback("verdict", "maybe", trace_id=there)).value == "maybe"
    assert [a.value for a in store.get_trace(trace_id, include_spans=False).info.assessments
            ] == [False, None]


def test_a_schema_made_by_another_client_checks_the_very_next_value(backend: Backend,
                                                                     store: Store) -> None:
    # Nothing is remembered between writes: a schema another process creates applies at
    # once, and so does its deletion.
    trace_id = logged_traces(store, 1)[0].info.trace_id
    assert store.log_assessment(Feedback("verdict", "maybe", trace_id=trace_id)).value \
        == "maybe"
    other = open_store(backend.tracking_uri)
    try:
        made = other.create_label_schema(schema("verdict", input=InputPassFail("Good", "Bad")))
        with pytest.raises(InvalidParameterError, match="label schema 'verdict'"):
            store.log_assessment(Feedback("verdict", "maybe", trace_id=trace_id))
        other.delete_label_schema(made.schema_id)
    finally:
        other.close()
    assert store.log_assessment(Feedback("verdict", "maybe", trace_id=trace_id)).value \
        == "maybe"
