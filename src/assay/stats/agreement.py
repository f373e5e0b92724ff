"""Agreement between reviewers who answered the same questions about the same items.

Pure Python, no I/O. The input is a mapping ``item id -> reviewer -> answer``: every item is
one trace (or record) of a labeling session, every answer one reviewer's value for one
question (label schema). :func:`compute_agreement` summarises how far the reviewers agree as
an :class:`Agreement`; :func:`list_disagreements` lists the items where they differ, and
:func:`unanimous_value` tells the one value all answers of an item share.

Answers
    An answer is a hashable value: a string (a category), a bool (pass/fail), a number, or a
    ``frozenset`` of options for a multi-select question. ``None`` means "no answer" and is
    treated like a missing reviewer. Answers compare with ``==`` (so ``1 == 1.0``). A
    multi-select answer is one category as a whole: ``frozenset({"a", "b"})`` and
    ``frozenset({"a"})`` disagree, with no partial credit (set distances such as MASI are not
    part of the standard statistics). Pass a ``frozenset``, not a tuple, when the order of
    the options means nothing.

Which items count
    Only items with two answers or more: an item one reviewer answered says nothing about
    agreement (Krippendorff calls its value "unpairable"). In what follows, ``N`` is the
    number of such items, item ``i`` has ``m_i >= 2`` answers, ``n_ic`` of them equal to
    ``c``, and ``n = sum(m_i)``.

The statistics (each ``None`` where it is undefined: never NaN, never a division by zero):

``percent_agreement``
    ``(1/N) * sum_i sum_c n_ic (n_ic - 1) / (m_i (m_i - 1))``: on each item, the share of
    ordered pairs of answers that are equal, averaged over the items (Fleiss's P-bar). With
    two reviewers, the share of items on which they gave the same answer. Numbers agree only
    when they are equal.
``cohen_kappa``
    Only when exactly two reviewers answered the counted items (each then answered all of
    them): ``(p_o - p_e) / (1 - p_e)`` with ``p_o`` the percent agreement and
    ``p_e = sum_c (a_c / N) (b_c / N)``, ``a_c`` and ``b_c`` the times each reviewer answered
    ``c`` (Cohen 1960). Unweighted: every distinct value is a category.
``fleiss_kappa``
    ``(P - P_e) / (1 - P_e)`` with ``P`` the percent agreement, ``P_e = sum_c pi_c ** 2`` and
    ``pi_c = (1/N') sum_i n_ic / m_i``, summed over the ``N'`` items with at least one answer
    (the one exception to "two or more": an item one reviewer answered still tells which
    values are common). When every item has the same number of answers this is Fleiss's
    (1971) kappa exactly; when the numbers vary, it is the extension to missing ratings in
    Gwet's *Handbook of Inter-Rater Reliability* (2014), so no item is dropped. Unweighted,
    like Cohen's.
``krippendorff_alpha``
    ``1 - D_o / D_e`` over the coincidences of pairable values (Krippendorff, *Computing
    Krippendorff's Alpha-Reliability*, 2011), with the nominal distance (``0`` when equal,
    ``1`` otherwise) at the ``"nominal"`` level and the squared difference at the
    ``"interval"`` level. It handles missing answers and varying numbers of answers natively.
``positive_agreement``, ``negative_agreement``
    Only when every answer is a bool (pass/fail). Specific agreement:
    ``sum_i p_i (p_i - 1) / sum_i p_i (m_i - 1)`` with ``p_i`` the ``True`` answers of item
    ``i`` (``False`` for the negative one); with two reviewers ``2a / (2a + b + c)``
    (Cicchetti and Feinstein 1990), with more each pair of reviewers counts (Uebersax).

Undefined values
    No counted item: every statistic is ``None``. A chance term of one (every answer the
    same value, so that ``1 - p_e``, ``1 - P_e`` or ``D_e`` is zero): the kappa or alpha is
    ``0/0`` and is ``None``, although the percent agreement is 1.0. Kappa and alpha can be
    negative (agreement below chance).

Levels
    ``"nominal"`` for categories, multi-select and pass/fail; ``"interval"`` for numeric
    answers (every answer must be a finite real number such as an int or a float, not a
    bool, else ``ValueError``), which changes only Krippendorff's alpha (``None`` when the
    numbers are too large to square as floats, beyond about 1e154); ``"text"`` for free
    text, for which the items and answers are counted but no statistic is computed and
    ``excluded_reason`` says why.

Nominal figures are computed exactly (integers and fractions) and rounded once; the
interval alpha is computed in floating point with compensated sums.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations
from typing import Any, Generic, Literal, NamedTuple, TypeVar

__all__ = [
    "LEVELS",
    "Agreement",
    "Disagreement",
    "Level",
    "compute_agreement",
    "list_disagreements",
    "unanimous_value",
]

Level = Literal["nominal", "interval", "text"]
#: The levels of measurement :func:`compute_agreement` knows.
LEVELS: tuple[Level, ...] = ("nominal", "interval", "text")

#: Why a free-text question has no agreement statistics.
TEXT_EXCLUDED = ("free-text answers are not categories or numbers: their agreement is not "
                 "measured")

ItemT = TypeVar("ItemT", bound=Hashable)
ReviewerT = TypeVar("ReviewerT", bound=Hashable)


@dataclass(frozen=True)
class Agreement:
    """How far reviewers agree on one question (see the module docstring for the formulas).

    Attributes:
        level: ``"nominal"``, ``"interval"`` or ``"text"``.
        n_items: Items with two answers or more (the only ones counted).
        n_reviewers: Reviewers who answered at least one counted item.
        n_answers: Answers on the counted items.
        percent_agreement: Mean share of equal pairs of answers per item, in [0, 1].
        cohen_kappa: Cohen's kappa, when exactly two reviewers answered.
        fleiss_kappa: Fleiss's kappa (Gwet's extension when items have varying numbers of
            answers).
        krippendorff_alpha: Krippendorff's alpha at ``level`` (nominal or interval).
        positive_agreement: For pass/fail answers, the specific agreement on ``True``.
        negative_agreement: For pass/fail answers, the specific agreement on ``False``.
        excluded_reason: Why no statistic was computed (free text), else ``None``.
    """

    level: Level
    n_items: int
    n_reviewers: int
    n_answers: int
    percent_agreement: float | None = None
    cohen_kappa: float | None = None
    fleiss_kappa: float | None = None
    krippendorff_alpha: float | None = None
    positive_agreement: float | None = None
    negative_agreement: float | None = None
    excluded_reason: str | None = None


class Disagreement(NamedTuple, Generic[ItemT, ReviewerT]):
    """An item whose answers differ, with every answer (``None`` answers left out), and the
    value an adjudicator settled it with (``None``: not adjudicated)."""

    item_id: ItemT
    answers: Mapping[ReviewerT, Hashable]
    adjudicated: Any = None


@dataclass
class _Tally(Generic[ReviewerT]):
    """What one pass over the answers collects; every statistic is computed from it."""

    #: Counted items by their number of answers m.
    items_by_m: dict[int, int]
    #: sum_i sum_c n_ic (n_ic - 1) over the items with m answers (equal ordered pairs).
    equal_pairs_by_m: dict[int, int]
    #: sum_i n_ic over the items with m answers, by value c.
    values_by_m: dict[int, Counter[Hashable]]
    #: The answers of the items with one answer (for Fleiss's kappa only).
    single_answers: Counter[Hashable]
    #: The reviewers who answered a counted item.
    reviewers: set[ReviewerT]
    #: For each item whose answers differ, 2 sum_{c<k} n_ic n_ik (c - k)^2 / (m_i - 1)
    #: (interval level only).
    interval_terms: list[float]


def compute_agreement(answers: Mapping[ItemT, Mapping[ReviewerT, Hashable]],
                      level: Level = "nominal") -> Agreement:
    """Measure how far reviewers agree on one question.

    Args:
        answers: ``item id -> reviewer -> answer``; a ``None`` answer counts as missing.
        level: ``"nominal"`` (categories, pass/fail, multi-select), ``"interval"``
            (numbers) or ``"text"`` (counted, not measured).

    Returns:
        The counts and statistics; see the module docstring for their definitions.

    Raises:
        ValueError: An unknown level; at the interval level, an answer that is not a finite
            number.
        TypeError: An unhashable answer (a list or a set: pass a frozenset).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
    tally = _tally(answers, interval=level == "interval")
    n_items = sum(tally.items_by_m.values())
    n_answers = sum(m * count for m, count in tally.items_by_m.items())
    n_reviewers = len(tally.reviewers)
    if level == "text":
        return Agreement(level, n_items, n_reviewers, n_answers, excluded_reason=TEXT_EXCLUDED)
    if n_items == 0:
        return Agreement(level, 0, 0, 0)
    totals: Counter[Hashable] = Counter()
    for values in tally.values_by_m.values():
        totals.update(values)
    if level == "interval":
        _check_numbers(totals)
        _check_numbers(tally.single_answers)
    percent = _percent_agreement(tally, n_items)
    positive = negative = None
    if all(type(value) is bool for value in totals):
        positive, negative = _specific_agreements(tally)
    alpha = (_interval_alpha(tally, totals, n_answers) if level == "interval"
             else _nominal_alpha(tally, totals, n_answers))
    return Agreement(
        level, n_items, n_reviewers, n_answers,
        percent_agreement=float(percent),
        cohen_kappa=(_cohen_kappa(answers, tally.reviewers, percent, n_items)
                     if n_reviewers == 2 else None),
        fleiss_kappa=_fleiss_kappa(tally, percent, n_items),
        krippendorff_alpha=alpha,
        positive_agreement=positive,
        negative_agreement=negative,
    )


