"""The mlflow side of ``tracing_overhead.py``: the shared workload with ``@mlflow.trace``.

Runs with the interpreter of ``benchmarks/.venv-mlflow`` (mlflow is never installed in the
project venv), in a fresh temporary working directory, so ``sqlite:///mlflow.db`` there
is a new file. The parent sets ``MLFLOW_DISABLE_TELEMETRY`` and ``DO_NOT_TRACK``, and for
the lossless mode ``MLFLOW_USE_BATCH_SPAN_PROCESSOR=false`` and a large export queue.
Start it through ``tracing_overhead.py``; see ``_common.py`` for what it measures.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import mlflow
from _common import PAGE_SIZE, StrFn, main
from mlflow import MlflowClient

#: mlflow's local default destination, relative to the working directory.
TRACKING_URI = "sqlite:///mlflow.db"


class MlflowSide:
    """``@mlflow.trace`` to the local SQLite store."""

    name = "mlflow"

    def __init__(self) -> None:
        self.version: str = mlflow.__version__
        mlflow.set_tracking_uri(TRACKING_URI)

    def trace(self, fn: StrFn) -> StrFn:
        traced: StrFn = mlflow.trace(fn)
        return traced

    def disable(self) -> None:
        mlflow.tracing.disable()

    def enable(self) -> None:
        mlflow.tracing.enable()

    def set_experiment(self, name: str) -> str:
        experiment_id: str = mlflow.set_experiment(name).experiment_id
        return experiment_id

    def flush(self) -> None:
        mlflow.flush_trace_async_logging()


class MlflowReader:
    """``MlflowClient.search_traces`` from another process, PAGE_SIZE at a time."""

    def __init__(self, uri: str) -> None:
        self.client = MlflowClient(tracking_uri=uri)

    def page(self, experiment_id: str, token: str | None,
             include_spans: bool) -> tuple[Sequence[Any], str | None]:
        traces = self.client.search_traces(locations=[experiment_id], max_results=PAGE_SIZE,
                                           page_token=token, include_spans=include_spans)
        return traces, traces.token

    def n_spans(self, trace: Any) -> int:
        return len(trace.data.spans)


def _settings() -> dict[str, Any]:
    keys = ("MLFLOW_USE_BATCH_SPAN_PROCESSOR", "MLFLOW_ASYNC_TRACE_LOGGING_MAX_QUEUE_SIZE",
            "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")
    return {"env": {key: os.environ.get(key) for key in keys}}


if __name__ == "__main__":
    # mlflow logs one warning per call to some APIs while tracing is disabled.
    logging.getLogger("mlflow.tracing.fluent").setLevel(logging.ERROR)
    main(MlflowSide, MlflowReader, "mlflow.db", default_interval=0.5, default_timeout=300.0,
         extra=_settings)
