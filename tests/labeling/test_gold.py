"""Adjudication and gold labels through the Store, on SQLite, PostgreSQL and an Assay server
over HTTP: kept at write time, read per session and per trace, searched with ``gold.<name>``."""

from __future__ import annotations

import pytest

from assay.entities import Feedback
from assay.entities.assessment import AssessmentSource, AssessmentSourceType
from assay.entities.label_schema import InputNumeric, InputPassFail, LabelSchemaType
from assay.entities.labeling import GoldLabel, LabelingSessionInfo
from assay.entities.run import RunInfo, RunKind, new_run_id
from assay.errors import InvalidParameterError, NotFoundError
from assay.store.base import Store
from labeling.test_store import ACCURACY, EXPECTED, logged_traces, new_session, schema


def ids_of(store: Store, n: int) -> list[str]:
    return [t.info.trace_id for t in logged_traces(store, n)]


def gold_of(store: Store, run_id: str) -> dict[str, dict[str, object]]:
    return {name: {trace_id: label.value for trace_id, label in by_item.items()}
            for name, by_item in store.get_labeling_gold(run_id).items()}


def test_with_one_reviewer_per_item_the_single_answer_is_gold(store: Store) -> None:
    info = new_session(store)
    a, b = ids_of(store, 2)
    store.add_labeling_items(info.run_id, [a, b])
    store.submit_labeling_answers(info.run_id, a, "ana",
                                  {ACCURACY: "Accurate", EXPECTED: "Paris"}, None)
    assert store.get_labeling_gold(info.run_id) == {
        ACCURACY: {a: GoldLabel("Accurate")}, EXPECTED: {a: GoldLabel("Paris")}}
    assert store.get_gold_labels([a, b]) == {a: {ACCURACY: "Accurate", EXPECTED: "Paris"}}
    # Answering again overrides the earlier answer, and the gold label follows.
    store.submit_labeling_answers(info.run_id, a, "ana", {ACCURACY: "Inaccurate"}, None)
    assert gold_of(store, info.run_id)[ACCURACY] == {a: "Inaccurate"}


def test_with_two_reviewers_only_an_agreed_answer_is_gold(store: Store) -> None:
    info = new_session(store, per_item=2)
    a, b = ids_of(store, 2)
    store.add_labeling_items(info.run_id, [a, b])
    store.submit_labeling_answers(info.run_id, a, "ana", {ACCURACY: "Accurate"}, None)
    store.submit_labeling_answers(info.run_id, b, "ana", {ACCURACY: "Accurate"}, None)
    assert store.get_labeling_gold(info.run_id) == {}  # one review of the two needed
    store.submit_labeling_answers(info.run_id, a, "ben", {ACCURACY: "Accurate"}, None)
    store.submit_labeling_answers(info.run_id, b, "ben", {ACCURACY: "Inaccurate"}, None)
    assert gold_of(store, info.run_id) == {ACCURACY: {a: "Accurate"}}
    # Ben changes his mind on a: no longer agreed, no gold.
    store.submit_labeling_answers(info.run_id, a, "ben", {ACCURACY: "Partially Accurate"},
                                  None)
    assert store.get_labeling_gold(info.run_id) == {}
    assert store.get_gold_labels([a, b]) == {}


def test_an_adjudicated_value_is_gold_until_it_is_cleared(store: Store) -> None:
    info = new_session(store, per_item=2)
    a, b = ids_of(store, 2)
    store.add_labeling_items(info.run_id, [a, b])
    for reviewer, verdict in (("ana", "Accurate"), ("ben", "Inaccurate")):
        store.submit_labeling_answers(info.run_id, a, reviewer, {ACCURACY: verdict}, None)
    label = store.adjudicate_labeling_item(info.run_id, a, ACCURACY, "Inaccurate", "cy")
    assert label == GoldLabel("Inaccurate", adjudicated=True)
    assert store.get_labeling_gold(info.run_id) == {ACCURACY: {a: label}}
    # Again: it replaces the first; on an item nobody reviewed, it is gold at once.
    store.adjudicate_labeling_item(info.run_id, a, ACCURACY, "Partially Accurate")
    store.adjudicate_labeling_item(info.run_id, b, EXPECTED, "Lyon")
    assert store.get_gold_labels([a, b]) == {a: {ACCURACY: "Partially Accurate"},
                                             b: {EXPECTED: "Lyon"}}
    # Reviewers answering afterwards do not override it.
    store.submit_labeling_answers(info.run_id, a, "cy", {ACCURACY: "Accurate"}, None)
    assert gold_of(store, info.run_id)[ACCURACY] == {a: "Partially Accurate"}
    # Cleared: the gold label is the reviewers' again (here they disagree: none).
    assert store.adjudicate_labeling_item(info.run_id, a, ACCURACY, None) is None
    assert store.adjudicate_labeling_item(info.run_id, b, EXPECTED, None) is None
    assert store.get_labeling_gold(info.run_id) == {}


