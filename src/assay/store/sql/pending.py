"""Pending assessments in the SQL store: feedback (or expectations) for a trace that has not
arrived yet, kept until it does.

An app exports its traces in the background, so an end user can vote before the trace of
the answer is stored. Such an assessment is kept in ``pending_assessments`` as its JSON,
with the id it will keep, and an expiry. When the trace is written, the transaction that
writes it attaches its pending assessments as real ones, in the order they were received,
and deletes them from the pending table; what expires first is deleted by
:func:`expire_pending_assessments` and counted.

A pending assessment may override an earlier pending one of the same trace (an end user's
second vote replacing their first), by the rules of stored ones (:mod:`assay.rules`): once
attached, the earlier one is stored invalid, as an override of a stored assessment would
leave it, even when it was attached first.

Pending rows are kept, attached and expired under one lock
(``dialect.lock_pending_assessments``), so a transaction holding it sees the pending table
stay as it is. Writing traces costs one indexed query per batch when nothing is pending for
them (see ``dialect.in_values``), and takes the lock only when something is. The price is a
race on PostgreSQL: a trace whose transaction reads the pending table just before an
assessment for it is kept, and commits just after the keeper looked for the trace, misses
it. The keeper looks again once it has committed (:func:`attach_to_stored_traces` for its
trace), which leaves a window of one commit; the server's sweep runs the same for every
trace each minute, so such an assessment is attached late, never lost.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities import Trace, TraceData
from assay.entities.assessment import Assessment, assessment_metadata_keys, new_assessment_id
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.ids import check_trace_id
from assay.rules import newest_of_chain, overriders_within, with_validity
from assay.store.sql.assessments import log_trace_assessments
from assay.store.sql.dialect import Dialect, in_chunks, in_values, lock_pending_assessments
from assay.store.sql.schema import assessments, pending_assessments, traces
from assay.store.sql.traces import load_traces

__all__ = [
    "MAX_PENDING_SECONDS",
    "attach_pending_assessments",
    "attach_to_stored_traces",
    "count_pending_assessments",
    "expire_pending_assessments",
    "find_experiment_id",
    "keep_pending_assessment",
    "list_pending_assessments",
]

#: The longest an assessment may be kept for its trace: a year.
MAX_PENDING_SECONDS = 366 * 24 * 3600

# The most traces one call of attach_to_stored_traces looks at (the rest wait a sweep).
_ATTACH_LIMIT = 1000

_log = logging.getLogger(__name__)


def keep_pending_assessment(conn: Connection, dialect: Dialect, assessment: Assessment,
                            expires_in_seconds: float, now_ms: int) -> Assessment:
    """Keep an assessment for a trace that is not stored yet; return it with its id.

    The assessment keeps this id once attached. With ``overrides`` set, it must name a
    pending assessment of the same trace and kind (if that one was overridden already, the
    newest of its chain is superseded, so one stays valid). An ``idempotency_key`` used
    before by a pending assessment of the trace returns that one, and nothing is kept.

    Raises:
        InvalidParameterError: the trace id is not of Assay's form, the expiry is out of
            range, or the assessment is about a session (that needs its trace stored).
        AlreadyExistsError: the trace is stored (log the assessment on it instead), or the
            idempotency key was used for an assessment of another trace.
        NotFoundError: ``overrides`` names no pending assessment of this trace.
    """
    trace_id = check_trace_id(assessment.trace_id)
    expires_ms = _check_expires_in(expires_in_seconds)
    if assessment.session_id is not None:
        raise InvalidParameterError(
            f"Invalid metadata {assessment_metadata_keys.SESSION!r}: trace {trace_id!r} is not "
            "stored yet, and an assessment of a whole session needs a stored trace of it")
    lock_pending_assessments(conn, dialect)
    stored = conn.execute(sa.select(traces.c.id).where(traces.c.trace_id == trace_id)).first()
    if stored is not None:
        raise AlreadyExistsError(
            f"Trace {trace_id!r} is stored: log the assessment on it instead of keeping it")
    earlier = list_pending_assessments(conn, trace_id)
    key = assessment.idempotency_key
    if key is not None:
        for pending in earlier:
            if pending.idempotency_key == key:
                return pending
        used = conn.execute(sa.select(assessments.c.assessment_id, assessments.c.trace_id)
                            .where(assessments.c.idempotency_key == key)).first()
        if used is not None:
            raise AlreadyExistsError(
                f"Invalid idempotency_key {key!r}: it was used for assessment "
                f"{used.assessment_id!r} of another trace ({used.trace_id!r})")
    overrides = assessment.overrides
    if overrides is not None:
        overrides = _superseded(earlier, overrides, assessment)
    kept = dataclasses.replace(assessment, assessment_id=new_assessment_id(),
                               overrides=overrides, valid=True)
    conn.execute(pending_assessments.insert(), {
        "assessment_id": kept.assessment_id,
        "trace_id": trace_id,
        "payload": json.dumps(kept.to_dictionary(), ensure_ascii=False),
        "received_time_ms": now_ms,
        "expires_time_ms": now_ms + expires_ms,
    })
    return kept


def list_pending_assessments(conn: Connection, trace_id: str) -> list[Assessment]:
    """The assessments kept for a trace, in the order they were received; one that a later
    one overrides has ``valid=False``."""
    rows = conn.execute(sa.select(pending_assessments.c.payload)
                        .where(pending_assessments.c.trace_id == trace_id)
                        .order_by(pending_assessments.c.id)).all()
    return with_validity([a for row in rows if (a := _decode(row.payload)) is not None])


def attach_pending_assessments(conn: Connection, dialect: Dialect,
                               batch: Sequence[Trace]) -> int:
    """Store the pending assessments of the traces just written, forget them as pending, and
    return how many there were.

    Called in the transaction that writes ``batch``, after its traces. They are stored on
    the trace with the ids they were given, in the order received, overridden ones invalid.
    """
    infos = {trace.info.trace_id: trace.info for trace in batch}
    query = (sa.select(pending_assessments.c.id, pending_assessments.c.trace_id,
                       pending_assessments.c.payload)
             .where(in_values(dialect, pending_assessments.c.trace_id, sorted(infos)))
             .order_by(pending_assessments.c.id))
    # One query for the batch, and nothing more when nothing is pending for it (the usual
    # case). Otherwise read again under the lock: a keeper holding it (a second vote
    # overriding the first) has then committed, and its assessment is attached too.
    if not conn.execute(query.limit(1)).first():
        return 0
    lock_pending_assessments(conn, dialect)
    rows = conn.execute(query).all()
    if not rows:
        return 0
    by_trace: dict[str, list[Assessment]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        assessment = _decode(row.payload)
        if assessment is not None:  # one that cannot be read goes, and never blocks a trace
            by_trace.setdefault(row.trace_id, []).append(assessment)
    carriers = [
        Trace(info=dataclasses.replace(infos[trace_id], assessments=with_validity(kept)),
              data=TraceData(spans=[]))
        for trace_id, kept in by_trace.items()
    ]
    # Spans are left out on purpose: the span of a pending assessment is not checked, since
    # a trace sent in parts may bring it later.
    log_trace_assessments(conn, dialect, carriers)
    # One kept while the one it overrides was being attached (in another transaction that
    # did not see it yet) overrides a stored assessment now, which stops being valid.
    overridden = sorted({a.overrides for kept in by_trace.values() for a in kept
                         if a.overrides is not None})
    for chunk in in_chunks(overridden, dialect):
        conn.execute(assessments.update()
                     .where(assessments.c.assessment_id.in_(chunk),
                            in_values(dialect, assessments.c.trace_id, sorted(by_trace)))
                     .values(valid=False))
    ids = sorted(row.id for row in rows)
    for chunk_ids in in_chunks(ids, dialect):
        conn.execute(pending_assessments.delete().where(pending_assessments.c.id.in_(chunk_ids)))
    return len(rows)


def attach_to_stored_traces(conn: Connection, dialect: Dialect,
                            trace_ids: Sequence[str] | None = None) -> int:
    """Attach what is pending for traces that are stored (of ``trace_ids``, or any): those
    written while the assessment was being kept. Return how many were attached."""
    query = (sa.select(pending_assessments.c.trace_id).distinct()
             .join(traces, traces.c.trace_id == pending_assessments.c.trace_id)
             .order_by(pending_assessments.c.trace_id).limit(_ATTACH_LIMIT))
    if trace_ids is not None:
        query = query.where(in_values(dialect, pending_assessments.c.trace_id, trace_ids))
    stored = conn.execute(query).scalars().all()
    if not stored:
        return 0
    return attach_pending_assessments(
        conn, dialect, list(load_traces(conn, dialect, stored, False).values()))


def expire_pending_assessments(conn: Connection, dialect: Dialect, now_ms: int) -> int:
    """Delete the pending assessments whose time is up; return how many went."""
    lock_pending_assessments(conn, dialect)
    result = conn.execute(pending_assessments.delete()
                          .where(pending_assessments.c.expires_time_ms <= now_ms))
    return int(result.rowcount)


def find_experiment_id(conn: Connection, trace_id: str) -> str | None:
    """The experiment of a stored trace; None while the trace is not stored."""
    key = conn.execute(sa.select(traces.c.experiment_id)
                       .where(traces.c.trace_id == trace_id)).scalar_one_or_none()
    return None if key is None else str(key)


def count_pending_assessments(conn: Connection) -> int:
    """How many assessments wait for their trace."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(pending_assessments))
               .scalar_one())


