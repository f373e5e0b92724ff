"""Review queues in the SQL store: labeling sessions with a queue type, and their items'
shared status (see :mod:`assay.entities.review_queue`).

A queue is a row of ``labeling_sessions`` whose ``queue_type`` is set (with its run, its
reviewers in ``labeling_reviewers`` and its questions as label schema names, as any
session); its items are the session's ``run_traces`` rows, whose ``review_status`` (NULL:
pending), ``completed_by``, ``completed_time_ms`` and ``status_time_ms`` are the queue's.
Items are added and removed by the session's own operations (:mod:`.labeling`), so the
session's counters and gold labels follow.

Functions take an open Connection; the caller owns the transaction. Writes lock the
session's row first (PostgreSQL), as the session's other writes do.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay import _json
from assay.entities._checks import MAX_ID_CHARS, check_text
from assay.entities.labeling import LabelingSessionInfo, ReviewState
from assay.entities.review_queue import (
    ReviewItemType,
    ReviewQueue,
    ReviewQueueItem,
    ReviewQueueType,
    ReviewStatus,
    check_completed_by,
    check_queue_name,
    check_queue_users,
    check_schema_ids,
    normalize_user,
    queue_id_of,
    run_id_of,
)
from assay.entities.run import new_run_id
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.ids import check_trace_id
from assay.paging import PagedList
from assay.store.sql import labeling as sql_labeling
from assay.store.sql.dialect import Dialect, in_values, lock_claims
from assay.store.sql.experiments import get_experiment
from assay.store.sql.page_tokens import decode_page_token, encode_page_token
from assay.store.sql.runs import MAX_LINKED_TRACES
from assay.store.sql.schema import (
    label_schemas,
    labeling_reviewers,
    labeling_reviews,
    labeling_sessions,
    run_traces,
    runs,
    traces,
)

__all__ = [
    "MAX_PAGE",
    "add_items",
    "create_queue",
    "delete_queue",
    "get_or_create_user_queue",
    "get_queue",
    "get_queue_by_name",
    "list_items",
    "list_queues",
    "remove_items",
    "set_item_status",
    "update_queue",
]

#: The largest page of queues or items.
MAX_PAGE = 1000
_QUEUES_PAGE = "review_queues"
_ITEMS_PAGE = "review_queue_items"


def create_queue(conn: Connection, experiment_id: str, *, name: object, queue_type: object,
                 users: object = None, schema_ids: object = None,
                 created_by: str | None = None) -> ReviewQueue:
    """Store a new queue (and its session) and return it. A user queue's user is its name
    (``users`` may repeat it) and it names no schemas; a custom queue's schemas must be in
    its experiment. AlreadyExistsError when the experiment has a queue of that name in any
    case."""
    kind = ReviewQueueType.parse(queue_type, "queue_type")
    checked_name = check_queue_name(name, kind)
    checked_users = check_queue_users(users)
    checked_ids = check_schema_ids(schema_ids)
    if kind is ReviewQueueType.USER:
        if checked_users and checked_users != (checked_name,):
            raise InvalidParameterError(
                f"Invalid users {list(checked_users)!r}: a user queue has exactly one user, "
                f"the one it is named after ({checked_name!r})")
        checked_users = (checked_name,)
        if checked_ids:
            raise InvalidParameterError(
                "Invalid schema_ids: a user queue asks every label schema of its experiment; "
                "give none")
    experiment = get_experiment(conn, experiment_id)
    key = _key(experiment.experiment_id, checked_name)
    _check_name_free(conn, key, checked_name, experiment.experiment_id)
    names = _schema_names(conn, experiment.experiment_id, checked_ids)
    now_ms = int(time.time() * 1000)
    run_id = new_run_id()
    sql_labeling.create_session(conn, LabelingSessionInfo(
        run_id=run_id, experiment_id=experiment.experiment_id, name=checked_name,
        label_schemas=names, assigned_users=checked_users, reviewers_per_item=1,
        created_by=created_by, created_at=now_ms))
    try:
        with conn.begin_nested():
            conn.execute(labeling_sessions.update()
                         .where(labeling_sessions.c.run_id == run_id)
                         .values(queue_type=kind.value, queue_key=key,
                                 queue_updated_ms=now_ms))
    except sa.exc.IntegrityError as exc:  # another transaction took the name meanwhile
        raise _name_taken(checked_name, experiment.experiment_id) from exc
    return _queue(conn, run_id)


def get_or_create_user_queue(conn: Connection, experiment_id: str, user: object) -> ReviewQueue:
    """The user's queue in the experiment, created (owned by the user) if it has none.
    AlreadyExistsError when a custom queue has the user's name."""
    name = normalize_user(user)
    experiment = get_experiment(conn, experiment_id)
    found = _find_by_key(conn, _key(experiment.experiment_id, name))
    if found is None:
        return create_queue(conn, experiment.experiment_id, name=name,
                            queue_type=ReviewQueueType.USER, created_by=name)
    queue = _queue(conn, found)
    if queue.queue_type is not ReviewQueueType.USER:
        raise AlreadyExistsError(
            f"A custom review queue named {queue.name!r} exists in experiment "
            f"{experiment.experiment_id!r}; it cannot be {name!r}'s user queue")
    return queue


