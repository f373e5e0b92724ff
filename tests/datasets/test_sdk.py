"""``assay.genai.datasets`` as an SDK user calls it, on SQLite, PostgreSQL and a server over
HTTP: records from dicts, DataFrames and traces, versions, evaluation on a dataset, and a
labeling session synced into one."""

from __future__ import annotations

import time
from typing import Any

import pytest

import assay
from assay import _runtime
from assay.errors import InvalidParameterError, NotFoundError
from assay.genai import evaluate
from assay.genai import label_schemas as schemas
from assay.genai.datasets import (
    EvaluationDataset,
    create_dataset,
    delete_dataset,
    get_dataset,
    search_datasets,
)
from assay.genai.labeling import create_labeling_session
from assay.genai.scorers import scorer


@assay.trace
def answer(question: str) -> str:
    return f"An answer to {question}"


def traced(*questions: str) -> list[str]:
    ids = []
    for question in questions:
        answer(question)
        trace_id = assay.get_last_active_trace_id()
        assert trace_id is not None
        ids.append(trace_id)
    return ids


@scorer
def mentions_expected(outputs: Any, expectations: dict[str, Any]) -> bool:
    return str(expectations.get("expected_response", "")) in str(outputs)


def test_create_get_search_and_delete(rt: _runtime.Runtime) -> None:
    other = assay.create_experiment("other")
    default = create_dataset("golden", tags={"team": "search"})
    assert isinstance(default, EvaluationDataset)
    assert default.experiment_ids == ["0"] and default.tags == {"team": "search"}
    assert default.dataset_id.startswith("d-") and default.version == 0
    create_dataset("one", experiment_id=other)
    create_dataset("both", experiment_id=["0", other])
    assert get_dataset("golden") == default
    assert get_dataset(dataset_id=default.dataset_id) == default
    assert [d.name for d in search_datasets(other, order_by=["name ASC"])] == ["both", "one"]
    assert [d.name for d in search_datasets(filter_string="tags.team = 'search'")] == [
        "golden"]
    delete_dataset("one")
    delete_dataset(dataset_id=default.dataset_id)
    assert [d.name for d in search_datasets()] == ["both"]
    with pytest.raises(NotFoundError):
        get_dataset("golden")


def test_merge_records_from_traces_and_a_search_traces_dataframe(rt: _runtime.Runtime) -> None:
    pytest.importorskip("pandas")
    first, second = traced("capital of France?", "capital of Italy?")
    assay.log_expectation(trace_id=first, name="expected_response", value="Paris")
    assay.log_expectation(trace_id=second, name="expected_response", value="Rome")
    dataset = create_dataset("from_traces")
    dataset.merge_records([assay.get_trace(first)])
    assert (dataset.version, dataset.num_records) == (1, 1)
    frame = assay.search_traces(filter_string=f"trace.trace_id = '{second}'")
    dataset.merge_records(frame)
    assert (dataset.version, dataset.num_records) == (2, 2)
    by_question = {r.inputs["question"]: r for r in dataset.records}
    paris = by_question["capital of France?"]
    assert paris.outputs == "An answer to capital of France?"
    assert dict(paris.expectations) == {"expected_response": "Paris"}
    assert paris.source == {"source_type": "TRACE", "source_data": {"trace_id": first}}
    assert dict(by_question["capital of Italy?"].expectations) == {"expected_response": "Rome"}
    df = dataset.to_df()
    assert list(df["source_type"]) == ["TRACE", "TRACE"]
    assert set(df["source_id"]) == {first, second}
    assert list(df["record_id"]) == [r.record_id for r in dataset.records]


def test_merge_records_from_a_plain_dataframe(rt: _runtime.Runtime) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame([
        {"inputs": {"q": "a"}, "expectations": {"expected_response": "A"}},
        {"inputs": {"q": "b"}, "outputs": "B", "expectations": None},
    ])
    dataset = create_dataset("frame").merge_records(frame)
    assert [(dict(r.inputs), r.outputs) for r in dataset.records] == [
        ({"q": "a"}, None), ({"q": "b"}, "B")]
    with pytest.raises(InvalidParameterError, match="Invalid records"):
        dataset.merge_records("not records")
    with pytest.raises(InvalidParameterError, match=r"records\[1\]\.inputs"):
        dataset.merge_records([{"inputs": {"q": "c"}}, {"inputs": None}])
    assert dataset.version == 1 and get_dataset("frame").version == 1


