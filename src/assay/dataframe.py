"""Traces and runs as pandas DataFrames, with the columns of MLflow's ``search_traces``
and ``search_runs``.

pandas is an optional extra (``pip install 'assay[pandas]'``) and is imported only when a
DataFrame is asked for, so ``import assay`` never loads it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from assay.entities import Trace
from assay.entities.run import Run

if TYPE_CHECKING:
    import pandas

__all__ = ["DATAFRAME_COLUMNS", "RUN_COLUMNS", "has_pandas", "runs_to_dataframe",
           "traces_to_dataframe"]

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

#: The columns of a runs DataFrame before its ``metrics.*``, ``params.*`` and ``tags.*``:
#: MLflow's (less ``artifact_uri``: Assay stores no artifacts), then Assay's name and kind.
RUN_COLUMNS = ("run_id", "experiment_id", "status", "start_time", "end_time", "run_name",
               "kind")

_INSTALL_HINT = "pandas is not installed: pip install 'assay[pandas]' (or return_type='list')"
# Tags MLflow writes for what Assay keeps as run attributes.
_RUN_NAME_TAG = "mlflow.runName"
_USER_TAG = "mlflow.user"


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


def runs_to_dataframe(runs: Sequence[Run]) -> pandas.DataFrame:
    """One row per run: :data:`RUN_COLUMNS` (times as UTC datetimes, as MLflow gives them),
    then ``metrics.<k>``, ``params.<k>`` and ``tags.<k>`` for every key any run has, each
    group sorted by key; a run without a key has NaN (metrics) or None there.

    Raises:
        ImportError: pandas is not installed (the message says how to install it).
    """
    try:
        import pandas
    except ImportError:
        raise ImportError(_INSTALL_HINT.replace("return_type", "output_format")) from None
    rows: list[dict[str, Any]] = []
    metric_keys: set[str] = set()
    param_keys: set[str] = set()
    tag_keys: set[str] = set()
    for run in runs:
        info, data = run.info, run.data
        tags = {_RUN_NAME_TAG: info.run_name, **data.tags}
        if info.user_id is not None:
            tags.setdefault(_USER_TAG, info.user_id)
        row: dict[str, Any] = {
            "run_id": info.run_id, "experiment_id": info.experiment_id,
            "status": info.status.value, "start_time": info.start_time,
            "end_time": info.end_time, "run_name": info.run_name, "kind": info.kind.value}
        row.update((f"metrics.{k}", v) for k, v in data.metrics.items())
        row.update((f"params.{k}", v) for k, v in data.params.items())
        row.update((f"tags.{k}", v) for k, v in tags.items())
        metric_keys.update(data.metrics)
        param_keys.update(data.params)
        tag_keys.update(tags)
        rows.append(row)
    columns = [*RUN_COLUMNS, *(f"metrics.{k}" for k in sorted(metric_keys)),
               *(f"params.{k}" for k in sorted(param_keys)),
               *(f"tags.{k}" for k in sorted(tag_keys))]
    frame = pandas.DataFrame(rows, columns=columns)
    for name in ("start_time", "end_time"):
        frame[name] = pandas.to_datetime(frame[name], unit="ms", utc=True)
    return frame
