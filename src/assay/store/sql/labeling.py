"""Labeling sessions in the SQL store: sessions, their items, and each reviewer's work.

Functions take an open Connection; the caller owns the transaction, which for every write
here is a write transaction (SQLite's single writer). On PostgreSQL, handing out items takes
the session's claim turn (an advisory lock of its own, see
:func:`~assay.store.sql.dialect.lock_claims`), so concurrent reviewers of one session take
turns for the few milliseconds a claim takes and two can never claim the same free slot;
changes of a session's items or reviewers take that turn too. Answers do not: they lock the
session's row, which claims never wait for, and a claim never turns a review its reviewer
completed or skipped meanwhile back into a claim (:func:`_claim`).

How an item is handed out (:func:`next_item`): a reviewer who holds an unexpired claim gets
that item again; otherwise the oldest item they have neither completed nor skipped whose
completed reviews plus unexpired claims by others are fewer than ``reviewers_per_item`` is
claimed for ``claim_seconds``. Once a claim expires its slot returns to the pool. In a
review queue an item someone completed or declined (its shared status) is not handed out.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay import _json
from assay.entities.assessment import (
    Assessment,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
    encode_value,
    new_assessment_id,
    numeric_value,
)
from assay.entities.label_schema import LabelSchema, LabelSchemaType
from assay.entities.labeling import (
    MAX_SESSION_SCHEMAS,
    GoldLabel,
    LabelingSessionInfo,
    ReviewerProgress,
    ReviewState,
    SessionProgress,
    check_reviewer,
    gold_label,
)
from assay.entities.review_queue import ReviewQueueType, user_queue_questions
from assay.entities.run import RunInfo, RunKind, check_run_id
from assay.errors import InvalidParameterError, NotFoundError, PermissionDeniedError
from assay.ids import check_trace_id
from assay.store.checks import check_answer_comments
from assay.store.sql import gold as sql_gold
from assay.store.sql import runs as sql_runs
from assay.store.sql.assessments import log_assessment
from assay.store.sql.dialect import Dialect, lock_claims, upsert
from assay.store.sql.experiments import parse_experiment_id
from assay.store.sql.label_schemas import (
    experiment_label_schemas,
    find_label_schemas,
    session_questions,
)
from assay.store.sql.schema import (
    assessments,
    labeling_adjudications,
    labeling_gold,
    labeling_reviewers,
    labeling_reviews,
    labeling_sessions,
    run_traces,
    runs,
    traces,
)

#: Trace ids per query of :func:`sessions_of_traces` (bound parameters stay few).
_TRACE_CHUNK = 1000

__all__ = [
    "DEFAULT_CLAIM_SECONDS",
    "add_items",
    "adjudicate",
    "answers_version",
    "check_item",
    "create_session",
    "delete_session",
    "get_session",
    "list_sessions",
    "next_item",
    "progress",
    "remove_items",
    "session_answers",
    "sessions_of_traces",
    "set_assigned_users",
    "skip_item",
    "submit_answers",
    "touch",
]

#: How long a claimed item stays with its reviewer before it returns to the pool.
DEFAULT_CLAIM_SECONDS = 15 * 60


def create_session(conn: Connection, info: LabelingSessionInfo) -> LabelingSessionInfo:
    """Store a new session (and its run): every schema it names must exist in its
    experiment."""
    _schemas(conn, info.experiment_id, info.label_schemas)
    run = sql_runs.create_run(conn, RunInfo(
        run_id=info.run_id, experiment_id=info.experiment_id, run_name=info.name,
        kind=RunKind.LABELING, start_time=info.created_at, user_id=info.created_by))
    conn.execute(labeling_sessions.insert().values(
        run_id=info.run_id, reviewers_per_item=info.reviewers_per_item,
        label_schemas=_json.dumps(list(info.label_schemas)), instructions=info.instructions))
    _insert_reviewers(conn, info.run_id, info.assigned_users)
    return get_session(conn, run.info.run_id)


def get_session(conn: Connection, run_id: str, *, lock: bool = False) -> LabelingSessionInfo:
    """The session whose run has this id; NotFoundError naming it otherwise. ``lock``
    takes the session's row lock on PostgreSQL (writes that must take turns)."""
    check_run_id(run_id)
    query = (sa.select(labeling_sessions, runs.c.experiment_id, runs.c.name, runs.c.user_id,
                       runs.c.start_time_ms)
             .join(runs, runs.c.run_id == labeling_sessions.c.run_id)
             .where(labeling_sessions.c.run_id == run_id))
    if lock:
        query = query.with_for_update(of=labeling_sessions)
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"Labeling session with run ID {run_id!r} not found")
    return _to_info(conn, row._mapping)


