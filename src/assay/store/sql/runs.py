"""Runs in the SQL store, and the traces linked to each.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay import _json
from assay.entities._checks import MAX_METADATA_KEY_CHARS, check_key, check_text
from assay.entities.run import Run, RunData, RunInfo, RunKind, RunStatus, check_run_id
from assay.errors import InvalidParameterError, NotFoundError
from assay.ids import check_trace_id
from assay.paging import PagedList
from assay.store.checks import check_max_results
from assay.store.sql.experiments import get_experiment, parse_experiment_id
from assay.store.sql.page_tokens import decode_page_token, encode_page_token
from assay.store.sql.schema import run_traces, runs, traces

__all__ = [
    "MAX_LINKED_TRACES",
    "create_run",
    "get_run",
    "link_traces",
    "list_run_trace_ids",
    "list_runs",
    "unlink_traces",
    "update_run",
]

#: Most traces linked or unlinked by one call.
MAX_LINKED_TRACES = 10_000
_PAGE_KIND = "runs"
_RUN_TRACES_PAGE_KIND = "run_traces"


def create_run(conn: Connection, info: RunInfo, data: RunData | None = None) -> Run:
    """Store a new run (its experiment must exist) and return it as stored."""
    experiment = get_experiment(conn, info.experiment_id)
    data = data or RunData()
    conn.execute(runs.insert().values(
        run_id=info.run_id, experiment_id=int(experiment.experiment_id), name=info.run_name,
        kind=info.kind.value, status=info.status.value,
        start_time_ms=info.start_time or int(time.time() * 1000),
        end_time_ms=info.end_time, user_id=info.user_id,
        params=_json.dumps(_check_pairs("params", data.params, str)),
        metrics=_json.dumps(_check_pairs("metrics", data.metrics, float)),
        tags=_json.dumps(_check_pairs("tags", data.tags, str))))
    return get_run(conn, info.run_id)


def get_run(conn: Connection, run_id: str) -> Run:
    """The run with this id; NotFoundError naming it otherwise."""
    row = _find_row(conn, run_id)
    if row is None:
        raise NotFoundError(f"Run with ID {run_id!r} not found")
    return _to_run(row)


def list_runs(conn: Connection, experiment_ids: Sequence[str], kind: RunKind | None = None,
              max_results: int = 1000, page_token: str | None = None) -> PagedList[Run]:
    """Runs of the experiments, newest first, a page at a time (of one kind if given)."""
    check_max_results(max_results)
    keys = [key for key in map(parse_experiment_id, experiment_ids) if key is not None]
    query = sa.select(runs).where(runs.c.experiment_id.in_(keys or [-1]))
    if kind is not None:
        query = query.where(runs.c.kind == RunKind(kind).value)
    if page_token is not None:
        started_ms, last_id = decode_page_token(page_token, _PAGE_KIND, int)
        query = query.where(runs.c.start_time_ms <= started_ms,
                            sa.or_(runs.c.start_time_ms < started_ms, runs.c.id < last_id))
    query = query.order_by(runs.c.start_time_ms.desc(), runs.c.id.desc()).limit(max_results + 1)
    rows = [row._mapping for row in conn.execute(query)]
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token = encode_page_token(_PAGE_KIND, (rows[-1]["start_time_ms"], rows[-1]["id"]))
    return PagedList([_to_run(row) for row in rows], token)


def update_run(conn: Connection, run_id: str, *, status: RunStatus | str | None = None,
               end_time: int | None = None, run_name: str | None = None,
               metrics: Mapping[str, float] | None = None,
               params: Mapping[str, str] | None = None,
               tags: Mapping[str, str] | None = None) -> Run:
    """Change a run: its status, end time or name, and metrics, params and tags merged into
    what it has (a param, once set, keeps its value: MLflow's rule)."""
    row = _find_row(conn, run_id, for_update=True)
    if row is None:
        raise NotFoundError(f"Run with ID {run_id!r} not found")
    values: dict[str, Any] = {}
    if status is not None:
        values["status"] = RunStatus.parse(status).value
    if end_time is not None:
        if isinstance(end_time, bool) or not isinstance(end_time, int) or end_time < 0:
            raise InvalidParameterError(
                f"Invalid end_time {end_time!r}: expected milliseconds since the epoch")
        values["end_time_ms"] = end_time
    if run_name is not None:
        check_text("run_name", run_name, 250)
        values["name"] = run_name
    if metrics:
        merged = {**_json.loads(row["metrics"]), **_check_pairs("metrics", metrics, float)}
        values["metrics"] = _json.dumps(merged)
    if params:
        current = _json.loads(row["params"])
        new = _check_pairs("params", params, str)
        for key, value in new.items():
            if key in current and current[key] != value:
                raise InvalidParameterError(
                    f"Invalid params[{key!r}]: the run already has the value "
                    f"{current[key]!r}; a param cannot change")
        values["params"] = _json.dumps({**current, **new})
    if tags:
        values["tags"] = _json.dumps({**_json.loads(row["tags"]),
                                      **_check_pairs("tags", tags, str)})
    if values:
        conn.execute(runs.update().where(runs.c.run_id == run_id).values(**values))
    return get_run(conn, run_id)


def link_traces(conn: Connection, run_id: str, trace_ids: Sequence[str]) -> list[str]:
    """Link traces to a run (idempotent) and return the ids newly linked, in the order given.

    Every trace must exist and belong to the run's experiment; otherwise nothing is linked
    and the error names the first that does not.
    """
    run = get_run(conn, run_id)
    wanted = _check_trace_ids(trace_ids)
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
        conn.execute(run_traces.insert(), [
            {"run_id": run_id, "trace_id": trace_id, "added_time_ms": now_ms}
            for trace_id in new])
    return new


def unlink_traces(conn: Connection, run_id: str, trace_ids: Sequence[str]) -> list[str]:
    """Unlink traces from a run and return the ids that were linked (others are ignored)."""
    get_run(conn, run_id)
    wanted = _check_trace_ids(trace_ids)
    linked = _linked(conn, run_id, wanted)
    if linked:
        conn.execute(run_traces.delete().where(run_traces.c.run_id == run_id,
                                               run_traces.c.trace_id.in_(linked)))
    return [trace_id for trace_id in wanted if trace_id in set(linked)]


def list_run_trace_ids(conn: Connection, run_id: str, max_results: int = 1000,
                       page_token: str | None = None) -> PagedList[str]:
    """The ids of the traces linked to a run, in the order they were linked."""
    check_max_results(max_results)
    get_run(conn, run_id)
    query = sa.select(run_traces.c.id, run_traces.c.trace_id).where(
        run_traces.c.run_id == run_id)
    if page_token is not None:
        _, last_id = decode_page_token(page_token, _RUN_TRACES_PAGE_KIND, int)
        query = query.where(run_traces.c.id > last_id)
    rows = list(conn.execute(query.order_by(run_traces.c.id).limit(max_results + 1)))
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token = encode_page_token(_RUN_TRACES_PAGE_KIND, (0, rows[-1].id))
    return PagedList([row.trace_id for row in rows], token)


def _check_trace_ids(trace_ids: Sequence[str]) -> list[str]:
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
    found: dict[str, str] = {}
    for start in range(0, len(trace_ids), 1000):
        chunk = trace_ids[start:start + 1000]
        for row in conn.execute(sa.select(traces.c.trace_id, traces.c.experiment_id)
                                .where(traces.c.trace_id.in_(chunk))):
            found[row.trace_id] = str(row.experiment_id)
    return found


def _linked(conn: Connection, run_id: str, trace_ids: list[str]) -> list[str]:
    linked: list[str] = []
    for start in range(0, len(trace_ids), 1000):
        chunk = trace_ids[start:start + 1000]
        linked.extend(conn.execute(
            sa.select(run_traces.c.trace_id).where(run_traces.c.run_id == run_id,
                                                   run_traces.c.trace_id.in_(chunk))).scalars())
    return linked


def _find_row(conn: Connection, run_id: str, for_update: bool = False) -> RowMapping | None:
    check_key("run_id", run_id)
    check_run_id(run_id)
    query = sa.select(runs).where(runs.c.run_id == run_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else row._mapping


def _check_pairs(field: str, pairs: Mapping[str, Any],
                 kind: type[str] | type[float]) -> dict[str, Any]:
    if not isinstance(pairs, Mapping):
        raise InvalidParameterError(
            f"Invalid {field}: expected a dict, got {type(pairs).__name__}")
    checked: dict[str, Any] = {}
    for key, value in pairs.items():
        check_text(f"{field} key", key, MAX_METADATA_KEY_CHARS)
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise InvalidParameterError(
                    f"Invalid {field}[{key!r}] {value!r}: expected a finite number")
            checked[key] = float(value)
        else:
            if not isinstance(value, str):
                raise InvalidParameterError(
                    f"Invalid {field}[{key!r}]: expected a str, got {type(value).__name__}")
            check_key(f"{field}[{key!r}]", value)
            checked[key] = value
    return checked


def _to_run(row: RowMapping) -> Run:
    info = RunInfo(run_id=row["run_id"], experiment_id=str(row["experiment_id"]),
                   run_name=row["name"], kind=RunKind(row["kind"]),
                   status=RunStatus(row["status"]), start_time=row["start_time_ms"],
                   end_time=row["end_time_ms"], user_id=row["user_id"])
    return Run(info, RunData(metrics=_json.loads(row["metrics"]),
                             params=_json.loads(row["params"]), tags=_json.loads(row["tags"])))
