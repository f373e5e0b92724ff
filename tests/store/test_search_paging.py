"""Ordering and keyset paging: any order_by, pages of any size, each trace exactly once, on
SQLite and PostgreSQL; NULLs last; tokens tied to their search."""

from __future__ import annotations

import base64
import json
import random

import pytest

from assay.entities import Feedback
from assay.errors import InvalidParameterError
from assay.search import FilterError
from assay.store.sql import SqlStore
from factories import make_trace

ORDERS: list[list[str] | None] = [
    None,
    ["timestamp_ms ASC"],
    ["execution_time_ms DESC"],
    ["execution_time"],
    ["end_time_ms DESC"],
    ["tags.env", "execution_time_ms DESC"],
    ["metadata.k DESC"],
    ["feedback.score DESC"],
    ["feedback.score"],
    ["name"],
    ["status", "trace.request_id DESC"],
    ["experiment_id DESC", "client_request_id"],
    ["session_id", "user_id DESC"],
    ["metadata.`mlflow.trace.session` DESC"],
]


def _populate(store: SqlStore) -> list[str]:
    """40 traces with ties and missing values everywhere; returns their ids."""
    rng = random.Random(7)
    other = store.create_experiment("other")
    batch = []
    for i in range(40):
        tags = {"env": rng.choice(["prod", "dev"])} if i % 4 else {}
        metadata = {"k": rng.choice(["a", "b", "c"])} if i % 3 else {}
        if i % 5:
            metadata |= {"mlflow.trace.session": f"s{i % 4}", "mlflow.trace.user": f"u{i % 3}"}
        batch.append(make_trace(
            experiment_id=other if i % 7 == 0 else "0",
            request_time=1000 + (i // 3) * 10,  # three traces per timestamp
            execution_duration=None if i % 6 == 0 else rng.choice([5, 10, 15]),
            name=None if i % 8 == 0 else rng.choice(["x", "y"]),
            client_request_id=None if i % 2 else f"req-{rng.randrange(5)}",
            tags=tags, metadata=metadata, num_spans=1))
    store.log_traces(batch)
    for trace in batch[::2]:
        store.log_assessment(Feedback("score", rng.choice([1, 2, 3, True, "x"]),
                                      trace_id=trace.info.trace_id))
    return [t.info.trace_id for t in batch]


def _all_pages(store: SqlStore, experiments: list[str], order_by: list[str] | None,
               size: int, filter_string: str | None = None) -> list[str]:
    seen: list[str] = []
    token = None
    for _ in range(200):
        page = store.search_traces(experiments, max_results=size, page_token=token,
                                   order_by=order_by, filter_string=filter_string,
                                   include_spans=False)
        assert len(page) <= size
        seen += [t.info.trace_id for t in page]
        token = page.token
        if token is None:
            return seen
        assert len(page) == size
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("order_by", ORDERS, ids=str)
def test_paging_sees_every_trace_exactly_once_in_order(store: SqlStore,
                                                       order_by: list[str] | None) -> None:
    ids = _populate(store)
    experiments = ["0", "1"]
    everything = [t.info.trace_id for t in store.search_traces(
        experiments, max_results=1000, order_by=order_by, include_spans=False)]
    assert sorted(everything) == sorted(ids)
    for size in (1, 3, 7):
        assert _all_pages(store, experiments, order_by, size) == everything
    filtered = _all_pages(store, experiments, order_by, 4, "trace.status = 'OK'")
    assert filtered == everything  # every made trace is OK: the same list, through a filter


def test_nulls_sort_last_both_ways_and_ties_break_by_time_then_id(store: SqlStore) -> None:
    traces = [make_trace(request_time=t, execution_duration=d)
              for t, d in [(1, 5), (2, None), (3, 5), (3, 7), (4, None), (5, 1)]]
    store.log_traces(traces)
    info = {t.info.trace_id: (t.info.execution_duration, t.info.request_time) for t in traces}

    def expected(descending: bool) -> list[str]:
        with_value = [t for t in info if info[t][0] is not None]
        without = [t for t in info if info[t][0] is None]
        with_value.sort(key=lambda t: (-info[t][1], t))
        with_value.sort(key=lambda t: info[t][0] or 0, reverse=descending)
        without.sort(key=lambda t: (-info[t][1], t))
        return with_value + without

    for descending in (False, True):
        order = ["execution_time_ms DESC" if descending else "execution_time_ms"]
        assert _all_pages(store, ["0"], order, 2) == expected(descending)


def test_feedback_order_uses_the_mean_of_valid_numeric_feedback(store: SqlStore) -> None:
    low, high, none, text = (make_trace(request_time=i) for i in range(4))
    store.log_traces([low, high, none, text])
    for trace, values in ((low, [1, 2]), (high, [5])):
        for value in values:
            store.log_assessment(Feedback("score", value, trace_id=trace.info.trace_id))
    overridden = store.log_assessment(Feedback("score", 100, trace_id=low.info.trace_id))
    store.log_assessment(Feedback("score", 0, trace_id=low.info.trace_id,
                                  overrides=overridden.assessment_id))
    store.log_assessment(Feedback("score", "great", trace_id=text.info.trace_id))
    page = store.search_traces(["0"], order_by=["feedback.score DESC"])
    # low: mean of 1, 2, 0 = 1 (the overridden 100 does not count); high: 5
    assert [t.info.trace_id for t in page][:2] == [high.info.trace_id, low.info.trace_id]
    assert {t.info.trace_id for t in page[2:]} == {none.info.trace_id, text.info.trace_id}


def test_a_token_only_works_for_its_own_search(store: SqlStore) -> None:
    store.log_traces([make_trace(request_time=i) for i in range(5)])
    token = store.search_traces(["0"], max_results=2, order_by=["execution_time_ms"]).token
    assert token is not None
    assert len(store.search_traces(["0"], max_results=2, page_token=token,
                                   order_by=["execution_time_ms"])) == 2
    for kwargs in ({"order_by": ["timestamp_ms"]}, {"filter_string": "trace.status = 'OK'"},
                   {"order_by": ["execution_time_ms"], "run_id": "r"}):
        with pytest.raises(InvalidParameterError, match="Invalid page_token"):
            store.search_traces(["0"], max_results=2, page_token=token,
                                **kwargs)
    doc = json.loads(base64.urlsafe_b64decode(token))
    for bad in ({**doc, "after": ["x", 1, "tr"]}, {**doc, "after": [1]},
                {**doc, "after": [True, 1, "t"]}, {**doc, "v": 9}):
        forged = base64.urlsafe_b64encode(json.dumps(bad).encode()).decode()
        with pytest.raises(InvalidParameterError, match="Invalid page_token"):
            store.search_traces(["0"], max_results=2, page_token=forged,
                                order_by=["execution_time_ms"])


@pytest.mark.parametrize("order_by", [["feedback.score DESC", "trace.timestamp ASC"],
                                      ["tags.`a b`"], ["trace.text"], ["span.name"],
                                      ["timestamp_ms", "timestamp"], "timestamp_ms"])
def test_order_by_errors_and_extensions(store: SqlStore, order_by: object) -> None:
    store.log_traces([make_trace()])
    if order_by in (["feedback.score DESC", "trace.timestamp ASC"], ["tags.`a b`"]):
        assert len(store.search_traces(["0"], order_by=order_by)) == 1
        return
    with pytest.raises(FilterError):
        store.search_traces(["0"], order_by=order_by)  # type: ignore[arg-type]