def list_sessions(conn: Connection, experiment_ids: Sequence[str],
                  reviewer: str | None = None) -> list[LabelingSessionInfo]:
    """The sessions of the experiments, newest first; with ``reviewer``, only those this
    reviewer may work on (assigned to them, or open to anyone)."""
    keys = [key for key in map(parse_experiment_id, experiment_ids) if key is not None]
    query = (sa.select(labeling_sessions, runs.c.experiment_id, runs.c.name, runs.c.user_id,
                       runs.c.start_time_ms)
             .join(runs, runs.c.run_id == labeling_sessions.c.run_id)
             .where(runs.c.experiment_id.in_(keys or [-1]))
             .order_by(runs.c.start_time_ms.desc(), runs.c.id.desc()))
    if reviewer is not None:
        assigned = sa.select(labeling_reviewers.c.id).where(
            labeling_reviewers.c.run_id == labeling_sessions.c.run_id)
        query = query.where(sa.or_(
            ~sa.exists(assigned),
            sa.exists(assigned.where(labeling_reviewers.c.reviewer == reviewer))))
    return [_to_info(conn, row._mapping) for row in conn.execute(query)]


def delete_session(conn: Connection, run_id: str) -> None:
    """Delete a session, its run and its reviewers' states; the answers stay on the traces."""
    check_run_id(run_id)
    lock_claims(conn, Dialect.of(conn), run_id)  # the claims' turn first, as claims take it
    get_session(conn, run_id, lock=True)
    conn.execute(runs.delete().where(runs.c.run_id == run_id))


def set_assigned_users(conn: Connection, run_id: str,
                       users: Sequence[str]) -> LabelingSessionInfo:
    """Replace who is assigned. Work already done by someone no longer assigned stays."""
    check_run_id(run_id)
    lock_claims(conn, Dialect.of(conn), run_id)
    info = get_session(conn, run_id, lock=True)
    changed = LabelingSessionInfo(**{**_fields(info), "assigned_users": tuple(users)})
    conn.execute(labeling_reviewers.delete().where(labeling_reviewers.c.run_id == run_id))
    _insert_reviewers(conn, run_id, changed.assigned_users)
    return get_session(conn, run_id)


def add_items(conn: Connection, run_id: str, trace_ids: Sequence[str]) -> list[str]:
    """Add traces to a session (idempotent); the ids newly added, in the order given."""
    get_session(conn, run_id, lock=True)
    added = sql_runs.link_traces(conn, run_id, trace_ids)
    if added:
        touch(conn, [run_id])
    return added


def remove_items(conn: Connection, run_id: str, trace_ids: Sequence[str]) -> list[str]:
    """Remove traces from a session, with its reviewers' states on them; the answers
    already given stay on the traces."""
    check_run_id(run_id)
    lock_claims(conn, Dialect.of(conn), run_id)
    get_session(conn, run_id, lock=True)
    removed = sql_runs.unlink_traces(conn, run_id, trace_ids)
    if removed:
        conn.execute(labeling_reviews.delete().where(labeling_reviews.c.run_id == run_id,
                                                     labeling_reviews.c.trace_id.in_(removed)))
        sql_gold.forget_items(conn, run_id, removed)
        touch(conn, [run_id])
    return removed


def next_item(conn: Connection, dialect: Dialect, run_id: str, reviewer: str, *,
              now_ms: int | None = None,
              claim_seconds: float = DEFAULT_CLAIM_SECONDS) -> str | None:
    """Claim the next item for ``reviewer`` and return its trace id (see the module doc);
    None when nothing is left for them."""
    per_item = _lock_for_review(conn, dialect, run_id, reviewer)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    expires_ms = now_ms + int(claim_seconds * 1000)
    for _ in range(3):
        candidate = conn.execute(_next_item_query(per_item), {
            "run_id": run_id, "reviewer": reviewer, "now_ms": now_ms}).scalar_one_or_none()
        if candidate is None:
            return None
        claimed = conn.execute(_claim(dialect), {
            "run_id": run_id, "trace_id": candidate, "reviewer": reviewer,
            "state": ReviewState.IN_PROGRESS.value, "claim_expires_ms": expires_ms,
            "updated_time_ms": now_ms}).first()
        if claimed is not None:
            return str(candidate)
        # The reviewer's own answer (or skip) of that item was being written as it was
        # chosen (answers do not wait for claims): it is theirs no more; choose again.
    return None


@functools.cache
def _claim(dialect: Dialect) -> Any:
    """The upsert of a claim: a new review row, or the reviewer's claim (held or expired)
    renewed; never a completed or skipped review turned back into a claim. It returns the
    row's id when it wrote one, nothing when it left a finished review alone."""
    r = labeling_reviews
    return upsert(dialect, r, ("run_id", "trace_id", "reviewer"),
                  ("state", "claim_expires_ms", "updated_time_ms"),
                  where=r.c.state == ReviewState.IN_PROGRESS.value).returning(r.c.id)


