"""The background exporter: writes finished traces to their store, in batches, off the app's path.

One named daemon thread drains a bounded queue and writes whatever has gathered since its
last write in one transaction (so a busy app gets big batches and an idle one gets each
trace at once). When the queue is full, new traces are dropped and counted, never blocking
the app. ``flush()`` waits until everything queued so far is written; reads in this process
call it first, so a trace can be read right after its function returned.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from assay.entities.trace import Trace
from assay.errors import InvalidParameterError, StoreUnavailableError, mask_secrets

if TYPE_CHECKING:
    from assay.store.base import Store
    from assay.tracing.tracer import InMemoryTrace

__all__ = ["ExportStats", "Exporter"]

_log = logging.getLogger(__name__)

#: Attempts to write one batch before its traces are counted as failed.
_WRITE_ATTEMPTS = 4
#: Longest wait between two attempts at a store that is unavailable.
_LONGEST_UNAVAILABLE_WAIT = 5.0


class ExportStats:
    """Counters of what the exporter did since it started."""

    __slots__ = ("dropped", "failed", "queued", "written")

    def __init__(self) -> None:
        self.queued = 0
        self.written = 0
        self.dropped = 0
        self.failed = 0

    def as_dict(self) -> dict[str, int]:
        return {"queued": self.queued, "written": self.written, "dropped": self.dropped,
                "failed": self.failed}


class Exporter:
    """Writes finished traces in a background thread.

    Args:
        build: turns an in-memory trace into the Trace entity to store.
        queue_size: most traces waiting at once; beyond that new traces are dropped.
        batch_size: most traces written in one transaction.
        exit_timeout: seconds the exit hook waits for the queue to drain.
    """

    def __init__(self, build: Callable[[InMemoryTrace], Trace], queue_size: int = 10_000,
                 batch_size: int = 1_000, exit_timeout: float = 30.0) -> None:
        self._build = build
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.exit_timeout = exit_timeout
        self.stats = ExportStats()
        self._queue: deque[InMemoryTrace] = deque()
        # Ids of the batch being written: taken from the queue, not yet in the store.
        self._in_flight: set[str] = set()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._processed = 0  # queued traces handled (written, failed), under _done
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopping = False
        self._atexit_registered = False

    # -- app side --------------------------------------------------------------------------
    def submit(self, trace: InMemoryTrace) -> bool:
        """Queue a finished trace; False (and counted) if the queue is full."""
        if len(self._queue) >= self.queue_size:
            self.stats.dropped += 1
            if self.stats.dropped == 1 or self.stats.dropped % 1000 == 0:
                _log.warning("Assay export queue is full (%d traces): %d trace(s) dropped so "
                             "far; raise ASSAY_EXPORT_QUEUE_SIZE or check the store",
                             self.queue_size, self.stats.dropped)
            return False
        if self._thread is None:
            self._start()
        self.stats.queued += 1
        self._queue.append(trace)
        self._wake.set()
        return True

    def pending(self) -> int:
        """Traces queued but not written yet."""
        return self.stats.queued - self._processed

    def is_pending(self, trace_id: str) -> bool:
        """Whether a trace with this id is queued or being written (not yet in the store)."""
        # The queue first: the worker marks a trace in flight before taking it off the queue.
        return (any(t.trace_id == trace_id for t in list(self._queue))
                or trace_id in self._in_flight)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every trace queued so far is handled; False on timeout."""
        target = self.stats.queued
        if self._processed >= target:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            while self._processed < target:
                if self._thread is None or not self._thread.is_alive():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._done.wait(remaining if remaining is not None else 1.0)
        return True

    def shutdown(self, timeout: float | None = None) -> None:
        """Write what is queued (up to ``timeout`` seconds) and stop the thread."""
        self.flush(timeout)
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None

    # -- worker side -----------------------------------------------------------------------
    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            self._stopping = False
            thread = threading.Thread(target=self._run, name="assay-exporter", daemon=True)
            thread.start()
            self._thread = thread
            if not self._atexit_registered:
                # The thread is a daemon so that it never keeps a process alive; this hook
                # writes what is still queued when the interpreter exits.
                atexit.register(self._at_exit)
                self._atexit_registered = True

    def _at_exit(self) -> None:
        if self.pending() and not self.flush(self.exit_timeout):
            _log.warning("Assay exited with %d trace(s) not written", self.pending())

    def _run(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                if self._stopping:
                    return
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            batch: list[InMemoryTrace] = []
            while queue and len(batch) < self.batch_size:
                self._in_flight.add(queue[0].trace_id)
                batch.append(queue.popleft())
            self._write(batch)
            self._in_flight.clear()
            with self._done:
                self._processed += len(batch)
                self._done.notify_all()

    def _write(self, batch: Sequence[InMemoryTrace]) -> None:
        traces_by_store: dict[int, tuple[Store, list[Trace]]] = {}
        for item in batch:
            if item.store is None:
                self.stats.failed += 1
                continue
            try:
                entity = self._build(item)
            except Exception:
                _log.exception("Assay could not build trace %s; it is not written",
                               item.trace_id)
                self.stats.failed += 1
                continue
            traces_by_store.setdefault(id(item.store), (item.store, []))[1].append(entity)
        for store, traces in traces_by_store.values():
            self._write_to_store(store, traces)

    def _write_to_store(self, store: Store, traces: list[Trace]) -> None:
        delay = 0.05
        attempt = 0
        unavailable_since: float | None = None
        while attempt < _WRITE_ATTEMPTS:
            attempt += 1
            try:
                store.log_traces(traces)
            except StoreUnavailableError as exc:
                # A server or database that is down (or restarting): keep the batch and keep
                # trying, for as long as the process runs. New traces wait in the bounded
                # queue meanwhile (and are counted as dropped once it is full).
                if self._stopping:
                    self.stats.failed += len(traces)
                    _log.error("Assay stopped with %d trace(s) not written to %s: %s",
                               len(traces), store.uri, exc)
                    return
                now = time.monotonic()
                if unavailable_since is None:
                    unavailable_since = now
                    _log.warning("Assay cannot reach %s (%s); keeping %d trace(s) and "
                                 "trying again", store.uri, exc, len(traces))
                attempt = 0
                time.sleep(random.uniform(0.5, 1.0) * min(
                    _LONGEST_UNAVAILABLE_WAIT, 0.1 * 2 ** min(10, int(now - unavailable_since))))
                continue
            except InvalidParameterError as exc:
                # The store refused something in the batch; retrying will not help, but the
                # other traces of the batch must not be lost with the bad one.
                if len(traces) > 1:
                    for trace in traces:
                        self._write_to_store(store, [trace])
                else:
                    self.stats.failed += 1
                    _log.error("Assay could not write trace %s: %s", traces[0].info.trace_id,
                               exc)
                return
            except Exception as exc:
                if attempt == _WRITE_ATTEMPTS:
                    self.stats.failed += len(traces)
                    _log.error("Assay could not write %d trace(s) to %s after %d attempts: "
                               "%s", len(traces), store.uri, attempt, mask_secrets(str(exc)))
                    return
                _log.warning("Assay could not write %d trace(s) to %s (%s); retrying",
                             len(traces), store.uri, type(exc).__name__)
                time.sleep(delay)
                delay *= 4
            else:
                self.stats.written += len(traces)
                if unavailable_since is not None:
                    _log.warning("Assay reached %s again after %.1f s", store.uri,
                                 time.monotonic() - unavailable_since)
                return
