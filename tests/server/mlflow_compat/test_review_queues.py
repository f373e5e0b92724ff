"""MLflow's review queue routes over Assay's review queues (labeling sessions): the JSON the
client reads, who an item's status is attributed to, and bad input refused in MLflow's
shape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assay.store.sql import SqlStore
from factories import make_trace
from server.auth_servers import AuthServer, serve_with_auth
from server.live import Served
from server.mlflow_compat.conftest import MLFLOW_CLIENT, V3, assert_mlflow_error

RQ = f"{V3}/review-queues"


def _traces(store: SqlStore, experiment_id: str, n: int) -> list[str]:
    traces = [make_trace(experiment_id=experiment_id) for _ in range(n)]
    store.log_traces(traces)
    return [t.info.trace_id for t in traces]


def test_a_queue_is_created_filled_worked_and_deleted(served: Served) -> None:
    http, store = served.http, served.store
    experiment_id = store.create_experiment("queues")
    schema = http.post(f"{V3}/label-schemas/create", json={
        "experiment_id": experiment_id, "name": "accuracy", "type": "FEEDBACK",
        "input": {"pass_fail": {}}}).json()["label_schema"]
    created = http.post(f"{RQ}/create", headers=MLFLOW_CLIENT, json={
        "experiment_id": experiment_id, "name": "Escalations", "queue_type": "CUSTOM",
        "users": ["Ana"], "schema_ids": [schema["schema_id"]]})
    assert created.status_code == 200, created.text
    queue = created.json()["review_queue"]
    assert queue["queue_id"].startswith("rq-")
    assert {k: v for k, v in queue.items() if not k.endswith("_ms") and k != "queue_id"} == {
        "experiment_id": experiment_id, "name": "Escalations", "queue_type": "CUSTOM",
        "users": ["ana"], "schema_ids": [schema["schema_id"]]}
    assert "created_by" not in queue  # no sign-in: no owner
    queue_id = queue["queue_id"]
    # The queue is a labeling session: Assay's own API sees it.
    session = store.get_labeling_session(queue_id.removeprefix("rq-"))
    assert session.label_schemas == ("accuracy",) and session.reviewers_per_item == 1

    assert http.get(f"{RQ}/get", params={"queue_id": queue_id}).json() == {
        "review_queue": queue}
    by_name = http.get(f"{RQ}/get-by-name", params={"experiment_id": experiment_id,
                                                     "name": "escalations"})
    assert by_name.json()["review_queue"]["queue_id"] == queue_id

    ids = _traces(store, experiment_id, 3)
    added = http.post(f"{RQ}/items/add", json={"queue_id": queue_id, "item_type": "TRACE",
                                               "item_ids": ids}).json()["items"]
    assert [(i["item_id"], i["status"], i["item_type"]) for i in added] == [
        (trace_id, "PENDING", "TRACE") for trace_id in ids]
    assert "completed_by" not in added[0]
    done = http.post(f"{RQ}/items/set-status", json={
        "queue_id": queue_id, "item_id": ids[0], "status": "COMPLETE",
        "completed_by": "ana"}).json()["item"]
    assert done["status"] == "COMPLETE" and done["completed_by"] == "ana"
    assert done["completed_time_ms"] >= done["creation_time_ms"]

    listed = http.get(f"{RQ}/items/list", params={"queue_id": queue_id,
                                                   "status": "PENDING", "max_results": 1})
    page = listed.json()
    assert [i["item_id"] for i in page["items"]] == [ids[2]]
    rest = http.get(f"{RQ}/items/list", params={
        "queue_id": queue_id, "status": "PENDING",
        "page_token": page["next_page_token"]}).json()
    assert [i["item_id"] for i in rest["items"]] == [ids[1]]
    everything = http.get(f"{RQ}/items/list", params={
        "queue_id": queue_id, "status": "REVIEW_STATUS_UNSPECIFIED"}).json()
    assert len(everything["items"]) == 3 and "next_page_token" not in everything

    listed_queues = http.get(f"{RQ}/list", params={"experiment_id": experiment_id,
                                                    "item_id": ids[0]}).json()
    assert [q["queue_id"] for q in listed_queues["review_queues"]] == [queue_id]
    assert http.get(f"{RQ}/list", params={"experiment_id": experiment_id,
                                          "user": "bo"}).json() == {"review_queues": []}

    updated = http.post(f"{RQ}/update", json={
        "queue_id": queue_id, "name": "Escalated", "update_users": True, "users": [],
        "update_schema_ids": False, "schema_ids": []}).json()["review_queue"]
    assert (updated["name"], updated["users"], updated["schema_ids"]) == (
        "Escalated", [], [schema["schema_id"]])
    assert http.post(f"{RQ}/items/remove", json={"queue_id": queue_id,
                                                  "item_ids": ids[:1]}).json() == {}
    assert http.post(f"{RQ}/delete", json={"queue_id": queue_id}).json() == {}
    assert http.post(f"{RQ}/delete", json={"queue_id": queue_id}).status_code == 200
    assert_mlflow_error(http.get(f"{RQ}/get", params={"queue_id": queue_id}), 404,
                        "RESOURCE_DOES_NOT_EXIST", queue_id)


def test_user_queues(served: Served) -> None:
    experiment_id = served.store.create_experiment("users")
    first = served.http.post(f"{RQ}/get-or-create-user", json={
        "experiment_id": experiment_id, "user": "Ana@Example.com"}).json()["review_queue"]
    assert (first["name"], first["queue_type"], first["users"], first["schema_ids"],
            first["created_by"]) == ("ana@example.com", "USER", ["ana@example.com"], [],
                                     "ana@example.com")
    again = served.http.post(f"{RQ}/get-or-create-user", json={
        "experiment_id": experiment_id, "user": "ana@example.com"}).json()["review_queue"]
    assert again == first
    assert_mlflow_error(served.http.post(f"{RQ}/update", json={
        "queue_id": first["queue_id"], "name": "mine"}), 400, "INVALID_PARAMETER_VALUE",
        "user queue")


def test_bad_input_is_refused_in_mlflows_shape(served: Served) -> None:
    http, store = served.http, served.store
    experiment_id = store.create_experiment("bad")
    other = store.create_experiment("other")
    queue_id = http.post(f"{RQ}/create", json={
        "experiment_id": experiment_id, "name": "q", "queue_type": "CUSTOM"}
    ).json()["review_queue"]["queue_id"]
    [trace_id] = _traces(store, experiment_id, 1)
    [foreign] = _traces(store, other, 1)
    http.post(f"{RQ}/items/add", json={"queue_id": queue_id, "item_ids": [trace_id]})

    assert_mlflow_error(http.post(f"{RQ}/create", json={
        "experiment_id": experiment_id, "name": "Q", "queue_type": "CUSTOM"}),
        400, "RESOURCE_ALREADY_EXISTS", "'Q'")
    assert_mlflow_error(http.post(f"{RQ}/create", json={
        "experiment_id": experiment_id, "name": "x", "queue_type": "TEAM"}),
        400, "INVALID_PARAMETER_VALUE", "queue_type")
    assert_mlflow_error(http.post(f"{RQ}/create", json={
        "experiment_id": experiment_id, "name": "ana", "queue_type": "USER",
        "users": ["bo"]}), 400, "INVALID_PARAMETER_VALUE", "users")
    assert_mlflow_error(http.post(f"{RQ}/items/set-status", json={
        "queue_id": queue_id, "item_id": trace_id, "status": "DONE",
        "completed_by": "ana"}), 400, "INVALID_PARAMETER_VALUE", "status")
    assert_mlflow_error(http.post(f"{RQ}/items/set-status", json={
        "queue_id": queue_id, "item_id": trace_id, "status": "DECLINED"}),
        400, "INVALID_PARAMETER_VALUE", "completed_by")
    assert_mlflow_error(http.post(f"{RQ}/items/set-status", json={
        "queue_id": queue_id, "item_id": trace_id}), 400, "INVALID_PARAMETER_VALUE",
        "status")
    assert_mlflow_error(http.post(f"{RQ}/items/add", json={
        "queue_id": queue_id, "item_ids": [foreign]}), 400, "INVALID_PARAMETER_VALUE",
        "item_ids", other)
    assert_mlflow_error(http.post(f"{RQ}/items/add", json={
        "queue_id": queue_id, "item_ids": []}), 400, "INVALID_PARAMETER_VALUE", "item_ids")
    assert_mlflow_error(http.get(f"{RQ}/get", params={"queue_id": "rq-nope"}), 400,
                        "INVALID_PARAMETER_VALUE", "queue_id")
    assert_mlflow_error(http.get(f"{RQ}/items/list", params={
        "queue_id": queue_id, "page_token": "junk"}), 400, "INVALID_PARAMETER_VALUE",
        "page_token")


@pytest.fixture
def auth_server(sql_store: SqlStore) -> Iterator[AuthServer]:
    with serve_with_auth(sql_store) as server:
        yield server


def test_with_sign_in_the_caller_owns_and_completes(auth_server: AuthServer) -> None:
    store = auth_server.store
    experiment_id = store.create_experiment("signed")
    [trace_id] = _traces(store, experiment_id, 1)
    bearer = {"Authorization": f"Bearer {auth_server.keys['member']}"}
    with auth_server.client(headers=bearer) as member:
        queue = member.post(f"{RQ}/create", json={
            "experiment_id": experiment_id, "name": "Team", "queue_type": "CUSTOM",
            "users": ["reviewer"], "created_by": "someone-else"}).json()["review_queue"]
        assert queue["created_by"] == "member"
        member.post(f"{RQ}/items/add", json={"queue_id": queue["queue_id"],
                                             "item_ids": [trace_id]})
        other = member.post(f"{RQ}/create", json={
            "experiment_id": experiment_id, "name": "Not theirs",
            "queue_type": "CUSTOM"}).json()["review_queue"]
    reviewer_key = {"Authorization": f"Bearer {auth_server.keys['reviewer']}"}
    with auth_server.client(headers=reviewer_key) as reviewer:
        done = reviewer.post(f"{RQ}/items/set-status", json={
            "queue_id": queue["queue_id"], "item_id": trace_id, "status": "COMPLETE"})
        assert done.status_code == 200, done.text
        assert done.json()["item"]["completed_by"] == "reviewer"
        # A reviewer acts as themself only, and sees only their queues.
        assert reviewer.post(f"{RQ}/items/set-status", json={
            "queue_id": queue["queue_id"], "item_id": trace_id, "status": "DECLINED",
            "completed_by": "member"}).status_code == 403
        assert reviewer.post(f"{RQ}/items/set-status", json={
            "queue_id": other["queue_id"], "item_id": trace_id, "status": "COMPLETE"}
        ).status_code == 404
        # Creating a queue is an owner's work.
        assert reviewer.post(f"{RQ}/create", json={
            "experiment_id": experiment_id, "name": "Mine", "queue_type": "CUSTOM"}
        ).status_code == 403