def _lock_for_review(conn: Connection, dialect: Dialect, run_id: str, reviewer: str) -> int:
    """Take the session's claim turn (see :func:`~assay.store.sql.dialect.lock_claims`) and
    return its reviewers per item; NotFoundError or PermissionDeniedError as
    :func:`get_session` and :func:`_check_may_review` give them."""
    check_run_id(run_id)
    check_reviewer(reviewer)
    lock_claims(conn, dialect, run_id)
    assigned = sa.select(labeling_reviewers.c.id).where(
        labeling_reviewers.c.run_id == labeling_sessions.c.run_id)
    row = conn.execute(
        sa.select(labeling_sessions.c.reviewers_per_item, runs.c.name,
                  sa.exists(assigned).label("restricted"),
                  sa.exists(assigned.where(labeling_reviewers.c.reviewer == reviewer))
                  .label("assigned"))
        .join(runs, runs.c.run_id == labeling_sessions.c.run_id)
        .where(labeling_sessions.c.run_id == run_id)).first()
    if row is None:
        raise NotFoundError(f"Labeling session with run ID {run_id!r} not found")
    if row.restricted and not row.assigned:
        raise PermissionDeniedError(
            f"Reviewer {reviewer!r} is not assigned to labeling session {row.name!r}")
    return int(row.reviewers_per_item)


#: Up to this many reviewers per item, the oldest open item is found with one index range
#: per count of completed reviews (see :func:`_next_item_query`).
_MAX_RANGES = 10


@functools.cache
def _next_item_query(per_item: int) -> sa.Select[Any]:
    """The query of ``:reviewer``'s next item in run ``:run_id`` at ``:now_ms``: the item
    they hold (an unexpired claim), else the oldest with a slot for them (fewer than
    ``per_item`` completed reviews plus others' live claims, and not completed or skipped
    by them); in a review queue, only an item whose status is pending. One query, so one
    round trip.

    Read as one range ``completed_reviews < per_item`` ordered by ``id``, the index on
    ``(run_id, completed_reviews, id)`` gives the items out of ``id`` order, so the database
    tests and sorts every open item of the run (140 ms at 20,000 items on SQLite). Read as
    one range per count of completed reviews, each is in ``id`` order: each stops at its
    first item with a slot, and the oldest of those few is the answer.

    Built once per ``per_item`` (the values are bound parameters): building it costs more
    than running it. The cache holds only query shapes, at most ``_MAX_RANGES + 1`` of them
    in practice.
    """
    r = labeling_reviews
    run_id = sa.bindparam("run_id", type_=sa.String)
    reviewer = sa.bindparam("reviewer", type_=sa.String)
    now_ms = sa.bindparam("now_ms", type_=sa.BigInteger)
    of_item = (r.c.run_id == run_traces.c.run_id, r.c.trace_id == run_traces.c.trace_id)
    # A review queue's item someone completed or declined is handed out no more (pending
    # is NULL, as is every item of a session that is not a queue).
    settled = sa.exists().where(*of_item, run_traces.c.review_status.is_not(None))
    present = sa.exists().where(*of_item)
    held = (sa.select(r.c.trace_id, sa.literal(0).label("rank"), r.c.id)
            .where(r.c.run_id == run_id, r.c.reviewer == reviewer,
                   r.c.state == ReviewState.IN_PROGRESS.value, r.c.claim_expires_ms > now_ms,
                   present, ~settled)
            .order_by(r.c.id).limit(1))
    # What the item's reviews take from ``:reviewer``'s chance at it, read in one probe of
    # its few review rows: each unexpired claim by someone else takes a slot, and their own
    # completed or skipped review takes them all. One correlated aggregate rather than an
    # EXISTS beside a count: PostgreSQL may turn an EXISTS into an anti-join that compares
    # every candidate with every review the reviewer ever finished, so the query would slow
    # down as they work; the aggregate stays a probe of one item, whoever asks.
    taken = (
        sa.select(sa.func.coalesce(sa.func.sum(sa.case(
            (r.c.reviewer == reviewer,
             sa.case((r.c.state != ReviewState.IN_PROGRESS.value, per_item), else_=0)),
            (sa.and_(r.c.state == ReviewState.IN_PROGRESS.value,
                     r.c.claim_expires_ms > now_ms), 1),
            else_=0)), 0))
        .where(*of_item)
        .scalar_subquery())

    def first(open_item: sa.ColumnElement[bool],
              slots: sa.ColumnElement[Any]) -> sa.Select[Any]:
        return (sa.select(run_traces.c.trace_id, sa.literal(1).label("rank"), run_traces.c.id)
                .where(run_traces.c.run_id == run_id, open_item,
                       run_traces.c.review_status.is_(None),
                       slots + taken < per_item)
                .order_by(run_traces.c.id).limit(1))

    if per_item > _MAX_RANGES:
        ranges = [first(run_traces.c.completed_reviews < per_item,
                        run_traces.c.completed_reviews)]
    else:
        ranges = [first(run_traces.c.completed_reviews == done, sa.literal(done))
                  for done in range(per_item)]
    found = sa.union_all(*(query.subquery(f"q{i}").select()
                           for i, query in enumerate([held, *ranges]))).subquery("found")
    return sa.select(found.c.trace_id).order_by(found.c.rank, found.c.id).limit(1)


