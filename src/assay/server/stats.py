"""What the server counts while it runs: expired pending assessments and feedback tokens.

One :class:`ServerCounters` per app (``app.state.counters``), shared by the request threads
and the sweep. The counts start at zero when the process starts; with several workers, each
counts its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

__all__ = ["CountersDep", "ServerCounters", "ServerCounts", "get_counters"]


@dataclass(frozen=True)
class ServerCounts:
    """The counters at one moment."""

    pending_expired: int = 0
    feedback_tokens_accepted: int = 0
    feedback_tokens_refused: int = 0
    feedback_rate_limited: int = 0


class ServerCounters:
    """Counters safe to bump from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = ServerCounts()

    def _add(self, **deltas: int) -> None:
        with self._lock:
            current = self._counts
            self._counts = ServerCounts(**{
                name: getattr(current, name) + deltas.get(name, 0)
                for name in ServerCounts.__dataclass_fields__})

    def count_expired(self, n: int) -> None:
        """``n`` pending assessments expired without their trace."""
        self._add(pending_expired=n)

    def count_token_accepted(self) -> None:
        """A vote with a valid feedback token was recorded."""
        self._add(feedback_tokens_accepted=1)

    def count_token_refused(self) -> None:
        """A feedback token was refused: malformed, tampered, expired, or for another trace."""
        self._add(feedback_tokens_refused=1)

    def count_rate_limited(self) -> None:
        """A vote was refused because its token had used up its rate."""
        self._add(feedback_rate_limited=1)

    def snapshot(self) -> ServerCounts:
        """The counts now."""
        with self._lock:
            return self._counts


async def get_counters(request: Request) -> ServerCounters:
    """The counters of the app serving the request."""
    counters: ServerCounters = request.app.state.counters
    return counters


CountersDep = Annotated[ServerCounters, Depends(get_counters)]
