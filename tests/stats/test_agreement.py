"""Agreement statistics: worked examples from the literature, reference libraries, properties.

The published figures are checked to the digits their sources print; the reference
libraries (``krippendorff`` for alpha, ``statsmodels`` for Fleiss's and Cohen's kappa, test
dependencies only) on random data to 1e-9.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.stats.agreement import (
    LEVELS,
    Agreement,
    Disagreement,
    compute_agreement,
    list_disagreements,
    unanimous_value,
)

Answers = dict[Hashable, dict[Hashable, Hashable]]


def from_rows(rows: Sequence[Sequence[Hashable]], reviewers: Sequence[str] | None = None,
              ) -> Answers:
    """Reliability data, one row per reviewer and one column per item, as answers."""
    names = reviewers or [f"r{index}" for index in range(len(rows))]
    n_items = len(rows[0])
    return {item: {names[r]: row[item] for r, row in enumerate(rows)}
            for item in range(n_items)}


def from_counts(table: Sequence[Sequence[int]]) -> Answers:
    """One row per item, the number of answers of each category: as anonymous reviewers."""
    answers: Answers = {}
    for item, row in enumerate(table):
        values = [category for category, count in enumerate(row) for _ in range(count)]
        answers[item] = {f"r{index}": value for index, value in enumerate(values)}
    return answers


def from_pairs(cells: Mapping[tuple[Hashable, Hashable], int]) -> Answers:
    """Two reviewers A and B; ``cells[(a, b)]`` items on which A said a and B said b."""
    answers: Answers = {}
    for (a, b), count in cells.items():
        for _ in range(count):
            answers[len(answers)] = {"A": a, "B": b}
    return answers


# -- worked examples from the literature ------------------------------------------------------

# Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological
# Bulletin 76(5): 30 patients, 6 psychiatrists each, 5 diagnoses (depression, personality
# disorder, schizophrenia, neurosis, other): how many psychiatrists chose each.
FLEISS_1971 = [
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
    [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
    [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
    [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
]

# The worked example of Wikipedia's "Fleiss' kappa" article: 14 raters, 10 subjects, 5
# categories; P-bar 0.378, P_e 0.213, kappa 0.210.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
# 12 units, missing values (None); alpha 0.743 nominal, 0.815 ordinal, 0.849 interval.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]

# Wikipedia's "Krippendorff's alpha" example: 3 coders, 15 units; alpha 0.691 nominal and
# 0.811 interval.
KRIPPENDORFF_WIKIPEDIA = [
    [None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
    [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
    [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4],
]

# Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed.: the same design as
# Krippendorff's with unit 12 rated by rater 3 (p. 120), and 5 observers scoring 15 units
# 0-3 with missing scores (after p. 125). Fleiss's kappa with missing ratings: pa 0.818,
# pe 0.239, kappa 0.761; and pa 0.616, pe 0.291, kappa 0.458.
GWET_4_RATERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, None],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
GWET_5_OBSERVERS = [
    [1, 1, 2, None, 0, 0, 1, 1, 2, 2, None, 0, 1, 3, 1],
    [1, 1, 3, 0, 0, 0, 0, None, 2, 1, 1, 0, 2, 3, 1],
    [2, 0, 3, 0, 0, 0, 2, 2, 2, 1, 0, 0, 2, 2, 1],
    [None, 1, 3, None, None, None, None, 0, None, 1, 0, 0, 2, 2, None],
    [2, None, None, 0, 0, 0, 1, None, 2, None, None, None, None, 3, 1],
]


def test_fleiss_1971_kappa_is_0_430() -> None:
    result = compute_agreement(from_counts(FLEISS_1971))
    assert result.fleiss_kappa is not None
    assert round(result.fleiss_kappa, 3) == 0.430
    assert (result.n_items, result.n_reviewers, result.n_answers) == (30, 6, 180)
    assert result.cohen_kappa is None  # six reviewers


def test_fleiss_wikipedia_example() -> None:
    result = compute_agreement(from_counts(FLEISS_WIKIPEDIA))
    assert result.percent_agreement is not None and result.fleiss_kappa is not None
    assert round(result.percent_agreement, 3) == 0.378
    assert round(result.fleiss_kappa, 3) == 0.210


def test_krippendorff_2011_reliability_data() -> None:
    answers = from_rows(KRIPPENDORFF_2011, reviewers="ABCD")
    nominal = compute_agreement(answers, "nominal")
    interval = compute_agreement(answers, "interval")
    assert nominal.krippendorff_alpha is not None and interval.krippendorff_alpha is not None
    assert round(nominal.krippendorff_alpha, 3) == 0.743
    assert round(interval.krippendorff_alpha, 3) == 0.849
    # Unit 12 has one value: it is unpairable and left out (40 pairable values, as in the
    # paper's coincidence matrix).
    assert (nominal.n_items, nominal.n_answers, nominal.n_reviewers) == (11, 40, 4)
    # Exactly: value totals 9, 13, 10, 5, 3 and 8 disagreeing pairs of the coincidence
    # matrix, so alpha = 1 - (40 - 1) * 8 / (40^2 - (9^2 + 13^2 + 10^2 + 5^2 + 3^2)) = 113/152.
    assert nominal.krippendorff_alpha == 113 / 152


def test_krippendorff_wikipedia_example() -> None:
    answers = from_rows(KRIPPENDORFF_WIKIPEDIA)
    nominal = compute_agreement(answers, "nominal").krippendorff_alpha
    interval = compute_agreement(answers, "interval").krippendorff_alpha
    assert nominal is not None and interval is not None
    assert round(nominal, 3) == 0.691
    assert round(interval, 3) == 0.811


@pytest.mark.parametrize(("rows", "pa", "pe", "kappa"), [
    (GWET_4_RATERS, 0.818, 0.239, 0.761),
    (GWET_5_OBSERVERS, 0.616, 0.291, 0.458),
])
def test_fleiss_kappa_with_missing_ratings_follows_gwet(
        rows: list[list[int | None]], pa: float, pe: float, kappa: float) -> None:
    result = compute_agreement(from_rows(rows))
    assert result.percent_agreement is not None and result.fleiss_kappa is not None
    assert round(result.percent_agreement, 3) == pa
    chance = (result.percent_agreement - result.fleiss_kappa) / (1 - result.fleiss_kappa)
    assert round(chance, 3) == pe
    assert round(result.fleiss_kappa, 3) == kappa


def test_cohen_kappa_textbook_example() -> None:
    # 50 grant proposals read by A and B: both yes 20, A yes B no 5, A no B yes 10, both no
    # 15. p_o = 0.70, p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.50, kappa = 0.40 (Wikipedia, "Cohen's
    # kappa"). Specific agreement (Cicchetti and Feinstein 1990): 2*20 / (2*20 + 5 + 10) and
    # 2*15 / (2*15 + 5 + 10).
    result = compute_agreement(from_pairs({(True, True): 20, (True, False): 5,
                                           (False, True): 10, (False, False): 15}))
    assert result.n_items == 50 and result.n_reviewers == 2 and result.n_answers == 100
    assert result.percent_agreement == pytest.approx(0.70, abs=1e-15)
    assert result.cohen_kappa == pytest.approx(0.40, abs=1e-15)
    assert result.positive_agreement == pytest.approx(40 / 55, abs=1e-15)
    assert result.negative_agreement == pytest.approx(30 / 45, abs=1e-15)
    # Fleiss's kappa with two raters is Scott's pi: p_e = 0.55^2 + 0.45^2 = 0.505.
    assert result.fleiss_kappa == pytest.approx((0.70 - 0.505) / (1 - 0.505), abs=1e-15)


# -- against reference libraries -------------------------------------------------------------

@st.composite
def reliability_data(draw: st.DrawFn, values: st.SearchStrategy[Hashable],
                     missing: bool = True, min_reviewers: int = 2,
                     max_reviewers: int = 5) -> list[list[Hashable]]:
    """Rows of answers, one per reviewer, one column per item (None: no answer)."""
    n_reviewers = draw(st.integers(min_reviewers, max_reviewers))
    n_items = draw(st.integers(1, 25))
    cell = st.one_of(st.none(), values) if missing else values
    return draw(st.lists(st.lists(cell, min_size=n_items, max_size=n_items),
                         min_size=n_reviewers, max_size=n_reviewers))


def reference_alpha(rows: list[list[Hashable]],
                    level: Literal["nominal", "interval"]) -> float | None:
    """The ``krippendorff`` package's alpha; None where it is undefined (error or NaN)."""
    data = np.array([[np.nan if v is None else float(v) for v in row]  # type: ignore[arg-type]
                     for row in rows])
    try:
        with np.errstate(all="ignore"):
            value = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    except ValueError:  # one value in all, or no unit with two values
        return None
    return None if math.isnan(value) else value