def submit_answers(conn: Connection, dialect: Dialect, run_id: str, trace_id: str,
                   reviewer: str, answers: Mapping[str, Any], comment: str | None = None,
                   *, comments: Mapping[str, str | None] | None = None,
                   now_ms: int | None = None) -> list[Assessment]:
    """Write ``reviewer``'s answers to an item as HUMAN assessments on its trace, linked to
    the session's run, and mark the item completed by them: all or nothing.

    Each answer is checked against its schema; its rationale is its entry of ``comments``,
    else ``comment`` (see :func:`~assay.store.checks.check_answer_comments`). Answering
    again overrides the reviewer's earlier answer to that question (the history is kept).

    Written for the turn it holds (the session's lock): reviewers of one session wait for
    each other here, so a first answer is four to six statements. One query locks the
    session and reads what the checks need (the reviewer's rights, the item, their state on
    it, the trace's experiment); one reads the schemas; one reads the item's current answers,
    adjudications and gold labels (the reviewer's earlier answers and the gold rule's
    inputs); then the answers are inserted in one statement, the item's count of completed
    reviews and the reviewer's state are written, and a gold label only when it changed.
    """
    check_run_id(run_id)
    check_reviewer(reviewer)
    if not isinstance(trace_id, str):
        raise NotFoundError(f"Trace {trace_id!r} is not an item of labeling session {run_id!r}")
    row = conn.execute(_SUBMIT_CONTEXT, {"run_id": run_id, "reviewer": reviewer,
                                         "trace_id": trace_id}).first()
    if row is None:
        raise NotFoundError(f"Labeling session with run ID {run_id!r} not found")
    if row.restricted and not row.assigned:
        raise PermissionDeniedError(
            f"Reviewer {reviewer!r} is not assigned to labeling session {row.name!r}")
    if row.item is None:
        raise NotFoundError(f"Trace {trace_id!r} is not an item of labeling session {run_id!r}")
    asked: tuple[str, ...] = _schema_names(row.label_schemas)
    every: dict[str, LabelSchema] | None = None
    if not asked and row.queue_type == ReviewQueueType.USER.value:
        # A user queue names no schemas: it asks every one of its experiment (one query,
        # which also gives the schemas the answers are checked against).
        every = experiment_label_schemas(conn, str(row.experiment_id), MAX_SESSION_SCHEMAS)
        asked = user_queue_questions(list(every))
    if not isinstance(answers, Mapping) or not answers:
        raise InvalidParameterError(
            "Invalid answers: expected a dict of label schema name to value, with at least "
            "one answer")
    unknown = [name for name in answers if name not in asked]
    if unknown:
        raise InvalidParameterError(
            f"Invalid answers: {unknown[0]!r} is not a question of session {row.name!r} "
            f"(its questions: {', '.join(asked) or 'none'})")
    rationales = check_answer_comments(answers, comment, comments)
    experiment_id = str(row.experiment_id)
    schemas = (_schemas(conn, experiment_id, list(answers)) if every is None
               else {name: every[name] for name in answers})
    checked = {name: schemas[name].check_value(value) for name, value in answers.items()}
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    current = _ItemAnswers.read(conn, run_id, trace_id, reviewer, asked)
    source = AssessmentSource(AssessmentSourceType.HUMAN, reviewer)
    written: list[Assessment] = []
    rows: list[dict[str, Any]] = []
    for name, value in checked.items():
        earlier = current.mine.get(name)
        kwargs: dict[str, Any] = dict(
            source=source, trace_id=trace_id, rationale=rationales[name], overrides=earlier,
            run_id=run_id, create_time_ms=now_ms)
        answer: Assessment
        if schemas[name].type is LabelSchemaType.EXPECTATION:
            answer = Expectation(name, value, **kwargs)
        else:
            answer = Feedback(name, value, **kwargs)
        if earlier is not None:
            # Answering again: the override follows the assessment chain as any override
            # does (rare, so the general path).
            written.append(log_assessment(conn, dialect, answer))
            continue
        stored = dataclasses.replace(answer, assessment_id=new_assessment_id(), valid=True)
        rows.append(_answer_row(stored, row.trace_experiment_id))
        written.append(stored)
    if rows:
        conn.execute(assessments.insert(), rows)
    if row.state != ReviewState.COMPLETED.value:
        conn.execute(_COUNT_COMPLETED, {"b_run_id": run_id, "b_trace_id": trace_id})
    _set_review(conn, dialect, run_id, trace_id, reviewer, ReviewState.COMPLETED, now_ms, None)
    touch(conn, [run_id])
    for name, value in checked.items():
        current.completed[name][reviewer] = value
    sql_gold.store_gold(conn, dialect, run_id, trace_id, {
        name: gold_label(list(current.completed[name].values()), int(row.reviewers_per_item),
                         current.adjudicated.get(name))
        for name in asked}, current.gold)
    return written


