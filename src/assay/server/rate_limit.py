"""Per-key rate limits in memory: a token bucket for each key (a feedback token's id).

A bucket holds up to ``per_minute`` requests and refills at ``per_minute`` a minute, so a
key may burst that many at once and then keeps to the rate. Buckets live in this process:
with several workers each one counts its own, so a key gets at most ``workers`` times the
rate. The number of buckets is bounded; when full, the least recently used go first (a key
that comes back after that starts with a full bucket, which only errs towards allowing).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from assay.errors import AssayError, InvalidParameterError

__all__ = ["RateLimitedError", "TokenBucketLimiter"]


class RateLimitedError(AssayError):
    """Too many requests for one key; ``retry_after_seconds`` says when one more will do
    (429, with a ``Retry-After`` header)."""

    error_code = "REQUEST_LIMIT_EXCEEDED"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class TokenBucketLimiter:
    """A token bucket per key.

    Args:
        per_minute: requests a key may make per minute (also its burst).
        max_keys: the most buckets kept at once.
        clock: seconds, monotonic (a parameter for tests).
    """

    def __init__(self, per_minute: int, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(per_minute, bool) or not isinstance(per_minute, int) or per_minute < 1:
            raise InvalidParameterError(
                f"Invalid per_minute {per_minute!r}: expected a whole number, at least 1")
        self.per_minute = per_minute
        self._rate = per_minute / 60.0  # tokens per second
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (tokens left, when they were counted), least recently used first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, what: str = "this key") -> None:
        """Count one request of ``key``; RateLimitedError if its bucket is empty."""
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.pop(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - then) * self._rate)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0
            else:
                wait = max(1, math.ceil((1.0 - tokens) / self._rate))
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        if wait:
            raise RateLimitedError(
                f"Too many requests for {what}: at most {self.per_minute} a minute; try again "
                f"in {wait} s", wait)

    def __len__(self) -> int:
        """How many buckets are kept."""
        return len(self._buckets)