def category_table(answers: Answers) -> np.ndarray:
    """Items x categories: how many answers of each category an item has."""
    categories = sorted({v for item in answers.values() for v in item.values()
                         if v is not None}, key=repr)
    return np.array([[list(item.values()).count(c) for c in categories]
                     for item in answers.values()])


def assert_close(ours: float | None, theirs: float | None) -> None:
    if theirs is None:
        assert ours is None
    else:
        assert ours is not None
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-9)


small_categories = st.integers(0, 3)
grid_numbers = st.one_of(st.integers(-20, 20), st.integers(-800, 800).map(lambda x: x / 8))


@settings(max_examples=300, deadline=None)
@given(reliability_data(small_categories))
def test_nominal_alpha_matches_krippendorff_package(rows: list[list[Hashable]]) -> None:
    ours = compute_agreement(from_rows(rows), "nominal").krippendorff_alpha
    assert_close(ours, reference_alpha(rows, "nominal"))


@settings(max_examples=300, deadline=None)
@given(reliability_data(grid_numbers))
def test_interval_alpha_matches_krippendorff_package(rows: list[list[Hashable]]) -> None:
    ours = compute_agreement(from_rows(rows), "interval").krippendorff_alpha
    assert_close(ours, reference_alpha(rows, "interval"))


