"""What the traces page asks besides a page: how many traces match (counted up to a cap),
where page N starts (a page token found by offset), and the user and session ids of the
newest traces. On SQLite, PostgreSQL and a server (the REST store answers through
search_traces), all alike."""

from __future__ import annotations

from typing import Any

import pytest

from assay.entities import Feedback
from assay.entities.overview import RecentIds, TraceCount
from assay.errors import InvalidParameterError
from assay.search import FilterError
from assay.store.base import Store
from assay.store.checks import MAX_TRACE_OFFSET, RECENT_TRACES_SCANNED
from assay.store.sql.engine import QueryBounds, bound_queries, narrowed_timeout
from factories import BASE_TIME_MS, make_trace


def _fill(store: Store, n: int = 23) -> tuple[str, list[str]]:
    """An experiment of ``n`` traces (newest last in the list), users u0..u2 and sessions,
    feedback on every third; and another experiment whose traces must never count."""
    app = store.create_experiment("app")
    other = store.create_experiment("other")
    batch = []
    for i in range(n):
        metadata = {"mlflow.trace.user": f"u{i % 3}", "mlflow.trace.session": f"s{i // 5}"} \
            if i % 4 else {}
        batch.append(make_trace(experiment_id=app, request_time=BASE_TIME_MS + i * 1000,
                                execution_duration=i % 7, metadata=metadata, num_spans=1))
    store.log_traces(batch)
    store.log_traces([make_trace(experiment_id=other, num_spans=1,
                                 metadata={"mlflow.trace.user": "stranger"})])
    for trace in batch[::3]:
        store.log_assessment(Feedback("ok", True, trace_id=trace.info.trace_id))
    return app, [t.info.trace_id for t in batch]


def test_count_is_exact_below_the_cap_and_capped_above(store: Store) -> None:
    app, _ = _fill(store)
    assert store.count_traces([app]) == TraceCount(23, False)
    assert store.count_traces([app], max_count=23) == TraceCount(23, False)
    assert store.count_traces([app], max_count=22) == TraceCount(22, True)
    assert store.count_traces([app], max_count=1) == TraceCount(1, True)


def test_count_reads_the_filter_as_search_does(store: Store) -> None:
    app, _ = _fill(store)
    for filter_string in ("feedback.ok = 'true'", "trace.user_id = 'u1'",
                          "trace.execution_time_ms > 3 AND feedback.ok IS NULL",
                          "trace.user_id = 'nobody'"):
        found = store.search_traces([app], max_results=1000, include_spans=False,
                                    filter_string=filter_string)
        assert store.count_traces([app], filter_string) == TraceCount(len(found), False), \
            filter_string
    assert store.count_traces([app], "trace.user_id = 'u1'").count == 6


def test_count_of_several_or_unknown_experiments(store: Store) -> None:
    app, _ = _fill(store)
    other = store.find_experiment_by_name("other")
    assert other is not None
    assert store.count_traces([app, other.experiment_id]).count == 24
    assert store.count_traces(["424242"]) == TraceCount(0, False)
    assert store.count_traces(["not-an-id"]) == TraceCount(0, False)


@pytest.mark.parametrize("bad", [0, -1, 100_001, True, "10", 1.5, None])
def test_count_refuses_a_bad_cap(store: Store, bad: Any) -> None:
    app, _ = _fill(store, 2)
    with pytest.raises(InvalidParameterError, match="max_count"):
        store.count_traces([app], max_count=bad)


def test_count_refuses_a_bad_filter_or_experiments(store: Store) -> None:
    app, _ = _fill(store, 2)
    with pytest.raises(FilterError):
        store.count_traces([app], "feedback.ok ===")
    with pytest.raises(InvalidParameterError, match="experiment_ids"):
        store.count_traces([])


@pytest.mark.parametrize("order_by", [None, ["execution_time_ms DESC"], ["user_id"],
                                      ["feedback.ok DESC"], ["timestamp_ms ASC"]])
