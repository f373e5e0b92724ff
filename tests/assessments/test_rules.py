"""The rules of assessments and experiments (assay.rules): pure functions over entities, and
get-or-create of an experiment through a real store."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import rules
from assay.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Experiment,
    Feedback,
)
from assay.errors import InvalidParameterError, NotFoundError
from assay.store.base import Store
from assay.store.uri import open_store

TRACE = "tr-" + "1" * 32
SESSION_KEY = "mlflow.trace.session"
VOTER = AssessmentSource(AssessmentSourceType.HUMAN, "u-1")


def feedback(assessment_id: str, *, overrides: str | None = None, valid: bool = True,
             at: int = 1_700_000_000_000, **fields: Any) -> Feedback:
    return Feedback(name=fields.pop("name", "rating"), value=fields.pop("value", 1),
                    trace_id=TRACE, assessment_id=assessment_id, overrides=overrides,
                    valid=valid, create_time_ms=at, **fields)


def valid_ids(assessments: Sequence[Assessment]) -> set[str]:
    return {str(a.assessment_id) for a in assessments if a.valid}


# -- newest and the chain ---------------------------------------------------------------------

def test_the_newest_is_created_last_then_logged_last() -> None:
    early, late, late_again = (feedback("a-1", at=200), feedback("a-2", at=300),
                               feedback("a-3", at=300))
    assert rules.newest([late, early]) is late
    assert rules.newest([early, late, late_again]) is late_again
    assert rules.newest([early, late_again, late]) is late
    with pytest.raises(ValueError):
        rules.newest([])


def test_the_last_changed_is_updated_last_then_created_last_then_logged_last() -> None:
    early = feedback("a-1", at=200, last_update_time_ms=900)
    late, late_again = (feedback("a-2", at=300, last_update_time_ms=300),
                        feedback("a-3", at=300, last_update_time_ms=300))
    assert rules.last_changed([early, late]) is early  # updated after the others
    assert rules.last_changed([late, late_again]) is late_again  # same millisecond
    assert rules.last_changed([late_again, late]) is late
    assert rules.last_changed([]) is None


def test_a_valid_assessment_is_superseded_itself() -> None:
    target = feedback("a-1")
    overridden_by = rules.overriders_within([target, feedback("a-2", overrides="a-1")])
    # Valid means nothing overrides it now: the links of others are not followed.
    assert rules.newest_of_chain(target, feedback("a-9"), overridden_by) is target


def test_an_overridden_assessment_leads_to_the_valid_one_of_its_chain() -> None:
    chain = [feedback("a-1", valid=False), feedback("a-2", overrides="a-1", valid=False),
             feedback("a-3", overrides="a-2")]
    overriders = rules.overriders_within(chain)
    for target in chain:
        assert rules.newest_of_chain(target, feedback("a-9"), overriders).assessment_id == "a-3"


def test_a_fork_is_followed_along_its_newest_branch() -> None:
    # Two overrides of one assessment (as a race before locking could leave them): the one
    # created last is followed, whatever the order they are listed in.
    root = feedback("a-1", valid=False)
    older = feedback("a-2", overrides="a-1", at=1_000)
    newer = feedback("a-3", overrides="a-1", at=2_000)
    for listed in ([root, older, newer], [root, newer, older]):
        found = rules.newest_of_chain(root, feedback("a-9"), rules.overriders_within(listed))
        assert found.assessment_id == "a-3"


def test_the_walk_ends_at_a_loop_and_at_an_invalid_end() -> None:
    looped = [feedback("a-1", overrides="a-2", valid=False),
              feedback("a-2", overrides="a-1", valid=False)]
    found = rules.newest_of_chain(looped[0], feedback("a-9"), rules.overriders_within(looped))
    assert found.assessment_id == "a-2"
    # Made invalid with nothing overriding it (a vote a race left side by side): kept.
    alone = feedback("a-1", valid=False)
    assert rules.newest_of_chain(alone, feedback("a-9"), rules.overriders_within([alone])) \
        is alone


def test_only_an_assessment_of_the_same_kind_overrides() -> None:
    truth = Expectation("answer", "42", trace_id=TRACE, assessment_id="a-1")
    with pytest.raises(InvalidParameterError, match="is a expectation, not a feedback"):
        rules.newest_of_chain(truth, feedback("a-2"), rules.overriders_within([truth]))


def test_with_validity_makes_the_overridden_invalid() -> None:
    listed = [feedback("a-2", overrides="a-1"), feedback("a-1"), feedback("a-3")]
    assert valid_ids(rules.with_validity(listed)) == {"a-2", "a-3"}
    assert rules.with_validity(listed)[2] is listed[2]


def test_deleting_splices_an_assessment_out_of_its_chain() -> None:
    chain = [feedback("a-1", valid=False), feedback("a-2", overrides="a-1", valid=False),
             feedback("a-3", overrides="a-2")]
    middle = rules.spliced_out(chain, "a-2")
    assert [(a.assessment_id, a.overrides, a.valid) for a in middle] == [
        ("a-1", None, False), ("a-3", "a-1", True)]
    # Deleting the valid one undoes it: what it overrode is valid again.
    head = rules.spliced_out(chain, "a-3")
    assert [(a.assessment_id, a.valid) for a in head] == [("a-1", False), ("a-2", True)]
    root = rules.spliced_out(chain, "a-1")
    assert [(a.assessment_id, a.overrides) for a in root] == [("a-2", None), ("a-3", "a-2")]
    assert rules.spliced_out(chain, "a-404") == chain


# -- the chain rule, whatever happens in whatever order ----------------------------------------

_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("log"), st.integers(0, 50)),
        st.tuples(st.just("override"), st.integers(0, 10_000), st.integers(0, 50)),
        st.tuples(st.just("delete"), st.integers(0, 10_000)),
    ),
    max_size=40,
)


def _apply(log: list[Assessment], operation: tuple[Any, ...], number: int) -> list[Assessment]:
    """One operation done as a store does it: log a new assessment, override any assessment
    (the newest of its chain is superseded), or delete one."""
    new_id = f"a-{number}"
    if operation[0] == "log":
        return [*log, feedback(new_id, at=operation[1])]
    if not log:
        return log
    target = log[operation[1] % len(log)]
    if operation[0] == "delete":
        return rules.spliced_out(log, str(target.assessment_id))
    new = feedback(new_id, at=operation[2])
    superseded = rules.newest_of_chain(target, new, rules.overriders_within(log))
    assert superseded.valid, "an override supersedes the valid one of the chain"
    return [*(dataclasses.replace(a, valid=False) if a is superseded else a for a in log),
            dataclasses.replace(new, overrides=superseded.assessment_id)]


def _chains(log: Sequence[Assessment]) -> list[set[str]]:
    """The chains of the log: ids linked by ``overrides``."""
    parent = {str(a.assessment_id): str(a.assessment_id) for a in log}

    def root(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    for a in log:
        if a.overrides is not None:
            parent[root(str(a.assessment_id))] = root(a.overrides)
    chains: dict[str, set[str]] = {}
    for x in parent:
        chains.setdefault(root(x), set()).add(x)
    return list(chains.values())


@settings(max_examples=300, deadline=None)
@given(operations=_OPERATIONS, seed=st.randoms(use_true_random=False))
def test_every_chain_keeps_exactly_one_valid_assessment(operations: list[tuple[Any, ...]],
                                                        seed: random.Random) -> None:
    log: list[Assessment] = []
    for number, operation in enumerate(operations):
        log = _apply(log, operation, number)
        ids = {str(a.assessment_id) for a in log}
        overridden = [a.overrides for a in log if a.overrides is not None]
        # Links point at assessments that exist, and no assessment is overridden twice.
        assert set(overridden) <= ids
        assert len(overridden) == len(set(overridden))
        for chain in _chains(log):
            assert len(chain & valid_ids(log)) == 1
        # The links alone give the same validity, read in any order.
        fresh = [dataclasses.replace(a, valid=True) for a in log]
        seed.shuffle(fresh)
        assert valid_ids(rules.with_validity(fresh)) == valid_ids(log)
    if operations and operations[-1][0] == "override" and log:
        assert log[-1].valid, "the newest override is the valid one of its chain"


# -- overriding and updating --------------------------------------------------------------------

def test_an_override_keeps_the_name_span_and_session() -> None:
    old = feedback("a-1", span_id="0123456789abcdef", metadata={SESSION_KEY: "conv-1"},
                   source=AssessmentSource(AssessmentSourceType.LLM_JUDGE, "judge-1"))
    new = rules.overriding_feedback(old, 5, "better", metadata={"k": "v"})
    assert (new.name, new.value, new.rationale, new.span_id, new.trace_id, new.overrides) == (
        "rating", 5, "better", "0123456789abcdef", TRACE, "a-1")
    assert new.metadata == {"k": "v", SESSION_KEY: "conv-1"}
    assert new.source == AssessmentSource(AssessmentSourceType.HUMAN)
    assert rules.overriding_feedback(old, 5, source="CODE").source.source_type == "CODE"
    truth = Expectation("answer", "42", trace_id=TRACE, assessment_id="a-2")
    with pytest.raises(InvalidParameterError, match="only feedback can be overridden"):
        rules.overriding_feedback(truth, "43")


def test_an_update_merges_metadata_and_keeps_the_history_fields() -> None:
    old = feedback("a-1", overrides="a-0", metadata={"a": "1"}, rationale="why")
    updated = rules.updated_assessment(old, Feedback("renamed", 2, metadata={"b": "2"}))
    assert (updated.name, updated.value, updated.rationale, updated.overrides) == (
        "renamed", 2, "why", "a-0")
    assert updated.metadata == {"a": "1", "b": "2"}
    assert updated.last_update_time_ms >= old.create_time_ms
    with pytest.raises(InvalidParameterError, match="keeps its kind"):
        rules.updated_assessment(old, Expectation("x", 1))
    with pytest.raises(InvalidParameterError, match="session of an assessment cannot change"):
        rules.updated_assessment(old, Feedback("x", 1, metadata={SESSION_KEY: "other"}))


def test_a_change_names_only_what_changes() -> None:
    old = feedback("a-1", value=None, error="judge timed out", rationale="why")
    assert rules.changed_assessment(old, {"rationale": "because"}).error == old.error
    fixed = rules.changed_assessment(old, {"value": 3})
    assert (fixed.value, fixed.error, fixed.rationale) == (3, None, "why")
    failed = rules.changed_assessment(old, {"value": None,
                                            "error": AssessmentError("E", "again")})
    assert failed.error == AssessmentError("E", "again")
    with pytest.raises(InvalidParameterError, match="expected an AssessmentError"):
        rules.changed_assessment(old, {"error": "not an error object"})


# -- sessions ----------------------------------------------------------------------------------

def test_the_target_of_a_trace_level_assessment_is_its_trace() -> None:
    def unused(session: str) -> str | None:
        raise AssertionError("no session to look up")

    metadata = {"k": "v"}
    assert rules.session_target(TRACE, None, metadata, unused) == (TRACE, metadata)
    with pytest.raises(InvalidParameterError, match="Invalid trace_id None"):
        rules.session_target(None, None, None, unused)


def test_a_session_level_assessment_goes_on_its_first_trace_or_the_one_named() -> None:
    first = {"conv-1": TRACE}
    looked_up: list[str] = []

    def first_trace_of(session: str) -> str | None:
        looked_up.append(session)
        return first.get(session)

    assert rules.session_target(None, "conv-1", {"k": "v"}, first_trace_of) == (
        TRACE, {"k": "v", SESSION_KEY: "conv-1"})
    other = "tr-" + "2" * 32
    assert rules.session_target(other, "conv-1", None, first_trace_of) == (
        other, {SESSION_KEY: "conv-1"})
    assert looked_up == ["conv-1"]
    assert rules.session_target(None, "conv-1", {SESSION_KEY: "conv-1"}, first_trace_of)[0] \
        == TRACE


def test_a_session_target_is_checked() -> None:
    def nothing(session: str) -> str | None:
        return None

    bad_ids: list[Any] = ["", 7]
    for bad in bad_ids:
        with pytest.raises(InvalidParameterError, match="expected a non-empty string"):
            rules.session_target(None, bad, None, nothing)
    with pytest.raises(InvalidParameterError, match="differs from session_id"):
        rules.session_target(None, "conv-1", {SESSION_KEY: "conv-2"}, nothing)
    with pytest.raises(NotFoundError, match="Session with ID 'conv-404' not found"):
        rules.session_target(None, "conv-404", None, nothing)
    with pytest.raises(NotFoundError) as long:
        rules.session_target(None, "s" * 10_000, None, nothing)
    assert len(long.value.message) < 300


# -- votes --------------------------------------------------------------------------------------

def test_a_vote_is_a_human_feedback_on_a_whole_trace() -> None:
    vote = Feedback("thumbs", True, source=VOTER, trace_id=TRACE)
    assert rules.check_vote(vote) == (TRACE, "u-1")
    for bad, message in (
            (dataclasses.replace(vote, source=AssessmentSource(AssessmentSourceType.CODE,
                                                               "u-1")), "HUMAN"),
            (dataclasses.replace(vote, span_id="0123456789abcdef"), "whole trace"),
            (dataclasses.replace(vote, trace_id=None), "needs one")):
        with pytest.raises(InvalidParameterError, match=message):
            rules.check_vote(bad)


def test_what_a_vote_supersedes_is_the_voters_vote_of_that_name() -> None:
    vote = Feedback("thumbs", True, source=VOTER, trace_id=TRACE)
    assert rules.is_vote_of(vote, "thumbs", "u-1")
    assert not rules.is_vote_of(vote, "comment", "u-1")
    assert not rules.is_vote_of(vote, "thumbs", "u-2")
    assert not rules.is_vote_of(dataclasses.replace(vote, span_id="0123456789abcdef"),
                                "thumbs", "u-1")
    assert not rules.is_vote_of(dataclasses.replace(vote, metadata={SESSION_KEY: "c"}),
                                "thumbs", "u-1")
    assert not rules.is_vote_of(Expectation("thumbs", True, source=VOTER),
                                "thumbs", "u-1")


# -- experiments, through a real store ------------------------------------------------------------

def test_an_experiment_is_created_once_by_name(store: Store) -> None:
    created = rules.experiment_named(store, "chat/prod")
    assert created.name == "chat/prod"
    assert rules.experiment_named(store, "chat/prod") == created
    assert [e.name for e in store.search_experiments()].count("chat/prod") == 1


class _CreatedMeanwhile:
    """A store whose first look-up by name misses an experiment that another process (a
    second store on the same database) creates just after that look-up."""

    def __init__(self, store: Store, other: Store) -> None:
        self.store = store
        self.other = other
        self.raced = False

    def find_experiment_by_name(self, name: str) -> Experiment | None:
        found = self.store.find_experiment_by_name(name)
        if not self.raced:
            self.raced = True
            self.other.create_experiment(name)
        return found

    def create_experiment(self, name: str) -> str:
        return self.store.create_experiment(name)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(experiment_id)


def test_an_experiment_created_meanwhile_elsewhere_is_the_one_returned(
        store: Store, tracking_uri: str) -> None:
    other = open_store(tracking_uri)
    try:
        racing = _CreatedMeanwhile(store, other)
        found = rules.experiment_named(racing, "support-bot")
        assert racing.raced
        assert found == other.find_experiment_by_name("support-bot")
    finally:
        other.close()