@settings(max_examples=300, deadline=None)
@given(reliability_data(small_categories, missing=False, max_reviewers=7))
def test_fleiss_kappa_matches_statsmodels_when_every_item_has_all_answers(
        rows: list[list[Hashable]]) -> None:
    from statsmodels.stats.inter_rater import fleiss_kappa  # type: ignore[import-untyped]

    answers = from_rows(rows)
    with np.errstate(all="ignore"):
        theirs = float(fleiss_kappa(category_table(answers)))
    assert_close(compute_agreement(answers).fleiss_kappa, None if math.isnan(theirs) else theirs)


@settings(max_examples=300, deadline=None)
@given(reliability_data(st.sampled_from(["good", "bad", "unsure"]), missing=False,
                        max_reviewers=2))
def test_cohen_kappa_matches_statsmodels(rows: list[list[Hashable]]) -> None:
    from statsmodels.stats.inter_rater import cohens_kappa

    answers = from_rows(rows)
    categories = sorted({v for row in rows for v in row}, key=repr)
    table = np.zeros((len(categories), len(categories)))
    for a, b in zip(rows[0], rows[1], strict=True):
        table[categories.index(a), categories.index(b)] += 1
    with np.errstate(all="ignore"):
        theirs = float(cohens_kappa(table, return_results=False))
    result = compute_agreement(answers)
    assert_close(result.cohen_kappa, None if math.isnan(theirs) else theirs)
    agreeing = sum(a == b for a, b in zip(rows[0], rows[1], strict=True))
    assert result.percent_agreement == pytest.approx(agreeing / len(rows[0]), abs=1e-15)


