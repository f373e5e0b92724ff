"""Labeling sessions as stored: who reviews, which questions, how many reviewers an item
needs, and each reviewer's state on each item.

A labeling session is a run (kind ``labeling``) whose linked traces are its items. Each
(item, reviewer) moves from pending (no record yet) to in progress (claimed until a time,
after which an abandoned claim returns to the pool) to completed or skipped. An item is done
once ``reviewers_per_item`` reviewers completed it.

The **gold label** of an item for one question (:func:`gold_label`) is the value an
adjudicator set, if any; otherwise the value every reviewer who completed the item gave, once
at least ``reviewers_per_item`` of them answered it and all agree (with one reviewer per item,
their answer). A multi-select answer agrees with another holding the same options in any
order.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
import uuid
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.entities._checks import MAX_ID_CHARS, check_text
from assay.errors import InvalidParameterError

__all__ = [
    "MAX_REVIEWERS",
    "MAX_ROUTING_RULES",
    "MAX_SESSION_SCHEMAS",
    "GoldLabel",
    "LabelingSessionInfo",
    "ReviewState",
    "ReviewerProgress",
    "RoutingRule",
    "SessionProgress",
    "check_reviewer",
    "check_rule_id",
    "check_sample_rate",
    "gold_label",
    "is_sampled",
    "new_rule_id",
]

#: Most routing rules one session has.
MAX_ROUTING_RULES = 100
_RULE_ID = re.compile(r"rr-[0-9a-f]{32}")

#: Most reviewers assigned to one session, and most questions one session asks.
MAX_REVIEWERS = 1000
MAX_SESSION_SCHEMAS = 100


class ReviewState(enum.StrEnum):
    """Where a reviewer is with an item (no record at all: pending)."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    SKIPPED = "skipped"


def check_reviewer(value: object, field_name: str = "reviewer") -> str:
    """A reviewer's name or e-mail: non-empty text of at most 250 characters, as it is kept
    as the source id of their answers."""
    check_text(field_name, value, MAX_ID_CHARS)
    assert isinstance(value, str)
    if value != value.strip():
        raise InvalidParameterError(
            f"Invalid {field_name} {value!r}: it must not start or end with spaces")
    return value


@dataclass(frozen=True)
class LabelingSessionInfo:
    """What a session is: its run, name, questions (label schema names, in the order they
    are asked), reviewers (empty: anyone may review) and how many reviewers each item
    needs; for a session behind a review queue, the queue's type (``queue_type``, as the
    store keeps it; None for a plain session)."""

    run_id: str
    experiment_id: str
    name: str
    label_schemas: tuple[str, ...] = ()
    assigned_users: tuple[str, ...] = ()
    reviewers_per_item: int = 1
    instructions: str | None = None
    created_by: str | None = None
    created_at: int = 0
    queue_type: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_schemas",
                           _names("label_schemas", self.label_schemas, MAX_SESSION_SCHEMAS))
        object.__setattr__(self, "assigned_users",
                           _names("assigned_users", self.assigned_users, MAX_REVIEWERS))
        for reviewer in self.assigned_users:
            check_reviewer(reviewer, "assigned_users item")
        n = self.reviewers_per_item
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_REVIEWERS:
            raise InvalidParameterError(
                f"Invalid reviewers_per_item {n!r}: expected a whole number from 1 to "
                f"{MAX_REVIEWERS:,}")
        if self.assigned_users and n > len(self.assigned_users):
            raise InvalidParameterError(
                f"Invalid reviewers_per_item {n}: only {len(self.assigned_users)} "
                f"reviewer(s) are assigned, so no item could get {n}")
        if self.instructions is not None:
            check_text("instructions", self.instructions, 10_000, allow_empty=True)

    def may_review(self, reviewer: str) -> bool:
        """Whether ``reviewer`` may answer this session's items (anyone, when no one is
        assigned)."""
        return not self.assigned_users or reviewer in self.assigned_users

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "label_schemas": list(self.label_schemas),
            "assigned_users": list(self.assigned_users),
            "reviewers_per_item": self.reviewers_per_item,
            "instructions": self.instructions,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "queue_type": self.queue_type,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabelingSessionInfo:
        return cls(run_id=d["run_id"], experiment_id=str(d["experiment_id"]), name=d["name"],
                   label_schemas=tuple(d.get("label_schemas") or ()),
                   assigned_users=tuple(d.get("assigned_users") or ()),
                   reviewers_per_item=d.get("reviewers_per_item", 1),
                   instructions=d.get("instructions"), created_by=d.get("created_by"),
                   created_at=int(d.get("created_at") or 0), queue_type=d.get("queue_type"))


def _names(field_name: str, values: object, limit: int) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidParameterError(
            f"Invalid {field_name}: expected a list of names, got {type(values).__name__}")
    if len(values) > limit:
        raise InvalidParameterError(
            f"Invalid {field_name}: {len(values):,} names; the limit is {limit:,}")
    for value in values:
        check_text(f"{field_name} item", value, 250)
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        raise InvalidParameterError(f"Invalid {field_name}: {duplicates[0]!r} is listed twice")
    return tuple(values)


