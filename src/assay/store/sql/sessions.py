"""Sessions in the SQL store: the traces of an experiment grouped by their session id.

A page of sessions costs one grouped query over the ``traces`` table (served by its
session_id and (experiment_id, request_time_ms) indexes), then the usual page-wide loads of
the sessions' traces. Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities import Session
from assay.entities._checks import check_key
from assay.entities.trace import metadata_keys
from assay.errors import InvalidParameterError
from assay.paging import PagedList
from assay.store.checks import check_max_results, parse_experiment_id
from assay.store.sql.assessments import with_assessments
from assay.store.sql.dialect import Dialect, in_chunks
from assay.store.sql.page_tokens import decode_page_token, encode_page_token
from assay.store.sql.schema import trace_metadata, traces
from assay.store.sql.traces import load_traces

__all__ = ["list_sessions"]

_PAGE_KIND = "sessions"


def list_sessions(conn: Connection, dialect: Dialect, experiment_ids: Sequence[str],
                  max_results: int, page_token: str | None, include_spans: bool,
                  run_id: str | None = None, model_id: str | None = None,
                  ) -> PagedList[Session]:
    """Sessions of the experiments, the most recently active first, a page at a time.

    A session's traces come oldest first (its turns in order), each with its assessments.
    With ``run_id`` or ``model_id``, only sessions with at least one trace of that run or
    model are listed, each with all of its traces.
    """
    if isinstance(experiment_ids, str) or not experiment_ids:
        raise InvalidParameterError(
            f"Invalid experiment_ids {experiment_ids!r}: expected a non-empty list of ids")
    check_max_results(max_results)
    check_key("run_id", run_id)
    check_key("model_id", model_id)
    keys = sorted({key for key in map(parse_experiment_id, experiment_ids) if key is not None})
    if not keys:
        return PagedList([], None)
    in_experiments = traces.c.experiment_id.in_(keys)
    last_ms = sa.func.max(traces.c.request_time_ms)
    query = (sa.select(traces.c.session_id, last_ms.label("last_ms"))
             .where(in_experiments, traces.c.session_id.is_not(None))
             .group_by(traces.c.session_id))
    if run_id is not None or model_id is not None:
        matching = sa.select(traces.c.session_id).where(in_experiments,
                                                        traces.c.session_id.is_not(None))
        if run_id is not None:
            matching = matching.where(traces.c.run_id == run_id)
        if model_id is not None:
            matching = matching.where(sa.exists().where(
                trace_metadata.c.trace_id == traces.c.trace_id,
                trace_metadata.c.key == metadata_keys.MODEL_ID,
                trace_metadata.c.value == model_id))
        query = query.where(traces.c.session_id.in_(matching.scalar_subquery()))
    if page_token is not None:
        time_ms, last_session = decode_page_token(page_token, _PAGE_KIND, str)
        query = query.having(sa.or_(last_ms < time_ms,
                                    sa.and_(last_ms == time_ms,
                                            traces.c.session_id > last_session)))
    query = query.order_by(last_ms.desc(), traces.c.session_id.asc()).limit(max_results + 1)
    page = [(str(row.session_id), int(row.last_ms)) for row in conn.execute(query)]
    token = None
    if len(page) > max_results:
        page = page[:max_results]
        token = encode_page_token(_PAGE_KIND, (page[-1][1], page[-1][0]))
    session_ids = [session_id for session_id, _ in page]
    members: dict[str, list[str]] = {session_id: [] for session_id in session_ids}
    for chunk in in_chunks(session_ids, dialect):
        rows = conn.execute(
            sa.select(traces.c.session_id, traces.c.trace_id)
            .where(in_experiments, traces.c.session_id.in_(chunk))
            .order_by(traces.c.request_time_ms, traces.c.trace_id))
        for session_id, trace_id in rows:
            members[session_id].append(trace_id)
    trace_ids = [trace_id for ids in members.values() for trace_id in ids]
    loaded = load_traces(conn, dialect, trace_ids, include_spans)
    by_id = {trace.info.trace_id: trace
             for trace in with_assessments(conn, dialect, list(loaded.values()))}
    return PagedList([Session(session_id, [by_id[t] for t in members[session_id] if t in by_id])
                      for session_id in session_ids], token)
