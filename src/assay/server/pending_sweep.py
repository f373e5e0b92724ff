"""The sweep of pending assessments: attach those whose trace came, drop those whose trace
never came.

While the server runs (its lifespan), a background task sweeps at start and then every
:data:`SWEEP_INTERVAL_SECONDS`. It first attaches what a trace written at the very moment
it was kept did not see (rare; see ``store/sql/pending.py``), then expires what is due,
counts it (``ServerCounters.pending_expired``) and logs how many at WARNING: feedback lost
this way usually means an app that gives out feedback tokens for traces it never exports,
or exports them somewhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from assay.errors import AssayError
from assay.server.stats import ServerCounters
from assay.store.capabilities import PendingAssessments

__all__ = ["SWEEP_INTERVAL_SECONDS", "pending_sweeps", "sweep_pending"]

#: Seconds between two sweeps.
SWEEP_INTERVAL_SECONDS = 60.0

_log = logging.getLogger(__name__)


def sweep_pending(store: PendingAssessments, counters: ServerCounters) -> int:
    """Attach what can be; expire what is due now, count and log it; return how many
    expired."""
    attached = store.attach_stored_pending_assessments()
    if attached:
        _log.info("Attached %d pending assessment(s) to traces written as they were kept",
                  attached)
    expired = store.expire_pending_assessments()
    if expired:
        counters.count_expired(expired)
        _log.warning("Dropped %d pending assessment(s): their trace did not arrive before "
                     "they expired", expired)
    return expired


@contextlib.asynccontextmanager
async def pending_sweeps(store: PendingAssessments, counters: ServerCounters,
                         interval: float = SWEEP_INTERVAL_SECONDS) -> AsyncIterator[None]:
    """Sweep at once and then every ``interval`` seconds, until the block ends.

    The block's end waits for a sweep in progress: a sweep runs in a worker thread, which
    cancelling cannot stop, and the store must outlive it (the caller closes the store next).
    """
    stop = asyncio.Event()
    task = asyncio.create_task(_sweep_until(stop, store, counters, interval),
                               name="assay-pending-sweep")
    try:
        yield
    finally:
        stop.set()
        await task


async def _sweep_until(stop: asyncio.Event, store: PendingAssessments,
                       counters: ServerCounters, interval: float) -> None:
    while not stop.is_set():
        try:
            await run_in_threadpool(sweep_pending, store, counters)
        except AssayError as exc:
            # The database may be down for a while; the next sweep tries again.
            _log.warning("Could not expire pending assessments: %s", exc.message)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
