"""The module-level API for experiments and stored traces (``assay.set_experiment`` …)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from assay import _runtime
from assay.client import AssayClient
from assay.entities import Experiment, Trace
from assay.errors import NotFoundError
from assay.paging import PagedList
from assay.store.uri import validate_uri

__all__ = [
    "create_experiment",
    "delete_traces",
    "flush_trace_async_logging",
    "get_experiment",
    "get_experiment_by_name",
    "get_trace",
    "get_tracking_uri",
    "search_experiments",
    "set_experiment",
    "set_tracking_uri",
]

_log = logging.getLogger("assay")


def set_tracking_uri(uri: str) -> None:
    """Send traces to ``uri``: ``sqlite:///file.db`` or ``postgresql://…``.

    Traces this process finished for the previous URI are written there first.
    """
    _runtime.runtime().set_tracking_uri(validate_uri(uri))


def get_tracking_uri() -> str:
    """The tracking URI in use (default ``sqlite:///assay.db`` in the working directory)."""
    return _runtime.runtime().tracking_uri


def set_experiment(experiment_name: str | None = None,
                   experiment_id: str | None = None) -> Experiment:
    """Make an experiment the active one; by name, it is created on first use."""
    return _runtime.runtime().set_experiment(experiment_name, experiment_id)


def create_experiment(name: str, tags: Mapping[str, str] | None = None) -> str:
    """Create an experiment and return its id."""
    return AssayClient().create_experiment(name, tags)


def get_experiment(experiment_id: str) -> Experiment:
    """The experiment with this id; NotFoundError otherwise."""
    return AssayClient().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment with this name, or None."""
    return AssayClient().get_experiment_by_name(name)


def search_experiments(max_results: int = 1000,
                       page_token: str | None = None) -> PagedList[Experiment]:
    """Experiments, newest first."""
    return AssayClient().search_experiments(max_results, page_token)


def get_trace(trace_id: str, silent: bool = False, flush: bool = False) -> Trace | None:
    """The trace with this id, or None (with a warning unless ``silent``).

    A trace this process finished is readable at once; ``flush`` is accepted for MLflow
    compatibility and is never needed.
    """
    try:
        return AssayClient().get_trace(trace_id)
    except NotFoundError:
        if not silent:
            _log.warning("Trace with ID %r not found", trace_id)
        return None


def delete_traces(experiment_id: str, max_timestamp_millis: int | None = None,
                  max_traces: int | None = None,
                  trace_ids: Sequence[str] | None = None) -> int:
    """Delete traces older than a time, or by id; returns how many were deleted."""
    return AssayClient().delete_traces(experiment_id, max_timestamp_millis, max_traces,
                                       trace_ids)


def flush_trace_async_logging(terminate: bool = False) -> None:
    """Wait until every finished trace is written (and stop the exporter if ``terminate``)."""
    rt = _runtime.runtime()
    if terminate:
        rt.exporter.shutdown(rt.settings.export_exit_timeout)
    else:
        rt.flush(rt.settings.export_exit_timeout)
