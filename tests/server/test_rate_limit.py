"""The per-token rate limiter: a token bucket per key, on a clock the test moves."""

from __future__ import annotations

import pytest

from assay.errors import InvalidParameterError
from assay.server.rate_limit import RateLimitedError, TokenBucketLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_bursts_its_rate_then_waits_for_refills() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(30, clock=clock)  # one every 2 s
    for _ in range(30):
        limiter.take("a")
    with pytest.raises(RateLimitedError) as caught:
        limiter.take("a", "this feedback token")
    assert caught.value.retry_after_seconds == 2
    assert "this feedback token" in caught.value.message and "30" in caught.value.message
    limiter.take("b")  # another key has its own bucket
    clock.now += 1.0
    with pytest.raises(RateLimitedError) as caught:
        limiter.take("a")
    assert caught.value.retry_after_seconds == 1
    clock.now += 1.0
    limiter.take("a")
    with pytest.raises(RateLimitedError):
        limiter.take("a")


def test_a_refused_request_costs_nothing_and_buckets_refill_to_full_only() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(2, clock=clock)
    limiter.take("a")
    limiter.take("a")
    for _ in range(5):
        with pytest.raises(RateLimitedError):
            limiter.take("a")
    clock.now += 30.0  # one refill
    limiter.take("a")
    clock.now += 3600.0  # an hour refills to the burst of 2, not more
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(RateLimitedError):
        limiter.take("a")


def test_buckets_are_bounded_dropping_the_least_recent() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(1, max_keys=3, clock=clock)
    for key in ("a", "b", "c"):
        limiter.take(key)
    limiter.take("d")  # "a" goes
    assert len(limiter) == 3
    limiter.take("a")  # a full bucket again
    with pytest.raises(RateLimitedError):
        limiter.take("d")


@pytest.mark.parametrize("per_minute", [0, -1, True, 1.5])
def test_a_rate_that_is_not_a_positive_integer_is_refused(per_minute: object) -> None:
    with pytest.raises(InvalidParameterError, match="per_minute"):
        TokenBucketLimiter(per_minute)  # type: ignore[arg-type]
