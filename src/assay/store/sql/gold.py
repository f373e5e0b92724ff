"""Gold labels in the SQL store: each (session, item, schema)'s final value, kept at write time.

The rule is :func:`assay.entities.labeling.gold_label`; this module applies it to what is
stored and keeps ``labeling_gold`` current. Every write that can change a gold label calls
:func:`refresh_gold` in its own transaction: submitting answers, adjudicating, and logging,
updating or deleting an assessment that answers a session's question. Removing items
(:func:`forget_items`) drops their adjudications and gold labels; deleting a session or a
trace drops them by the foreign keys. Reading (:func:`session_gold`, :func:`traces_gold`) and
searching (``gold.<name>``) then read ``labeling_gold`` alone, never the answers.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay import _json
from assay.entities.assessment import AssessmentSourceType, encode_value, numeric_value
from assay.entities.labeling import GoldLabel, ReviewState, gold_label
from assay.store.sql.dialect import Dialect, upsert
from assay.store.sql.label_schemas import session_questions
from assay.store.sql.schema import (
    assessments,
    labeling_adjudications,
    labeling_gold,
    labeling_reviews,
    labeling_sessions,
    run_traces,
    runs,
)

__all__ = [
    "forget_items",
    "refresh_gold",
    "refresh_trace_gold",
    "refresh_traces_gold",
    "session_gold",
    "set_adjudication",
    "store_gold",
    "traces_gold",
]

#: Trace ids read per query when reading the gold labels of many traces.
_CHUNK = 1000


def set_adjudication(conn: Connection, dialect: Dialect, run_id: str, trace_id: str,
                     name: str, value: Any, adjudicator: str | None,
                     now_ms: int | None = None) -> None:
    """Store (``value`` not None) or clear (None) the adjudicated value of one item and
    question; the caller has checked the session, item, question and value."""
    a = labeling_adjudications
    if value is None:
        conn.execute(a.delete().where(a.c.run_id == run_id, a.c.trace_id == trace_id,
                                      a.c.name == name))
        return
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    conn.execute(upsert(dialect, a, ("run_id", "trace_id", "name"),
                        ("value", "adjudicator", "updated_time_ms")),
                 {"run_id": run_id, "trace_id": trace_id, "name": name,
                  "value": encode_value(value), "adjudicator": adjudicator,
                  "updated_time_ms": now_ms})


def refresh_gold(conn: Connection, dialect: Dialect, run_id: str, trace_id: str,
                 names: Sequence[str], reviewers_per_item: int) -> dict[str, GoldLabel]:
    """Recompute the gold labels of one item for these questions from its completed
    reviewers' current answers and its adjudications, store them (deleting those that no
    longer hold), and return those that hold."""
    if not names:
        return {}
    a, r = assessments, labeling_reviews
    completed = sa.exists().where(r.c.run_id == run_id, r.c.trace_id == trace_id,
                                  r.c.reviewer == a.c.source_id,
                                  r.c.state == ReviewState.COMPLETED.value)
    answers: dict[str, dict[str, Any]] = {name: {} for name in names}
    for name, reviewer, value in conn.execute(
            sa.select(a.c.name, a.c.source_id, a.c.value)
            .where(a.c.trace_id == trace_id, a.c.run_id == run_id, a.c.valid == sa.true(),
                   a.c.source_type == AssessmentSourceType.HUMAN.value,
                   a.c.name.in_(list(names)), a.c.value.is_not(None), completed)
            .order_by(a.c.create_time_ms, a.c.id)):
        answers[name][reviewer] = _json.loads(value)  # the newest of a reviewer's wins
    adjudicated = {
        name: _json.loads(value) for name, value in conn.execute(
            sa.select(labeling_adjudications.c.name, labeling_adjudications.c.value)
            .where(labeling_adjudications.c.run_id == run_id,
                   labeling_adjudications.c.trace_id == trace_id,
                   labeling_adjudications.c.name.in_(list(names))))}
    found: dict[str, GoldLabel] = {}
    for name in names:
        label = gold_label(list(answers[name].values()), reviewers_per_item,
                           adjudicated.get(name))
        if label is not None:
            found[name] = label
    g = labeling_gold
    gone = [name for name in names if name not in found]
    if gone:
        conn.execute(g.delete().where(g.c.run_id == run_id, g.c.trace_id == trace_id,
                                      g.c.name.in_(gone)))
    if found:
        now_ms = int(time.time() * 1000)
        conn.execute(upsert(dialect, g, ("run_id", "trace_id", "name"),
                            ("value", "numeric_value", "adjudicated", "updated_time_ms")),
                     [{"run_id": run_id, "trace_id": trace_id, "name": name,
                       "value": encode_value(label.value),
                       "numeric_value": numeric_value(label.value),
                       "adjudicated": label.adjudicated, "updated_time_ms": now_ms}
                      for name, label in found.items()])
    return found


def store_gold(conn: Connection, dialect: Dialect, run_id: str, trace_id: str,
               labels: Mapping[str, GoldLabel | None],
               stored: Mapping[str, tuple[str, bool]]) -> None:
    """Store one item's gold labels as computed (None: there is none), given those stored
    (name → JSON text and whether adjudicated): only what changed is written."""
    g = labeling_gold
    gone = [name for name, label in labels.items() if label is None and name in stored]
    if gone:
        conn.execute(g.delete().where(g.c.run_id == run_id, g.c.trace_id == trace_id,
                                      g.c.name.in_(gone)))
    changed = []
    for name, label in labels.items():
        if label is None:
            continue
        text = encode_value(label.value)
        if stored.get(name) != (text, label.adjudicated):
            changed.append({"run_id": run_id, "trace_id": trace_id, "name": name,
                            "value": text, "numeric_value": numeric_value(label.value),
                            "adjudicated": label.adjudicated,
                            "updated_time_ms": int(time.time() * 1000)})
    if changed:
        conn.execute(upsert(dialect, g, ("run_id", "trace_id", "name"),
                            ("value", "numeric_value", "adjudicated", "updated_time_ms")),
                     changed)


def refresh_trace_gold(conn: Connection, dialect: Dialect, trace_id: str,
                       name: str | None = None) -> None:
    """Recompute the gold labels of a trace in every labeling session it is an item of (for
    the question ``name`` only, if given): after an assessment that may answer one changed.
    One indexed query when the trace is in no session."""
    s = labeling_sessions
    touched: list[str] = []
    for run_id, schemas, per_item, queue_type, experiment_id in conn.execute(
            sa.select(s.c.run_id, s.c.label_schemas, s.c.reviewers_per_item, s.c.queue_type,
                      runs.c.experiment_id)
            .join(run_traces, run_traces.c.run_id == s.c.run_id)
            .join(runs, runs.c.run_id == s.c.run_id)
            .where(run_traces.c.trace_id == trace_id)):
        asked = session_questions(conn, _json.loads(schemas), queue_type, experiment_id)
        names = asked if name is None else [n for n in asked if n == name]
        refresh_gold(conn, dialect, run_id, trace_id, names, per_item)
        touched.append(run_id)
    if touched:  # the sessions' answers may have changed too
        conn.execute(s.update().where(s.c.run_id.in_(touched))
                     .values(answers_version=s.c.answers_version + 1))


def refresh_traces_gold(conn: Connection, dialect: Dialect, trace_ids: Sequence[str]) -> None:
    """:func:`refresh_trace_gold` for those of ``trace_ids`` that are items of a session
    (found in one indexed query per chunk; usually none): after traces were written again
    with assessments that may answer a session's questions."""
    items: list[str] = []
    for start in range(0, len(trace_ids), _CHUNK):
        chunk = list(trace_ids[start:start + _CHUNK])
        items.extend(conn.execute(sa.select(run_traces.c.trace_id).distinct()
                                  .join(labeling_sessions,
                                        labeling_sessions.c.run_id == run_traces.c.run_id)
                                  .where(run_traces.c.trace_id.in_(chunk))).scalars())
    for trace_id in items:
        refresh_trace_gold(conn, dialect, trace_id)