def list_disagreements(
    answers: Mapping[ItemT, Mapping[ReviewerT, Hashable]],
) -> list[Disagreement[ItemT, ReviewerT]]:
    """The items whose answers are not all equal, in the order of ``answers``.

    ``None`` answers are left out; an item with fewer than two answers cannot disagree.
    """
    found: list[Disagreement[ItemT, ReviewerT]] = []
    for item_id, item in answers.items():
        values = item.values()
        if None in values:
            given = {reviewer: value for reviewer, value in item.items() if value is not None}
            if len(set(given.values())) > 1:
                found.append(Disagreement(item_id, given))
        elif len(set(values)) > 1:
            found.append(Disagreement(item_id, dict(item)))
    return found


def unanimous_value(item_answers: Mapping[ReviewerT, Hashable], *,
                    min_answers: int = 2) -> Hashable | None:
    """The value every answer of one item shares, or ``None``.

    ``None`` when there are fewer than ``min_answers`` answers (``None`` answers do not
    count), or when two answers differ. A shared ``False`` or ``0`` is returned as such.
    """
    values = {value for value in item_answers.values() if value is not None}
    given = sum(1 for value in item_answers.values() if value is not None)
    if len(values) != 1 or given < max(min_answers, 1):
        return None
    return next(iter(values))


