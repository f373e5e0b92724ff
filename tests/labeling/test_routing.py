"""Routing rules through the Store, on SQLite, PostgreSQL and an Assay server over HTTP:
traces routed into a session as they, their feedback and their tags arrive, each once."""

from __future__ import annotations

import pytest

from assay.entities import Feedback, Trace
from assay.entities.assessment import AssessmentSource, AssessmentSourceType
from assay.entities.labeling import is_sampled
from assay.errors import InvalidParameterError, NotFoundError
from assay.search import FilterError
from assay.store.base import Store
from assay.store.sql import SqlStore
from factories import make_trace
from labeling.test_store import new_session

THUMBS_DOWN = "feedback.user_feedback = 'false'"


def items_of(store: Store, run_id: str) -> set[str]:
    found = store.search_traces(["0"], run_id=run_id, include_spans=False, max_results=1000)
    return {t.info.trace_id for t in found}


def thumbs(store: Store, trace_id: str, up: bool) -> None:
    store.log_assessment(Feedback("user_feedback", up, trace_id=trace_id,
                                  source=AssessmentSource(AssessmentSourceType.HUMAN, "u1")))


def tagged(n: int, env: str, start: int = 0) -> list[Trace]:
    return [make_trace(request_time=1_735_689_600_000 + start + i, tags={"env": env})
            for i in range(n)]


def test_thumbs_down_feedback_after_the_trace_routes_it_once(store: Store) -> None:
    info = new_session(store)
    rule = store.create_routing_rule(info.run_id, THUMBS_DOWN)
    assert rule.rule_id.startswith("rr-") and rule.sample_rate == 1.0 and rule.hit_count == 0
    a, b = tagged(2, "production")
    store.log_traces([a, b])
    assert items_of(store, info.run_id) == set()
    thumbs(store, a.info.trace_id, up=False)
    thumbs(store, b.info.trace_id, up=True)
    assert items_of(store, info.run_id) == {a.info.trace_id}
    thumbs(store, a.info.trace_id, up=False)  # again: routed once
    store.log_traces([a])
    [listed] = store.list_routing_rules(info.run_id)
    assert listed.rule_id == rule.rule_id and listed.hit_count == 1
    assert store.get_labeling_progress(info.run_id).items == 1


def test_a_trace_that_arrives_matching_is_routed(store: Store) -> None:
    info = new_session(store)
    store.create_routing_rule(info.run_id, "tags.env = 'production'")
    production, staging = tagged(3, "production"), tagged(2, "staging", start=10)
    store.log_traces(production + staging)
    assert items_of(store, info.run_id) == {t.info.trace_id for t in production}
    # A tag set later makes a trace match too.
    store.set_trace_tag(staging[0].info.trace_id, "env", "production")
    assert staging[0].info.trace_id in items_of(store, info.run_id)
    assert store.list_routing_rules(info.run_id)[0].hit_count == 4


def test_a_sampled_rule_routes_its_share_and_the_same_traces_again(store: Store) -> None:
    info = new_session(store)
    rule = store.create_routing_rule(info.run_id, "tags.env = 'production'", sample_rate=0.2)
    batch = tagged(500, "production")
    store.log_traces(batch)
    routed = items_of(store, info.run_id)
    expected = {t.info.trace_id for t in batch if is_sampled(rule.rule_id, t.info.trace_id, 0.2)}
    assert routed == expected
    # 100 expected, standard deviation 8.9 (binomial, 500 at 0.2): six of them either side.
    assert 46 <= len(routed) <= 154
    # Written again, re-evaluated: the same decision, nothing routed twice.
    store.log_traces(batch[:250])
    assert items_of(store, info.run_id) == routed
    assert store.list_routing_rules(info.run_id)[0].hit_count == len(routed)


def test_a_trace_removed_by_hand_is_not_routed_again_by_the_rule(store: Store) -> None:
    info = new_session(store)
    store.create_routing_rule(info.run_id, THUMBS_DOWN)
    (a,) = tagged(1, "production")
    store.log_traces([a])
    thumbs(store, a.info.trace_id, up=False)
    assert store.remove_labeling_items(info.run_id, [a.info.trace_id]) == [a.info.trace_id]
    thumbs(store, a.info.trace_id, up=False)
    store.log_traces([a])
    assert items_of(store, info.run_id) == set()
    # Another rule has its own once.
    store.create_routing_rule(info.run_id, "tags.env = 'production'")
    store.set_trace_tag(a.info.trace_id, "seen", "yes")
    assert items_of(store, info.run_id) == {a.info.trace_id}


