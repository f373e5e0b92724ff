"""Review queues (MLflow's ``mlflow.genai.review_queues``): labeling sessions with one
reviewer per item and a status per item shared by their reviewers.

Owners (``write``) create, change and delete queues and their items; anyone who may
``read`` lists them; reviewers (``review``) set an item's status in the queues they are
assigned to (see :mod:`assay.server.review_queue_rules` for whom it is attributed to).
"""

from __future__ import annotations

from typing import Any

from fastapi import Query
from pydantic import BaseModel, Field

from assay.server.api.common import EmptyResponse, RequestModel
from assay.server.deps import CurrentUserDep, StoreDep
from assay.server.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from assay.server.permissions import Action, needs
from assay.server.review_queue_rules import completer, visible_queue
from assay.server.route_tables import RouteTable

__all__ = ["router"]

router = RouteTable(tags=["review queues"], responses=ERROR_RESPONSES)

_QUEUE = ("queue_id, experiment_id, name, queue_type (user | custom), created_by, "
          "creation_time_ms, last_update_time_ms, users, schema_ids")
_ITEM = ("queue_id, item_type (trace), item_id (a trace id), status (pending | complete | "
         "declined), creation_time_ms, last_update_time_ms, completed_by, completed_time_ms")


class CreateQueueRequest(RequestModel):
    experiment_id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=250,
                      description="Unique in the experiment regardless of case; a user "
                                  "queue's is its user")
    queue_type: str = Field(description="user or custom",
                            json_schema_extra={"enum": ["user", "custom"]})
    users: list[str] = Field(default_factory=list, max_length=1000,
                             description="The reviewers (a user queue: its one user)")
    schema_ids: list[str] = Field(default_factory=list, max_length=100,
                                  description="The questions (a user queue: none)")


class UserQueueRequest(RequestModel):
    experiment_id: str = Field(min_length=1, max_length=32)
    user: str = Field(min_length=1, max_length=250)


class UpdateQueueRequest(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=250)
    new_owner: str | None = Field(default=None, min_length=1, max_length=250)
    users: list[str] | None = Field(default=None, max_length=1000,
                                    description="Replaces the reviewers ([]: none)")
    schema_ids: list[str] | None = Field(default=None, max_length=100,
                                         description="Replaces the questions (only while "
                                                     "the queue has no items)")


class QueueItemIdsRequest(RequestModel):
    item_ids: list[str] = Field(min_length=1, max_length=10_000,
                                description="Trace ids of the queue's experiment")


class QueueItemStatusRequest(RequestModel):
    status: str = Field(description="pending, complete or declined",
                        json_schema_extra={"enum": ["pending", "complete", "declined"]})
    completed_by: str | None = Field(
        default=None, max_length=250,
        description="Who completed or declined it (default: the signed-in user; required "
                    "without sign-in); not given to reopen (pending)")


class QueueResponse(BaseModel):
    review_queue: dict[str, Any] = Field(description=_QUEUE)


class QueuesResponse(BaseModel):
    review_queues: list[dict[str, Any]]
    next_page_token: str | None = None


class QueueItemResponse(BaseModel):
    item: dict[str, Any] = Field(description=_ITEM)


class QueueItemsResponse(BaseModel):
    items: list[dict[str, Any]]
    next_page_token: str | None = None


@router.post("/review-queues", response_model=QueueResponse,
             openapi_extra=needs(Action.WRITE), responses={409: CONFLICT_RESPONSE})
def create_review_queue(body: CreateQueueRequest, store: StoreDep,
                        user: CurrentUserDep) -> QueueResponse:
    """Create a review queue: a labeling session with one reviewer per item."""
    queue = store.create_review_queue(
        body.experiment_id, name=body.name, queue_type=body.queue_type, users=body.users,
        schema_ids=body.schema_ids, created_by=None if user is None else user.username)
    return QueueResponse(review_queue=queue.to_dict())


@router.post("/review-queues/user-queue", response_model=QueueResponse,
             openapi_extra=needs(Action.WRITE), responses={409: CONFLICT_RESPONSE})
def get_or_create_user_queue(body: UserQueueRequest, store: StoreDep) -> QueueResponse:
    """A user's own queue in an experiment, created if it has none."""
    queue = store.get_or_create_user_queue(body.experiment_id, user=body.user)
    return QueueResponse(review_queue=queue.to_dict())


@router.get("/review-queues/{queue_id}", response_model=QueueResponse,
            openapi_extra=needs(Action.READ))
