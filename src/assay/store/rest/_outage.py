"""Outages of an Assay server as the REST store's requests find them.

A request that fails for want of the server is retried for a while (see :mod:`._http`), so
a short outage ends before any error is raised. It is still worth knowing: the first retry
of an outage logs one warning, and the first answer after it one more with its duration.
Whoever writes through the store (the exporter) reads :attr:`Outage.since` and
:attr:`Outage.retries` to report it.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["Outage"]

_log = logging.getLogger("assay.store.rest")


class Outage:
    """Whether the server at ``base_url`` (given without credentials) answers.

    Attributes:
        since: when requests began failing for want of the server (seconds since the
            epoch), while they still do; None while it answers.
        retries: requests sent again, in all, since the client was made.
    """

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._lock = threading.Lock()
        self._started = 0.0  # monotonic time of `since`
        self.since: float | None = None
        self.retries = 0

    def retrying(self, failure: str, budget: float) -> None:
        """A request failed for want of the server and is about to be sent again."""
        with self._lock:
            self.retries += 1
            if self.since is not None:
                return
            self.since = time.time()
            self._started = time.monotonic()
        _log.warning("The Assay server at %s is unavailable (%s); retrying for up to %g s",
                     self._base_url, failure, budget)

    def answered(self) -> None:
        """A request got an answer: the outage, if there was one, is over."""
        if self.since is None:  # the usual case, without taking the lock
            return
        with self._lock:
            if self.since is None:
                return
            self.since = None
            duration = time.monotonic() - self._started
        _log.warning("The Assay server at %s answers again, after %.1f s unavailable",
                     self._base_url, duration)