def get_queue(conn: Connection, queue_id: object) -> ReviewQueue:
    """The queue with this id; NotFoundError naming it otherwise."""
    return _queue(conn, run_id_of(queue_id))


def get_queue_by_name(conn: Connection, experiment_id: str, name: object) -> ReviewQueue:
    """The experiment's queue of this name (in any case); NotFoundError otherwise."""
    if not isinstance(name, str):
        raise InvalidParameterError(f"Invalid name: expected a string, got {type(name).__name__}")
    check_text("name", name.strip(), MAX_ID_CHARS)
    experiment = get_experiment(conn, experiment_id)
    found = _find_by_key(conn, _key(experiment.experiment_id, name.strip()))
    if found is None:
        raise NotFoundError(
            f"Review queue with name {name!r} not found in experiment "
            f"{experiment.experiment_id!r}")
    return _queue(conn, found)


def list_queues(conn: Connection, experiment_id: str, *, user: object = None,
                item_id: object = None, max_results: int = 100,
                page_token: str | None = None) -> PagedList[ReviewQueue]:
    """The experiment's queues, newest first, a page at a time; with ``user``, those the user
    is assigned to; with ``item_id``, those holding that trace."""
    _check_page_size(max_results)
    experiment = get_experiment(conn, experiment_id)
    s, r = labeling_sessions, runs
    query = (sa.select(r.c.run_id, r.c.start_time_ms, r.c.id)
             .join(s, s.c.run_id == r.c.run_id)
             .where(r.c.experiment_id == int(experiment.experiment_id),
                    s.c.queue_type.is_not(None)))
    if user is not None:
        query = query.where(sa.exists().where(
            labeling_reviewers.c.run_id == r.c.run_id,
            labeling_reviewers.c.reviewer == normalize_user(user)))
    if item_id is not None:
        trace_id = check_trace_id(item_id.strip() if isinstance(item_id, str) else item_id,
                                  "item_id")
        query = query.where(sa.exists().where(run_traces.c.run_id == r.c.run_id,
                                              run_traces.c.trace_id == trace_id))
    if page_token:
        start, row_id = decode_page_token(page_token, _QUEUES_PAGE, int)
        query = query.where(sa.or_(r.c.start_time_ms < start,
                                   sa.and_(r.c.start_time_ms == start, r.c.id < row_id)))
    rows = conn.execute(query.order_by(r.c.start_time_ms.desc(), r.c.id.desc())
                        .limit(max_results + 1)).all()
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token = encode_page_token(_QUEUES_PAGE, (rows[-1].start_time_ms, rows[-1].id))
    return PagedList([_queue(conn, row.run_id) for row in rows], token)


