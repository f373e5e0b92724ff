"""Who may see a review queue and whom an item's status is attributed to: one rule for
Assay's routes (``/api/v1/review-queues``) and MLflow's (``/api/3.0/mlflow/review-queues``).

* A reviewer (the *reviewer* role) sees only the queues they are assigned to; any other is
  "not found" to them, as a labeling session is.
* Marking an item complete or declined is attributed to the signed-in caller: a reviewer
  always to themself (naming someone else is refused), an admin or member to whom they name,
  by default themself. Without sign-in the request must name ``completed_by``. Reopening an
  item (pending) names no one.
"""

from __future__ import annotations

from assay.entities.review_queue import ReviewQueue, ReviewStatus, normalize_user
from assay.entities.user import Role, User
from assay.errors import InvalidParameterError, NotFoundError, PermissionDeniedError
from assay.store.base import Store

__all__ = ["completer", "visible_queue"]


def visible_queue(store: Store, queue_id: str, user: User | None) -> ReviewQueue:
    """The queue, if the caller may see it (NotFoundError otherwise)."""
    queue = store.get_review_queue(queue_id)
    if user is not None and user.role is Role.REVIEWER \
            and normalize_user(user.username) not in queue.users:
        raise NotFoundError(f"Review queue with id {queue_id!r} not found")
    return queue


def completer(status: str, given: str | None, user: User | None) -> str | None:
    """Whom a status change is attributed to (see the module docstring); the store checks
    what is left (missing for complete and declined, given for pending)."""
    try:
        parsed = ReviewStatus.parse(status, "status")
    except InvalidParameterError:
        return given  # the store names the bad status
    if user is None or parsed is ReviewStatus.PENDING:
        return given
    if user.role is Role.REVIEWER and given is not None \
            and normalize_user(given) != normalize_user(user.username):
        raise PermissionDeniedError(
            f"A reviewer completes items as themself only; {user.username!r} cannot act for "
            f"{given!r}")
    return given if given is not None else user.username