def test_clearing_an_adjudication_falls_back_to_the_agreed_answer(store: Store) -> None:
    info = new_session(store)
    (a,) = ids_of(store, 1)
    store.add_labeling_items(info.run_id, [a])
    store.submit_labeling_answers(info.run_id, a, "ana", {ACCURACY: "Accurate"}, None)
    store.adjudicate_labeling_item(info.run_id, a, ACCURACY, "Inaccurate")
    assert store.adjudicate_labeling_item(info.run_id, a, ACCURACY, None) == GoldLabel(
        "Accurate")


def test_a_pass_fail_label_is_adjudicated_as_its_boolean(store: Store) -> None:
    store.create_label_schema(schema("safe", input=InputPassFail()), overwrite=False)
    info = new_session(store, schemas=(ACCURACY, "safe"))
    (a,) = ids_of(store, 1)
    store.add_labeling_items(info.run_id, [a])
    assert store.adjudicate_labeling_item(info.run_id, a, "safe", "Fail") == GoldLabel(
        False, adjudicated=True)
    assert store.get_gold_labels([a]) == {a: {"safe": False}}


@pytest.mark.parametrize(("schema_name", "value", "error", "message"), [
    ("nope", "Accurate", InvalidParameterError,
     "schema_name 'nope': not a question of labeling session 'quickstart_review'"),
    (ACCURACY, "Brilliant", InvalidParameterError, ACCURACY),
    (ACCURACY, ["Accurate"], InvalidParameterError, ACCURACY),
    (EXPECTED, "x" * 501, InvalidParameterError, EXPECTED),
])
def test_a_bad_adjudication_is_refused_and_nothing_is_written(
        store: Store, schema_name: str, value: object, error: type[Exception],
        message: str) -> None:
    info = new_session(store)
    (a,) = ids_of(store, 1)
    store.add_labeling_items(info.run_id, [a])
    store.submit_labeling_answers(info.run_id, a, "ana", {ACCURACY: "Accurate"}, None)
    before = store.get_labeling_gold(info.run_id)
    with pytest.raises(error, match=message):
        store.adjudicate_labeling_item(info.run_id, a, schema_name, value)
    assert store.get_labeling_gold(info.run_id) == before


def test_adjudicating_a_trace_that_is_not_an_item_or_a_gone_session_is_not_found(
        store: Store) -> None:
    info = new_session(store)
    a, outside = ids_of(store, 2)
    store.add_labeling_items(info.run_id, [a])
    with pytest.raises(NotFoundError, match=f"{outside!r} is not an item"):
        store.adjudicate_labeling_item(info.run_id, outside, ACCURACY, "Accurate")
    with pytest.raises(InvalidParameterError, match="trace_id"):
        store.adjudicate_labeling_item(info.run_id, "not-a-trace", ACCURACY, "Accurate")
    store.delete_labeling_session(info.run_id)
    with pytest.raises(NotFoundError, match=info.run_id):
        store.adjudicate_labeling_item(info.run_id, a, ACCURACY, "Accurate")
    with pytest.raises(NotFoundError, match=info.run_id):
        store.get_labeling_gold(info.run_id)
    assert store.get_gold_labels([a, outside]) == {}