def update_queue(conn: Connection, queue_id: object, *, name: object = None,
                 new_owner: object = None, users: object = None,
                 schema_ids: object = None) -> ReviewQueue:
    """Change a custom queue's name, owner, users or questions (None: leave it). A user
    queue cannot change; a queue's questions cannot once it has items."""
    run_id = run_id_of(queue_id)
    queue = _queue(conn, run_id, lock=True)
    if queue.queue_type is ReviewQueueType.USER:
        raise InvalidParameterError(
            f"Invalid queue_id {queue.queue_id!r}: it is a user queue, whose name, user, "
            "questions and owner are fixed")
    if name is None and new_owner is None and users is None and schema_ids is None:
        return queue
    run_values: dict[str, Any] = {}
    session_values: dict[str, Any] = {"queue_updated_ms": int(time.time() * 1000)}
    if new_owner is not None:
        if not isinstance(new_owner, str):
            raise InvalidParameterError(
                f"Invalid new_owner: expected a string, got {type(new_owner).__name__}")
        check_text("new_owner", new_owner.strip(), MAX_ID_CHARS)
        run_values["user_id"] = new_owner.strip()
    if name is not None:
        new_name = check_queue_name(name, ReviewQueueType.CUSTOM)
        key = _key(queue.experiment_id, new_name)
        if key != _key(queue.experiment_id, queue.name):
            _check_name_free(conn, key, new_name, queue.experiment_id)
        run_values["name"] = new_name
        session_values["queue_key"] = key
    if schema_ids is not None:
        ids = check_schema_ids(schema_ids)
        has_items = conn.execute(sa.select(run_traces.c.id).where(
            run_traces.c.run_id == run_id).limit(1)).first() is not None
        if has_items:
            raise InvalidParameterError(
                "Invalid schema_ids: a queue's questions are locked once it has items; "
                "remove its items first")
        session_values["label_schemas"] = _json.dumps(
            list(_schema_names(conn, queue.experiment_id, ids)))
    if users is not None:
        sql_labeling.set_assigned_users(conn, run_id, check_queue_users(users))
    if run_values:
        conn.execute(runs.update().where(runs.c.run_id == run_id).values(**run_values))
    try:
        with conn.begin_nested():
            conn.execute(labeling_sessions.update()
                         .where(labeling_sessions.c.run_id == run_id).values(**session_values))
    except sa.exc.IntegrityError as exc:
        raise _name_taken(str(run_values.get("name")), queue.experiment_id) from exc
    return _queue(conn, run_id)


def delete_queue(conn: Connection, queue_id: object) -> None:
    """Delete a queue and its session (the answers stay on the traces); nothing when there
    is no such queue."""
    run_id = run_id_of(queue_id)
    if _find_queue_row(conn, run_id) is not None:
        sql_labeling.delete_session(conn, run_id)


def add_items(conn: Connection, queue_id: object,
              item_ids: object) -> list[ReviewQueueItem]:
    """Add traces of the queue's experiment as pending items (one already there keeps its
    status) and return every item asked for, in the order asked."""
    run_id = run_id_of(queue_id)
    queue = _queue(conn, run_id, lock=True)
    ids = _item_ids(item_ids)
    found = {trace_id: str(experiment_id) for trace_id, experiment_id in conn.execute(
        sa.select(traces.c.trace_id, traces.c.experiment_id)
        .where(in_values(Dialect.of(conn), traces.c.trace_id, ids)))}
    for trace_id in ids:
        experiment_id = found.get(trace_id)
        if experiment_id is None:
            raise NotFoundError(f"Invalid item_ids: trace {trace_id!r} not found")
        if experiment_id != queue.experiment_id:
            raise InvalidParameterError(
                f"Invalid item_ids: trace {trace_id!r} is in experiment {experiment_id!r}, "
                f"and review queue {queue.queue_id!r} is in experiment "
                f"{queue.experiment_id!r}")
    sql_labeling.add_items(conn, run_id, ids)
    by_id = {item.item_id: item for item in _items(conn, run_id, ids)}
    return [by_id[trace_id] for trace_id in ids if trace_id in by_id]


def remove_items(conn: Connection, queue_id: object, item_ids: object) -> None:
    """Remove items (those not in the queue are ignored); the answers stay on the traces."""
    run_id = run_id_of(queue_id)
    _queue(conn, run_id, lock=True)
    sql_labeling.remove_items(conn, run_id, _item_ids(item_ids))