@functools.lru_cache(maxsize=256)
def _schema_names(label_schemas: str) -> tuple[str, ...]:
    """A session's ``label_schemas`` column read (the same few texts come again and again)."""
    return tuple(_json.loads(label_schemas))


def _submit_context() -> sa.Select[Any]:
    s, r = labeling_sessions, labeling_reviews
    run_id = sa.bindparam("run_id", type_=sa.String)
    reviewer = sa.bindparam("reviewer", type_=sa.String)
    trace_id = sa.bindparam("trace_id", type_=sa.String)
    assigned = sa.select(labeling_reviewers.c.id).where(
        labeling_reviewers.c.run_id == s.c.run_id)
    item = sa.select(run_traces.c.id).where(run_traces.c.run_id == run_id,
                                            run_traces.c.trace_id == trace_id)
    state = sa.select(r.c.state).where(r.c.run_id == run_id, r.c.trace_id == trace_id,
                                       r.c.reviewer == reviewer)
    experiment = sa.select(traces.c.experiment_id).where(traces.c.trace_id == trace_id)
    return (sa.select(s.c.reviewers_per_item, s.c.label_schemas, s.c.queue_type,
                      runs.c.experiment_id,
                      runs.c.name, sa.exists(assigned).label("restricted"),
                      sa.exists(assigned.where(labeling_reviewers.c.reviewer == reviewer))
                      .label("assigned"),
                      item.scalar_subquery().label("item"),
                      state.scalar_subquery().label("state"),
                      experiment.scalar_subquery().label("trace_experiment_id"))
            .join(runs, runs.c.run_id == s.c.run_id)
            .where(s.c.run_id == run_id)
            # FOR NO KEY UPDATE: answers take turns, while a claim's insert (whose foreign
            # key takes KEY SHARE on this row) goes by.
            .with_for_update(of=s, key_share=True))


#: Built once (the values are bound parameters): building it costs more than running it.
_SUBMIT_CONTEXT = _submit_context()
_COUNT_COMPLETED = (
    run_traces.update()
    .where(run_traces.c.run_id == sa.bindparam("b_run_id"),
           run_traces.c.trace_id == sa.bindparam("b_trace_id"))
    .values(completed_reviews=run_traces.c.completed_reviews + 1))


def _answer_row(answer: Assessment, experiment_id: Any) -> dict[str, Any]:
    """The ``assessments`` row of a reviewer's first answer to a question (no span, session,
    error, metadata or key)."""
    value = answer.value
    return {
        "assessment_id": answer.assessment_id, "trace_id": answer.trace_id,
        "experiment_id": experiment_id, "span_id": None, "session_id": None,
        "name": answer.name, "kind": answer.kind,
        "value": None if value is None else encode_value(value),
        "numeric_value": numeric_value(value), "error": None,
        "source_type": AssessmentSourceType.HUMAN.value,
        "source_id": answer.source.source_id, "rationale": answer.rationale,
        "metadata": "{}", "create_time_ms": answer.create_time_ms,
        "last_update_time_ms": answer.last_update_time_ms, "overrides": None, "valid": True,
        "run_id": answer.run_id, "idempotency_key": None,
    }


class _ItemAnswers:
    """What one query tells of an item before a reviewer's answers are written: the
    reviewer's current answer ids per question, the completed reviewers' current values
    (the reviewer counted as completed: they are about to be), the adjudicated values and
    the stored gold labels (JSON text and whether adjudicated)."""

    def __init__(self) -> None:
        self.mine: dict[str, str] = {}
        self.completed: dict[str, dict[str, Any]] = {}
        self.adjudicated: dict[str, Any] = {}
        self.gold: dict[str, tuple[str, bool]] = {}

    @classmethod
    def read(cls, conn: Connection, run_id: str, trace_id: str, reviewer: str,
             names: Sequence[str]) -> _ItemAnswers:
        found = cls()
        found.completed = {name: {} for name in names}
        for kind, name, source, value, assessment_id, completed, _, _ in conn.execute(
                _ITEM_ANSWERS, {"run_id": run_id, "trace_id": trace_id, "reviewer": reviewer,
                                "names": list(names) or [""]}):
            if name not in found.completed:
                continue
            if kind == 0:  # answers, oldest first: the newest of a reviewer's wins
                if source == reviewer:
                    found.mine[name] = assessment_id
                if value is not None and (completed or source == reviewer):
                    found.completed[name][source] = _json.loads(value)
            elif kind == 1:
                found.adjudicated[name] = _json.loads(value)
            else:
                found.gold[name] = (value, bool(completed))
        return found