# -- the pass over the answers --------------------------------------------------------------

def _tally(answers: Mapping[ItemT, Mapping[ReviewerT, Hashable]], *,
           interval: bool) -> _Tally[ReviewerT]:
    # Written for speed (100,000 items in well under a second): per item only C-level
    # operations (a set of the answers, a list extended) and a few dict updates; values
    # are counted once at the end.
    items_by_m: dict[int, int] = {}
    equal_pairs_by_m: dict[int, int] = {}
    answers_by_m: dict[int, list[Hashable]] = {}
    reviewers: set[ReviewerT] = set()
    interval_terms: list[float] = []
    single_answers: list[Hashable] = []
    for item_id, item in answers.items():
        values: Iterable[Hashable] = item.values()
        if None in values:
            given = {reviewer: value for reviewer, value in item.items() if value is not None}
            reviewed: Iterable[ReviewerT] = given.keys()
            values = given.values()
        else:
            reviewed = item.keys()
        listed = list(values)
        m = len(listed)
        if m < 2:
            single_answers += listed
            continue
        try:
            distinct = len(set(listed))
        except TypeError:
            raise TypeError(f"item {item_id!r}: an answer is not hashable "
                            "(a multi-select answer must be a frozenset)") from None
        if distinct == 1:
            equal = m * (m - 1)
        elif distinct == m:
            equal = 0
        else:  # sum_c n_c^2 is the sum over the answers of how often each occurs
            equal = sum(map(listed.count, listed)) - m
        reviewers.update(reviewed)
        if m in items_by_m:
            items_by_m[m] += 1
            equal_pairs_by_m[m] += equal
            answers_by_m[m] += listed
        else:
            items_by_m[m] = 1
            equal_pairs_by_m[m] = equal
            answers_by_m[m] = listed
        if interval and distinct > 1:
            interval_terms.append(2.0 * _squared_differences(item_id, listed) / (m - 1))
    values_by_m = {m: Counter(listed) for m, listed in answers_by_m.items()}
    return _Tally(items_by_m, equal_pairs_by_m, values_by_m, Counter(single_answers),
                  reviewers, interval_terms)