def list_items(conn: Connection, queue_id: object, *, status: object = None,
               max_results: int = 100,
               page_token: str | None = None) -> PagedList[ReviewQueueItem]:
    """The queue's items, the last added first, a page at a time; with ``status``, only
    those in it."""
    run_id = run_id_of(queue_id)
    _check_page_size(max_results)
    _queue(conn, run_id)
    t = run_traces
    query = sa.select(t).where(t.c.run_id == run_id)
    if status is not None:
        wanted = ReviewStatus.parse(status, "status")
        query = query.where(t.c.review_status.is_(None) if wanted is ReviewStatus.PENDING
                            else t.c.review_status == wanted.value)
    if page_token:
        after, of_run = decode_page_token(page_token, _ITEMS_PAGE, str)
        if of_run != run_id:
            raise InvalidParameterError(
                "Invalid page_token: it pages through another queue's items")
        query = query.where(t.c.id < after)
    rows = conn.execute(query.order_by(t.c.id.desc()).limit(max_results + 1)).all()
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token = encode_page_token(_ITEMS_PAGE, (rows[-1].id, run_id))
    return PagedList([_item(row._mapping) for row in rows], token)


def set_item_status(conn: Connection, queue_id: object, *, item_id: object, status: object,
                    completed_by: object = None) -> ReviewQueueItem:
    """Move an item to ``status``: complete or declined by ``completed_by`` (required), or
    back to pending (``completed_by`` refused; who and when are forgotten). Setting the
    status it has changes nothing, not even who completed it. Completing or declining lets
    go of the reviewers' claims on the item (it is handed out no more)."""
    run_id = run_id_of(queue_id)
    new = ReviewStatus.parse(status, "status")
    by = check_completed_by(new, completed_by)
    if not isinstance(item_id, str):
        raise InvalidParameterError(
            f"Invalid item_id: expected a trace id, got {type(item_id).__name__}")
    trace_id = check_trace_id(item_id.strip(), "item_id")
    lock_claims(conn, Dialect.of(conn), run_id)  # the claims' turn first, as claims take it
    _queue(conn, run_id, lock=True)
    t = run_traces
    row = conn.execute(sa.select(t).where(t.c.run_id == run_id,
                                          t.c.trace_id == trace_id)).first()
    if row is None:
        raise NotFoundError(f"Item {trace_id!r} is not in review queue {queue_id_of(run_id)!r}")
    item = _item(row._mapping)
    if item.status is new:
        return item
    now_ms = int(time.time() * 1000)
    done = new is not ReviewStatus.PENDING
    conn.execute(t.update().where(t.c.id == row.id).values(
        review_status=new.value if done else None, completed_by=by,
        completed_time_ms=now_ms if done else None, status_time_ms=now_ms))
    if done:
        # A settled item is handed out no more: the claims on it are let go, so that they
        # count as no one's work in progress.
        r = labeling_reviews
        conn.execute(r.delete().where(r.c.run_id == run_id, r.c.trace_id == trace_id,
                                      r.c.state == ReviewState.IN_PROGRESS.value))
    changed = conn.execute(sa.select(t).where(t.c.id == row.id)).one()
    return _item(changed._mapping)


# -- helpers ---------------------------------------------------------------------------------

def _key(experiment_id: str, name: str) -> str:
    return f"{experiment_id}/{name.lower()}"


def _name_taken(name: str, experiment_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"Review queue with name {name!r} already exists in experiment {experiment_id!r} "
        "(names are compared regardless of case)")


def _check_name_free(conn: Connection, key: str, name: str, experiment_id: str) -> None:
    if _find_by_key(conn, key) is not None:
        raise _name_taken(name, experiment_id)


def _find_by_key(conn: Connection, key: str) -> str | None:
    found = conn.execute(sa.select(labeling_sessions.c.run_id)
                         .where(labeling_sessions.c.queue_key == key)).scalar_one_or_none()
    return None if found is None else str(found)


def _check_page_size(max_results: object) -> None:
    if isinstance(max_results, bool) or not isinstance(max_results, int) \
            or not 1 <= max_results <= MAX_PAGE:
        raise InvalidParameterError(
            f"Invalid max_results {max_results!r}: expected a whole number from 1 to "
            f"{MAX_PAGE:,}")