def _item_answers() -> sa.CompoundSelect[Any]:
    a, r = assessments, labeling_reviews
    j, g = labeling_adjudications, labeling_gold
    run_id = sa.bindparam("run_id", type_=sa.String)
    trace_id = sa.bindparam("trace_id", type_=sa.String)
    names: sa.BindParameter[Any] = sa.bindparam("names", expanding=True)
    completed = sa.exists().where(r.c.run_id == run_id, r.c.trace_id == trace_id,
                                  r.c.reviewer == a.c.source_id,
                                  r.c.state == ReviewState.COMPLETED.value)
    answers = (sa.select(sa.literal(0).label("kind"), a.c.name, a.c.source_id, a.c.value,
                         a.c.assessment_id, completed.label("completed"),
                         a.c.create_time_ms.label("t"), a.c.id.label("n"))
               .where(a.c.trace_id == trace_id, a.c.run_id == run_id, a.c.valid == sa.true(),
                      a.c.source_type == AssessmentSourceType.HUMAN.value,
                      a.c.name.in_(names)))
    adjudicated = (sa.select(sa.literal(1), j.c.name, sa.null(), j.c.value, sa.null(),
                             sa.false(), sa.literal(0), sa.literal(0))
                   .where(j.c.run_id == run_id, j.c.trace_id == trace_id, j.c.name.in_(names)))
    gold = (sa.select(sa.literal(2), g.c.name, sa.null(), g.c.value, sa.null(),
                      g.c.adjudicated, sa.literal(0), sa.literal(0))
            .where(g.c.run_id == run_id, g.c.trace_id == trace_id, g.c.name.in_(names)))
    return sa.union_all(answers, adjudicated, gold).order_by("kind", "t", "n")


_ITEM_ANSWERS = _item_answers()


def adjudicate(conn: Connection, dialect: Dialect, run_id: str, trace_id: str,
               schema_name: str, value: Any, adjudicator: str | None = None,
               *, now_ms: int | None = None) -> GoldLabel | None:
    """Set the final value of an item for one of the session's questions (checked against
    its schema), replacing any earlier one; ``value=None`` clears it. Returns the item's
    gold label for that question afterwards (None: there is none)."""
    info = get_session(conn, run_id, lock=True)
    if not isinstance(schema_name, str) or schema_name not in info.label_schemas:
        raise InvalidParameterError(
            f"Invalid schema_name {schema_name!r}: not a question of labeling session "
            f"{info.name!r} (its questions: {', '.join(info.label_schemas) or 'none'})")
    if adjudicator is not None:
        check_reviewer(adjudicator, "adjudicator")
    check_item(conn, run_id, check_trace_id(trace_id))
    checked = None
    if value is not None:
        schema = _schemas(conn, info.experiment_id, [schema_name])[schema_name]
        checked = schema.check_value(value)
    sql_gold.set_adjudication(conn, dialect, run_id, trace_id, schema_name, checked,
                              adjudicator, now_ms)
    touch(conn, [run_id])
    found = sql_gold.refresh_gold(conn, dialect, run_id, trace_id, [schema_name],
                                  info.reviewers_per_item)
    return found.get(schema_name)


def skip_item(conn: Connection, dialect: Dialect, run_id: str, trace_id: str, reviewer: str,
              *, now_ms: int | None = None) -> None:
    """``reviewer`` passes on an item: it is not offered to them again, and its slot goes
    to someone else. An item they completed cannot be skipped."""
    info = get_session(conn, run_id, lock=True)
    _check_may_review(info, reviewer)
    check_item(conn, run_id, trace_id)
    if _review_state(conn, run_id, trace_id, reviewer) is ReviewState.COMPLETED:
        raise InvalidParameterError(
            f"Invalid skip: {reviewer!r} already completed trace {trace_id!r} in session "
            f"{info.name!r}")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    _set_review(conn, dialect, run_id, trace_id, reviewer, ReviewState.SKIPPED, now_ms, None)