def test_removing_an_item_or_deleting_the_session_drops_its_gold(store: Store) -> None:
    info = new_session(store)
    a, b = ids_of(store, 2)
    store.add_labeling_items(info.run_id, [a, b])
    store.submit_labeling_answers(info.run_id, a, "ana", {ACCURACY: "Accurate"}, None)
    store.adjudicate_labeling_item(info.run_id, b, ACCURACY, "Inaccurate")
    store.remove_labeling_items(info.run_id, [b])
    assert gold_of(store, info.run_id) == {ACCURACY: {a: "Accurate"}}
    store.add_labeling_items(info.run_id, [b])  # back, without its adjudication
    assert gold_of(store, info.run_id) == {ACCURACY: {a: "Accurate"}}
    store.delete_labeling_session(info.run_id)
    assert store.get_gold_labels([a, b]) == {}
    assert list(store.search_traces(["0"], filter_string=f"gold.{ACCURACY} IS NOT NULL")) == []


def test_the_newest_session_wins_for_a_trace_in_several(store: Store) -> None:
    older, newer = new_session(store), new_session(store)
    a, b = ids_of(store, 2)
    for info in (older, newer):
        store.add_labeling_items(info.run_id, [a, b])
    store.adjudicate_labeling_item(newer.run_id, a, ACCURACY, "Inaccurate")
    store.adjudicate_labeling_item(older.run_id, a, ACCURACY, "Accurate")
    store.adjudicate_labeling_item(older.run_id, b, ACCURACY, "Accurate")
    store.adjudicate_labeling_item(older.run_id, a, EXPECTED, "Paris")
    assert store.get_gold_labels([a, b]) == {a: {ACCURACY: "Inaccurate", EXPECTED: "Paris"},
                                             b: {ACCURACY: "Accurate"}}


def test_deleting_or_overriding_a_reviewers_answer_updates_the_gold(store: Store) -> None:
    info = new_session(store)
    a, b = ids_of(store, 2)
    store.add_labeling_items(info.run_id, [a, b])
    [answer_a] = store.submit_labeling_answers(info.run_id, a, "ana", {ACCURACY: "Accurate"},
                                               None)
    [answer_b] = store.submit_labeling_answers(info.run_id, b, "ana", {ACCURACY: "Accurate"},
                                               None)
    assert answer_a.assessment_id is not None and answer_b.assessment_id is not None
    store.delete_assessment(a, answer_a.assessment_id)
    # Overridden by feedback from outside the session: no longer this session's answer.
    store.log_assessment(Feedback(ACCURACY, "Inaccurate", trace_id=b,
                                  source=AssessmentSource(AssessmentSourceType.HUMAN, "ana"),
                                  overrides=answer_b.assessment_id))
    assert store.get_labeling_gold(info.run_id) == {}


def test_search_by_gold_label(store: Store) -> None:
    store.create_label_schema(schema("safe", input=InputPassFail()), overwrite=False)
    store.create_label_schema(schema("rating", input=InputNumeric(1, 5)), overwrite=False)
    info = new_session(store, schemas=(ACCURACY, "safe", "rating"))
    a, b, c = ids_of(store, 3)
    store.add_labeling_items(info.run_id, [a, b, c])
    store.submit_labeling_answers(info.run_id, a, "ana",
                                  {ACCURACY: "Accurate", "safe": "Pass", "rating": 5}, None)
    store.submit_labeling_answers(info.run_id, b, "ana",
                                  {ACCURACY: "Inaccurate", "safe": "Fail", "rating": 2}, None)

    def found(filter_string: str) -> set[str]:
        return {t.info.trace_id for t in store.search_traces(
            ["0"], filter_string=filter_string, include_spans=False)}

    assert found(f"gold.{ACCURACY} = 'Accurate'") == {a}
    assert found(f"gold.{ACCURACY} != 'Accurate'") == {b}
    assert found(f"gold.{ACCURACY} ILIKE '%ACCURATE'") == {a, b}
    assert found(f"gold.{ACCURACY} LIKE '%accurate'") == {b}
    assert found(f"gold.{ACCURACY} IS NOT NULL") == {a, b}
    assert found(f"gold.{ACCURACY} IS NULL") == {c}
    assert found("gold.safe = 'true'") == {a}
    assert found("gold.rating >= 3") == {a}
    assert found("gold.safe > 0") == set()  # a boolean is not a number
    assert found(f"gold.{ACCURACY} = 'Accurate' OR gold.rating < 3") == {a, b}
    # An adjudication changes what the search finds at once.
    store.adjudicate_labeling_item(info.run_id, c, ACCURACY, "Accurate")
    assert found(f"gold.{ACCURACY} = 'Accurate'") == {a, c}
    # Feedback of the same name is not a gold label.
    assert found(f"feedback.{ACCURACY} = 'Accurate'") == {a}