# -- helpers ---------------------------------------------------------------------------------

def _decode(payload: str) -> Assessment | None:
    """The kept assessment, or None (logged) if its JSON cannot be read back, as it could be
    after a change of format: the trace it waits for must still be written."""
    try:
        return Assessment.from_dictionary(json.loads(payload))
    except (ValueError, TypeError, KeyError) as exc:
        _log.warning("Dropping a pending assessment that cannot be read: %s",
                     type(exc).__name__)
        return None


def _superseded(earlier: list[Assessment], assessment_id: str, new: Assessment) -> str:
    """The pending assessment ``new`` supersedes: ``assessment_id``, or the newest one that
    already overrides it (``rules.newest_of_chain``)."""
    target = next((a for a in earlier if a.assessment_id == assessment_id), None)
    if target is None:
        raise NotFoundError(f"Assessment with ID {assessment_id!r} not found for trace "
                            f"{new.trace_id!r} (the trace is not stored yet, and no pending "
                            "assessment has this id)")
    return str(newest_of_chain(target, new, overriders_within(earlier)).assessment_id)


def _check_expires_in(expires_in_seconds: object) -> int:
    """``expires_in_seconds`` as milliseconds, if within (0, a year]."""
    if isinstance(expires_in_seconds, bool) \
            or not isinstance(expires_in_seconds, (int, float)) \
            or not 0 < expires_in_seconds <= MAX_PENDING_SECONDS:
        raise InvalidParameterError(
            f"Invalid expires_in_seconds {expires_in_seconds!r}: expected more than 0 and at "
            f"most {MAX_PENDING_SECONDS:,} seconds")
    return max(1, round(expires_in_seconds * 1000))