@settings(max_examples=300, deadline=None)
@given(reliability_data(st.booleans()))
def test_specific_agreement_counts_every_pair_of_reviewers(rows: list[list[Hashable]]) -> None:
    # sum_i p_i (p_i - 1) / sum_i p_i (m_i - 1), straight from each item's answers.
    result = compute_agreement(from_rows(rows))
    equal = {True: 0, False: 0}
    possible = {True: 0, False: 0}
    for item in zip(*rows, strict=True):
        given_ = [v for v in item if v is not None]
        if len(given_) < 2:
            continue
        for side in (True, False):
            count = given_.count(side)
            equal[side] += count * (count - 1)
            possible[side] += count * (len(given_) - 1)
    for side, ours in ((True, result.positive_agreement), (False, result.negative_agreement)):
        assert_close(ours, equal[side] / possible[side] if possible[side] else None)


@settings(max_examples=200, deadline=None)
@given(reliability_data(small_categories), st.randoms(use_true_random=False))
def test_statistics_ignore_order_and_names(rows: list[list[Hashable]],
                                           rng: random.Random) -> None:
    answers = from_rows(rows)
    relabel: dict[Hashable, str] = dict(zip(range(4), rng.sample("wxyz", 4), strict=True))
    items = list(answers.items())
    rng.shuffle(items)
    renamed = {f"item {item_id}": {f"reviewer {name}": (None if v is None else relabel[v])
                                   for name, v in item.items()}
               for item_id, item in items}
    assert compute_agreement(renamed) == compute_agreement(answers)


@settings(max_examples=200, deadline=None)
@given(reliability_data(grid_numbers), st.sampled_from([-3.0, 0.5, 4.0]),
       st.sampled_from([-7.0, 0.0, 11.0]))
def test_interval_alpha_is_unchanged_by_a_linear_change_of_scale(
        rows: list[list[Hashable]], scale: float, shift: float) -> None:
    moved = [[None if v is None else v * scale + shift for v in row]  # type: ignore[operator]
             for row in rows]
    assert_close(compute_agreement(from_rows(moved), "interval").krippendorff_alpha,
                 compute_agreement(from_rows(rows), "interval").krippendorff_alpha)


# -- properties and edge cases ------------------------------------------------------------------

@pytest.mark.parametrize("level", ["nominal", "interval"])
def test_perfect_agreement_is_one_everywhere(level: str) -> None:
    answers = from_rows([[1, 2, 3, 2], [1, 2, 3, 2], [1, 2, 3, 2]])
    result = compute_agreement(answers, level)  # type: ignore[arg-type]
    assert result == Agreement(level, 4, 3, 12, percent_agreement=1.0,  # type: ignore[arg-type]
                               fleiss_kappa=1.0, krippendorff_alpha=1.0)
    two = compute_agreement(from_rows([[1, 2, 3], [1, 2, 3]]), level)  # type: ignore[arg-type]
    assert two.cohen_kappa == 1.0


def test_one_value_everywhere_leaves_kappa_and_alpha_undefined() -> None:
    # Chance agreement is then certain: kappa and alpha are 0/0 (None), percent agreement 1.
    result = compute_agreement(from_rows([[True, True, True], [True, True, True]]))
    assert result.percent_agreement == 1.0
    assert result.cohen_kappa is None and result.fleiss_kappa is None
    assert result.krippendorff_alpha is None
    assert result.positive_agreement == 1.0 and result.negative_agreement is None
    interval = compute_agreement(from_rows([[4.5, 4.5], [4.5, 4.5]]), "interval")
    assert interval.krippendorff_alpha is None and interval.percent_agreement == 1.0


def test_systematic_disagreement_is_below_chance() -> None:
    # Two reviewers who always differ, each side equally often.
    result = compute_agreement(from_rows([["x", "y"] * 5, ["y", "x"] * 5]))
    assert result.percent_agreement == 0.0
    assert result.cohen_kappa == -1.0 and result.fleiss_kappa == -1.0
    assert result.krippendorff_alpha == pytest.approx(-9 / 10, abs=1e-15)  # -(N - 1) / N