def test_old_versions_stay_readable(rt: _runtime.Runtime) -> None:
    dataset = create_dataset("versioned")
    dataset.merge_records([{"inputs": {"q": "a"}}, {"inputs": {"q": "b"}}])
    dataset.merge_records([{"inputs": {"q": "a"}, "expectations": {"e": 1}}])
    dataset.delete_records([dataset.records[1].record_id])
    assert dataset.version == 3 and [r.inputs["q"] for r in dataset.records] == ["a"]
    first = get_dataset("versioned", version=1)
    assert first.version == 1
    assert [(r.inputs["q"], dict(r.expectations)) for r in first.records] == [
        ("a", {}), ("b", {})]
    assert first.to_evaluation_rows() == [
        {"inputs": {"q": "a"}, "expectations": {}}, {"inputs": {"q": "b"}, "expectations": {}}]
    # changing through an old version's object changes the latest, and moves it there
    first.merge_records([{"inputs": {"q": "c"}}])
    assert first.version == 4 and [r.inputs["q"] for r in first.records] == ["a", "c"]


def test_evaluate_a_dataset_records_its_version(rt: _runtime.Runtime) -> None:
    dataset = create_dataset("eval_set")
    dataset.merge_records([
        {"inputs": {"question": "Paris"}, "expectations": {"expected_response": "Paris"}},
        {"inputs": {"question": "Rome"}, "expectations": {"expected_response": "Milan"}},
    ])
    result = evaluate(data=dataset, predict_fn=answer, scorers=[mentions_expected])
    assert result.metrics["mentions_expected/mean"] == pytest.approx(0.5)
    assert [row.expectations for row in result.rows] == [
        {"expected_response": "Paris"}, {"expected_response": "Milan"}]
    params = assay.get_run(result.run_id).data.params
    assert params["dataset_name"] == "eval_set"
    assert params["dataset_id"] == dataset.dataset_id and params["dataset_version"] == "1"
    # with outputs, the records are scored as they are; an older version still evaluates
    dataset.merge_records([{"inputs": {"question": "Rome"}, "outputs": "Milan, surely"},
                           {"inputs": {"question": "Paris"}, "outputs": "Paris"}])
    again = evaluate(data=dataset, scorers=[mentions_expected])
    assert again.metrics["mentions_expected/mean"] == pytest.approx(1.0)
    assert assay.get_run(again.run_id).data.params["dataset_version"] == "2"
    old = evaluate(data=get_dataset("eval_set", version=1), predict_fn=answer,
                   scorers=[mentions_expected])
    assert assay.get_run(old.run_id).data.params["dataset_version"] == "1"


def test_a_labeling_session_syncs_into_a_dataset(rt: _runtime.Runtime) -> None:
    schemas.create_label_schema("expected_response", type="expectation",
                                input=schemas.InputText())
    schemas.create_label_schema("accuracy", type="feedback",
                                input=schemas.InputCategorical(options=["yes", "no"]))
    agreed, disputed, untouched = traced("q1", "q2", "q3")
    session = create_labeling_session(
        "review", label_schemas=["expected_response", "accuracy"],
        assigned_users=["ana", "ben"], reviewers_per_item=2)
    session.add_traces([agreed, disputed, untouched])
    for reviewer in ("ana", "ben"):
        session.submit(agreed, reviewer, {"expected_response": "same", "accuracy": "yes"})
    session.submit(disputed, "ben", {"expected_response": "ben's", "accuracy": "no"})
    time.sleep(0.01)  # the later answer has a later time
    session.submit(disputed, "ana", {"expected_response": "ana's, later", "accuracy": "no"})
    dataset = session.sync(to_dataset="reviewed")
    assert isinstance(dataset, EvaluationDataset)
    assert dataset.experiment_ids == [session.experiment_id]
    by_question = {r.inputs["question"]: dict(r.expectations) for r in dataset.records}
    assert by_question == {"q1": {"expected_response": "same"},
                           "q2": {"expected_response": "ana's, later"}, "q3": {}}
    # syncing again with nothing new makes no version; after a change, one
    assert session.sync(to_dataset="reviewed").version == dataset.version
    time.sleep(0.01)
    session.submit(disputed, "ben", {"expected_response": "ben's, latest", "accuracy": "no"})
    synced = session.sync(to_dataset="reviewed")
    assert synced.version == dataset.version + 1 and synced.num_records == 3
    latest = {r.inputs["question"]: dict(r.expectations) for r in synced.records}
    assert latest["q2"] == {"expected_response": "ben's, latest"}
    assert get_dataset("reviewed").version == synced.version