def progress(conn: Connection, run_id: str, *, now_ms: int | None = None) -> SessionProgress:
    """How far the session is, overall and per reviewer (assigned ones listed even at 0)."""
    info = get_session(conn, run_id)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    items, done, reviews = conn.execute(
        sa.select(sa.func.count(),
                  sa.func.coalesce(sa.func.sum(sa.case(
                      (run_traces.c.completed_reviews >= info.reviewers_per_item, 1),
                      else_=0)), 0),
                  sa.func.coalesce(sa.func.sum(run_traces.c.completed_reviews), 0))
        .where(run_traces.c.run_id == run_id)).one()
    counts: dict[str, dict[str, int]] = {user: {} for user in info.assigned_users}
    r = labeling_reviews
    # Counted from the index on (run_id, reviewer, state) alone; only the claims are read
    # from the table, to leave the expired ones out.
    for reviewer, state, n in conn.execute(
            sa.select(r.c.reviewer, r.c.state, sa.func.count())
            .where(r.c.run_id == run_id).group_by(r.c.reviewer, r.c.state)):
        counts.setdefault(reviewer, {})[state] = n
    for reviewer, n in conn.execute(
            sa.select(r.c.reviewer, sa.func.count())
            .where(r.c.run_id == run_id, r.c.state == ReviewState.IN_PROGRESS.value,
                   r.c.claim_expires_ms <= now_ms).group_by(r.c.reviewer)):
        counts[reviewer][ReviewState.IN_PROGRESS.value] -= n
    reviewers = {
        name: ReviewerProgress(name, completed=c.get(ReviewState.COMPLETED.value, 0),
                               skipped=c.get(ReviewState.SKIPPED.value, 0),
                               in_progress=c.get(ReviewState.IN_PROGRESS.value, 0))
        for name, c in sorted(counts.items())}
    return SessionProgress(items=int(items), done_items=int(done),
                           reviewers_per_item=info.reviewers_per_item,
                           completed_reviews=int(reviews), reviewers=reviewers)


