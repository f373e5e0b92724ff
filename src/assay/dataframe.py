"""Traces as a pandas DataFrame, with the columns of MLflow's ``search_traces``.

pandas is an optional extra (``pip install 'assay[pandas]'``) and is imported only when a
DataFrame is asked for, so ``import assay`` never loads it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from assay.entities import Trace

if TYPE_CHECKING:
    import pandas

__all__ = ["DATAFRAME_COLUMNS", "has_pandas", "traces_to_dataframe"]

#: The columns, in MLflow's order.
DATAFRAME_COLUMNS = (
    "trace_id",
    "trace",  # the whole trace as JSON text (Trace.from_json reads it back)
    "client_request_id",
    "state",  # "OK", "ERROR", "IN_PROGRESS"
    "request_time",  # ms since the epoch
    "execution_duration",  # ms, None while in progress
    "request",  # the root span's inputs, decoded from JSON
    "response",  # the root span's outputs, decoded from JSON
    "trace_metadata",  # dict
    "tags",  # dict
    "spans",  # list of Span.to_dict(); empty with include_spans=False
    "assessments",  # list of Assessment.to_dictionary(), overridden ones included
)

_INSTALL_HINT = "pandas is not installed: pip install 'assay[pandas]' (or return_type='list')"


def has_pandas() -> bool:
    """Whether pandas can be imported."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def traces_to_dataframe(traces: Sequence[Trace]) -> pandas.DataFrame:
    """One row per trace, with :data:`DATAFRAME_COLUMNS`.

    Raises:
        ImportError: pandas is not installed (the message says how to install it).
    """
    try:
        import pandas
    except ImportError:
        raise ImportError(_INSTALL_HINT) from None
    rows = [_row(trace) for trace in traces]
    return pandas.DataFrame(rows, columns=list(DATAFRAME_COLUMNS))


def _row(trace: Trace) -> dict[str, Any]:
    info = trace.info
    return {
        "trace_id": info.trace_id,
        "trace": trace.to_json(),
        "client_request_id": info.client_request_id,
        "state": info.state.value,
        "request_time": info.request_time,
        "execution_duration": info.execution_duration,
        "request": _decoded(trace.data.request),
        "response": _decoded(trace.data.response),
        "trace_metadata": dict(info.trace_metadata),
        "tags": dict(info.tags),
        "spans": [span.to_dict() for span in trace.data.spans],
        "assessments": [a.to_dictionary() for a in info.assessments],
    }


def _decoded(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
