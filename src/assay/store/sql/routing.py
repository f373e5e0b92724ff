"""Routing rules in the SQL store: traces added to labeling sessions as they are written.

A rule (``labeling_routing_rules``) holds a filter string and a sample rate for one session.
:func:`route_traces` runs in the transaction of every write that can make a trace match a
filter (a batch of traces, an assessment logged, updated or deleted, a vote, a tag set or
deleted): it reads the rules of the experiments written to (one indexed query, which finds
nothing when no rule exists: the whole cost of routing then), and for each rule runs its
compiled filter restricted to the traces written and to those the rule never routed (one
query per rule). Of the traces that match, those :func:`~assay.entities.labeling.is_sampled`
takes are linked to the session, recorded in ``labeling_routed_traces`` and counted in the
rule's ``hit_count``. A trace is routed once per rule: removed from the session by hand, it
is not added again by the same rule. Rules see only what is written after they are created.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay.entities.labeling import (
    MAX_ROUTING_RULES,
    RoutingRule,
    check_rule_id,
    check_sample_rate,
    is_sampled,
    new_rule_id,
)
from assay.errors import InvalidParameterError, NotFoundError
from assay.search import FilterError
from assay.store.checks import parse_experiment_id
from assay.store.sql.dialect import Dialect, in_chunks, in_values, insert_ignoring_conflicts
from assay.store.sql.filters import trace_filter
from assay.store.sql.schema import (
    labeling_routed_traces,
    labeling_routing_rules,
    run_traces,
    traces,
)

__all__ = ["create_rule", "delete_rule", "list_rules", "route_traces"]

_logger = logging.getLogger(__name__)

#: The longest filter string a rule keeps (the filter language's own limit is larger).
MAX_RULE_FILTER_CHARS = 10_000


def create_rule(conn: Connection, dialect: Dialect, run_id: str, experiment_id: str,
                filter_string: str, sample_rate: float = 1.0,
                created_by: str | None = None) -> RoutingRule:
    """Store a rule for a session (already found and locked by the caller, in
    ``experiment_id``); a filter that does not compile is refused with its error."""
    if not isinstance(filter_string, str) or not filter_string.strip():
        raise InvalidParameterError(
            "Invalid filter_string: a routing rule needs a non-empty filter string")
    if len(filter_string) > MAX_RULE_FILTER_CHARS:
        raise InvalidParameterError(
            f"Invalid filter_string: {len(filter_string):,} characters; the limit is "
            f"{MAX_RULE_FILTER_CHARS:,}")
    rate = check_sample_rate(sample_rate)
    key = parse_experiment_id(experiment_id)
    assert key is not None
    trace_filter(dialect, [key], filter_string)  # FilterError, naming what is wrong
    r = labeling_routing_rules
    count = conn.execute(sa.select(sa.func.count()).select_from(r)
                         .where(r.c.run_id == run_id)).scalar_one()
    if count >= MAX_ROUTING_RULES:
        raise InvalidParameterError(
            f"Invalid routing rule: session {run_id!r} has {MAX_ROUTING_RULES} rules, the "
            "limit; delete one first")
    rule = RoutingRule(rule_id=new_rule_id(), run_id=run_id, filter_string=filter_string,
                       sample_rate=rate, hit_count=0, created_time=int(time.time() * 1000),
                       created_by=created_by)
    conn.execute(r.insert().values(
        rule_id=rule.rule_id, run_id=run_id, experiment_id=key, filter_string=filter_string,
        sample_rate=rate, hit_count=0, created_by=created_by,
        created_time_ms=rule.created_time))
    return rule


def list_rules(conn: Connection, run_id: str) -> list[RoutingRule]:
    """A session's rules, oldest first."""
    r = labeling_routing_rules
    return [_to_rule(row._mapping) for row in conn.execute(
        sa.select(r).where(r.c.run_id == run_id).order_by(r.c.id))]


def delete_rule(conn: Connection, run_id: str, rule_id: str) -> None:
    """Delete a rule of a session; NotFoundError naming it if the session has no such rule.
    The traces it routed stay in the session."""
    check_rule_id(rule_id)
    r = labeling_routing_rules
    deleted = conn.execute(r.delete().where(r.c.run_id == run_id, r.c.rule_id == rule_id))
    if deleted.rowcount == 0:
        raise NotFoundError(
            f"Routing rule {rule_id!r} not found in labeling session {run_id!r}")


