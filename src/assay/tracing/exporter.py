"""The background exporter: writes finished traces to their store, in batches, off the app's path.

One named daemon thread drains a bounded queue and writes whatever has gathered since its
last write in one transaction (so a busy app gets big batches and an idle one gets each
trace at once). When the queue is full, new traces are dropped and counted, never blocking
the app. ``flush()`` waits until everything queued so far is written; reads in this process
call it first, so a trace can be read right after its function returned.

What it did is counted (:meth:`Exporter.status`, public as ``assay.tracing.get_export_status``).
An outage of the store logs one warning when writes start failing for want of it and one
with its duration when they succeed again (the REST store logs its own retries likewise, so
an outage shorter than its retry window is seen too); at exit, one line totals what was
dropped or failed, if anything was.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from assay.entities.trace import Trace
from assay.errors import InvalidParameterError, StoreUnavailableError, mask_secrets

if TYPE_CHECKING:
    from assay.store.base import Store
    from assay.tracing.tracer import InMemoryTrace

__all__ = ["ExportStats", "ExportStatus", "Exporter"]

_log = logging.getLogger(__name__)

#: Attempts to write one batch before its traces are counted as failed.
_WRITE_ATTEMPTS = 4
#: Longest wait between two attempts at a store that is unavailable.
_LONGEST_UNAVAILABLE_WAIT = 5.0


class ExportStats:
    """Counters of what the exporter did since it started (see :class:`ExportStatus`)."""

    __slots__ = ("dropped", "failed", "queued", "retries", "written")

    def __init__(self) -> None:
        self.queued = 0
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.retries = 0

    def as_dict(self) -> dict[str, int]:
        return {"queued": self.queued, "written": self.written, "dropped": self.dropped,
                "failed": self.failed, "retries": self.retries}


@dataclass(frozen=True)
class ExportStatus:
    """What the background exporter did since the process started, and how the store is.

    Attributes:
        queued: traces handed to the exporter (``written + failed + pending``).
        written: traces stored.
        dropped: traces never queued because the queue was full (the app made them faster
            than the store took them, e.g. during an outage); not part of ``queued``.
        failed: traces given up: refused by the store (a value it cannot take), made while
            the store could not be opened, or not written when the process stopped while
            the store was unavailable.
        pending: traces queued and not handled yet.
        retries: writes sent again because the store was unavailable or failed
            (the REST store's own retries of a request included).
        store_unavailable: whether writes are failing for want of the store right now.
        unavailable_since: since when (UTC), while ``store_unavailable``.
    """

    queued: int
    written: int
    dropped: int
    failed: int
    pending: int
    retries: int
    store_unavailable: bool
    unavailable_since: datetime | None


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
        self._count_lock = threading.Lock()  # app threads count queued and dropped traces
        # Since when (seconds since the epoch) writes fail for want of the store: set by
        # the worker while it keeps a batch and tries again.
        self._unavailable_since: float | None = None
        # The store written to last: its own view of an outage counts too.
        self._last_store: Store | None = None

    # -- app side --------------------------------------------------------------------------
    def submit(self, trace: InMemoryTrace) -> bool:
        """Queue a finished trace; False (and counted) if the queue is full."""
        if len(self._queue) >= self.queue_size:
            with self._count_lock:
                self.stats.dropped += 1
                dropped = self.stats.dropped
            if dropped == 1 or dropped % 1000 == 0:
                _log.warning("Assay export queue is full (%d traces): %d trace(s) dropped so "
                             "far; raise ASSAY_EXPORT_QUEUE_SIZE or check the store",
                             self.queue_size, dropped)
            return False
        if self._thread is None:
            self._start()
        with self._count_lock:
            self.stats.queued += 1
        self._queue.append(trace)
        self._wake.set()
        return True

    def pending(self) -> int:
        """Traces queued but not written yet."""
        return self.stats.queued - self._processed

    def status(self) -> ExportStatus:
        """The counters, and whether the store is unavailable now (as the exporter's writes
        find it, or as the store itself does while it retries a request)."""
        stats = self.stats
        since = self._unavailable_since
        store_since = getattr(self._last_store, "unavailable_since", None)
        if isinstance(store_since, float) and (since is None or store_since < since):
            since = store_since
        return ExportStatus(
            queued=stats.queued, written=stats.written, dropped=stats.dropped,
            failed=stats.failed, pending=max(0, self.pending()), retries=stats.retries,
            store_unavailable=since is not None,
            unavailable_since=None if since is None else datetime.fromtimestamp(since, UTC))

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
        """Write what is queued (up to ``timeout`` seconds) and stop the thread; log the
        totals if traces were lost (then not again at exit)."""
        self.flush(timeout)
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None
        if self._atexit_registered:
            atexit.unregister(self._at_exit)
            self._atexit_registered = False
            self._log_totals()

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
        if self.pending():
            self.flush(self.exit_timeout)
        self._log_totals()

    def _log_totals(self) -> None:
        """One line at exit when traces were lost: what was made of every trace."""
        status = self.status()
        if not (status.dropped or status.failed or status.pending):
            return
        _log.warning("Assay exporter totals: %d trace(s) queued, %d written, %d dropped "
                     "(queue full), %d failed, %d not written at exit, %d retries",
                     status.queued, status.written, status.dropped, status.failed,
                     status.pending, status.retries)

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
        self._last_store = store
        delay = 0.05
        attempt = 0
        while attempt < _WRITE_ATTEMPTS:
            attempt += 1
            store_retries = _num_retries(store)
            try:
                store.log_traces(traces)
            except StoreUnavailableError as exc:
                # A server or database that is down (or restarting): keep the batch and keep
                # trying, for as long as the process runs. New traces wait in the bounded
                # queue meanwhile (and are counted as dropped once it is full).
                self.stats.retries += _num_retries(store) - store_retries
                if self._stopping:
                    self.stats.failed += len(traces)
                    _log.error("Assay stopped with %d trace(s) not written to %s: %s",
                               len(traces), store.uri, exc)
                    return
                if self._unavailable_since is None:
                    self._unavailable_since = time.time()
                    _log.warning("Assay cannot reach %s (%s); keeping %d trace(s) and "
                                 "trying again", store.uri, exc, len(traces))
                self.stats.retries += 1
                attempt = 0
                down_for = time.time() - self._unavailable_since
                time.sleep(random.uniform(0.5, 1.0) * min(
                    _LONGEST_UNAVAILABLE_WAIT, 0.1 * 2 ** min(10, max(0, int(down_for)))))
                continue
            except InvalidParameterError as exc:
                # The store refused something in the batch; retrying will not help, but the
                # other traces of the batch must not be lost with the bad one.
                self.stats.retries += _num_retries(store) - store_retries
                self._reached(store)
                if len(traces) > 1:
                    for trace in traces:
                        self._write_to_store(store, [trace])
                else:
                    self.stats.failed += 1
                    _log.error("Assay could not write trace %s: %s", traces[0].info.trace_id,
                               exc)
                return
            except Exception as exc:
                self.stats.retries += _num_retries(store) - store_retries
                if attempt == _WRITE_ATTEMPTS:
                    self.stats.failed += len(traces)
                    _log.error("Assay could not write %d trace(s) to %s after %d attempts: "
                               "%s", len(traces), store.uri, attempt,
                               mask_secrets(str(exc)))
                    return
                _log.warning("Assay could not write %d trace(s) to %s (%s); retrying",
                             len(traces), store.uri, type(exc).__name__)
                self.stats.retries += 1
                time.sleep(delay)
                delay *= 4
            else:
                self.stats.retries += _num_retries(store) - store_retries
                self.stats.written += len(traces)
                self._reached(store)
                return

    def _reached(self, store: Store) -> None:
        """The store answered: an outage the exporter saw is over (said with its length)."""
        since = self._unavailable_since
        if since is not None:
            self._unavailable_since = None
            _log.warning("Assay reached %s again after %.1f s unavailable; the traces kept "
                         "meanwhile are written", store.uri, time.time() - since)


def _num_retries(store: Store) -> int:
    """Requests the store sent again on its own so far (the REST store does), else 0."""
    retries = getattr(store, "num_retries", 0)
    return retries if isinstance(retries, int) else 0