def test_rules_route_only_their_experiments_traces(store: Store) -> None:
    other = store.create_experiment("other")
    info = new_session(store)
    store.create_routing_rule(info.run_id, "tags.env = 'production'")
    there = make_trace(experiment_id=other, tags={"env": "production"})
    store.log_traces([there])
    assert store.list_routing_rules(info.run_id)[0].hit_count == 0


def test_a_deleted_rule_routes_nothing_more(store: Store) -> None:
    info = new_session(store)
    first = store.create_routing_rule(info.run_id, THUMBS_DOWN)
    second = store.create_routing_rule(info.run_id, "tags.env = 'production'", 0.5)
    assert [r.rule_id for r in store.list_routing_rules(info.run_id)] == [
        first.rule_id, second.rule_id]
    store.delete_routing_rule(info.run_id, first.rule_id)
    (a,) = tagged(1, "staging")
    store.log_traces([a])
    thumbs(store, a.info.trace_id, up=False)
    assert items_of(store, info.run_id) == set()
    with pytest.raises(NotFoundError, match=first.rule_id):
        store.delete_routing_rule(info.run_id, first.rule_id)
    with pytest.raises(InvalidParameterError, match="rule_id"):
        store.delete_routing_rule(info.run_id, "nope")
    store.delete_labeling_session(info.run_id)
    with pytest.raises(NotFoundError, match=info.run_id):
        store.list_routing_rules(info.run_id)
    thumbs(store, a.info.trace_id, up=False)  # no session, no rule: the write is unaffected


@pytest.mark.parametrize(("filter_string", "sample_rate", "error", "message"), [
    ("feedback.user_feedback = ", 1.0, FilterError, "position"),
    ("tags.env === 'x'", 1.0, FilterError, "position"),
    ("nonsense.x = 'y'", 1.0, FilterError, "Invalid entity type 'nonsense'"),
    ("", 1.0, InvalidParameterError, "filter_string"),
    ("tags.env = 'x'", 0.0, InvalidParameterError, "sample_rate"),
    ("tags.env = 'x'", 1.5, InvalidParameterError, "sample_rate"),
    ("tags.env = 'x'", float("nan"), InvalidParameterError, "sample_rate"),
])
def test_a_bad_rule_is_refused_and_nothing_is_written(
        store: Store, filter_string: str, sample_rate: float, error: type[Exception],
        message: str) -> None:
    info = new_session(store)
    with pytest.raises(error, match=message):
        store.create_routing_rule(info.run_id, filter_string, sample_rate)
    assert store.list_routing_rules(info.run_id) == []


def test_a_rule_for_a_missing_session_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="0" * 32):
        store.create_routing_rule("0" * 32, THUMBS_DOWN)


# -- end users' votes (the server's own path, SQL stores only) -------------------------------

def _vote(trace_id: str, up: bool) -> Feedback:
    return Feedback("user_feedback", up, trace_id=trace_id,
                    source=AssessmentSource(AssessmentSourceType.HUMAN, "end-user-1"))


def test_a_thumbs_down_vote_routes_its_trace_stored_or_still_pending(sql_store: SqlStore) -> None:
    info = new_session(sql_store)
    rule = sql_store.create_routing_rule(info.run_id, THUMBS_DOWN)
    stored, later = tagged(2, "production")
    sql_store.log_traces([stored])
    sql_store.log_vote(_vote(stored.info.trace_id, False), 3600)
    # The vote arrives before its trace: routed when the trace comes, with the vote.
    assert sql_store.log_vote(_vote(later.info.trace_id, False), 3600)[1] is True
    assert items_of(sql_store, info.run_id) == {stored.info.trace_id}
    sql_store.log_traces([later])
    assert items_of(sql_store, info.run_id) == {stored.info.trace_id, later.info.trace_id}
    assert sql_store.list_routing_rules(info.run_id)[0].hit_count == 2
    assert rule.created_by is None