def test_a_dataset_added_to_a_labeling_session(rt: _runtime.Runtime) -> None:
    schemas.create_label_schema("accuracy", type="feedback",
                                input=schemas.InputCategorical(options=["yes", "no"]))
    [from_trace] = traced("capital of France?")
    dataset = create_dataset("golden")
    dataset.merge_records([assay.get_trace(from_trace)])
    dataset.merge_records([
        {"inputs": {"question": "capital of Peru?"}, "outputs": "Lima",
         "expectations": {"expected_response": "Lima"}},
        {"inputs": {"question": "capital of Chile?"},
         "expectations": {"expected_facts": ["Santiago"]}},
    ])
    by_question = {r.inputs["question"]: r.record_id for r in get_dataset("golden").records}
    session = create_labeling_session("from a dataset", label_schemas=["accuracy"])
    assert session.add_dataset("golden") is session
    items = assay.search_traces(run_id=session.mlflow_run_id, return_type="list")
    assert len(items) == 3
    # The record made from a trace brings that trace; the others got one each.
    assert from_trace in {t.info.trace_id for t in items}
    made = {t.info.tags["assay.dataset_record_id"]: t for t in items
            if t.info.trace_id != from_trace}
    assert set(made) == {by_question["capital of Peru?"], by_question["capital of Chile?"]}
    peru = made[by_question["capital of Peru?"]]
    assert peru.info.experiment_id == session.experiment_id
    assert peru.data.spans[0].inputs == {"question": "capital of Peru?"}
    assert peru.data.spans[0].outputs == "Lima"
    [expected] = peru.search_assessments("expected_response")
    assert expected.value == "Lima" and expected.source.source_type == "HUMAN"
    chile = made[by_question["capital of Chile?"]]
    assert chile.search_assessments("expected_facts")[0].value == ["Santiago"]
    # Again, and with a subset: nothing made twice.
    session.add_dataset("golden", record_ids=[by_question["capital of Peru?"]])
    session.add_dataset("golden")
    again = assay.search_traces(run_id=session.mlflow_run_id, return_type="list")
    assert sorted(t.info.trace_id for t in again) == sorted(t.info.trace_id for t in items)
    assert len(assay.search_traces(return_type="list", max_results=100)) == 3
    # A reviewer gets the made items like any other.
    assert session.next_item("ana") in {t.info.trace_id for t in items}


def test_add_dataset_refuses_unknown_records_and_datasets(rt: _runtime.Runtime) -> None:
    schemas.create_label_schema("accuracy", type="feedback",
                                input=schemas.InputCategorical(options=["yes", "no"]))
    create_dataset("small").merge_records([{"inputs": {"question": "q"}}])
    session = create_labeling_session("s", label_schemas=["accuracy"])
    with pytest.raises(InvalidParameterError, match=r"record_ids: 'nope' not in dataset 'small'"):
        session.add_dataset("small", record_ids=["nope"])
    with pytest.raises(NotFoundError):
        session.add_dataset("missing")
    assert assay.search_traces(run_id=session.mlflow_run_id, return_type="list") == []
