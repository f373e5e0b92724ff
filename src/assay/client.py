"""AssayClient: every operation on experiments and traces as methods (MLflow's MlflowClient).

A client made without a tracking URI uses the process's default store (the one
``assay.set_tracking_uri`` and ``ASSAY_TRACKING_URI`` choose) and sees the traces this
process has finished but not yet written, so what was just traced can be read at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from assay import _runtime
from assay.entities import Experiment, Trace
from assay.errors import InvalidParameterError, NotFoundError
from assay.paging import PagedList
from assay.store.base import Store
from assay.store.uri import open_store

__all__ = ["AssayClient", "MlflowClient"]


class AssayClient:
    """Operations on experiments and traces.

    Args:
        tracking_uri: the store to use; default: the process's tracking URI.
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        self._tracking_uri = tracking_uri
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri or _runtime.runtime().tracking_uri

    def _get_store(self) -> Store:
        """The store, after writing whatever this process has queued for it."""
        rt = _runtime.runtime()
        if self._tracking_uri is None or self._tracking_uri == rt.tracking_uri:
            return rt.readable_store()
        if rt.exporter.pending():
            rt.flush(rt.settings.export_exit_timeout)
        with self._lock:
            if self._store is None:
                self._store = open_store(self._tracking_uri)
            return self._store

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        """Create an experiment; returns its id. Names are unique and may contain slashes."""
        return self._get_store().create_experiment(name, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; NotFoundError otherwise."""
        return self._get_store().get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name, or None."""
        return self._get_store().find_experiment_by_name(name)

    def search_experiments(self, max_results: int = 1000,
                           page_token: str | None = None) -> PagedList[Experiment]:
        """Experiments, newest first; ``.token`` gives the next page."""
        return self._get_store().search_experiments(max_results, page_token)

    # -- traces ----------------------------------------------------------------------------
    def get_trace(self, trace_id: str, include_spans: bool = True) -> Trace:
        """The trace with this id; NotFoundError otherwise."""
        return self._get_store().get_trace(trace_id, include_spans)

    def search_traces(self, experiment_ids: Sequence[str] | None = None,
                      max_results: int = 100, page_token: str | None = None,
                      include_spans: bool = True,
                      experiment_names: Sequence[str] | None = None) -> PagedList[Trace]:
        """Traces of the experiments, newest first, one page; ``.token`` gives the next."""
        store = self._get_store()
        ids = [str(i) for i in experiment_ids or ()]
        for name in experiment_names or ():
            experiment = store.find_experiment_by_name(name)
            if experiment is None:
                raise NotFoundError(f"Experiment with name {name!r} not found")
            ids.append(experiment.experiment_id)
        if not ids:
            ids = [_runtime.runtime().active_experiment_id()]
        if not isinstance(max_results, int) or max_results < 1:
            raise InvalidParameterError(
                f"max_results must be a positive integer, got {max_results!r}")
        return store.search_traces(ids, max_results, page_token, include_spans)

    def delete_traces(self, experiment_id: str, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None,
                      trace_ids: Sequence[str] | None = None) -> int:
        """Delete traces older than a time, or by id; returns how many were deleted."""
        return self._get_store().delete_traces(str(experiment_id), max_timestamp_millis,
                                               max_traces, trace_ids)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set a tag on a trace (running in this process, or written)."""
        from assay.tracing.current_trace import set_trace_tag

        if self._tracking_uri is None:
            set_trace_tag(trace_id, key, value)
        else:
            self._get_store().set_trace_tag(trace_id, key, value)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Remove a tag from a trace."""
        from assay.tracing.current_trace import delete_trace_tag

        if self._tracking_uri is None:
            delete_trace_tag(trace_id, key)
        else:
            self._get_store().delete_trace_tag(trace_id, key)


#: MLflow's name for the client, so ``from assay.client import MlflowClient`` works.
MlflowClient = AssayClient