def forget_items(conn: Connection, run_id: str, trace_ids: Sequence[str]) -> None:
    """Drop the adjudications and gold labels of items removed from a session."""
    for table in (labeling_adjudications, labeling_gold):
        for start in range(0, len(trace_ids), _CHUNK):
            chunk = list(trace_ids[start:start + _CHUNK])
            conn.execute(table.delete().where(table.c.run_id == run_id,
                                              table.c.trace_id.in_(chunk)))


def session_gold(conn: Connection, run_id: str) -> dict[str, dict[str, GoldLabel]]:
    """A session's gold labels: schema name → trace id → gold label, items in the order
    they were added."""
    g = labeling_gold
    found: dict[str, dict[str, GoldLabel]] = {}
    for name, trace_id, value, adjudicated in conn.execute(
            sa.select(g.c.name, g.c.trace_id, g.c.value, g.c.adjudicated)
            .join(run_traces, sa.and_(run_traces.c.run_id == g.c.run_id,
                                      run_traces.c.trace_id == g.c.trace_id))
            .where(g.c.run_id == run_id)
            .order_by(run_traces.c.id, g.c.name)):
        found.setdefault(name, {})[trace_id] = GoldLabel(_json.loads(value), bool(adjudicated))
    return found


def traces_gold(conn: Connection, trace_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The gold labels of these traces: trace id → schema name → value. A trace that is an
    item of several sessions takes each name's value from the newest session that has one
    (the session created last). Traces without any are left out."""
    g = labeling_gold
    found: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(trace_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        # Oldest session first, so a newer session's value replaces an older one's.
        for trace_id, name, value in conn.execute(
                sa.select(g.c.trace_id, g.c.name, g.c.value)
                .join(runs, runs.c.run_id == g.c.run_id)
                .where(g.c.trace_id.in_(chunk))
                .order_by(runs.c.start_time_ms, runs.c.id)):
            found.setdefault(trace_id, {})[name] = _json.loads(value)
    return found