def route_traces(conn: Connection, dialect: Dialect, trace_ids: Sequence[str],
                 experiment_keys: Iterable[int] | None = None) -> int:
    """Apply the rules of the traces' experiments to these traces, just written (see the
    module docstring); return how many (rule, trace) routings were made. ``experiment_keys``:
    the traces' experiments when the caller knows them (else they are looked up)."""
    if not trace_ids:
        return 0
    r = labeling_routing_rules
    if experiment_keys is not None:
        keys = sorted(set(experiment_keys))
        if not keys:
            return 0
        # Built once (see _RULES_OF): with no rules this is all routing costs a batch.
        rules = conn.execute(_RULES_OF, {"keys": keys}).all()
    else:
        rules = conn.execute(
            _RULE_COLUMNS.where(r.c.experiment_id.in_(
                sa.select(traces.c.experiment_id).where(
                    in_values(dialect, traces.c.trace_id, list(trace_ids)))))
            .order_by(r.c.id)).all()
    if not rules:
        return 0
    ids = sorted(set(trace_ids))
    routed = 0
    now_ms = int(time.time() * 1000)
    for rule_id, run_id, experiment_key, filter_string, sample_rate in rules:
        try:
            matched = _matching(conn, dialect, rule_id, experiment_key, filter_string, ids)
        except FilterError as exc:
            # Checked when the rule was made; should the language ever refuse it since, the
            # rule is skipped rather than the write refused.
            _logger.warning("Routing rule %s skipped: its filter no longer compiles: %s",
                            rule_id, exc)
            continue
        taken = [trace_id for trace_id in matched
                 if is_sampled(rule_id, trace_id, sample_rate)]
        if not taken:
            continue
        # Only the rows inserted count: a concurrent write that routed a trace first (and
        # committed while this one waited on the unique key) keeps it.
        new = conn.execute(
            insert_ignoring_conflicts(dialect, labeling_routed_traces)
            .returning(labeling_routed_traces.c.trace_id),
            [{"rule_id": rule_id, "trace_id": trace_id, "routed_time_ms": now_ms}
             for trace_id in taken]).scalars().all()
        if not new:
            continue
        conn.execute(insert_ignoring_conflicts(dialect, run_traces), [
            {"run_id": run_id, "trace_id": trace_id, "added_time_ms": now_ms}
            for trace_id in new])
        conn.execute(r.update().where(r.c.rule_id == rule_id)
                     .values(hit_count=r.c.hit_count + len(new)))
        routed += len(new)
    return routed


_RULE_COLUMNS = sa.select(
    labeling_routing_rules.c.rule_id, labeling_routing_rules.c.run_id,
    labeling_routing_rules.c.experiment_id, labeling_routing_rules.c.filter_string,
    labeling_routing_rules.c.sample_rate)
#: The rules of some experiments, oldest first: a statement built once at import, as the
#: write path of every batch runs it.
_RULES_OF = (_RULE_COLUMNS
             .where(labeling_routing_rules.c.experiment_id.in_(
                 sa.bindparam("keys", expanding=True)))
             .order_by(labeling_routing_rules.c.id))


def _matching(conn: Connection, dialect: Dialect, rule_id: str, experiment_key: int,
              filter_string: str, trace_ids: list[str]) -> list[str]:
    """The traces of ``trace_ids`` the rule's filter matches and the rule never routed."""
    # Without conn: no probe for session-level assessments first, so one query a rule.
    where = trace_filter(dialect, [experiment_key], filter_string).where
    done = sa.exists().where(labeling_routed_traces.c.rule_id == rule_id,
                             labeling_routed_traces.c.trace_id == traces.c.trace_id)
    found: list[str] = []
    for chunk in in_chunks(trace_ids, dialect):
        found.extend(conn.execute(
            sa.select(traces.c.trace_id)
            .where(in_values(dialect, traces.c.trace_id, list(chunk)), where, ~done)
            .order_by(traces.c.trace_id)).scalars())
    return found


def _to_rule(row: RowMapping) -> RoutingRule:
    return RoutingRule(rule_id=row["rule_id"], run_id=row["run_id"],
                       filter_string=row["filter_string"], sample_rate=row["sample_rate"],
                       hit_count=row["hit_count"], created_time=row["created_time_ms"],
                       created_by=row["created_by"])
