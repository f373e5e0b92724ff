"""Paired comparisons: the same rows scored twice (a baseline and a candidate).

``differences`` below are ``candidate - baseline``, one per row.

:func:`bootstrap_interval`
    The percentile interval of the mean difference from a paired bootstrap: the rows are
    drawn with replacement ``resamples`` times (each draw keeps a row's two scores
    together), the mean difference of each draw is taken, and the interval runs from the
    ``(1 - level) / 2`` to the ``(1 + level) / 2`` quantile of those means (linear
    interpolation between order statistics, numpy's default). Seeded, so the same input
    gives the same interval; vectorised with numpy when it is installed, else pure Python
    (the two draw different random numbers, so their intervals differ slightly).
:func:`mcnemar_exact_p`
    McNemar's exact test for pass/fail scores: of the ``b`` rows that went pass → fail and
    the ``c`` that went fail → pass, the two-sided binomial p-value of ``min(b, c)`` under
    ``Binomial(b + c, 1/2)``: ``min(1, 2 * sum_{i <= min(b, c)} C(b + c, i) / 2^(b + c))``.
    Exact in integers up to 20,000 changed rows, in log space beyond. 1.0 when no row
    changed.
:func:`wilcoxon_p`
    The Wilcoxon signed-rank test's two-sided p-value for numeric scores, by scipy (zeros
    dropped, Wilcoxon's way; scipy picks the exact, permutation or normal method). 1.0 when
    every difference is zero. Needs scipy: the ``stats`` extra.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

__all__ = ["STATS_EXTRA_HINT", "bootstrap_interval", "mcnemar_exact_p", "wilcoxon_p"]

#: How to get scipy, in the ImportError raised without it.
STATS_EXTRA_HINT = "pip install 'assay[stats]' (scipy)"
#: Changed rows up to which McNemar's p-value is computed in exact integers.
_EXACT_LIMIT = 20_000
#: Numbers drawn per numpy chunk of resamples (bounds the memory a call takes).
_CHUNK_CELLS = 2_000_000


def bootstrap_interval(differences: Sequence[float], confidence_level: float = 0.95, *,
                       resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """The paired-bootstrap percentile interval of the mean of ``differences``.

    Raises:
        ValueError: no difference, a level outside (0, 1), or fewer than one resample.
    """
    if not differences:
        raise ValueError("no differences to resample")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    values = [float(d) for d in differences]
    if min(values) == max(values):  # every draw has the same mean
        return values[0], values[0]
    try:
        import numpy
    except ImportError:
        means = _python_means(values, resamples, seed)
    else:
        means = _numpy_means(numpy, values, resamples, seed)
    tail = (1 - confidence_level) / 2
    return _quantile(means, tail), _quantile(means, 1 - tail)


def _numpy_means(numpy: object, values: list[float], resamples: int,
                 seed: int) -> list[float]:
    np = numpy
    rng = np.random.default_rng(seed)  # type: ignore[attr-defined]  # numpy is untyped here
    data = np.asarray(values, dtype=float)  # type: ignore[attr-defined]
    n = len(values)
    chunk = max(1, _CHUNK_CELLS // n)
    means: list[float] = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        drawn = rng.integers(0, n, size=(size, n))
        means.extend(data[drawn].mean(axis=1).tolist())
    return means


def _python_means(values: list[float], resamples: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    n = len(values)
    draw = rng.choices
    return [math.fsum(draw(values, k=n)) / n for _ in range(resamples)]


def _quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile with linear interpolation (numpy's default method)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mcnemar_exact_p(pass_to_fail: int, fail_to_pass: int) -> float:
    """McNemar's exact two-sided p-value from the two counts of rows that changed."""
    if pass_to_fail < 0 or fail_to_pass < 0:
        raise ValueError("counts of changed rows cannot be negative")
    n = pass_to_fail + fail_to_pass
    if n == 0:
        return 1.0
    k = min(pass_to_fail, fail_to_pass)
    if n <= _EXACT_LIMIT:
        term, tail = 1, 1  # C(n, 0)
        for i in range(k):
            term = term * (n - i) // (i + 1)
            tail += term
        return min(1.0, float(2 * tail / 2 ** n))
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
            for i in range(k + 1)]
    top = max(logs)
    return min(1.0, 2 * math.exp(top) * math.fsum(math.exp(x - top) for x in logs))


def wilcoxon_p(differences: Sequence[float]) -> float:
    """The Wilcoxon signed-rank test's two-sided p-value of paired differences.

    Raises:
        ImportError: scipy is not installed (the ``stats`` extra).
        ValueError: no difference.
    """
    if not differences:
        raise ValueError("no differences to test")
    try:
        from scipy import stats
    except ImportError as exc:
        raise ImportError(
            f"The Wilcoxon signed-rank test needs scipy: {STATS_EXTRA_HINT}") from exc
    if all(d == 0 for d in differences):
        return 1.0  # nothing changed; scipy would divide zero by zero
    return float(stats.wilcoxon([float(d) for d in differences]).pvalue)