def get_review_queue(queue_id: str, store: StoreDep) -> QueueResponse:
    """The review queue with this id."""
    return QueueResponse(review_queue=store.get_review_queue(queue_id).to_dict())


@router.get("/experiments/{experiment_id}/review-queues", response_model=QueuesResponse,
            openapi_extra=needs(Action.READ))
def list_review_queues(
        experiment_id: str, store: StoreDep,
        name: str | None = Query(default=None, min_length=1, max_length=250,
                                 description="Only the queue of this name (any case)"),
        user: str | None = Query(default=None, min_length=1, max_length=250,
                                 description="Only the queues assigned to this user"),
        item_id: str | None = Query(default=None, min_length=1, max_length=100,
                                    description="Only the queues holding this trace"),
        max_results: int = Query(default=100, ge=1, le=1000),
        page_token: str | None = Query(default=None, max_length=1000)) -> QueuesResponse:
    """The experiment's review queues, newest first (or the one named ``name``)."""
    if name is not None:
        found = store.get_review_queue_by_name(experiment_id, name)
        return QueuesResponse(review_queues=[found.to_dict()])
    page = store.list_review_queues(experiment_id, user=user, item_id=item_id,
                                    max_results=max_results, page_token=page_token)
    return QueuesResponse(review_queues=[queue.to_dict() for queue in page],
                          next_page_token=page.token)


@router.patch("/review-queues/{queue_id}", response_model=QueueResponse,
              openapi_extra=needs(Action.WRITE), responses={409: CONFLICT_RESPONSE})
def update_review_queue(queue_id: str, body: UpdateQueueRequest,
                        store: StoreDep) -> QueueResponse:
    """Change a custom queue's name, owner, reviewers or questions."""
    queue = store.update_review_queue(queue_id, name=body.name, new_owner=body.new_owner,
                                      users=body.users, schema_ids=body.schema_ids)
    return QueueResponse(review_queue=queue.to_dict())


@router.delete("/review-queues/{queue_id}", response_model=EmptyResponse,
               openapi_extra=needs(Action.WRITE))
def delete_review_queue(queue_id: str, store: StoreDep) -> EmptyResponse:
    """Delete a queue and its session (nothing happens for one that does not exist); the
    answers stay on the traces."""
    store.delete_review_queue(queue_id)
    return EmptyResponse()


@router.post("/review-queues/{queue_id}/items", response_model=QueueItemsResponse,
             openapi_extra=needs(Action.WRITE))
def add_items_to_review_queue(queue_id: str, body: QueueItemIdsRequest,
                              store: StoreDep) -> QueueItemsResponse:
    """Add traces as pending items; every item asked for comes back, in the order asked."""
    items = store.add_items_to_review_queue(queue_id, body.item_ids)
    return QueueItemsResponse(items=[item.to_dict() for item in items])


@router.post("/review-queues/{queue_id}/items/remove", response_model=EmptyResponse,
             openapi_extra=needs(Action.WRITE))
def remove_items_from_review_queue(queue_id: str, body: QueueItemIdsRequest,
                                   store: StoreDep) -> EmptyResponse:
    """Remove items (traces that are not items are ignored)."""
    store.remove_items_from_review_queue(queue_id, body.item_ids)
    return EmptyResponse()


@router.get("/review-queues/{queue_id}/items", response_model=QueueItemsResponse,
            openapi_extra=needs(Action.READ))
def list_review_queue_items(
        queue_id: str, store: StoreDep,
        status: str | None = Query(default=None, max_length=20,
                                   description="pending, complete or declined"),
        max_results: int = Query(default=100, ge=1, le=1000),
        page_token: str | None = Query(default=None, max_length=1000)) -> QueueItemsResponse:
    """A queue's items, the last added first."""
    page = store.list_review_queue_items(queue_id, status=status, max_results=max_results,
                                         page_token=page_token)
    return QueueItemsResponse(items=[item.to_dict() for item in page], next_page_token=page.token)


@router.put("/review-queues/{queue_id}/items/{item_id}/status", response_model=QueueItemResponse,
            openapi_extra=needs(Action.REVIEW))
def set_review_queue_item_status(queue_id: str, item_id: str, body: QueueItemStatusRequest,
                                 store: StoreDep, user: CurrentUserDep) -> QueueItemResponse:
    """Mark an item complete or declined (by whom), or reopen it (pending)."""
    visible_queue(store, queue_id, user)
    item = store.set_review_queue_item_status(
        queue_id, item_id=item_id, status=body.status,
        completed_by=completer(body.status, body.completed_by, user))
    return QueueItemResponse(item=item.to_dict())