def test_one_item() -> None:
    split = compute_agreement({"t1": {"ann": "good", "bob": "bad"}})
    assert (split.n_items, split.percent_agreement, split.cohen_kappa) == (1, 0.0, 0.0)
    assert split.krippendorff_alpha == 0.0 and split.fleiss_kappa == -1.0
    same = compute_agreement({"t1": {"ann": "good", "bob": "good"}})
    assert same.percent_agreement == 1.0 and same.krippendorff_alpha is None


@pytest.mark.parametrize("level", LEVELS)
def test_no_item_with_two_answers_gives_no_statistic(level: str) -> None:
    for answers in ({}, {"t1": {"ann": "good"}, "t2": {"bob": "bad", "cy": None}}):
        result = compute_agreement(answers, level)  # type: ignore[arg-type]
        assert (result.n_items, result.n_reviewers, result.n_answers) == (0, 0, 0)
        assert result.percent_agreement is None and result.krippendorff_alpha is None
        assert result.fleiss_kappa is None and result.cohen_kappa is None


def test_missing_answers_are_left_out() -> None:
    full: Answers = {"t1": {"ann": "a", "bob": "a"}, "t2": {"ann": "a", "bob": "b"},
            "t3": {"ann": "b", "bob": "b"}}
    with_gaps: Answers = {**full, "t4": {"ann": "a", "bob": None}, "t5": {"cy": None}}
    with_gaps["t3"] = {"ann": "b", "bob": "b", "cy": None}
    ours, reference = compute_agreement(with_gaps), compute_agreement(full)
    assert (ours.n_items, ours.n_reviewers, ours.n_answers) == (3, 2, 6)
    assert ours.krippendorff_alpha == reference.krippendorff_alpha
    assert ours.cohen_kappa == reference.cohen_kappa
    assert ours.percent_agreement == reference.percent_agreement
    # Fleiss's (Gwet's) chance term also counts t4's single answer.
    assert ours.fleiss_kappa != reference.fleiss_kappa


def test_cohen_kappa_needs_exactly_two_reviewers_on_the_counted_items() -> None:
    answers = {"t1": {"ann": 1, "bob": 1}, "t2": {"ann": 1, "bob": 2}, "t3": {"ann": 2, "bob": 2},
               "t4": {"cy": 3}}  # cy answered no counted item
    # p_o = 2/3, p_e = (2 * 1 + 1 * 2) / 9 = 4/9: kappa = (2/9) / (5/9)
    assert compute_agreement(answers).cohen_kappa == pytest.approx(0.4, abs=1e-15)
    answers["t4"] = {"cy": 3, "ann": 3}
    assert compute_agreement(answers).cohen_kappa is None


def test_ties_split_an_item_evenly() -> None:
    answers: Answers = {"t1": {"a": "x", "b": "x", "c": "y", "d": "y"}, "t2": {"a": "x", "b": "x",
                                                                      "c": "x", "d": "x"}}
    result = compute_agreement(answers)
    assert result.percent_agreement == pytest.approx((4 / 12 + 1) / 2, abs=1e-15)
    assert unanimous_value(answers["t1"]) is None
    assert unanimous_value(answers["t2"]) == "x"
    assert list_disagreements(answers) == [Disagreement("t1", answers["t1"])]


def test_multi_select_answers_are_whole_categories() -> None:
    answers: Answers = {
        "t1": {"ann": frozenset({"rude", "wrong"}), "bob": frozenset({"wrong", "rude"})},
        "t2": {"ann": frozenset({"rude"}), "bob": frozenset({"rude", "wrong"})},
        "t3": {"ann": frozenset(), "bob": frozenset()},
    }
    result = compute_agreement(answers)
    assert result.percent_agreement == pytest.approx(2 / 3, abs=1e-15)
    assert [d.item_id for d in list_disagreements(answers)] == ["t2"]
    with pytest.raises(TypeError, match="frozenset"):
        compute_agreement({"t1": {"ann": ["rude"], "bob": ["rude"]}})  # type: ignore[dict-item]


