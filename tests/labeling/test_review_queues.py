"""``assay.genai.review_queues`` (MLflow's review queues) as an SDK user calls them, on
SQLite, PostgreSQL and a server over HTTP: a queue is a labeling session with a shared
status per item."""

from __future__ import annotations

import pytest

import assay
from assay import _runtime
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.genai import label_schemas as schemas
from assay.genai import review_queues as rq
from assay.genai.labeling import get_labeling_session
from assay.genai.review_queues import ReviewQueueType, ReviewStatus
from labeling.test_sdk import traced as sdk_traced


def traced(n: int) -> list[str]:
    ids = sdk_traced(n)
    assay.flush_trace_async_logging()
    return ids


def accuracy() -> schemas.LabelSchema:
    return schemas.create_label_schema(
        name="accuracy", type="feedback",
        input=schemas.InputCategorical(options=["Accurate", "Inaccurate"]))


def test_a_custom_queue_is_a_labeling_session(rt: _runtime.Runtime) -> None:
    schema = accuracy()
    queue = rq.create_review_queue("Escalations", queue_type="custom", users=["Ana ", "bo"],
                                   schema_ids=[schema.schema_id])
    assert queue.queue_id == f"rq-{queue.run_id}"
    assert (queue.name, queue.queue_type, queue.users, queue.schema_ids) == (
        "Escalations", ReviewQueueType.CUSTOM, ["ana", "bo"], [schema.schema_id])
    assert queue.experiment_id == rt.active_experiment_id()
    assert queue.creation_time_ms == queue.last_update_time_ms > 0

    session = get_labeling_session(queue.run_id)
    assert session.name == "Escalations"
    assert session.label_schemas == ["accuracy"]
    assert session.assigned_users == ["ana", "bo"]

    ids = traced(3)
    items = rq.add_items_to_review_queue(queue.queue_id, item_ids=ids)
    assert [item.item_id for item in items] == ids
    assert {item.status for item in items} == {ReviewStatus.PENDING}
    found = assay.search_traces(run_id=queue.run_id, return_type="list")
    assert sorted(t.info.trace_id for t in found) == sorted(ids)


def test_item_status_moves_only_when_told(rt: _runtime.Runtime) -> None:
    queue = rq.create_review_queue("Triage", queue_type="custom", users=["ana"])
    first, second = traced(2)
    rq.add_items_to_review_queue(queue.queue_id, item_ids=[first, second])

    done = rq.set_review_queue_item_status(queue.queue_id, item_id=first, status="complete",
                                           completed_by="Ana")
    assert (done.status, done.completed_by) == (ReviewStatus.COMPLETE, "ana")
    assert done.completed_time_ms is not None
    assert done.last_update_time_ms >= done.creation_time_ms
    # The same status again changes nothing, not even who completed it.
    again = rq.set_review_queue_item_status(queue.queue_id, item_id=first, status="complete",
                                            completed_by="bo")
    assert again == done
    # Answering an item (feedback on its trace) leaves its status as it is.
    assay.log_feedback(trace_id=second, name="accuracy", value="Accurate")
    pending = rq.list_review_queue_items(queue.queue_id, status="pending")
    assert [item.item_id for item in pending] == [second]

    declined = rq.set_review_queue_item_status(queue.queue_id, item_id=second,
                                               status="declined", completed_by="ana")
    assert declined.status is ReviewStatus.DECLINED
    reopened = rq.set_review_queue_item_status(queue.queue_id, item_id=first,
                                               status="pending")
    assert (reopened.status, reopened.completed_by, reopened.completed_time_ms) == (
        ReviewStatus.PENDING, None, None)
    # Adding an item again keeps its status.
    [kept] = rq.add_items_to_review_queue(queue.queue_id, item_ids=[second])
    assert kept.status is ReviewStatus.DECLINED
    assert [i.item_id for i in rq.list_review_queue_items(queue.queue_id,
                                                          status="declined")] == [second]


def test_items_are_listed_newest_first_a_page_at_a_time(rt: _runtime.Runtime) -> None:
    queue = rq.create_review_queue("Paged", queue_type="custom")
    ids = traced(5)
    for trace_id in ids:
        rq.add_items_to_review_queue(queue.queue_id, item_ids=[trace_id])
    seen: list[str] = []
    token = None
    while True:
        page = rq.list_review_queue_items(queue.queue_id, max_results=2, page_token=token)
        seen.extend(item.item_id for item in page)
        token = page.token
        if token is None:
            break
    assert seen == list(reversed(ids))
    rq.remove_items_from_review_queue(queue.queue_id, item_ids=ids[:2])
    assert len(rq.list_review_queue_items(queue.queue_id)) == 3


