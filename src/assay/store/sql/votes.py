"""End users' votes in the SQL store: one valid vote per voter, trace and name.

A vote is a HUMAN feedback on a whole trace whose source id is the voter. It supersedes the
voter's valid vote of the same name on the trace (stored, or pending while the trace has not
arrived), which stays as history with ``valid = false`` (the rules are ``rules.check_vote``
and ``rules.is_vote_of``; the query of stored votes says the same in SQL). Finding that
vote and overriding it happen in one transaction holding a lock of (trace, name, voter)
(``dialect.lock_vote``), so votes sent at the same moment take turns and form one chain
with one valid vote; reading the previous vote in one transaction and writing in another
would let them all stay valid.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities.assessment import AssessmentSourceType, Feedback
from assay.errors import AlreadyExistsError
from assay.rules import check_vote, is_vote_of, newest
from assay.store.sql.assessments import log_assessment
from assay.store.sql.dialect import Dialect, lock_pending_assessments, lock_vote
from assay.store.sql.pending import (
    attach_to_stored_traces,
    keep_pending_assessment,
    list_pending_assessments,
)
from assay.store.sql.schema import assessments, traces

__all__ = ["log_vote"]


def log_vote(conn: Connection, dialect: Dialect, vote: Feedback, expires_in_seconds: float,
             now_ms: int) -> tuple[Feedback, bool]:
    """Record a vote: log it on its trace, or keep it pending while the trace is not stored.
    Return it as stored and whether it is pending.

    ``vote.overrides`` is ignored: the vote overrides the voter's valid vote, if any. Valid
    votes of the voter that an earlier race left side by side are made invalid too, so one
    stays valid.

    Raises:
        InvalidParameterError: the vote is not a HUMAN feedback with a source id, or is
            about a span; or as :func:`~assay.store.sql.assessments.log_assessment` and
            :func:`~assay.store.sql.pending.keep_pending_assessment`.
    """
    trace_id, voter_id = check_vote(vote)
    lock_vote(conn, dialect, trace_id, vote.name, voter_id)
    if not _is_stored(conn, trace_id):
        # Held while the pending vote to override is read: the trace's writer attaches
        # pending votes under it, so that one cannot be attached meanwhile.
        lock_pending_assessments(conn, dialect)
        previous = _newest_pending_vote(conn, vote, voter_id)
        try:
            kept = keep_pending_assessment(
                conn, dialect, dataclasses.replace(vote, overrides=previous),
                expires_in_seconds, now_ms)
        except AlreadyExistsError:
            if not _is_stored(conn, trace_id):
                raise  # an idempotency key of another trace's assessment
            # The trace was written meanwhile (PostgreSQL, another transaction): log it.
        else:
            assert isinstance(kept, Feedback)
            return kept, True
    # What was kept while the trace was being written, and missed by it, is attached first,
    # so the voter's pending vote counts as their previous one.
    attach_to_stored_traces(conn, dialect, [trace_id])
    previous_votes = _valid_stored_votes(conn, vote, trace_id, voter_id)
    logged = log_assessment(conn, dialect, dataclasses.replace(
        vote, overrides=previous_votes[0] if previous_votes else None))
    if len(previous_votes) > 1:
        conn.execute(assessments.update()
                     .where(assessments.c.assessment_id.in_(previous_votes[1:]))
                     .values(valid=False))
    assert isinstance(logged, Feedback)
    return logged, False


def _is_stored(conn: Connection, trace_id: str) -> bool:
    return conn.execute(sa.select(traces.c.id).where(traces.c.trace_id == trace_id)
                        ).first() is not None


def _newest_pending_vote(conn: Connection, vote: Feedback, voter_id: str) -> str | None:
    """The id of the voter's valid pending vote of this name on the trace (the newest, if
    a race left more than one)."""
    votes = [kept for kept in list_pending_assessments(conn, vote.trace_id or "")
             if kept.valid and is_vote_of(kept, vote.name, voter_id)]
    return newest(votes).assessment_id if votes else None


def _valid_stored_votes(conn: Connection, vote: Feedback, trace_id: str,
                        voter_id: str) -> list[str]:
    """The ids of the voter's valid votes of this name on the trace (``rules.is_vote_of``),
    newest first (``rules.newest``): one, unless votes raced before votes took turns."""
    rows = conn.execute(
        sa.select(assessments.c.assessment_id)
        .where(assessments.c.trace_id == trace_id, assessments.c.name == vote.name,
               assessments.c.kind == Feedback.kind,
               assessments.c.source_type == AssessmentSourceType.HUMAN.value,
               assessments.c.source_id == voter_id, assessments.c.valid == sa.true(),
               assessments.c.span_id.is_(None), assessments.c.session_id.is_(None))
        .order_by(assessments.c.create_time_ms.desc(), assessments.c.id.desc())).all()
    return [str(row.assessment_id) for row in rows]
