"""Routing rules as entities: the deterministic sample, rule ids, sample rates, round trips."""

from __future__ import annotations

import pytest

from assay.entities.labeling import (
    RoutingRule,
    check_rule_id,
    check_sample_rate,
    is_sampled,
    new_rule_id,
)
from assay.errors import InvalidParameterError
from factories import new_trace_id


def test_sampling_is_the_same_every_time_and_near_its_rate() -> None:
    rule = new_rule_id()
    ids = [new_trace_id() for _ in range(4000)]
    taken = [t for t in ids if is_sampled(rule, t, 0.25)]
    assert taken == [t for t in ids if is_sampled(rule, t, 0.25)]
    assert 850 <= len(taken) <= 1150  # 1,000 expected; 6 standard deviations is 164


def test_a_higher_rate_takes_what_a_lower_one_takes() -> None:
    rule = new_rule_id()
    ids = [new_trace_id() for _ in range(1000)]
    low = {t for t in ids if is_sampled(rule, t, 0.1)}
    assert low <= {t for t in ids if is_sampled(rule, t, 0.5)}
    assert all(is_sampled(rule, t, 1.0) for t in ids)


def test_two_rules_sample_independently() -> None:
    ids = [new_trace_id() for _ in range(2000)]
    first, second = new_rule_id(), new_rule_id()
    a = {t for t in ids if is_sampled(first, t, 0.5)}
    b = {t for t in ids if is_sampled(second, t, 0.5)}
    assert 350 <= len(a & b) <= 650  # 500 expected if independent; 1,000 if not


@pytest.mark.parametrize("rate", [0, 0.0, -0.1, 1.01, float("nan"), float("inf"), True, "0.5",
                                  None])
def test_a_sample_rate_outside_zero_to_one_is_refused(rate: object) -> None:
    with pytest.raises(InvalidParameterError, match="sample_rate"):
        check_sample_rate(rate)


def test_sample_rates_and_rule_ids_that_are_accepted() -> None:
    assert check_sample_rate(1) == 1.0 and check_sample_rate(0.2) == 0.2
    rule_id = new_rule_id()
    assert check_rule_id(rule_id) == rule_id
    for bad in ("rr-x", "RR-" + "a" * 32, rule_id.upper(), 5):
        with pytest.raises(InvalidParameterError, match="rule_id"):
            check_rule_id(bad)


def test_a_rule_round_trips_through_its_dict() -> None:
    rule = RoutingRule(new_rule_id(), "a" * 32, "tags.env = 'x'", 0.5, 3, 1_700_000_000_000,
                       "ana")
    assert RoutingRule.from_dict(rule.to_dict()) == rule
