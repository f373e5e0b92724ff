"""Review queues worked through as labeling sessions: an item someone completed or declined
is not handed out again, and a user queue (which names no schemas) asks every label schema
of its experiment, from the SDK (SQLite, PostgreSQL, a server over HTTP) and in the review
app."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from assay import _runtime
from assay.errors import InvalidParameterError
from assay.genai import label_schemas as schemas
from assay.genai import review_queues as rq
from assay.genai.labeling import get_labeling_session
from assay.store.sql import SqlStore
from labeling.test_review_queues import traced
from review.review_data import ALICE, SCHEMAS, seed_review
from server.live import in_process


def test_completed_and_declined_items_are_not_handed_out(rt: _runtime.Runtime) -> None:
    queue = rq.create_review_queue("Triage", queue_type="custom", users=["ana", "bo"])
    first, second, third, fourth = traced(4)
    rq.add_items_to_review_queue(queue.queue_id, item_ids=[first, second, third, fourth])
    session = get_labeling_session(queue.run_id)
    rq.set_review_queue_item_status(queue.queue_id, item_id=first, status="declined",
                                    completed_by="bo")
    rq.set_review_queue_item_status(queue.queue_id, item_id=second, status="complete",
                                    completed_by="bo")
    assert session.next_item("ana") == third
    # An item claimed, then settled by someone else, is not handed back to its claimant.
    rq.set_review_queue_item_status(queue.queue_id, item_id=third, status="complete",
                                    completed_by="bo")
    assert session.next_item("ana") == fourth
    rq.set_review_queue_item_status(queue.queue_id, item_id=fourth, status="declined",
                                    completed_by="ana")
    assert session.next_item("ana") is None
    # Back to pending, an item is handed out again.
    rq.set_review_queue_item_status(queue.queue_id, item_id=first, status="pending")
    assert session.next_item("ana") == first


def test_a_plain_sessions_items_are_handed_out_as_before(rt: _runtime.Runtime) -> None:
    from assay.genai.labeling import create_labeling_session

    session = create_labeling_session("plain", assigned_users=["ana"])
    first, second = traced(2)
    session.add_traces([first, second])
    assert session.next_item("ana") == first


def test_a_user_queue_asks_every_schema_of_its_experiment(rt: _runtime.Runtime) -> None:
    schemas.create_label_schema(
        name="accuracy", type="feedback",
        input=schemas.InputCategorical(options=["Accurate", "Inaccurate"]))
    schemas.create_label_schema(name="ideal", type="expectation", input=schemas.InputText())
    queue = rq.get_or_create_user_queue(user="ana")
    assert queue.schema_ids == []
    [trace_id] = traced(1)
    rq.add_items_to_review_queue(queue.queue_id, item_ids=[trace_id])
    session = get_labeling_session(queue.run_id)
    assert session.next_item("ana") == trace_id
    written = session.submit(trace_id, "ana", {"accuracy": "Accurate", "ideal": "Yes."})
    assert sorted((a.name, a.kind, a.value) for a in written) == [
        ("accuracy", "feedback", "Accurate"), ("ideal", "expectation", "Yes.")]
    with pytest.raises(InvalidParameterError, match="'tone' is not a question"):
        session.submit(trace_id, "ana", {"tone": "fine"})
    with pytest.raises(InvalidParameterError, match="it accepts one of"):
        session.submit(trace_id, "ana", {"accuracy": "Maybe"})
    # A schema created later is asked too.
    schemas.create_label_schema(name="tone", type="feedback", input=schemas.InputText())
    [again] = session.submit(trace_id, "ana", {"tone": "fine"})
    assert (again.name, again.value) == ("tone", "fine")
    # Answering leaves the item's shared status as it is.
    [item] = rq.list_review_queue_items(queue.queue_id)
    assert item.status == "pending"


def test_a_user_queues_answers_agreement_and_gold_are_those_of_its_questions(
        rt: _runtime.Runtime) -> None:
    schemas.create_label_schema(
        name="accuracy", type="feedback",
        input=schemas.InputCategorical(options=["Accurate", "Inaccurate"]))
    queue = rq.get_or_create_user_queue(user="ana")
    first, second = traced(2)
    rq.add_items_to_review_queue(queue.queue_id, item_ids=[first, second])
    session = get_labeling_session(queue.run_id)
    assert session.label_schemas == ["accuracy"]
    session.submit(first, "ana", {"accuracy": "Accurate"})
    session.submit(second, "ana", {"accuracy": "Inaccurate"})
    assert session.answers() == {"accuracy": {first: {"ana": "Accurate"},
                                              second: {"ana": "Inaccurate"}}}
    assert session.gold_labels() == {"accuracy": {first: "Accurate", second: "Inaccurate"}}
    assert session.agreement()["accuracy"].n_items == 0  # one reviewer an item
    session.adjudicate(second, "accuracy", "Accurate")
    assert session.gold_labels()["accuracy"][second] == "Accurate"
    # A schema created later is one of its questions from then on.
    schemas.create_label_schema(name="tone", type="feedback", input=schemas.InputText())
    assert get_labeling_session(queue.run_id).label_schemas == ["accuracy", "tone"]
    assert set(session.answers()) == {"accuracy", "tone"}


def _token(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


@contextmanager
def _reviewing_as(store: SqlStore, name: str) -> Iterator[tuple[httpx.Client, str]]:
    """A client of the review app in process, its reviewer named ``name``; and the CSRF
    token of its forms."""
    with in_process(store, headers={"Accept": "text/html"}) as served:
        http = served.http
        token = _token(http.get("/review"))
        assert http.post("/review/reviewer", data={"name": name, "next": "/review",
                                                   "csrf_token": token}).status_code == 303
        yield http, token


def test_a_user_queue_is_answered_in_the_review_app(sql_store: SqlStore) -> None:
    data = seed_review(sql_store, num_items=3)
    experiment_id = sql_store.get_run(data.run_id).info.experiment_id
    queue = sql_store.get_or_create_user_queue(experiment_id, user=ALICE)
    first, second, third = data.trace_ids[:3]
    sql_store.add_items_to_review_queue(queue.queue_id, [first, second, third])
    sql_store.set_review_queue_item_status(queue.queue_id, item_id=first, status="declined",
                                           completed_by=ALICE)
    run_id = queue.run_id
    with _reviewing_as(sql_store, ALICE) as (http, token):
        listed = {s["name"]: s for s in http.get("/review.json").json()["sessions"]}
        assert listed[ALICE]["num_questions"] == len(SCHEMAS)
        page = http.get(f"/review/{run_id}.json").json()
        assert [q["name"] for q in page["questions"]] == [s.name for s in SCHEMAS]
        # The declined item is passed over.
        started = http.post(f"/review/{run_id}/next", data={"csrf_token": token})
        assert started.headers["location"] == f"/review/{run_id}/items/{second}"
        item = http.get(f"/review/{run_id}/items/{second}.json").json()
        assert [q["name"] for q in item["questions"]] == [s.name for s in SCHEMAS]
        done = http.post(f"/review/{run_id}/items/{second}",
                         data={"csrf_token": token, "a0": "Accurate", "a2": "4"})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/review/{run_id}/items/{third}?said=saved"
    stored = {a.name: a.value for a in sql_store.get_trace(second).info.assessments
              if a.run_id == run_id}
    assert stored == {"response_accuracy": "Accurate", "rating": 4.0}


def test_a_reviewer_marks_a_queue_item_complete_or_declined_in_the_review_app(
        sql_store: SqlStore) -> None:
    data = seed_review(sql_store, num_items=4)
    experiment_id = sql_store.get_run(data.run_id).info.experiment_id
    queue = sql_store.create_review_queue(experiment_id, name="Triage", queue_type="custom",
                                          users=[ALICE, "bo"])
    first, second, third = data.trace_ids[:3]
    sql_store.add_items_to_review_queue(queue.queue_id, [first, second, third])
    run_id = queue.run_id
    with _reviewing_as(sql_store, ALICE) as (http, token):
        page = http.get(f"/review/{run_id}/items/{first}")
        assert f'action="/review/{run_id}/items/{first}/status"' in page.text
        done = http.post(f"/review/{run_id}/items/{first}/status",
                         data={"csrf_token": token, "status": "complete"})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/review/{run_id}/items/{second}?said=complete"
        declined = http.post(f"/review/{run_id}/items/{second}/status",
                             data={"csrf_token": token, "status": "declined"})
        assert declined.headers["location"] == f"/review/{run_id}/items/{third}?said=declined"
        bad = http.post(f"/review/{run_id}/items/{third}/status",
                        data={"csrf_token": token, "status": "pending"})
        assert bad.status_code == 400
        assert "expected 'complete' or 'declined'" in html.unescape(bad.text)
        unsigned = http.post(f"/review/{run_id}/items/{third}/status",
                             data={"status": "complete"})
        assert unsigned.status_code == 403
        # Hostile input: a huge or NUL-laden status, an item that is no trace id, a body
        # that is not a form; each a 4xx, nothing written.
        for status in ("c" * 100_000, "complete\x00", ""):
            hostile = http.post(f"/review/{run_id}/items/{third}/status",
                                data={"csrf_token": token, "status": status})
            assert hostile.status_code == 400, status[:20]
        for item in ("x" * 5_000, "tr-%00", "no-such-trace"):
            hostile = http.post(f"/review/{run_id}/items/{item}/status",
                                data={"csrf_token": token, "status": "complete"})
            assert 400 <= hostile.status_code < 500, item[:20]
        not_a_form = http.post(f"/review/{run_id}/items/{third}/status",
                               json={"status": "complete"},
                               headers={"X-CSRF-Token": token})
        assert not_a_form.status_code == 400
        # A plain labeling session's items have no shared status: no buttons, and refused.
        plain = http.get(f"/review/{data.run_id}/items/{first}")
        assert plain.status_code == 200 and "/status" not in plain.text
        refused = http.post(f"/review/{data.run_id}/items/{first}/status",
                            data={"csrf_token": token, "status": "complete"})
        assert refused.status_code == 400 and "is not a review queue" in refused.text
    items = {i.item_id: i for i in sql_store.list_review_queue_items(queue.queue_id)}
    assert (items[first].status, items[first].completed_by) == ("complete", ALICE)
    assert (items[second].status, items[second].completed_by) == ("declined", ALICE)
    assert items[third].status == "pending"
    # Bo is handed neither settled item (the third is Alice's, claimed as she moved on), and
    # Alice's claims on the settled items were let go: only the third is in progress.
    assert sql_store.next_labeling_item(run_id, "bo") is None
    assert sql_store.get_labeling_progress(run_id).reviewers[ALICE].in_progress == 1
    # Reopened, an item is anyone's again.
    sql_store.set_review_queue_item_status(queue.queue_id, item_id=second, status="pending")
    assert sql_store.next_labeling_item(run_id, "bo") == second