def test_user_queues_and_listing(rt: _runtime.Runtime) -> None:
    mine = rq.get_or_create_user_queue("Ana@example.com")
    assert (mine.name, mine.queue_type, mine.users, mine.schema_ids, mine.created_by) == (
        "ana@example.com", ReviewQueueType.USER, ["ana@example.com"], [], "ana@example.com")
    assert rq.get_or_create_user_queue("ana@example.com") == mine
    custom = rq.create_review_queue("Shared", queue_type="custom", users=["ana@example.com"])
    rq.create_review_queue("Others", queue_type="custom", users=["bo"])

    assert [q.name for q in rq.list_review_queues()] == ["Others", "Shared",
                                                          "ana@example.com"]
    assert [q.queue_id for q in rq.list_review_queues(user="ANA@example.com")] == [
        custom.queue_id, mine.queue_id]
    first = rq.list_review_queues(max_results=2)
    assert len(first) == 2 and first.token is not None
    assert [q.name for q in rq.list_review_queues(page_token=first.token)] == [
        "ana@example.com"]

    assert rq.get_review_queue(name="shared") == custom
    assert rq.get_review_queue(custom.queue_id) == custom
    with pytest.raises(InvalidParameterError, match="exactly one"):
        rq.get_review_queue()

    with pytest.raises(InvalidParameterError, match="user queue"):
        rq.update_review_queue(mine.queue_id, name="mine")
    with pytest.raises(AlreadyExistsError, match="custom review queue"):
        rq.get_or_create_user_queue("shared")


def test_update_and_delete(rt: _runtime.Runtime) -> None:
    schema = accuracy()
    queue = rq.create_review_queue("Draft", queue_type="custom", users=["ana"])
    changed = rq.update_review_queue(queue.queue_id, name="Final", new_owner="Bo",
                                     users=["cy"], schema_ids=[schema.schema_id])
    assert (changed.name, changed.created_by, changed.users, changed.schema_ids) == (
        "Final", "Bo", ["cy"], [schema.schema_id])
    assert changed.last_update_time_ms >= queue.last_update_time_ms
    assert rq.update_review_queue(queue.queue_id, users=[]).users == []

    rq.add_items_to_review_queue(queue.queue_id, item_ids=traced(1))
    with pytest.raises(InvalidParameterError, match=r"schema_ids.*locked"):
        rq.update_review_queue(queue.queue_id, schema_ids=[])
    rq.create_review_queue("Taken", queue_type="custom")
    with pytest.raises(AlreadyExistsError, match="TAKEN"):
        rq.update_review_queue(queue.queue_id, name="TAKEN")

    rq.delete_review_queue(queue.queue_id)
    rq.delete_review_queue(queue.queue_id)  # nothing left: nothing happens
    with pytest.raises(NotFoundError, match=queue.queue_id):
        rq.get_review_queue(queue.queue_id)
    with pytest.raises(NotFoundError):
        get_labeling_session(queue.run_id)


def test_bad_input_is_refused_naming_the_field(rt: _runtime.Runtime) -> None:
    queue = rq.create_review_queue("Checks", queue_type="custom")
    [trace_id] = traced(1)
    rq.add_items_to_review_queue(queue.queue_id, item_ids=[trace_id])

    with pytest.raises(InvalidParameterError, match="status 'done'"):
        rq.set_review_queue_item_status(queue.queue_id, item_id=trace_id,
                                        status="done")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="completed_by"):
        rq.set_review_queue_item_status(queue.queue_id, item_id=trace_id, status="complete")
    with pytest.raises(InvalidParameterError, match="completed_by"):
        rq.set_review_queue_item_status(queue.queue_id, item_id=trace_id, status="pending",
                                        completed_by="ana")
    with pytest.raises(InvalidParameterError, match="queue_type"):
        rq.create_review_queue("x", queue_type="team")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="users"):
        rq.create_review_queue("ana", queue_type="user", users=["bo"])
    with pytest.raises(InvalidParameterError, match="schema_ids"):
        rq.create_review_queue("ana", queue_type="user", schema_ids=["ls-1"])
    with pytest.raises(InvalidParameterError, match="schema_ids"):
        rq.create_review_queue("y", queue_type="custom", schema_ids=["ls-missing"])
    with pytest.raises(InvalidParameterError, match="reserved"):
        rq.create_review_queue("Default", queue_type="custom")
    with pytest.raises(AlreadyExistsError, match="checks"):
        rq.create_review_queue("checks", queue_type="custom")
    with pytest.raises(InvalidParameterError, match="queue_id"):
        rq.get_review_queue("not-a-queue")
    with pytest.raises(InvalidParameterError, match="item_ids"):
        rq.add_items_to_review_queue(queue.queue_id, item_ids=[])
    with pytest.raises(NotFoundError, match="not in review queue"):
        rq.set_review_queue_item_status(queue.queue_id, item_id="tr-" + "1" * 32,
                                        status="declined", completed_by="ana")

    other = assay.create_experiment("elsewhere")
    with _in(other):
        [foreign] = traced(1)
    with pytest.raises(InvalidParameterError, match=r"item_ids.*experiment"):
        rq.add_items_to_review_queue(queue.queue_id, item_ids=[foreign])
    assert len(rq.list_review_queue_items(queue.queue_id)) == 1


class _in:
    """The active experiment set to another for a block."""

    def __init__(self, experiment_id: str) -> None:
        self.experiment_id = experiment_id

    def __enter__(self) -> None:
        self.before = _runtime.runtime().active_experiment_id()
        assay.set_experiment(experiment_id=self.experiment_id)

    def __exit__(self, *exc: object) -> None:
        assay.set_experiment(experiment_id=self.before)
