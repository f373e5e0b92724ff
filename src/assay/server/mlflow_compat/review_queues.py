"""MLflow's review queue routes (``/api/3.0/mlflow/review-queues/...``, MLflow OSS 3.14+):
what ``mlflow.genai.review_queues`` calls against a tracking server, over Assay's review
queues (labeling sessions; the same store operations and rules as
``/api/v1/review-queues``).

The messages are MLflow's ``ReviewQueue`` and ``ReviewQueueItem`` with its enum names
(``USER``, ``TRACE``, ``PENDING``); ``created_by``, ``completed_by`` and
``completed_time_ms`` are left out when unset, as protobuf leaves them. As in MLflow, a
queue's owner is the signed-in user (never what the client sends) and an item's status is
attributed to the signed-in user (:mod:`assay.server.review_queue_rules`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import Field

from assay.entities.review_queue import ReviewQueue, ReviewQueueItem, ReviewStatus
from assay.errors import InvalidParameterError
from assay.server.deps import CurrentUserDep, StoreDep
from assay.server.mlflow_compat.protocol import MlflowRequest, page_json
from assay.server.permissions import Action, needs
from assay.server.review_queue_rules import completer, visible_queue
from assay.server.route_tables import RouteTable

__all__ = ["item_json", "queue_json", "v3"]

v3 = RouteTable(prefix="/review-queues")

#: The largest page of a list (Assay's store pages 1,000 at most).
MAX_LIST_RESULTS = 1000

_ID = Field(min_length=1, max_length=100)


class CreateReviewQueue(MlflowRequest):
    experiment_id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=250)
    queue_type: str = Field(min_length=1, max_length=40)
    users: list[str] = Field(default_factory=list, max_length=1000)
    schema_ids: list[str] = Field(default_factory=list, max_length=100)


class GetOrCreateUserQueue(MlflowRequest):
    experiment_id: str = Field(min_length=1, max_length=32)
    user: str = Field(min_length=1, max_length=250)


class UpdateReviewQueue(MlflowRequest):
    queue_id: str = _ID
    name: str | None = Field(default=None, min_length=1, max_length=250)
    new_owner: str | None = Field(default=None, min_length=1, max_length=250)
    update_users: bool = False
    users: list[str] = Field(default_factory=list, max_length=1000)
    update_schema_ids: bool = False
    schema_ids: list[str] = Field(default_factory=list, max_length=100)


class QueueId(MlflowRequest):
    queue_id: str = _ID


class AddItems(MlflowRequest):
    queue_id: str = _ID
    item_type: str | None = Field(default=None, max_length=40)
    item_ids: list[str] = Field(default_factory=list, max_length=10_000)


class RemoveItems(MlflowRequest):
    queue_id: str = _ID
    item_ids: list[str] = Field(default_factory=list, max_length=10_000)


class SetItemStatus(MlflowRequest):
    queue_id: str = _ID
    item_id: str = _ID
    status: str | None = Field(default=None, max_length=40)
    completed_by: str | None = Field(default=None, max_length=250)


def queue_json(queue: ReviewQueue) -> dict[str, Any]:
    """A queue as MLflow's ``ReviewQueue`` message."""
    d: dict[str, Any] = {
        "queue_id": queue.queue_id, "experiment_id": queue.experiment_id, "name": queue.name,
        "queue_type": queue.queue_type.value.upper(),
        "creation_time_ms": queue.creation_time_ms,
        "last_update_time_ms": queue.last_update_time_ms,
        "users": list(queue.users), "schema_ids": list(queue.schema_ids)}
    if queue.created_by is not None:
        d["created_by"] = queue.created_by
    return d


def item_json(item: ReviewQueueItem) -> dict[str, Any]:
    """An item as MLflow's ``ReviewQueueItem`` message."""
    d: dict[str, Any] = {
        "queue_id": item.queue_id, "item_type": item.item_type.value.upper(),
        "item_id": item.item_id, "status": item.status.value.upper(),
        "creation_time_ms": item.creation_time_ms,
        "last_update_time_ms": item.last_update_time_ms}
    if item.completed_by is not None:
        d["completed_by"] = item.completed_by
    if item.completed_time_ms is not None:
        d["completed_time_ms"] = item.completed_time_ms
    return d


def _status(value: str | None) -> str:
    """A status to set: MLflow's enum name; the unset enum is refused by name."""
    if value is None or value == "REVIEW_STATUS_UNSPECIFIED":
        raise InvalidParameterError(
            "Missing status: expected one of PENDING, COMPLETE, DECLINED")
    return value


@v3.post("/create", openapi_extra=needs(Action.WRITE))
def create_review_queue(body: CreateReviewQueue, store: StoreDep,
                        user: CurrentUserDep) -> dict[str, Any]:
    if body.queue_type == "REVIEW_QUEUE_TYPE_UNSPECIFIED":
        raise InvalidParameterError("Missing queue_type: expected USER or CUSTOM")
    queue = store.create_review_queue(
        body.experiment_id, name=body.name, queue_type=body.queue_type, users=body.users,
        schema_ids=body.schema_ids, created_by=None if user is None else user.username)
    return {"review_queue": queue_json(queue)}