@dataclass(frozen=True)
class ReviewerProgress:
    """One reviewer's counts in a session (in progress: claims that have not expired)."""

    reviewer: str
    completed: int = 0
    skipped: int = 0
    in_progress: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"reviewer": self.reviewer, "completed": self.completed,
                "skipped": self.skipped, "in_progress": self.in_progress}


@dataclass(frozen=True)
class SessionProgress:
    """How far a session is: items in all, items done (reviewed by as many reviewers as
    each needs), answers given, and each reviewer's counts."""

    items: int
    done_items: int
    reviewers_per_item: int
    completed_reviews: int
    reviewers: dict[str, ReviewerProgress] = field(default_factory=dict)

    @property
    def fraction_done(self) -> float:
        """The share of the reviews needed that are given (0 for an empty session)."""
        needed = self.items * self.reviewers_per_item
        return 0.0 if needed == 0 else min(1.0, self.completed_reviews / needed)

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "done_items": self.done_items,
                "reviewers_per_item": self.reviewers_per_item,
                "completed_reviews": self.completed_reviews,
                "fraction_done": self.fraction_done,
                "reviewers": [p.to_dict() for p in self.reviewers.values()]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SessionProgress:
        reviewers = [ReviewerProgress(**p) for p in d.get("reviewers") or ()]
        return cls(items=d["items"], done_items=d["done_items"],
                   reviewers_per_item=d["reviewers_per_item"],
                   completed_reviews=d["completed_reviews"],
                   reviewers={p.reviewer: p for p in reviewers})


@dataclass(frozen=True)
class GoldLabel:
    """The gold label of one item for one question: its value, and whether an adjudicator
    set it (else the reviewers agreed on it)."""

    value: Any
    adjudicated: bool = False


def gold_label(answers: Sequence[Any], reviewers_per_item: int,
               adjudicated_value: Any = None) -> GoldLabel | None:
    """The gold label given the answers of the reviewers who completed an item (one each)
    and the adjudicated value (None: not adjudicated); None when there is none yet.

    The adjudicated value wins. Otherwise the answers give it when there are at least
    ``reviewers_per_item`` of them and all are equal; a list (a multi-select answer) is
    compared as a set of options, and the first answer's own form is returned.
    """
    if adjudicated_value is not None:
        return GoldLabel(adjudicated_value, adjudicated=True)
    given = [answer for answer in answers if answer is not None]
    if not given or len(given) < max(reviewers_per_item, 1):
        return None
    if len({_comparable(answer) for answer in given}) != 1:
        return None
    return GoldLabel(given[0])


def _comparable(value: Any) -> Hashable:
    if isinstance(value, list):
        return ("selection", frozenset(_comparable(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _comparable(item)) for key, item in value.items()))
    if isinstance(value, bool):
        # True == 1 in Python; an answer of true does not agree with an answer of 1.
        return ("bool", value)
    assert isinstance(value, Hashable)
    return value


@dataclass(frozen=True)
class RoutingRule:
    """A routing rule of a labeling session: traces of the session's experiment that match
    ``filter_string`` when they (or their feedback or tags) are written are added to the
    session; with ``sample_rate`` below 1, only that share of them, chosen by
    :func:`is_sampled`. A rule routes a trace once at most; ``hit_count`` counts the traces
    it routed."""

    rule_id: str
    run_id: str
    filter_string: str
    sample_rate: float = 1.0
    hit_count: int = 0
    created_time: int = 0
    created_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "run_id": self.run_id,
                "filter_string": self.filter_string, "sample_rate": self.sample_rate,
                "hit_count": self.hit_count, "created_time": self.created_time,
                "created_by": self.created_by}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RoutingRule:
        return cls(rule_id=d["rule_id"], run_id=d["run_id"], filter_string=d["filter_string"],
                   sample_rate=float(d["sample_rate"]), hit_count=int(d["hit_count"]),
                   created_time=int(d["created_time"]), created_by=d.get("created_by"))


def new_rule_id() -> str:
    """A fresh routing rule id: ``rr-`` and 32 hex digits."""
    return f"rr-{uuid.uuid4().hex}"


def check_rule_id(value: object) -> str:
    """``value`` if it is a routing rule id; InvalidParameterError naming it otherwise."""
    if not isinstance(value, str) or not _RULE_ID.fullmatch(value):
        raise InvalidParameterError(
            f"Invalid rule_id {value!r}: expected 'rr-' and 32 lowercase hex digits")
    return value


def check_sample_rate(value: object) -> float:
    """A sample rate: a number greater than 0 and at most 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not 0 < value <= 1:
        raise InvalidParameterError(
            f"Invalid sample_rate {value!r}: expected a number greater than 0 and at most 1")
    return float(value)


def is_sampled(rule_id: str, trace_id: str, sample_rate: float) -> bool:
    """Whether a rule with this sample rate takes this trace: the same answer every time
    (a hash of the rule and the trace, read as a fraction in [0, 1), below the rate), and
    independent from one rule to another."""
    if sample_rate >= 1:
        return True
    digest = hashlib.sha256(f"{rule_id}/{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < sample_rate
