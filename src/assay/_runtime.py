"""The process's default tracking state, behind the module-level (fluent) API.

It holds the tracking URI, the store opened for it, the active experiment, and the tracer
and exporter. Nothing happens at import: the store opens and the exporter thread starts on
first use. ``reset()`` returns everything to the start (tests use it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar

from assay.entities.experiment import DEFAULT_EXPERIMENT_ID, Experiment
from assay.errors import AssayError, NotFoundError
from assay.rules import experiment_named
from assay.settings import Settings
from assay.store import DEFAULT_TRACKING_URI, Store, open_store
from assay.store.uri import mask_uri, validate_uri
from assay.tracing.assembly import build_trace
from assay.tracing.exporter import Exporter
from assay.tracing.tracer import InMemoryTrace, Tracer

__all__ = ["Runtime", "runtime"]

_log = logging.getLogger("assay")

#: Seconds before opening a store that failed is tried again from the tracing path.
_STORE_RETRY_SECONDS = 5.0

class Runtime:
    """Tracking URI, store, active experiment, tracer and exporter of this process."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.tracing_enabled = self.settings.tracing_enabled
        # The last trace ended in each thread or task (get_last_active_trace_id(True)).
        self.last_trace_id_in_context: ContextVar[str | None] = ContextVar(
            "assay_last_trace_id", default=None)
        # Where traces finished in this context go instead of the exporter, when set: an
        # evaluation takes its rows' traces and writes them with their scores.
        self.trace_sink: ContextVar[Callable[[InMemoryTrace], None] | None] = ContextVar(
            "assay_trace_sink", default=None)
        self._uri: str | None = None
        self._store: Store | None = None
        self._store_error_at = 0.0
        self._lock = threading.RLock()
        self._experiment_name: str | None = None
        self._experiment_id: str | None = None
        self._experiment_cache: dict[tuple[int, str], str] = {}
        self.exporter = Exporter(build_trace, self.settings.export_queue_size,
                                 self.settings.export_batch_size,
                                 self.settings.export_exit_timeout)
        self.tracer = Tracer(self._on_trace_end, self.active_experiment_id,
                             self.store_or_none, self.settings.sampling_ratio)

    # -- tracking URI and store ------------------------------------------------------------
    @property
    def tracking_uri(self) -> str:
        return self._uri or self.settings.tracking_uri or DEFAULT_TRACKING_URI

    def set_tracking_uri(self, uri: str) -> None:
        uri = validate_uri(uri)
        with self._lock:
            if uri == self._uri:
                return
            old = self._store
            self.exporter.flush(timeout=self.settings.export_exit_timeout)
            self._uri = uri
            self._store = None
            self._store_error_at = 0.0
            self._experiment_cache.clear()
        if old is not None:
            old.close()

    def store(self) -> Store:
        """The store of the tracking URI, opened on first use (errors are raised)."""
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                self._store = open_store(validate_uri(self.tracking_uri))
            return self._store

    def store_or_none(self) -> Store | None:
        """The store, or None if it cannot be opened (logged; tried again a bit later)."""
        store = self._store
        if store is not None:
            return store
        if time.monotonic() - self._store_error_at < _STORE_RETRY_SECONDS:
            return None
        try:
            return self.store()
        except Exception as exc:
            self._store_error_at = time.monotonic()
            _log.error("Assay cannot open the tracking store %s, traces are not recorded: %s",
                       mask_uri(self.tracking_uri), exc)
            return None

    # -- experiments -----------------------------------------------------------------------
    def set_experiment(self, experiment_name: str | None = None,
                       experiment_id: str | None = None) -> Experiment:
        store = self.store()
        if experiment_id is not None:
            experiment = store.get_experiment(str(experiment_id))
        elif experiment_name is not None:
            experiment = experiment_named(store, experiment_name)
        else:
            raise AssayError("set_experiment needs experiment_name or experiment_id")
        with self._lock:
            self._experiment_name = experiment.name
            self._experiment_id = experiment.experiment_id
            self._experiment_cache[(id(store), experiment.name)] = experiment.experiment_id
        return experiment

    def active_experiment_id(self) -> str:
        """The experiment new traces go to: set in code, else from the environment, else "0"."""
        name = self._experiment_name or self.settings.experiment_name
        if name is None:
            return self._experiment_id or self.settings.experiment_id or DEFAULT_EXPERIMENT_ID
        store = self.store_or_none()
        if store is None:
            return self._experiment_id or DEFAULT_EXPERIMENT_ID
        key = (id(store), name)
        cached = self._experiment_cache.get(key)
        if cached is not None:
            return cached
        try:
            experiment_id = experiment_named(store, name).experiment_id
        except (AssayError, NotFoundError) as exc:
            _log.error("Assay cannot use experiment %r: %s", name, exc)
            return DEFAULT_EXPERIMENT_ID
        self._experiment_cache[key] = experiment_id
        return experiment_id

    def has_active_experiment(self) -> bool:
        return bool(self._experiment_name or self._experiment_id
                    or self.settings.experiment_name or self.settings.experiment_id)

    # -- export ----------------------------------------------------------------------------
    def _on_trace_end(self, trace: InMemoryTrace) -> None:
        self.last_trace_id_in_context.set(trace.trace_id)
        sink = self.trace_sink.get()
        if sink is not None:
            sink(trace)
        else:
            self.exporter.submit(trace)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every finished trace is written; False on timeout."""
        return self.exporter.flush(timeout)

    def readable_store(self) -> Store:
        """The store, after writing what this process still has queued (read-your-writes)."""
        store = self.store()
        if self.exporter.pending():
            self.exporter.flush(self.settings.export_exit_timeout)
        return store

    def close(self) -> None:
        self.exporter.shutdown(timeout=self.settings.export_exit_timeout)
        if self._store is not None:
            self._store.close()
            self._store = None


_default: Runtime | None = None
_default_lock = threading.Lock()


def runtime() -> Runtime:
    """The process's default runtime, created on first use."""
    global _default
    rt = _default
    if rt is not None:
        return rt
    with _default_lock:
        if _default is None:
            _default = Runtime()
        return _default


def reset(settings: Settings | None = None) -> Runtime:
    """Close the default runtime (writing what it holds) and start a fresh one."""
    global _default
    with _default_lock:
        old, _default = _default, Runtime(settings)
    if old is not None:
        old.close()
    return _default
