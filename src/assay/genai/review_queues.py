"""Review queues, as MLflow's ``mlflow.genai.review_queues`` (OSS 3.14+) has them::

    from assay.genai import review_queues as rq

    queue = rq.create_review_queue("Escalations", queue_type="custom", users=["ana"],
                                   schema_ids=[accuracy.schema_id])
    rq.add_items_to_review_queue(queue.queue_id, item_ids=trace_ids)
    rq.set_review_queue_item_status(queue.queue_id, item_id=trace_ids[0],
                                    status="complete", completed_by="ana")
    rq.list_review_queue_items(queue.queue_id, status="pending")

A queue is a labeling session (``queue.run_id``) with one reviewer per item: it shows in the
experiment's Labeling tab, reviewers answer its items in the review app, and
``search_traces(run_id=queue.run_id)`` finds them. Each item's status (pending, complete,
declined) is shared by the queue's reviewers and changes only by
:func:`set_review_queue_item_status`: answering an item leaves it as it is.

A queue belongs to an experiment (the active one unless ``experiment_id`` is given). The
functions work on a local store and against a server alike.
"""

from __future__ import annotations

from typing import Literal

from assay import _runtime
from assay.entities.review_queue import (
    ReviewItemType,
    ReviewQueue,
    ReviewQueueItem,
    ReviewQueueType,
    ReviewStatus,
)
from assay.errors import InvalidParameterError
from assay.paging import PagedList

__all__ = [
    "ReviewItemType",
    "ReviewQueue",
    "ReviewQueueItem",
    "ReviewQueueType",
    "ReviewStatus",
    "add_items_to_review_queue",
    "create_review_queue",
    "delete_review_queue",
    "get_or_create_user_queue",
    "get_review_queue",
    "list_review_queue_items",
    "list_review_queues",
    "remove_items_from_review_queue",
    "set_review_queue_item_status",
    "update_review_queue",
]

#: The page size when none is given.
DEFAULT_PAGE = 100


def create_review_queue(name: str, *, queue_type: Literal["user", "custom"],
                        users: list[str] | None = None, schema_ids: list[str] | None = None,
                        experiment_id: str | None = None) -> ReviewQueue:
    """Create a review queue.

    Args:
        name: unique in the experiment regardless of case. A user queue's name is its
            user; ``default`` is reserved for user queues.
        queue_type: ``"user"`` (one user, the one it is named after; asks every label
            schema of the experiment) or ``"custom"`` (any users, the schemas given).
        users: the reviewers, a shared pool (kept lower-cased).
        schema_ids: the questions, label schemas of the experiment (none for a user queue).
        experiment_id: where the queue lives (default: the active experiment).
    """
    return _runtime.runtime().store().create_review_queue(
        _experiment(experiment_id), name=name, queue_type=queue_type, users=users,
        schema_ids=schema_ids)


def get_or_create_user_queue(user: str, *, experiment_id: str | None = None) -> ReviewQueue:
    """``user``'s own queue in the experiment, created if it has none."""
    return _runtime.runtime().store().get_or_create_user_queue(_experiment(experiment_id),
                                                               user=user)


def get_review_queue(queue_id: str | None = None, *, name: str | None = None,
                     experiment_id: str | None = None) -> ReviewQueue:
    """The queue with this id, or of this name (any case) in the experiment: give exactly
    one of the two. NotFoundError when there is none."""
    if (queue_id is None) == (name is None):
        raise InvalidParameterError("Give exactly one of queue_id and name")
    store = _runtime.runtime().store()
    if queue_id is not None:
        return store.get_review_queue(queue_id)
    assert name is not None
    return store.get_review_queue_by_name(_experiment(experiment_id), name)


def list_review_queues(*, user: str | None = None, experiment_id: str | None = None,
                       max_results: int | None = None,
                       page_token: str | None = None) -> PagedList[ReviewQueue]:
    """The experiment's queues, newest first, a page at a time (``.token`` is the next
    page's); with ``user``, only those assigned to them."""
    return _runtime.runtime().store().list_review_queues(
        _experiment(experiment_id), user=user, max_results=_page(max_results),
        page_token=page_token)


def update_review_queue(queue_id: str, *, name: str | None = None,
                        new_owner: str | None = None, users: list[str] | None = None,
                        schema_ids: list[str] | None = None) -> ReviewQueue:
    """Change a custom queue's name, owner, users or questions (None leaves one as it is;
    an empty list clears it). A user queue cannot change; the questions are locked once the
    queue has items."""
    return _runtime.runtime().store().update_review_queue(
        queue_id, name=name, new_owner=new_owner, users=users, schema_ids=schema_ids)


def delete_review_queue(queue_id: str) -> None:
    """Delete a queue (nothing happens for one that does not exist); the reviewers'
    answers stay on the traces."""
    _runtime.runtime().store().delete_review_queue(queue_id)


def add_items_to_review_queue(queue_id: str, *, item_ids: list[str]) -> list[ReviewQueueItem]:
    """Add traces of the queue's experiment as pending items (an item already there keeps
    its status); every item asked for comes back, in the order asked."""
    return _runtime.runtime().store().add_items_to_review_queue(queue_id, item_ids)


def remove_items_from_review_queue(queue_id: str, *, item_ids: list[str]) -> None:
    """Remove items; traces that are not items are ignored."""
    _runtime.runtime().store().remove_items_from_review_queue(queue_id, item_ids)


def list_review_queue_items(queue_id: str, *,
                            status: Literal["pending", "complete", "declined"] | None = None,
                            max_results: int | None = None,
                            page_token: str | None = None) -> PagedList[ReviewQueueItem]:
    """A queue's items, the last added first, a page at a time; with ``status``, only
    those in it."""
    return _runtime.runtime().store().list_review_queue_items(
        queue_id, status=status, max_results=_page(max_results),
        page_token=page_token)


def set_review_queue_item_status(queue_id: str, *, item_id: str,
                                 status: Literal["pending", "complete", "declined"],
                                 completed_by: str | None = None) -> ReviewQueueItem:
    """Mark an item ``"complete"`` or ``"declined"`` (``completed_by`` required: on a
    server with sign-in it defaults to the caller), or reopen it (``"pending"``, no
    ``completed_by``; who and when are forgotten)."""
    return _runtime.runtime().store().set_review_queue_item_status(
        queue_id, item_id=item_id, status=status, completed_by=completed_by)


def _page(max_results: int | None) -> int:
    return DEFAULT_PAGE if max_results is None else max_results


def _experiment(experiment_id: str | None) -> str:
    if experiment_id is not None:
        return str(experiment_id)
    return _runtime.runtime().active_experiment_id()
