"""The gold label rule (``entities.labeling.gold_label``): what an item's final value for one
question is, given its reviewers' answers and any adjudication."""

from __future__ import annotations

from assay.entities.labeling import GoldLabel, gold_label


def test_one_reviewer_per_item_makes_the_single_answer_gold() -> None:
    assert gold_label(["Accurate"], 1) == GoldLabel("Accurate")


def test_no_answer_is_no_gold() -> None:
    assert gold_label([], 1) is None
    assert gold_label([None], 1) is None


def test_fewer_answers_than_reviewers_per_item_are_not_gold_yet() -> None:
    assert gold_label(["Accurate"], 2) is None
    assert gold_label(["Accurate", "Accurate"], 2) == GoldLabel("Accurate")
    assert gold_label(["Accurate", "Accurate", "Accurate"], 2) == GoldLabel("Accurate")


def test_any_disagreement_leaves_no_gold() -> None:
    assert gold_label(["Accurate", "Inaccurate"], 2) is None
    assert gold_label(["Accurate", "Accurate", "Inaccurate"], 2) is None


def test_the_adjudicated_value_wins_over_any_answers() -> None:
    assert gold_label(["Accurate", "Inaccurate"], 2, "Inaccurate") == GoldLabel(
        "Inaccurate", adjudicated=True)
    assert gold_label(["Accurate", "Accurate"], 2, "Inaccurate") == GoldLabel(
        "Inaccurate", adjudicated=True)
    assert gold_label([], 3, 4) == GoldLabel(4, adjudicated=True)


def test_false_and_zero_are_values_not_absences() -> None:
    assert gold_label([False, False], 2) == GoldLabel(False)
    assert gold_label([0, 0], 2) == GoldLabel(0)
    assert gold_label([], 1, False) == GoldLabel(False, adjudicated=True)


def test_true_does_not_agree_with_one() -> None:
    assert gold_label([True, 1], 2) is None
    assert gold_label([1, 1.0], 2) == GoldLabel(1)


def test_multi_select_answers_agree_in_any_order() -> None:
    assert gold_label([["a", "b"], ["b", "a"]], 2) == GoldLabel(["a", "b"])
    assert gold_label([["a", "b"], ["a"]], 2) is None
