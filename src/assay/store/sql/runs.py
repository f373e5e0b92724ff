"""Runs in the SQL store, and the traces linked to each.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay import _json
from assay.entities._checks import check_key
from assay.entities.run import Run, RunData, RunInfo, RunKind, RunStatus, check_run_id
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.ids import check_trace_id
from assay.store.checks import check_run_pairs, check_run_update
from assay.store.sql.dialect import Dialect, in_values, upsert_many
from assay.store.sql.experiments import get_experiment
from assay.store.sql.schema import run_traces, runs, traces

__all__ = [
    "MAX_LINKED_TRACES",
    "check_trace_ids",
    "create_run",
    "get_run",
    "link_traces",
    "run_from_row",
    "unlink_traces",
    "update_run",
]

#: Most traces linked or unlinked by one call.
MAX_LINKED_TRACES = 10_000
_PAGE_KIND = "runs"
_RUN_TRACES_PAGE_KIND = "run_traces"


def create_run(conn: Connection, info: RunInfo, data: RunData | None = None) -> Run:
    """Store a new run (its experiment must exist) and return it as stored. Storing the same
    run again (a retried call) returns it; another run with its id is AlreadyExistsError."""
    existing = _find_row(conn, info.run_id)
    if existing is not None:
        run = run_from_row(existing)
        if (run.info.experiment_id, run.info.run_name, run.info.kind) != (
                info.experiment_id, info.run_name, info.kind):
            raise AlreadyExistsError(f"Run with ID {info.run_id!r} already exists")
        return run
    experiment = get_experiment(conn, info.experiment_id)
    data = data or RunData()
    conn.execute(runs.insert().values(
        run_id=info.run_id, experiment_id=int(experiment.experiment_id), name=info.run_name,
        kind=info.kind.value, status=info.status.value,
        start_time_ms=info.start_time or int(time.time() * 1000),
        end_time_ms=info.end_time, user_id=info.user_id,
        params=_json.dumps(check_run_pairs("params", data.params, str)),
        metrics=_json.dumps(check_run_pairs("metrics", data.metrics, float)),
        tags=_json.dumps(check_run_pairs("tags", data.tags, str))))
    return get_run(conn, info.run_id)


def get_run(conn: Connection, run_id: str) -> Run:
    """The run with this id; NotFoundError naming it otherwise."""
    row = _find_row(conn, run_id)
    if row is None:
        raise NotFoundError(f"Run with ID {run_id!r} not found")
    return run_from_row(row)


def update_run(conn: Connection, run_id: str, *, status: RunStatus | None = None,
               end_time: int | None = None, metrics: Mapping[str, float] | None = None,
               params: Mapping[str, str] | None = None,
               tags: Mapping[str, str] | None = None) -> Run:
    """Change a run's status and end time, and add to (or replace keys of) its metrics,
    params and tags; return it as stored."""
    row = _find_row(conn, run_id)
    if row is None:
        raise NotFoundError(f"Run with ID {run_id!r} not found")
    run = run_from_row(row)
    change = check_run_update(status, end_time, metrics, params, tags)
    values: dict[str, Any] = {}
    if change.status is not None:
        values["status"] = change.status.value
    if change.end_time is not None:
        values["end_time_ms"] = change.end_time
    for field, given, old in (("metrics", change.metrics, run.data.metrics),
                              ("params", change.params, run.data.params),
                              ("tags", change.tags, run.data.tags)):
        if given is not None:
            values[field] = _json.dumps({**old, **given})
    if values:
        conn.execute(runs.update().where(runs.c.run_id == run_id).values(**values))
    return get_run(conn, run_id)


def link_traces(conn: Connection, run_id: str, trace_ids: Sequence[str]) -> list[str]:
    """Link traces to a run (idempotent) and return the ids newly linked, in the order given.

    Every trace must exist and belong to the run's experiment; otherwise nothing is linked
    and the error names the first that does not.
    """
    run = get_run(conn, run_id)
    wanted = check_trace_ids(trace_ids)
    found = _experiments_of(conn, wanted)
    for trace_id in wanted:
        experiment_id = found.get(trace_id)
        if experiment_id is None:
            raise NotFoundError(f"Trace with ID {trace_id!r} not found")
        if experiment_id != run.info.experiment_id:
            raise InvalidParameterError(
                f"Invalid trace {trace_id!r}: it is in experiment {experiment_id!r}, and run "
                f"{run_id!r} is in experiment {run.info.experiment_id!r}")
    linked = set(_linked(conn, run_id, wanted))
    new = [trace_id for trace_id in wanted if trace_id not in linked]
    if new:
        now_ms = int(time.time() * 1000)
        # One statement for the batch (10,000 rows inserted one by one took 0.7 s on
        # PostgreSQL); rows keep the order given, which ``id`` records.
        upsert_many(conn, Dialect.of(conn), run_traces, ("run_id", "trace_id"),
                    ("run_id", "trace_id", "added_time_ms"),
                    [(run_id, trace_id, now_ms) for trace_id in new], replace=False)
    return new


def unlink_traces(conn: Connection, run_id: str, trace_ids: Sequence[str]) -> list[str]:
    """Unlink traces from a run and return the ids that were linked (others are ignored)."""
    get_run(conn, run_id)
    wanted = check_trace_ids(trace_ids)
    linked = _linked(conn, run_id, wanted)
    if linked:
        conn.execute(run_traces.delete().where(run_traces.c.run_id == run_id,
                                               run_traces.c.trace_id.in_(linked)))
    removed = set(linked)
    return [trace_id for trace_id in wanted if trace_id in removed]


def check_trace_ids(trace_ids: Sequence[str]) -> list[str]:
    """The distinct trace ids of a list of at most MAX_LINKED_TRACES, each checked."""
    if isinstance(trace_ids, str) or not isinstance(trace_ids, Sequence):
        raise InvalidParameterError(
            f"Invalid trace_ids: expected a list of trace ids, got {type(trace_ids).__name__}")
    if len(trace_ids) > MAX_LINKED_TRACES:
        raise InvalidParameterError(
            f"Invalid trace_ids: {len(trace_ids):,} ids; the limit is {MAX_LINKED_TRACES:,} "
            "a call")
    return list(dict.fromkeys(check_trace_id(trace_id, "trace_ids item")
                              for trace_id in trace_ids))


def _experiments_of(conn: Connection, trace_ids: list[str]) -> dict[str, str]:
    # The ids as one parameter (see dialect.in_values): one query however many.
    query = sa.select(traces.c.trace_id, traces.c.experiment_id).where(
        in_values(Dialect.of(conn), traces.c.trace_id, trace_ids))
    return {trace_id: str(experiment_id) for trace_id, experiment_id in conn.execute(query)}


def _linked(conn: Connection, run_id: str, trace_ids: list[str]) -> list[str]:
    return list(conn.execute(sa.select(run_traces.c.trace_id).where(
        run_traces.c.run_id == run_id,
        in_values(Dialect.of(conn), run_traces.c.trace_id, trace_ids))).scalars())


def _find_row(conn: Connection, run_id: str) -> RowMapping | None:
    check_key("run_id", run_id)
    check_run_id(run_id)
    row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).first()
    return None if row is None else row._mapping


def run_from_row(row: Mapping[Any, Any]) -> Run:
    """A run from its row of ``runs``."""
    info = RunInfo(run_id=row["run_id"], experiment_id=str(row["experiment_id"]),
                   run_name=row["name"], kind=RunKind(row["kind"]),
                   status=RunStatus(row["status"]), start_time=row["start_time_ms"],
                   end_time=row["end_time_ms"], user_id=row["user_id"])
    return Run(info, RunData(metrics=_json.loads(row["metrics"]),
                             params=_json.loads(row["params"]), tags=_json.loads(row["tags"])))
