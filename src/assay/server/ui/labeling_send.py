"""Sending traces from the traces table to a labeling session.

``POST /experiments/{eid}/labeling/send`` (*write*) takes ``session`` (a session's run id),
``scope`` — ``selected`` (the ``trace_id`` fields, the rows ticked) or ``filter`` (every
trace matching the ``filter`` field, the table's current filter, at most
:data:`MAX_FROM_FILTER`) — and ``back``, the table's URL to return to, with a flash saying
how many traces were added. Traces already in the session are left as they are. A form
that names no session, no trace, or traces of another experiment is refused (400, the field
named) and nothing is added.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.errors import InvalidParameterError
from assay.ids import is_trace_id
from assay.server.deps import StoreDep
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable
from assay.server.ui.form_posts import read_pairs
from assay.store.base import Store

__all__ = ["MAX_FROM_FILTER", "router"]

router = RouteTable()

#: Most traces one "send every matching trace" adds (the store's limit for one call).
MAX_FROM_FILTER = 10_000
#: Most rows one "send the selected traces" takes (the traces table's largest page is less).
MAX_SELECTED = 1_000
_PAGE = 1_000


@router.post("/experiments/{experiment_id}/labeling/send", include_in_schema=False,
             openapi_extra=needs(Action.WRITE))
async def send_to_session(request: Request, experiment_id: str, store: StoreDep) -> Response:
    """Add the selected traces, or every trace matching the table's filter, to a session."""
    pairs = await read_pairs(request)
    return await run_in_threadpool(_send, experiment_id, store, pairs)


def _send(experiment_id: str, store: Store, pairs: list[tuple[str, str]]) -> Response:
    fields = dict(pairs)
    run_id = fields.get("session", "").strip()
    if not run_id:
        raise InvalidParameterError("Invalid session: choose the labeling session to send to")
    info = store.get_labeling_session(run_id)
    if info.experiment_id != experiment_id:
        raise InvalidParameterError(
            f"Invalid session {run_id[:40]!r}: it is not a session of experiment "
            f"{experiment_id!r}")
    scope = fields.get("scope", "selected")
    capped = False
    if scope == "selected":
        ids = list(dict.fromkeys(v.strip() for k, v in pairs if k == "trace_id" and v.strip()))
        if not ids:
            raise InvalidParameterError(
                "Invalid trace_id: tick the traces to send first (or send every matching "
                "trace)")
        if len(ids) > MAX_SELECTED:
            raise InvalidParameterError(
                f"Invalid trace_id: {len(ids):,} traces; at most {MAX_SELECTED:,} at once")
        bad = next((i for i in ids if not is_trace_id(i)), None)
        if bad is not None:
            raise InvalidParameterError(f"Invalid trace_id {bad[:40]!r}: not a trace id")
    elif scope == "filter":
        ids, capped = _matching(store, experiment_id, fields.get("filter", "").strip() or None)
    else:
        raise InvalidParameterError(
            f"Invalid scope {scope[:20]!r}: expected 'selected' or 'filter'")
    added = store.add_labeling_items(run_id, ids) if ids else []
    message = (f"{len(added):,} trace{'' if len(added) == 1 else 's'} added to "
               f"{info.name!r}")
    if len(added) < len(ids):
        message += f" ({len(ids) - len(added):,} already in it)"
    if capped:
        message += f"; only the first {MAX_FROM_FILTER:,} matching traces are sent at once"
    back = _back(fields.get("back", ""), experiment_id)
    separator = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{separator}{urlencode({'flash': message[:300]})}",
                            status_code=303)


def _back(target: str, experiment_id: str) -> str:
    """Where to go after the post: the traces table's URL as sent, if it is this
    experiment's table on this server; else the table's first page."""
    table = f"/experiments/{quote(experiment_id, safe='')}"
    path = target.split("?", 1)[0]
    if path == table and len(target) <= 4000 and not any(
            ord(c) < 32 or c in "\\#" for c in target):
        return target
    return table


def _matching(store: Store, experiment_id: str,
              filter_string: str | None) -> tuple[list[str], bool]:
    """The ids of the traces matching the filter (newest first), at most MAX_FROM_FILTER;
    and whether there were more."""
    ids: list[str] = []
    token: str | None = None
    while len(ids) < MAX_FROM_FILTER:
        found = store.search_traces([experiment_id], max_results=_PAGE, page_token=token,
                                    include_spans=False, filter_string=filter_string)
        ids += [t.info.trace_id for t in found]
        token = found.token
        if token is None:
            return ids[:MAX_FROM_FILTER], len(ids) > MAX_FROM_FILTER
    return ids[:MAX_FROM_FILTER], True
