"""Review queues (MLflow OSS 3.14+'s ``mlflow.genai.review_queues``) as Assay keeps them.

A review queue **is** a labeling session (a run of kind ``labeling``) with one reviewer per
item, so it shows in the Labeling tab and the review app and ``search_traces(run_id=...)``
finds its traces. What a queue adds to a session:

* its **type**: ``user`` (a reviewer's own worklist: its name is the user, who is its one
  assigned user, and it names no questions) or ``custom`` (any name but the reserved
  ``default``, any reviewers, a chosen set of label schemas);
* an id of MLflow's form, ``rq-`` and the session's run id (:func:`queue_id_of` and
  :func:`run_id_of` turn one into the other);
* a **status** per item, shared by the queue's reviewers: ``pending`` until someone marks it
  ``complete`` or ``declined`` (recording who, ``completed_by``, and when); reopening sets it
  back to ``pending`` and forgets who. Only an explicit call changes it: answering an item,
  in the review app or with ``log_feedback``, leaves it as it is.

Names are unique in an experiment regardless of case. Users are kept as MLflow keeps them:
stripped and lower-cased, so that they match the source ids of the reviewers' answers.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.entities._checks import MAX_ID_CHARS, check_text
from assay.entities.labeling import MAX_REVIEWERS, MAX_SESSION_SCHEMAS
from assay.errors import InvalidParameterError

__all__ = [
    "QUEUE_ID_PREFIX",
    "RESERVED_QUEUE_NAME",
    "ReviewItemType",
    "ReviewQueue",
    "ReviewQueueItem",
    "ReviewQueueType",
    "ReviewStatus",
    "check_completed_by",
    "check_queue_name",
    "check_queue_users",
    "check_schema_ids",
    "normalize_user",
    "queue_id_of",
    "run_id_of",
    "user_queue_questions",
]

QUEUE_ID_PREFIX = "rq-"
#: The name MLflow keeps for the default user's queue on a server without sign-in.
RESERVED_QUEUE_NAME = "default"
_QUEUE_ID = re.compile(r"rq-([0-9a-f]{32})")


class _Parsed(enum.StrEnum):
    @classmethod
    def parse(cls, value: object, field_name: str) -> Any:
        """The member named by ``value`` (any case; MLflow's enum names too); else
        InvalidParameterError naming the field and the values it takes."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for member in cls:
                if value.lower() == member.value:
                    return member
        choices = ", ".join(member.value for member in cls)
        raise InvalidParameterError(
            f"Invalid {field_name} {value!r}: expected one of {choices}")


class ReviewQueueType(_Parsed):
    """A user's own worklist, or a queue set up for a task."""

    USER = "user"
    CUSTOM = "custom"


class ReviewStatus(_Parsed):
    """Where an item of a queue is, for all its reviewers at once."""

    PENDING = "pending"
    COMPLETE = "complete"
    DECLINED = "declined"


class ReviewItemType(_Parsed):
    """What an item is (traces only, as in MLflow)."""

    TRACE = "trace"


def user_queue_questions(schema_names: Sequence[str]) -> tuple[str, ...]:
    """The questions of a user queue, which names no schemas: every label schema of its
    experiment (``schema_names``, in the order they were created), as many as a session
    may ask."""
    return tuple(schema_names[:MAX_SESSION_SCHEMAS])


def queue_id_of(run_id: str) -> str:
    """The queue id of the session whose run has this id."""
    return f"{QUEUE_ID_PREFIX}{run_id}"


def run_id_of(queue_id: object) -> str:
    """The run id of a queue's session; InvalidParameterError naming ``queue_id`` for what is
    not a queue id."""
    found = _QUEUE_ID.fullmatch(queue_id) if isinstance(queue_id, str) else None
    if found is None:
        shown = repr(queue_id) if not isinstance(queue_id, str) or len(queue_id) <= 60 \
            else "(too long)"
        raise InvalidParameterError(
            f"Invalid queue_id {shown}: expected 'rq-' and 32 lowercase hex digits")
    return found.group(1)


def normalize_user(value: object, field_name: str = "user") -> str:
    """A user as queues keep it: stripped, lower-cased, 1 to 250 characters."""
    if not isinstance(value, str):
        raise InvalidParameterError(
            f"Invalid {field_name}: expected a string, got {type(value).__name__}")
    user = value.strip().lower()
    check_text(field_name, user, MAX_ID_CHARS)
    return user


def check_queue_users(users: object) -> tuple[str, ...]:
    """A queue's users, normalized, duplicates dropped (the first kept)."""
    if users is None:
        return ()
    if isinstance(users, str) or not isinstance(users, Sequence):
        raise InvalidParameterError(
            f"Invalid users: expected a list of users, got {type(users).__name__}")
    found = tuple(dict.fromkeys(normalize_user(user, "users item") for user in users))
    if len(found) > MAX_REVIEWERS:
        raise InvalidParameterError(
            f"Invalid users: {len(found):,} users; the limit is {MAX_REVIEWERS:,}")
    return found


def check_schema_ids(schema_ids: object) -> tuple[str, ...]:
    """Label schema ids, stripped, duplicates dropped."""
    if schema_ids is None:
        return ()
    if isinstance(schema_ids, str) or not isinstance(schema_ids, Sequence):
        raise InvalidParameterError(
            f"Invalid schema_ids: expected a list of label schema ids, got "
            f"{type(schema_ids).__name__}")
    found: list[str] = []
    for schema_id in schema_ids:
        if not isinstance(schema_id, str):
            raise InvalidParameterError(
                f"Invalid schema_ids item {schema_id!r}: expected a label schema id")
        check_text("schema_ids item", schema_id.strip(), 100)
        found.append(schema_id.strip())
    unique = tuple(dict.fromkeys(found))
    if len(unique) > MAX_SESSION_SCHEMAS:
        raise InvalidParameterError(
            f"Invalid schema_ids: {len(unique):,} schemas; the limit is {MAX_SESSION_SCHEMAS:,}")
    return unique


def check_queue_name(name: object, queue_type: ReviewQueueType) -> str:
    """A queue's name: a user queue's is its user (normalized); a custom queue's is stripped,
    keeps its case, and is not ``default`` in any case."""
    if queue_type is ReviewQueueType.USER:
        return normalize_user(name, "name")
    if not isinstance(name, str):
        raise InvalidParameterError(
            f"Invalid name: expected a string, got {type(name).__name__}")
    stripped = name.strip()
    check_text("name", stripped, MAX_ID_CHARS)
    if stripped.lower() == RESERVED_QUEUE_NAME:
        raise InvalidParameterError(
            f"Invalid name {stripped!r}: {RESERVED_QUEUE_NAME!r} is reserved for user queues")
    return stripped


def check_completed_by(status: ReviewStatus, completed_by: object) -> str | None:
    """Who an item's new status is attributed to: required (normalized) for ``complete`` and
    ``declined``, refused for ``pending`` (reopening forgets who)."""
    if status is ReviewStatus.PENDING:
        if completed_by is not None:
            raise InvalidParameterError(
                "Invalid completed_by: it must not be given when reopening an item "
                "(status pending)")
        return None
    if completed_by is None or (isinstance(completed_by, str) and not completed_by.strip()):
        raise InvalidParameterError(
            f"Missing completed_by: it is required to set status {status.value!r}")
    return normalize_user(completed_by, "completed_by")


@dataclass(frozen=True)
class ReviewQueue:
    """A queue: its session's run id behind ``queue_id``, its users (a shared pool) and
    questions (label schema ids; none for a user queue, which asks all of them)."""

    queue_id: str
    experiment_id: str
    name: str
    queue_type: ReviewQueueType
    created_by: str | None
    creation_time_ms: int
    last_update_time_ms: int
    users: list[str] = field(default_factory=list)
    schema_ids: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """The run id of the queue's labeling session."""
        return run_id_of(self.queue_id)

    def to_dict(self) -> dict[str, Any]:
        return {"queue_id": self.queue_id, "experiment_id": self.experiment_id,
                "name": self.name, "queue_type": self.queue_type.value,
                "created_by": self.created_by, "creation_time_ms": self.creation_time_ms,
                "last_update_time_ms": self.last_update_time_ms, "users": list(self.users),
                "schema_ids": list(self.schema_ids)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReviewQueue:
        return cls(queue_id=d["queue_id"], experiment_id=str(d["experiment_id"]),
                   name=d["name"], queue_type=ReviewQueueType(d["queue_type"]),
                   created_by=d.get("created_by"),
                   creation_time_ms=int(d["creation_time_ms"]),
                   last_update_time_ms=int(d["last_update_time_ms"]),
                   users=list(d.get("users") or ()), schema_ids=list(d.get("schema_ids") or ()))


@dataclass(frozen=True)
class ReviewQueueItem:
    """An item of a queue and its status; ``completed_by`` and ``completed_time_ms`` only
    while it is complete or declined."""

    queue_id: str
    item_type: ReviewItemType
    item_id: str
    status: ReviewStatus
    creation_time_ms: int
    last_update_time_ms: int
    completed_by: str | None = None
    completed_time_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"queue_id": self.queue_id, "item_type": self.item_type.value,
                "item_id": self.item_id, "status": self.status.value,
                "creation_time_ms": self.creation_time_ms,
                "last_update_time_ms": self.last_update_time_ms,
                "completed_by": self.completed_by, "completed_time_ms": self.completed_time_ms}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReviewQueueItem:
        completed = d.get("completed_time_ms")
        return cls(queue_id=d["queue_id"], item_type=ReviewItemType(d["item_type"]),
                   item_id=d["item_id"], status=ReviewStatus(d["status"]),
                   creation_time_ms=int(d["creation_time_ms"]),
                   last_update_time_ms=int(d["last_update_time_ms"]),
                   completed_by=d.get("completed_by"),
                   completed_time_ms=None if completed is None else int(completed))