@v3.post("/get-or-create-user", openapi_extra=needs(Action.WRITE))
def get_or_create_user_queue(body: GetOrCreateUserQueue, store: StoreDep) -> dict[str, Any]:
    queue = store.get_or_create_user_queue(body.experiment_id, user=body.user)
    return {"review_queue": queue_json(queue)}


@v3.get("/get", openapi_extra=needs(Action.READ))
def get_review_queue(store: StoreDep,
                     queue_id: Annotated[str, Query(min_length=1, max_length=100)]
                     ) -> dict[str, Any]:
    return {"review_queue": queue_json(store.get_review_queue(queue_id))}


@v3.get("/get-by-name", openapi_extra=needs(Action.READ))
def get_review_queue_by_name(
        store: StoreDep, experiment_id: Annotated[str, Query(min_length=1, max_length=32)],
        name: Annotated[str, Query(min_length=1, max_length=250)]) -> dict[str, Any]:
    return {"review_queue": queue_json(store.get_review_queue_by_name(experiment_id, name))}


@v3.get("/list", openapi_extra=needs(Action.READ))
def list_review_queues(
        store: StoreDep, experiment_id: Annotated[str, Query(min_length=1, max_length=32)],
        user: Annotated[str | None, Query(min_length=1, max_length=250)] = None,
        item_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
        max_results: Annotated[int, Query(ge=1, le=50_000)] = MAX_LIST_RESULTS,
        page_token: Annotated[str | None, Query(max_length=1000)] = None) -> dict[str, Any]:
    """The experiment's queues, newest first, a page at a time."""
    page = store.list_review_queues(experiment_id, user=user, item_id=item_id,
                                    max_results=min(max_results, MAX_LIST_RESULTS),
                                    page_token=page_token or None)
    return page_json("review_queues", [queue_json(q) for q in page], page.token)


@v3.post("/update", openapi_extra=needs(Action.WRITE))
def update_review_queue(body: UpdateReviewQueue, store: StoreDep) -> dict[str, Any]:
    """A sparse update: the lists change only with their ``update_*`` flag set."""
    queue = store.update_review_queue(
        body.queue_id, name=body.name, new_owner=body.new_owner,
        users=body.users if body.update_users else None,
        schema_ids=body.schema_ids if body.update_schema_ids else None)
    return {"review_queue": queue_json(queue)}


@v3.post("/delete", openapi_extra=needs(Action.WRITE))
def delete_review_queue(body: QueueId, store: StoreDep) -> dict[str, Any]:
    store.delete_review_queue(body.queue_id)
    return {}


@v3.post("/items/add", openapi_extra=needs(Action.WRITE))
def add_items_to_review_queue(body: AddItems, store: StoreDep) -> dict[str, Any]:
    if body.item_type not in (None, "TRACE", "trace", "REVIEW_ITEM_TYPE_UNSPECIFIED"):
        raise InvalidParameterError(f"Invalid item_type {body.item_type!r}: expected TRACE")
    items = store.add_items_to_review_queue(body.queue_id, body.item_ids)
    return {"items": [item_json(item) for item in items]}


@v3.post("/items/remove", openapi_extra=needs(Action.WRITE))
def remove_items_from_review_queue(body: RemoveItems, store: StoreDep) -> dict[str, Any]:
    store.remove_items_from_review_queue(body.queue_id, body.item_ids)
    return {}


@v3.get("/items/list", openapi_extra=needs(Action.READ))
def list_review_queue_items(
        store: StoreDep, queue_id: Annotated[str, Query(min_length=1, max_length=100)],
        status: Annotated[str | None, Query(max_length=40)] = None,
        max_results: Annotated[int, Query(ge=1, le=50_000)] = MAX_LIST_RESULTS,
        page_token: Annotated[str | None, Query(max_length=1000)] = None) -> dict[str, Any]:
    """A queue's items, the last added first; ``status`` unset or unspecified: all."""
    wanted = None if status in (None, "", "REVIEW_STATUS_UNSPECIFIED") else status
    page = store.list_review_queue_items(
        queue_id, status=None if wanted is None else ReviewStatus.parse(wanted, "status"),
        max_results=min(max_results, MAX_LIST_RESULTS), page_token=page_token or None)
    return page_json("items", [item_json(item) for item in page], page.token)


@v3.post("/items/set-status", openapi_extra=needs(Action.REVIEW))
def set_review_queue_item_status(body: SetItemStatus, store: StoreDep,
                                 user: CurrentUserDep) -> dict[str, Any]:
    status = _status(body.status)
    visible_queue(store, body.queue_id, user)
    item = store.set_review_queue_item_status(
        body.queue_id, item_id=body.item_id, status=status,
        completed_by=completer(status, body.completed_by, user))
    return {"item": item_json(item)}