def test_a_session_of_another_experiment_keeps_its_own_gold(store: Store) -> None:
    other = store.create_experiment("other")
    info = new_session(store, experiment_id=other)
    (a,) = (t.info.trace_id for t in logged_traces(store, 1, other))
    store.add_labeling_items(info.run_id, [a])
    store.adjudicate_labeling_item(info.run_id, a, EXPECTED, "Paris")
    assert [t.info.trace_id for t in store.search_traces(
        [other], filter_string=f"gold.{EXPECTED} = 'Paris'", include_spans=False)] == [a]
    assert list(store.search_traces(["0"], filter_string=f"gold.{EXPECTED} IS NOT NULL")) == []


def test_gold_labels_of_too_many_traces_are_refused(store: Store) -> None:
    with pytest.raises(InvalidParameterError, match="trace_ids"):
        store.get_gold_labels(["tr-" + "a" * 32] * 10_001)
    with pytest.raises(InvalidParameterError, match="trace_ids item"):
        store.get_gold_labels(["nope"])


def test_an_expectation_schema_needs_no_feedback_to_be_gold(store: Store) -> None:
    store.create_label_schema(
        schema("facts", type=LabelSchemaType.EXPECTATION, input=InputNumeric(0, 10)),
        overwrite=False)
    info = store.create_labeling_session(LabelingSessionInfo(
        run_id=new_run_id(), experiment_id="0", name="facts", label_schemas=("facts",)))
    (a,) = ids_of(store, 1)
    store.add_labeling_items(info.run_id, [a])
    store.submit_labeling_answers(info.run_id, a, "anyone", {"facts": 7}, None)
    assert store.get_gold_labels([a]) == {a: {"facts": 7}}


def test_the_sessions_of_traces_newest_first(store: Store) -> None:
    a, b, c = ids_of(store, 3)
    older = new_session(store)
    newer = new_session(store)
    store.add_labeling_items(older.run_id, [a, b])
    store.add_labeling_items(newer.run_id, [a])
    evaluation = store.create_run(RunInfo(run_id=new_run_id(), experiment_id="0",
                                          run_name="an evaluation", kind=RunKind.EVALUATION,
                                          start_time=1))
    store.link_run_traces(evaluation.info.run_id, [a, c])  # not a session: left out
    found = store.list_trace_labeling_sessions([a, b, c, a])
    assert found == {a: [newer.run_id, older.run_id], b: [older.run_id]}
    store.remove_labeling_items(newer.run_id, [a])
    assert store.list_trace_labeling_sessions([a]) == {a: [older.run_id]}
    store.delete_labeling_session(older.run_id)
    assert store.list_trace_labeling_sessions([a, b]) == {}
    with pytest.raises(InvalidParameterError):
        store.list_trace_labeling_sessions(["tr-" + "a" * 32] * 10_001)
    with pytest.raises(InvalidParameterError):
        store.list_trace_labeling_sessions(["nope"])


def test_a_trace_written_again_with_a_sessions_answer_moves_its_gold_and_version(
        sql_store: Store) -> None:
    store = sql_store
    info = new_session(store)
    [trace] = logged_traces(store, 1)
    a = trace.info.trace_id
    store.add_labeling_items(info.run_id, [a])
    store.submit_labeling_answers(info.run_id, a, "ana", {ACCURACY: "Accurate"}, None)
    assert gold_of(store, info.run_id) == {ACCURACY: {a: "Accurate"}}
    before = store.get_labeling_answers_version(info.run_id)
    assert before is not None
    # The same trace, written again with a newer answer of the reviewer linked to the
    # session (as an import, or an SDK that kept the answer on the trace, would).
    trace.info.assessments.append(Feedback(
        name=ACCURACY, value="Inaccurate", trace_id=a, run_id=info.run_id,
        source=AssessmentSource(AssessmentSourceType.HUMAN, "ana")))
    store.log_traces([trace])
    assert gold_of(store, info.run_id) == {ACCURACY: {a: "Inaccurate"}}
    after = store.get_labeling_answers_version(info.run_id)
    assert after is not None and after > before
