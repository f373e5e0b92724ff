"""``assay.genai``'s label schemas and labeling sessions as an SDK user calls them, on
SQLite, PostgreSQL and a server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import assay
from assay import _runtime
from assay.entities import Trace
from assay.entities.labeling import is_sampled
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.genai import label_schemas as schemas
from assay.genai.labeling import (
    LabelingSession,
    create_labeling_session,
    delete_labeling_session,
    get_labeling_session,
    get_labeling_sessions,
)
from assay.settings import Settings
from conftest import Backend


@pytest.fixture
def rt(backend: Backend) -> Iterator[_runtime.Runtime]:
    runtime = _runtime.reset(Settings(tracking_uri=backend.tracking_uri))
    yield runtime
    _runtime.reset(Settings(tracking_uri="sqlite:///:memory:"))
    runtime.close()


@assay.trace
def answer(question: str) -> str:
    return f"An answer to {question}"


def traced(n: int) -> list[str]:
    ids = []
    for i in range(n):
        answer(f"question {i}")
        trace_id = assay.get_last_active_trace_id()
        assert trace_id is not None
        ids.append(trace_id)
    return ids


def accuracy(**kwargs: object) -> schemas.LabelSchema:
    return schemas.create_label_schema(
        name="accuracy", type="feedback",
        input=schemas.InputCategorical(options=["Accurate", "Inaccurate"]), **kwargs)  # type: ignore[arg-type]


def test_both_mlflow_signatures_create_a_schema(rt: _runtime.Runtime) -> None:
    databricks_style = accuracy(title="Is it accurate?", overwrite=True)
    assert databricks_style.title == "Is it accurate?"
    experiment = assay.create_experiment("oss")
    oss_style = schemas.create_label_schema(
        "rating", type="feedback", input=schemas.InputNumeric(min_value=1, max_value=5),
        instruction="1 is poor", enable_comment=True, experiment_id=experiment)
    assert oss_style.experiment_id == experiment
    assert schemas.get_label_schema("rating", experiment_id=experiment) == oss_style
    assert schemas.get_label_schema(schema_id=databricks_style.schema_id) == databricks_style
    assert [s.name for s in schemas.list_label_schemas()] == ["accuracy"]
    assert [s.name for s in schemas.list_label_schemas(experiment)] == ["rating"]


def test_an_existing_name_without_overwrite_is_an_error_naming_it(rt: _runtime.Runtime) -> None:
    accuracy()
    with pytest.raises(AlreadyExistsError, match="'accuracy' already exists"):
        accuracy()
    assert accuracy(overwrite=True).name == "accuracy"


def test_update_and_delete_a_schema(rt: _runtime.Runtime) -> None:
    created = accuracy()
    updated = schemas.update_label_schema(created.schema_id, instruction="Check facts")
    assert updated.instruction == "Check facts" and updated.schema_id == created.schema_id
    schemas.delete_label_schema("accuracy")
    with pytest.raises(NotFoundError):
        schemas.get_label_schema("accuracy")


def test_add_traces_takes_a_dataframe_traces_ids_or_a_filter(rt: _runtime.Runtime) -> None:
    pytest.importorskip("pandas")
    accuracy()
    ids = traced(4)
    session = create_labeling_session("review", label_schemas=["accuracy"])
    session.add_traces(assay.search_traces(filter_string=f"trace.trace_id = '{ids[3]}'"))
    trace = assay.get_trace(ids[2])
    assert isinstance(trace, Trace)
    session.add_traces([trace])
    session.add_traces(ids[1])
    session.add_traces("trace.trace_id = '" + ids[0] + "'")
    found = assay.search_traces(run_id=session.mlflow_run_id, return_type="list")
    assert {t.info.trace_id for t in found} == set(ids)
    assert session.progress().items == 4
    session.remove_traces([ids[0], ids[1]])
    assert session.progress().items == 2
    for bad in (None, 42, [42]):
        with pytest.raises(InvalidParameterError, match="Invalid traces"):
            session.add_traces(bad)


def test_sessions_are_listed_fetched_reassigned_and_deleted(rt: _runtime.Runtime) -> None:
    accuracy()
    first = create_labeling_session("first", label_schemas=["accuracy"],
                                    assigned_users=["ana", "ben"], reviewers_per_item=2)
    second = create_labeling_session("second", label_schemas=["accuracy"])
    assert isinstance(first, LabelingSession)
    assert first.mlflow_run_id == first.run_id == first.labeling_session_id
    assert first.assigned_users == ["ana", "ben"] and first.reviewers_per_item == 2
    assert {s.name for s in get_labeling_sessions()} == {"first", "second"}
    assert get_labeling_session(first.run_id) == first
    assert assay.get_run(first.run_id).info.run_name == "first"
    first.set_assigned_users(["ana", "ben", "cy"])
    assert get_labeling_session(first.run_id).assigned_users == ["ana", "ben", "cy"]
    delete_labeling_session(second)
    assert [s.name for s in get_labeling_sessions()] == ["first"]


def test_the_url_is_the_review_app_of_the_store(rt: _runtime.Runtime, backend: Backend) -> None:
    accuracy()
    session = create_labeling_session("review", label_schemas=["accuracy"])
    base = backend.tracking_uri if backend.kind == "rest" else "http://127.0.0.1:5000"
    assert session.url == f"{base.rstrip('/')}/review/{session.run_id}"


def test_a_reviewer_takes_answers_and_skips_items(rt: _runtime.Runtime) -> None:
    accuracy()
    a, b = traced(2)
    session = create_labeling_session("review", label_schemas=["accuracy"],
                                      assigned_users=["ana"])
    session.add_traces([a, b])
    assert session.next_item("ana") == a
    (written,) = session.submit(a, "ana", {"accuracy": "Accurate"})
    assert written.run_id == session.run_id
    assert session.next_item("ana") == b
    session.skip(b, "ana")
    assert session.next_item("ana") is None
    assert session.answers() == {"accuracy": {a: {"ana": "Accurate"}}}


def test_live_chat_parameters_are_refused(rt: _runtime.Runtime) -> None:
    with pytest.raises(InvalidParameterError, match="not supported"):
        create_labeling_session("chat", agent="my-agent")


def test_agreement_and_disagreements_of_a_session(rt: _runtime.Runtime) -> None:
    accuracy()
    schemas.create_label_schema("rating", type="feedback",
                                input=schemas.InputNumeric(min_value=1, max_value=5))
    schemas.create_label_schema("ideal", type="expectation", input=schemas.InputText())
    ids = traced(4)
    session = create_labeling_session("agree", label_schemas=["accuracy", "rating", "ideal"],
                                      assigned_users=["ana", "ben"], reviewers_per_item=2)
    session.add_traces(ids)
    # Cohen's textbook shape on 4 items: they agree on 3, differ on one.
    verdicts = {"ana": ["Accurate", "Accurate", "Inaccurate", "Inaccurate"],
                "ben": ["Accurate", "Inaccurate", "Inaccurate", "Inaccurate"]}
    for reviewer, answers in verdicts.items():
        for trace_id, verdict, rating in zip(ids, answers, [5, 4, 2, 1], strict=True):
            session.submit(trace_id, reviewer, {"accuracy": verdict, "rating": rating,
                                                "ideal": f"{reviewer} says"})
    result = session.agreement()
    assert result["accuracy"].n_items == 4
    assert result["accuracy"].percent_agreement == pytest.approx(0.75)
    assert result["accuracy"].cohen_kappa == pytest.approx(0.5)
    assert result["rating"].krippendorff_alpha == pytest.approx(1.0)
    assert result["ideal"].excluded_reason is not None
    [(item, differing, adjudicated)] = session.disagreements()["accuracy"]
    assert item == ids[1] and differing == {"ana": "Accurate", "ben": "Inaccurate"}
    assert adjudicated is None
    assert session.progress().done_items == 4


def test_adjudication_settles_a_disagreement_and_becomes_gold(rt: _runtime.Runtime) -> None:
    accuracy()
    ids = traced(3)
    session = create_labeling_session("gold", label_schemas=["accuracy"],
                                      assigned_users=["ana", "ben"], reviewers_per_item=2)
    session.add_traces(ids)
    for reviewer, verdicts in {"ana": ["Accurate", "Accurate"],
                               "ben": ["Accurate", "Inaccurate"]}.items():
        for trace_id, verdict in zip(ids, verdicts, strict=False):
            session.submit(trace_id, reviewer, {"accuracy": verdict})
    assert session.gold_labels() == {"accuracy": {ids[0]: "Accurate"}}
    [unsettled] = session.disagreements()["accuracy"]
    assert unsettled.item_id == ids[1] and unsettled.adjudicated is None
    label = session.adjudicate(ids[1], "accuracy", "Inaccurate", adjudicator="cy")
    assert label is not None and label.value == "Inaccurate" and label.adjudicated
    [settled] = session.disagreements()["accuracy"]
    assert settled.adjudicated == "Inaccurate"
    assert session.gold_labels() == {"accuracy": {ids[0]: "Accurate", ids[1]: "Inaccurate"}}
    assert assay.genai.get_gold_labels(ids) == {ids[0]: {"accuracy": "Accurate"},
                                                ids[1]: {"accuracy": "Inaccurate"}}
    found = assay.search_traces(filter_string="gold.accuracy = 'Inaccurate'",
                                return_type="list")
    assert [t.info.trace_id for t in found] == [ids[1]]
    with pytest.raises(InvalidParameterError, match="Maybe"):
        session.adjudicate(ids[2], "accuracy", "Maybe")
    assert session.adjudicate(ids[1], "accuracy", None) is None  # cleared: no agreement
    assert session.gold_labels() == {"accuracy": {ids[0]: "Accurate"}}


def test_routing_rules_add_arriving_traces_to_a_session(rt: _runtime.Runtime) -> None:
    accuracy()
    session = create_labeling_session("routed", label_schemas=["accuracy"])
    rule = session.add_routing_rule("feedback.user_feedback = 'false'")
    sampled = session.add_routing_rule("trace.name = 'answer'", sample_rate=0.2)
    assert [r.rule_id for r in session.routing_rules()] == [rule.rule_id, sampled.rule_id]
    ids = traced(20)
    assay.log_feedback(trace_id=ids[1], name="user_feedback", value=False)
    routed = {t.info.trace_id for t in assay.search_traces(run_id=session.mlflow_run_id,
                                                           return_type="list")}
    chosen = {t for t in ids if is_sampled(sampled.rule_id, t, 0.2)}
    assert routed == chosen | {ids[1]}
    counts = {r.rule_id: r.hit_count for r in session.routing_rules()}
    assert counts == {rule.rule_id: 1, sampled.rule_id: len(chosen)}
    session.delete_routing_rule(rule)
    session.delete_routing_rule(sampled.rule_id)
    assert session.routing_rules() == []
    with pytest.raises(InvalidParameterError, match="position"):
        session.add_routing_rule("feedback.user_feedback =")
