"""A trace's labeling state, for its page: the labeling sessions it is an item of (each with
who reviewed it there), and its gold labels.

Three reads, whatever the sessions' sizes: the sessions holding the trace
(``list_trace_labeling_sessions``), each session's settings, and the trace's gold labels
(``get_gold_labels``); who reviewed it comes from the trace's own assessments (a reviewer's
answer is a HUMAN assessment linked to the session's run).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from assay.entities import Trace
from assay.errors import NotFoundError
from assay.server.ui.labeling_session import session_url
from assay.store.base import Store

__all__ = ["labeling_state"]

#: Sessions listed on a trace's page (a trace in more is rare; the rest are counted).
MAX_SESSIONS_SHOWN = 20


def labeling_state(store: Store, trace: Trace) -> dict[str, Any]:
    """``sessions`` (name, owner page, review page, reviewers), ``num_sessions`` and
    ``gold`` (schema name → value, as text) of one trace."""
    trace_id = trace.info.trace_id
    run_ids = store.list_trace_labeling_sessions([trace_id]).get(trace_id, [])
    reviewers: dict[str, set[str]] = {}
    for a in trace.info.assessments:
        if a.run_id and a.source.source_id and a.source.source_type.value == "HUMAN":
            reviewers.setdefault(a.run_id, set()).add(a.source.source_id)
    sessions = []
    for run_id in run_ids[:MAX_SESSIONS_SHOWN]:
        try:
            info = store.get_labeling_session(run_id)
        except NotFoundError:  # deleted since the first read
            continue
        sessions.append({
            "run_id": run_id, "name": info.name,
            "url": session_url(info.experiment_id, run_id),
            "review_url": f"/review/{quote(run_id, safe='')}",
            "reviewed_by": sorted(reviewers.get(run_id, ())),
        })
    gold = store.get_gold_labels([trace_id]).get(trace_id, {})
    return {"sessions": sessions, "num_sessions": len(run_ids),
            "gold": {name: value if isinstance(value, str)
                     else json.dumps(value, ensure_ascii=False)
                     for name, value in gold.items()}}