def test_numbers_agree_when_equal_whatever_their_type() -> None:
    result = compute_agreement({"t1": {"ann": 1, "bob": 1.0}, "t2": {"ann": 2, "bob": 2.0}},
                               "interval")
    assert result.percent_agreement == 1.0 and result.krippendorff_alpha == 1.0


def test_interval_differs_from_nominal_when_near_misses_count() -> None:
    rows = [[1, 2, 3, 4, 5], [2, 2, 3, 5, 5]]
    nominal = compute_agreement(from_rows(rows), "nominal").krippendorff_alpha
    interval = compute_agreement(from_rows(rows), "interval").krippendorff_alpha
    assert nominal is not None and interval is not None
    assert interval > nominal  # off by one is nearly right on an interval scale


def test_text_answers_are_counted_not_measured() -> None:
    answers = {"t1": {"ann": "too long", "bob": "fine"}, "t2": {"ann": "ok", "bob": "ok"},
               "t3": {"ann": "alone"}}
    result = compute_agreement(answers, "text")
    assert (result.n_items, result.n_reviewers, result.n_answers) == (2, 2, 4)
    assert result.excluded_reason is not None and "free-text" in result.excluded_reason
    assert result.percent_agreement is None and result.krippendorff_alpha is None
    assert compute_agreement(answers).excluded_reason is None


@pytest.mark.parametrize("bad", ["4", True, math.nan, math.inf, frozenset({1})])
def test_interval_answers_must_be_finite_numbers(bad: Hashable) -> None:
    differing: Answers = {"t1": {"ann": 4, "bob": bad}, "t2": {"ann": 1, "bob": 2}}
    equal: Answers = {"t1": {"ann": bad, "bob": bad}, "t2": {"ann": 1, "bob": 2}}
    for answers in (differing, equal):
        with pytest.raises(ValueError, match="interval answers must be"):
            compute_agreement(answers, "interval")


def test_numbers_too_large_to_square_give_no_alpha() -> None:
    # (1e200)^2 overflows a float: no figure rather than a wrong one, and no exception.
    answers: Answers = {"t1": {"ann": 1e200, "bob": -1e200}, "t2": {"ann": 1.0, "bob": 2.0}}
    result = compute_agreement(answers, "interval")
    assert result.krippendorff_alpha is None and result.percent_agreement == 0.0
    with pytest.raises(ValueError, match="interval answers must be finite numbers"):
        compute_agreement({"t1": {"ann": 10**400, "bob": 1}}, "interval")


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown level 'ordinal'"):
        compute_agreement({}, "ordinal")  # type: ignore[arg-type]


def test_disagreements_list_each_answer_in_the_given_order() -> None:
    answers: Answers = {
        "t3": {"ann": "bad", "bob": "good", "cy": None},
        "t1": {"ann": "good", "bob": "good"},
        "t2": {"ann": "good", "bob": None},
        "t0": {"ann": 1, "bob": 2, "cy": 1},
    }
    assert list_disagreements(answers) == [
        Disagreement("t3", {"ann": "bad", "bob": "good"}),
        Disagreement("t0", {"ann": 1, "bob": 2, "cy": 1}),
    ]
    item_id, given_, adjudicated = list_disagreements(answers)[0]
    assert (item_id, given_, adjudicated) == ("t3", {"ann": "bad", "bob": "good"}, None)


def test_unanimous_value() -> None:
    assert unanimous_value({"ann": False, "bob": False}) is False
    assert unanimous_value({"ann": 0, "bob": 0, "cy": None}) == 0
    assert unanimous_value({"ann": "x", "bob": "y"}) is None
    assert unanimous_value({"ann": "x", "bob": None}) is None  # one answer is not enough
    assert unanimous_value({"ann": "x", "bob": None}, min_answers=1) == "x"
    assert unanimous_value({}, min_answers=0) is None
    assert unanimous_value({"ann": "x", "bob": "x"}, min_answers=3) is None


def test_the_module_needs_no_numpy() -> None:
    code = "import sys, assay.stats.agreement; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
