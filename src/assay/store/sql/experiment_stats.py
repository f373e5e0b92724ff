"""What an experiment holds at a glance, in the SQL store: per-experiment counts (traces,
last trace, traces with feedback), the assessment names used in an experiment, and the user
and session ids of its newest traces.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities.overview import AssessmentName, ExperimentStats, RecentIds
from assay.store.checks import (
    RECENT_TRACES_SCANNED,
    check_max_results,
    parse_experiment_id,
)
from assay.store.sql.schema import assessments, traces

__all__ = ["get_experiment_stats", "list_assessment_names", "list_recent_ids"]

_KINDS = ("feedback", "expectation")


def get_experiment_stats(conn: Connection,
                         experiment_ids: Sequence[str]) -> dict[str, ExperimentStats]:
    """The counts of each experiment, by id (ids naming no experiment get zeros).

    Two statements whatever the number of experiments: the trace counts and newest request
    times (from the ``(experiment_id, request_time_ms)`` index alone), and the traces with
    valid feedback, counted once each whether the feedback is their own or their session's.
    """
    keys = {experiment_id: parse_experiment_id(experiment_id)
            for experiment_id in experiment_ids}
    wanted = sorted({key for key in keys.values() if key is not None})
    counts: dict[int, tuple[int, int | None]] = {}
    with_feedback: dict[int, int] = {}
    if wanted:
        t = traces
        rows = conn.execute(
            sa.select(t.c.experiment_id, sa.func.count(), sa.func.max(t.c.request_time_ms))
            .where(t.c.experiment_id.in_(wanted))
            .group_by(t.c.experiment_id))
        counts = {row[0]: (int(row[1]), row[2]) for row in rows}
        with_feedback = _traces_with_feedback(conn, [k for k in wanted if counts.get(k)])
    found: dict[str, ExperimentStats] = {}
    for experiment_id, key in keys.items():
        num, last = counts.get(key, (0, None)) if key is not None else (0, None)
        found[experiment_id] = ExperimentStats(
            experiment_id=experiment_id, num_traces=num, last_trace_time_ms=last,
            num_traces_with_feedback=with_feedback.get(key, 0) if key is not None else 0)
    return found


def _traces_with_feedback(conn: Connection, keys: list[int]) -> dict[int, int]:
    if not keys:
        return {}
    a, t = assessments, traces
    valid_feedback = sa.and_(a.c.experiment_id.in_(keys), a.c.kind == "feedback",
                             a.c.valid == sa.true())
    own = (sa.select(a.c.experiment_id.label("experiment_id"), a.c.trace_id.label("trace_id"))
           .where(valid_feedback, a.c.session_id.is_(None)))
    of_session = (sa.select(t.c.experiment_id.label("experiment_id"),
                            t.c.trace_id.label("trace_id"))
                  .join(a, sa.and_(a.c.session_id == t.c.session_id,
                                   a.c.experiment_id == t.c.experiment_id))
                  .where(valid_feedback, a.c.session_id.is_not(None)))
    # UNION, not UNION ALL: a trace with several feedbacks counts once.
    pairs = sa.union(own, of_session).subquery()
    rows = conn.execute(sa.select(pairs.c.experiment_id, sa.func.count())
                        .group_by(pairs.c.experiment_id))
    return {row[0]: int(row[1]) for row in rows}


def list_assessment_names(conn: Connection, experiment_id: str,
                          max_results: int = 100) -> list[AssessmentName]:
    """The names of the valid assessments of an experiment, in name order (at most
    ``max_results``), each with the kind it was logged as.

    One statement that skips through the ``(experiment_id, name, valid)`` index: a recursive
    query whose every step is "the first name after the last one found", so the cost follows
    the number of names, not of assessments. A name logged as both kinds is listed once,
    with the kind of one of its assessments.
    """
    check_max_results(max_results)
    key = parse_experiment_id(experiment_id)
    if key is None:
        return []
    a = assessments
    of_experiment = (a.c.experiment_id == key, a.c.valid == sa.true())

    def first_name(after: sa.ColumnElement[Any] | None) -> sa.ScalarSelect[Any]:
        query = sa.select(a.c.name).where(*of_experiment)
        if after is not None:
            query = query.where(a.c.name > after)
        return query.order_by(a.c.name).limit(1).scalar_subquery()

    names = sa.select(first_name(None).label("name"), sa.literal(1).label("n")) \
        .cte("names", recursive=True)
    names = names.union_all(
        sa.select(first_name(names.c.name), names.c.n + 1)
        .where(names.c.name.is_not(None), names.c.n < max_results))
    kind = (sa.select(a.c.kind).where(*of_experiment, a.c.name == names.c.name)
            .limit(1).scalar_subquery())
    rows = conn.execute(sa.select(names.c.name, kind).where(names.c.name.is_not(None))
                        .order_by(names.c.n))
    return [AssessmentName(cast(Any, row[1]), row[0]) for row in rows if row[1] in _KINDS]



def list_recent_ids(conn: Connection, experiment_id: str, max_results: int = 200) -> RecentIds:
    """The distinct user and session ids of the newest RECENT_TRACES_SCANNED traces of an
    experiment, the most recently seen first.

    One statement over the ``(experiment_id, request_time_ms)`` index: the newest rows,
    whether they have the ids or not (so that traces without them cannot make it read
    further), kept in order and made distinct here. An experiment of any size costs the
    same.
    """
    check_max_results(max_results)
    key = parse_experiment_id(experiment_id)
    users: dict[str, None] = {}
    sessions: dict[str, None] = {}
    if key is not None:
        t = traces
        rows = conn.execute(sa.select(t.c.user_id, t.c.session_id)
                            .where(t.c.experiment_id == key)
                            .order_by(t.c.request_time_ms.desc(), t.c.trace_id)
                            .limit(RECENT_TRACES_SCANNED)).all()
        for user_id, session_id in rows:
            if user_id:
                users.setdefault(user_id)
            if session_id:
                sessions.setdefault(session_id)
    return RecentIds(list(users)[:max_results], list(sessions)[:max_results])