def _item_ids(item_ids: object) -> list[str]:
    if isinstance(item_ids, str) or not isinstance(item_ids, Sequence) or not item_ids:
        raise InvalidParameterError(
            "Invalid item_ids: expected a non-empty list of trace ids")
    if len(item_ids) > MAX_LINKED_TRACES:
        raise InvalidParameterError(
            f"Invalid item_ids: {len(item_ids):,} ids; the limit is {MAX_LINKED_TRACES:,} a "
            "call")
    return list(dict.fromkeys(
        check_trace_id(item.strip() if isinstance(item, str) else item, "item_ids item")
        for item in item_ids))


def _schema_names(conn: Connection, experiment_id: str,
                  schema_ids: Sequence[str]) -> tuple[str, ...]:
    """The names of these schemas of the experiment, in the order given."""
    if not schema_ids:
        return ()
    s = label_schemas
    names = dict(conn.execute(sa.select(s.c.schema_id, s.c.name).where(
        s.c.experiment_id == int(experiment_id), s.c.schema_id.in_(list(schema_ids)))).all())
    missing = [schema_id for schema_id in schema_ids if schema_id not in names]
    if missing:
        raise InvalidParameterError(
            f"Invalid schema_ids: there is no label schema {missing[0]!r} in experiment "
            f"{experiment_id!r}")
    return tuple(str(names[schema_id]) for schema_id in schema_ids)


def _find_queue_row(conn: Connection, run_id: str, *,
                    lock: bool = False) -> RowMapping | None:
    s = labeling_sessions
    query = (sa.select(s.c.run_id, s.c.label_schemas, s.c.queue_type, s.c.queue_updated_ms,
                       runs.c.experiment_id, runs.c.name, runs.c.user_id, runs.c.start_time_ms)
             .join(runs, runs.c.run_id == s.c.run_id)
             .where(s.c.run_id == run_id, s.c.queue_type.is_not(None)))
    if lock:
        query = query.with_for_update(of=s)
    row = conn.execute(query).first()
    return None if row is None else row._mapping


def _queue(conn: Connection, run_id: str, *, lock: bool = False) -> ReviewQueue:
    row = _find_queue_row(conn, run_id, lock=lock)
    if row is None:
        raise NotFoundError(f"Review queue with id {queue_id_of(run_id)!r} not found")
    experiment_id = str(row["experiment_id"])
    users = conn.execute(sa.select(labeling_reviewers.c.reviewer)
                         .where(labeling_reviewers.c.run_id == run_id)
                         .order_by(labeling_reviewers.c.id)).scalars().all()
    names: list[str] = _json.loads(row["label_schemas"])
    schema_ids: list[str] = []
    if names:
        s = label_schemas
        ids = dict(conn.execute(sa.select(s.c.name, s.c.schema_id).where(
            s.c.experiment_id == int(experiment_id), s.c.name.in_(names))).all())
        schema_ids = [str(ids[name]) for name in names if name in ids]
    created = int(row["start_time_ms"])
    return ReviewQueue(
        queue_id=queue_id_of(run_id), experiment_id=experiment_id, name=row["name"],
        queue_type=ReviewQueueType(row["queue_type"]), created_by=row["user_id"],
        creation_time_ms=created,
        last_update_time_ms=int(row["queue_updated_ms"] or created),
        users=[str(user) for user in users], schema_ids=schema_ids)


def _items(conn: Connection, run_id: str, trace_ids: list[str]) -> list[ReviewQueueItem]:
    t = run_traces
    rows = conn.execute(sa.select(t).where(
        t.c.run_id == run_id, in_values(Dialect.of(conn), t.c.trace_id, trace_ids)))
    return [_item(row._mapping) for row in rows]


def _item(row: RowMapping) -> ReviewQueueItem:
    added = int(row["added_time_ms"])
    status = row["review_status"]
    return ReviewQueueItem(
        queue_id=queue_id_of(row["run_id"]), item_type=ReviewItemType.TRACE,
        item_id=row["trace_id"],
        status=ReviewStatus.PENDING if status is None else ReviewStatus(status),
        creation_time_ms=added,
        last_update_time_ms=int(row["status_time_ms"] or added),
        completed_by=row["completed_by"],
        completed_time_ms=None if row["completed_time_ms"] is None
        else int(row["completed_time_ms"]))