def test_a_page_found_by_offset_is_the_page_that_paging_reaches(
        store: Store, order_by: list[str] | None) -> None:
    app, ids = _fill(store)
    everything = [t.info.trace_id for t in store.search_traces(
        [app], max_results=100, include_spans=False, order_by=order_by)]
    assert sorted(everything) == sorted(ids)
    for offset in (1, 4, 5, 22):
        token = store.find_trace_page_token([app], offset, order_by=order_by)
        assert token is not None
        page = store.search_traces([app], max_results=5, page_token=token,
                                   include_spans=False, order_by=order_by)
        assert [t.info.trace_id for t in page] == everything[offset:offset + 5], offset
    # Nothing comes after all of them.
    assert store.find_trace_page_token([app], 23, order_by=order_by) is None
    assert store.find_trace_page_token([app], 500, order_by=order_by) is None


def test_a_page_found_by_offset_keeps_the_filter(store: Store) -> None:
    app, _ = _fill(store)
    flt = "trace.user_id = 'u1'"
    matching = [t.info.trace_id for t in store.search_traces(
        [app], max_results=100, include_spans=False, filter_string=flt)]
    token = store.find_trace_page_token([app], 2, filter_string=flt)
    assert token is not None
    page = store.search_traces([app], max_results=100, page_token=token,
                               include_spans=False, filter_string=flt)
    assert [t.info.trace_id for t in page] == matching[2:]
    # The token belongs to its search: another filter refuses it.
    with pytest.raises(InvalidParameterError, match="page_token"):
        store.search_traces([app], max_results=5, page_token=token, include_spans=False)


@pytest.mark.parametrize("bad", [0, -3, MAX_TRACE_OFFSET + 1, True, "5", None])
def test_page_jumps_are_bounded(store: Store, bad: Any) -> None:
    app, _ = _fill(store, 2)
    with pytest.raises(InvalidParameterError, match="offset"):
        store.find_trace_page_token([app], bad)


def test_recent_user_and_session_ids_newest_first(store: Store) -> None:
    app, _ = _fill(store)
    # Trace 22 (u1, s4) is the newest with a user; 21 is u0; 20 has none; 19 is u1...
    found = store.list_recent_ids(app)
    assert found == RecentIds(["u1", "u0", "u2"], ["s4", "s3", "s2", "s1", "s0"])
    assert store.list_recent_ids(app, max_results=2) == RecentIds(["u1", "u0"], ["s4", "s3"])
    assert store.list_recent_ids("424242") == RecentIds([], [])
    assert store.list_recent_ids("not-an-id") == RecentIds([], [])
    with pytest.raises(InvalidParameterError, match="max_results"):
        store.list_recent_ids(app, max_results=0)


def test_recent_ids_look_at_the_newest_traces_only(sql_store: Store) -> None:
    # The suggestions cost the same in any experiment: an old user beyond the newest
    # RECENT_TRACES_SCANNED traces is not offered.
    store = sql_store
    app = store.create_experiment("big")
    old = make_trace(experiment_id=app, request_time=BASE_TIME_MS - 10**6, num_spans=1,
                     metadata={"mlflow.trace.user": "old-user"})
    newer = [make_trace(experiment_id=app, request_time=BASE_TIME_MS + i, num_spans=1)
             for i in range(RECENT_TRACES_SCANNED)]
    newer[0] = make_trace(experiment_id=app, request_time=BASE_TIME_MS, num_spans=1,
                          metadata={"mlflow.trace.user": "recent-user",
                                    "mlflow.trace.session": "recent-session"})
    store.log_traces([old, *newer])
    assert store.list_recent_ids(app) == RecentIds(["recent-user"], ["recent-session"])


def test_a_narrowed_timeout_is_a_budget_within_the_bounds_and_ends_with_its_block() -> None:
    bounds = QueryBounds(30)
    with bound_queries(bounds):
        with narrowed_timeout(0.05) as inner:
            assert inner is bounds and bounds.timeout_seconds == 0.05
        assert bounds.timeout_seconds == 30
        with narrowed_timeout(60):
            assert bounds.timeout_seconds == 30  # never longer than the request's
        with pytest.raises(RuntimeError), narrowed_timeout(0.01):
            raise RuntimeError
        assert bounds.timeout_seconds == 30
    with narrowed_timeout(0.5) as own:  # outside a request: bounds of its own
        assert own is not bounds and own.timeout_seconds == 0.5