def session_answers(conn: Connection, run_id: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The reviewers' current answers in a session: schema name → trace id → reviewer →
    value (the valid HUMAN assessments linked to the session's run, on its items).

    Read for speed (300,000 answers in a few tenths of a second): each question's answers as
    one range of the index on ``(run_id, name, valid, source_type, create_time_ms)``, oldest
    first so that a reviewer's newest answer wins, and the session's items apart, as a set
    (joining each answer to its item was most of the time); rows as plain tuples."""
    info = get_session(conn, run_id)
    answers: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in info.label_schemas}
    if not info.label_schemas:
        return answers
    items = {trace_id for trace_id, in _fetch_all(conn, _SESSION_ITEMS, {"run_id": run_id})}
    for name in info.label_schemas:
        rows = _fetch_all(conn, _SESSION_ANSWERS, {"run_id": run_id, "name": name})
        # Most answers are one of a few options: each distinct JSON text is decoded once;
        # only immutable values are shared, a list or an object is decoded for each answer.
        decoded: dict[str, Any] = {}
        fresh: set[str] = set()
        for text in {row[2] for row in rows}:
            value = _json.loads(text)
            if value is None or isinstance(value, str | int | float):
                decoded[text] = value
            else:
                fresh.add(text)
        by_item = answers[name]
        for trace_id, reviewer, text in rows:
            answer = decoded[text] if text not in fresh else _json.loads(text)
            item = by_item.get(trace_id)
            if item is not None:
                item[reviewer] = answer
            elif trace_id in items:
                by_item[trace_id] = {reviewer: answer}
    return answers


_SESSION_ITEMS = sa.select(run_traces.c.trace_id).where(
    run_traces.c.run_id == sa.bindparam("run_id", type_=sa.String))
_SESSION_ANSWERS = (
    sa.select(assessments.c.trace_id, assessments.c.source_id, assessments.c.value)
    .where(assessments.c.run_id == sa.bindparam("run_id", type_=sa.String),
           assessments.c.name == sa.bindparam("name", type_=sa.String),
           assessments.c.valid == sa.true(),
           assessments.c.source_type == AssessmentSourceType.HUMAN.value)
    .order_by(assessments.c.create_time_ms, assessments.c.id))


def _fetch_all(conn: Connection, statement: sa.Select[Any],
               params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every row of a query of plain columns, as the driver's tuples: for reads of hundreds
    of thousands of rows, where making each a SQLAlchemy row costs as much as the query.
    The statement is compiled once per dialect; none of its columns needs a result
    processor (text and integers)."""
    compiled: Any = _compiled(statement, conn.dialect)
    bound = compiled.construct_params(params)
    values: Any = (tuple(bound[name] for name in compiled.positiontup or ())
                   if compiled.positional else bound)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(compiled.string, values)
        return list(cursor.fetchall())
    finally:
        cursor.close()


@functools.lru_cache(maxsize=16)
def _compiled(statement: sa.Select[Any], dialect: sa.Dialect) -> sa.sql.compiler.Compiled:
    return statement.compile(dialect=dialect)


def answers_version(conn: Connection, run_id: str) -> int:
    """The session's change counter (see :func:`touch`); NotFoundError for no session."""
    check_run_id(run_id)
    found = conn.execute(sa.select(labeling_sessions.c.answers_version)
                         .where(labeling_sessions.c.run_id == run_id)).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"Labeling session with run ID {run_id!r} not found")
    return int(found)


def touch(conn: Connection, run_ids: Sequence[str]) -> None:
    """Count a write that can change these sessions' answers, adjudications or items."""
    if run_ids:
        s = labeling_sessions
        conn.execute(s.update().where(s.c.run_id.in_(list(run_ids)))
                     .values(answers_version=s.c.answers_version + 1))


# -- helpers ---------------------------------------------------------------------------------

def _schemas(conn: Connection, experiment_id: str,
             names: Sequence[str]) -> dict[str, LabelSchema]:
    found = find_label_schemas(conn, experiment_id, names)
    missing = [name for name in names if name not in found]
    if missing:
        raise InvalidParameterError(
            f"Invalid label_schemas: there is no label schema {missing[0]!r} in experiment "
            f"{experiment_id!r}; create it with create_label_schema first")
    return found


def _check_may_review(info: LabelingSessionInfo, reviewer: str) -> None:
    check_reviewer(reviewer)
    if not info.may_review(reviewer):
        raise PermissionDeniedError(
            f"Reviewer {reviewer!r} is not assigned to labeling session {info.name!r}")


def check_item(conn: Connection, run_id: str, trace_id: str) -> None:
    """NotFoundError unless the trace is an item of the session."""
    found = conn.execute(sa.select(run_traces.c.id).where(
        run_traces.c.run_id == run_id, run_traces.c.trace_id == trace_id)).first()
    if found is None:
        raise NotFoundError(f"Trace {trace_id!r} is not an item of labeling session {run_id!r}")


def _review_state(conn: Connection, run_id: str, trace_id: str,
                  reviewer: str) -> ReviewState | None:
    r = labeling_reviews
    state = conn.execute(sa.select(r.c.state).where(
        r.c.run_id == run_id, r.c.trace_id == trace_id, r.c.reviewer == reviewer)
    ).scalar_one_or_none()
    return None if state is None else ReviewState(state)


def _set_review(conn: Connection, dialect: Dialect, run_id: str, trace_id: str, reviewer: str,
                state: ReviewState, now_ms: int, expires_ms: int | None) -> None:
    conn.execute(upsert(dialect, labeling_reviews, ("run_id", "trace_id", "reviewer"),
                        ("state", "claim_expires_ms", "updated_time_ms")),
                 {"run_id": run_id, "trace_id": trace_id, "reviewer": reviewer,
                  "state": state.value, "claim_expires_ms": expires_ms,
                  "updated_time_ms": now_ms})


def _insert_reviewers(conn: Connection, run_id: str, users: Sequence[str]) -> None:
    if users:
        conn.execute(labeling_reviewers.insert(),
                     [{"run_id": run_id, "reviewer": user} for user in users])


def _fields(info: LabelingSessionInfo) -> dict[str, Any]:
    return {name: getattr(info, name) for name in info.__dataclass_fields__}


def _to_info(conn: Connection, row: RowMapping) -> LabelingSessionInfo:
    reviewers = conn.execute(
        sa.select(labeling_reviewers.c.reviewer)
        .where(labeling_reviewers.c.run_id == row["run_id"])
        .order_by(labeling_reviewers.c.id)).scalars()
    # A user review queue's questions are its experiment's schemas: its answers, agreement,
    # adjudications and pages are those of the questions it asks.
    questions = session_questions(conn, _json.loads(row["label_schemas"]), row["queue_type"],
                                  row["experiment_id"])
    return LabelingSessionInfo(
        run_id=row["run_id"], experiment_id=str(row["experiment_id"]), name=row["name"],
        label_schemas=questions,
        assigned_users=tuple(reviewers), reviewers_per_item=row["reviewers_per_item"],
        instructions=row["instructions"], created_by=row["user_id"],
        created_at=row["start_time_ms"], queue_type=row["queue_type"])


def sessions_of_traces(conn: Connection, trace_ids: Sequence[str]) -> dict[str, list[str]]:
    """The labeling sessions holding these traces: trace id → run ids, newest session
    first (a run linked to traces that is not a session, an evaluation's, is left out)."""
    found: dict[str, list[str]] = {}
    ids = list(dict.fromkeys(trace_ids))
    for start in range(0, len(ids), _TRACE_CHUNK):
        chunk = ids[start:start + _TRACE_CHUNK]
        for trace_id, run_id in conn.execute(
                sa.select(run_traces.c.trace_id, run_traces.c.run_id)
                .join(labeling_sessions, labeling_sessions.c.run_id == run_traces.c.run_id)
                .join(runs, runs.c.run_id == run_traces.c.run_id)
                .where(run_traces.c.trace_id.in_(chunk))
                .order_by(runs.c.start_time_ms.desc(), runs.c.id.desc())):
            found.setdefault(trace_id, []).append(run_id)
    return found
