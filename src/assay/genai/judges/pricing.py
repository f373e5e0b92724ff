"""What a judge's call costs: list prices of common OpenAI models, per million tokens.

A judge's Feedback carries the cost of its call (``assay.judge.cost_usd``) when its model's
price is known: from ``cost_per_million_tokens=(input, output)`` given to the judge (for a
model not listed, a negotiated price, or a local model's own accounting), else from
:data:`PRICES_PER_MILLION_TOKENS`. An evaluation sums them per scorer as the run's metric
``<name>/cost_usd``.

The table holds OpenAI's published standard (not batch, not cached-input) prices in US
dollars, as of 2026-12. A dated snapshot (``gpt-4o-mini-2024-07-18``) is priced as its model.
Prices change: give ``cost_per_million_tokens`` where the table is out of date.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from assay.errors import InvalidParameterError

__all__ = ["PRICES_PER_MILLION_TOKENS", "check_price", "cost_usd", "list_price"]

#: model -> (USD per 1M input tokens, USD per 1M output tokens).
PRICES_PER_MILLION_TOKENS: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.00),
    "gpt-5.1": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "o1": (15.00, 60.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def list_price(model: str) -> tuple[float, float] | None:
    """The listed price of ``model`` (a name, as in ``openai:/<name>``), or None."""
    return PRICES_PER_MILLION_TOKENS.get(model) \
        or PRICES_PER_MILLION_TOKENS.get(_SNAPSHOT.sub("", model))


def check_price(price: Sequence[float] | None) -> tuple[float, float] | None:
    """``price`` as ``(input, output)`` USD per million tokens, or InvalidParameterError."""
    if price is None:
        return None
    if isinstance(price, (str, bytes)) or not isinstance(price, Sequence) or len(price) != 2 \
            or not all(isinstance(p, (int, float)) and not isinstance(p, bool)
                       and math.isfinite(p) and p >= 0 for p in price):
        raise InvalidParameterError(
            f"Invalid cost_per_million_tokens {price!r}: expected (input, output), US dollars "
            "per million tokens, each >= 0")
    return float(price[0]), float(price[1])


def cost_usd(price: tuple[float, float] | None, prompt_tokens: int | None,
             completion_tokens: int | None) -> float | None:
    """What a call of that many tokens costs at ``price`` (None without a price or tokens)."""
    if price is None or prompt_tokens is None or completion_tokens is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
