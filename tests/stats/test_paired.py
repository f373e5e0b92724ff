"""The paired statistics against worked examples and scipy: McNemar's exact test on known
2x2 tables, Wilcoxon's signed-rank test as scipy computes it, and the bootstrap interval's
coverage of a known difference, with numpy and in pure Python."""

from __future__ import annotations

import random
import sys

import pytest

from assay.stats.paired import bootstrap_interval, mcnemar_exact_p, wilcoxon_p


@pytest.mark.parametrize(("pass_to_fail", "fail_to_pass", "expected"), [
    (1, 9, 2 * (1 + 10) / 2 ** 10),  # 0.021484375
    (3, 13, 2 * (1 + 16 + 120 + 560) / 2 ** 16),  # 0.0212707...
    (9, 1, 2 * (1 + 10) / 2 ** 10),  # symmetric
    (5, 5, 1.0),
    (0, 0, 1.0),  # nothing changed
    (0, 1, 1.0),
    (0, 6, 2 / 2 ** 6),
])
def test_mcnemar_on_known_tables(pass_to_fail: int, fail_to_pass: int,
                                 expected: float) -> None:
    assert mcnemar_exact_p(pass_to_fail, fail_to_pass) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(2, 7), (10, 25), (130, 170), (20_050, 19_900),
                                      (10_100, 10_400)])
def test_mcnemar_is_the_binomial_test_of_the_changed_rows(b: int, c: int) -> None:
    # The last two go past the exact-integer limit, to the log-space sum.
    from scipy import stats

    expected = stats.binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match="negative"):
        mcnemar_exact_p(-1, 3)


@pytest.mark.parametrize("differences", [
    [1.0, 2.0, 3.0, -1.0, 0.5, 2.5, 4.0],  # no ties, no zeros: exact
    [1.0, 2.0, 2.0, -1.0, 0.0, 0.0, 2.0, 2.0],  # ties and zeros, small
    [0.3 * ((i * 7) % 11 - 4) for i in range(60)],  # ties, zeros, large
    [1.0] * 20,  # all equal
])
def test_wilcoxon_is_scipys(differences: list[float]) -> None:
    from scipy import stats

    assert wilcoxon_p(differences) == pytest.approx(stats.wilcoxon(differences).pvalue,
                                                    rel=1e-12)


def test_wilcoxon_of_nothing_changed_is_one() -> None:
    assert wilcoxon_p([0.0, 0.0, 0.0]) == 1.0


def test_wilcoxon_without_scipy_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(ImportError, match=r"assay\[stats\]"):
        wilcoxon_p([1.0, 2.0])


def _paired_sample(seed: int, n: int, true_difference: float) -> list[float]:
    """Candidate minus baseline scores of ``n`` rows whose true mean difference is known."""
    rng = random.Random(seed)
    return [true_difference + rng.gauss(0, 0.3) for _ in range(n)]


@pytest.mark.parametrize("numpy_installed", [True, False])
def test_bootstrap_interval_covers_the_true_difference(numpy_installed: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if not numpy_installed:
        monkeypatch.setitem(sys.modules, "numpy", None)
    differences = _paired_sample(7, 200, 0.1)
    low, high = bootstrap_interval(differences, 0.95, resamples=2_000, seed=1)
    mean = sum(differences) / len(differences)
    assert low < 0.1 < high
    assert low < mean < high
    # About mean ± 1.96 standard errors.
    sd = (sum((d - mean) ** 2 for d in differences) / (len(differences) - 1)) ** 0.5
    half = 1.96 * sd / len(differences) ** 0.5
    assert low == pytest.approx(mean - half, abs=0.2 * half)
    assert high == pytest.approx(mean + half, abs=0.2 * half)
    # Seeded: the same interval again; another seed moves it a little.
    assert bootstrap_interval(differences, 0.95, resamples=2_000, seed=1) == (low, high)
    assert bootstrap_interval(differences, 0.95, resamples=2_000, seed=2) != (low, high)


def test_bootstrap_intervals_cover_at_about_their_level() -> None:
    covered = sum(
        low <= 0.1 <= high
        for seed in range(200)
        for low, high in [bootstrap_interval(_paired_sample(seed, 60, 0.1), 0.9,
                                             resamples=1_000, seed=seed)])
    assert 0.82 * 200 <= covered <= 0.97 * 200  # 90% nominal; a little less for n = 60


def test_bootstrap_interval_of_equal_differences_is_that_difference() -> None:
    assert bootstrap_interval([0.0] * 50) == (0.0, 0.0)
    assert bootstrap_interval([1.0] * 3, 0.99) == (1.0, 1.0)
    assert bootstrap_interval([-0.5]) == (-0.5, -0.5)


def test_bootstrap_interval_is_checked() -> None:
    with pytest.raises(ValueError, match="no differences"):
        bootstrap_interval([])
    with pytest.raises(ValueError, match="confidence_level"):
        bootstrap_interval([1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_interval([1.0, 2.0], resamples=0)