def _squared_differences(item_id: object, listed: list[Any]) -> float:
    """The sum over the pairs of answers of one item of their squared difference."""
    # No cancellation (every term is >= 0), so a plain sum is exact enough.
    try:
        if len(listed) == 3:  # the usual case, spelt out for speed
            a, b, c = listed
            return float((a - b) * (a - b) + (a - c) * (a - c) + (b - c) * (b - c))
        return float(sum([(a - b) * (a - b) for a, b in combinations(listed, 2)]))
    except TypeError:
        raise ValueError(f"item {item_id!r}: interval answers must be numbers") from None
    except OverflowError:  # an int beyond the floats: refused by _check_numbers
        return math.inf


def _check_numbers(values: Collection[Hashable]) -> None:
    try:
        if set(map(type, values)) <= {int, float} and all(map(math.isfinite, values)):  # type: ignore[arg-type]
            return  # the usual case, checked at C speed
    except OverflowError:
        pass
    for value in values:
        try:
            number = (type(value) is not bool and isinstance(value, numbers.Real)
                      and math.isfinite(value))
        except OverflowError:  # an int too large for a float
            number = False
        if not number:
            raise ValueError(f"interval answers must be finite numbers, got {value!r:.40}")


# -- the statistics -------------------------------------------------------------------------

def _percent_agreement(tally: _Tally[ReviewerT], n_items: int) -> Fraction:
    equal = sum((Fraction(pairs, m * (m - 1)) for m, pairs in tally.equal_pairs_by_m.items()),
                Fraction(0))
    return equal / n_items


def _cohen_kappa(answers: Mapping[ItemT, Mapping[ReviewerT, Hashable]],
                 reviewers: set[ReviewerT], observed: Fraction,
                 n_items: int) -> float | None:
    # A second pass, for two reviewers only: each one's answers on the items both answered
    # (every counted item, since nobody else answered one).
    first, second = reviewers
    by_first: list[Hashable] = []
    by_second: list[Hashable] = []
    for item in answers.values():
        a, b = item.get(first), item.get(second)
        if a is not None and b is not None:
            by_first.append(a)
            by_second.append(b)
    counts_first, counts_second = Counter(by_first), Counter(by_second)
    chance = Fraction(sum(count * counts_second[value]
                          for value, count in counts_first.items()), n_items * n_items)
    return _kappa(observed, chance)


def _fleiss_kappa(tally: _Tally[ReviewerT], observed: Fraction, n_items: int) -> float | None:
    # pi_c = (1/N') sum_m total_mc / m over the N' items with an answer (Gwet counts the
    # items with one answer here too); with L the lcm of the m's, N' L pi_c is an integer.
    by_m = dict(tally.values_by_m)
    if tally.single_answers:
        by_m[1] = tally.single_answers
    n_answered = n_items + tally.single_answers.total()
    lcm = math.lcm(*by_m)
    if len(by_m) == 1:  # Fleiss (1971): the same number of answers everywhere
        scaled: Mapping[Hashable, int] = by_m[lcm]
    else:
        scaled = Counter()
        for m, values in by_m.items():
            scaled.update({value: lcm // m * count for value, count in values.items()})
    chance = Fraction(_sum_of_squares(scaled.values()), (n_answered * lcm) ** 2)
    return _kappa(observed, chance)


def _sum_of_squares(counts: Iterable[int]) -> int:
    listed = list(counts)
    return sum(map(operator.mul, listed, listed))


def _kappa(observed: Fraction, chance: Fraction) -> float | None:
    if chance == 1:
        return None
    return float((observed - chance) / (1 - chance))


def _nominal_alpha(tally: _Tally[ReviewerT], totals: Mapping[Hashable, int],
                   n_answers: int) -> float | None:
    # D_o = (1/n) sum_i (unequal ordered pairs of i) / (m_i - 1)
    # D_e = (n^2 - sum_c n_c^2) / (n (n - 1))
    expected = n_answers * n_answers - _sum_of_squares(totals.values())
    if expected == 0:
        return None
    observed = sum(
        Fraction(m * (m - 1) * items - tally.equal_pairs_by_m[m], m - 1)
        for m, items in tally.items_by_m.items())
    return float(1 - (n_answers - 1) * observed / expected)


def _interval_alpha(tally: _Tally[ReviewerT], totals: Mapping[Hashable, int],
                    n_answers: int) -> float | None:
    # D_o = (1/n) sum_i 2 sum_{c<k} n_ic n_ik (c - k)^2 / (m_i - 1)
    # D_e = 2 SS / (n - 1), SS the sum of squared deviations of all n answers from their mean
    if len(totals) < 2:
        return None
    values = list(map(float, totals))  # type: ignore[arg-type]
    counts = list(totals.values())
    mean = math.fsum(map(operator.mul, values, counts)) / n_answers
    deviations = [value - mean for value in values]
    spread = math.fsum(map(operator.mul, map(operator.mul, deviations, deviations), counts))
    observed = math.fsum(tally.interval_terms) / n_answers
    expected = 2.0 * spread / (n_answers - 1)
    alpha = 1.0 - observed / expected if expected > 0 else math.nan
    # Squares of numbers beyond about 1e154 overflow and of those below 1e-162 vanish: no
    # figure rather than a wrong one.
    return alpha if math.isfinite(alpha) else None


def _specific_agreements(tally: _Tally[ReviewerT]) -> tuple[float | None, float | None]:
    """The positive and negative specific agreements of pass/fail answers.

    ``sum_i p_i (p_i - 1) / sum_i p_i (m_i - 1)``, ``p_i`` the ``True`` answers of item ``i``
    (``f_i`` the ``False`` ones for the negative agreement), from the sums per m: on an item
    the equal ordered pairs are ``e_i = p_i (p_i - 1) + f_i (f_i - 1)
    = 2 p_i^2 - 2 m p_i + m^2 - m``, so ``sum p_i^2 = (sum e_i - I (m^2 - m) + 2 m P) / 2``
    over the I items with m answers and their P ``True`` answers.
    """
    equal_true = equal_false = possible_true = possible_false = 0
    for m, values in tally.values_by_m.items():
        items, equal = tally.items_by_m[m], tally.equal_pairs_by_m[m]
        true, false = values.get(True, 0), values.get(False, 0)
        squares = (equal - items * m * (m - 1) + 2 * m * true) // 2
        equal_true += squares - true
        equal_false += equal - (squares - true)
        possible_true += (m - 1) * true
        possible_false += (m - 1) * false
    return (equal_true / possible_true if possible_true else None,
            equal_false / possible_false if possible_false else None)
