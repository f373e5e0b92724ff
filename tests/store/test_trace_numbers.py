"""Numbers and ids a trace cannot hold, through the SDK's store on SQLite, PostgreSQL and an
Assay server: times of 2**63 ns and more or below zero, an end before its start, negative
durations, all-zero ids, attribute integers outside 64 bits. Each is an
InvalidParameterError (a ValueError) naming the field, never a database error (SQLite once
raised OverflowError from the driver), and nothing of the batch is written to a SQL store."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from assay.entities import SpanEvent, Trace
from assay.errors import InvalidParameterError
from assay.store.base import Store
from assay.store.sql.schema import spans, traces
from conftest import Backend
from factories import make_span, make_trace, new_trace_id

TOO_LATE = 2**63


def _with_span(**fields: object) -> Trace:
    trace_id = new_trace_id()
    return make_trace(trace_id=trace_id, spans=[make_span(trace_id, **fields)])  # type: ignore[arg-type]  # bad on purpose


def _with_info(**fields: object) -> Trace:
    trace = make_trace()
    return Trace(info=dataclasses.replace(trace.info, **fields),  # type: ignore[arg-type]
                 data=trace.data)


# (what is wrong, the trace, a word the message names)
BAD_TRACES: list[tuple[str, Callable[[], Trace], str]] = [
    ("start of 2**63", lambda: _with_span(start_time_ns=TOO_LATE, end_time_ns=None),
     "start_time"),
    ("start of 2**64", lambda: _with_span(start_time_ns=2**64, end_time_ns=None), "start_time"),
    ("negative start", lambda: _with_span(start_time_ns=-1), "start_time"),
    ("start not an int", lambda: _with_span(start_time_ns=1.5), "start_time"),
    ("end of 2**63", lambda: _with_span(start_time_ns=1, end_time_ns=TOO_LATE), "end_time"),
    ("end before start", lambda: _with_span(start_time_ns=1000, end_time_ns=999),
     "before start_time"),
    ("event at 2**63", lambda: _with_span(events=[SpanEvent("late", TOO_LATE)]), "event"),
    ("zero span id", lambda: _with_span(span_id="0" * 16), "span_id"),
    ("attribute of 2**64", lambda: _with_span(attributes={"big": [1, 2**64]}),
     "outside 64 bits"),
    ("event attribute below -2**63",
     lambda: _with_span(events=[SpanEvent("e", 1, {"n": {"m": -2**63 - 1}})]),
     "outside 64 bits"),
    ("zero trace id", lambda: make_trace(trace_id="tr-" + "0" * 32), "trace_id"),
    ("negative request_time", lambda: _with_info(request_time=-1), "request_time"),
    ("request_time of 2**63", lambda: _with_info(request_time=TOO_LATE), "request_time"),
    ("negative execution_duration", lambda: _with_info(execution_duration=-5),
     "execution_duration"),
]


@pytest.mark.parametrize("bad", [case[1] for case in BAD_TRACES],
                         ids=[case[0] for case in BAD_TRACES])
def test_a_number_or_id_out_of_range_is_refused_naming_it(
        store: Store, backend: Backend, bad: Callable[[], Trace]) -> None:
    word = next(case[2] for case in BAD_TRACES if case[1] is bad)
    good = make_trace()
    trace = bad()
    with pytest.raises(InvalidParameterError) as info:
        store.log_traces([trace])
    assert word in str(info.value), info.value
    assert isinstance(info.value, ValueError)
    # In a batch with a good trace: nothing written by a SQL store. (Over HTTP, what the SDK
    # cannot even encode is refused before sending; a server stores the good traces.)
    with pytest.raises(InvalidParameterError):
        store.log_traces([good, trace])
    assert not store.find_traces([trace.info.trace_id])
    engine = sa.create_engine(backend.database_uri)
    try:
        with engine.connect() as conn:
            num_traces = conn.execute(sa.select(sa.func.count()).select_from(traces)).scalar()
            num_spans = conn.execute(sa.select(sa.func.count()).select_from(spans)).scalar()
    finally:
        engine.dispose()
    if backend.kind != "rest":
        assert (num_traces, num_spans) == (0, 0)


def test_the_edges_of_the_ranges_are_stored(store: Store) -> None:
    trace_id = new_trace_id()
    last = TOO_LATE - 1
    span = make_span(trace_id, start_time_ns=last, end_time_ns=last,
                     events=[SpanEvent("at the end", last)])
    zero = make_span(trace_id, parent_id=span.span_id, start_time_ns=0, end_time_ns=1)
    trace = make_trace(trace_id=trace_id, spans=[span, zero], request_time=0,
                       execution_duration=0)
    store.log_traces([trace])
    got = store.get_trace(trace_id)
    assert got.data.spans[0].start_time_ns == last
    assert got.data.spans[0].events[0].timestamp_ns == last
    assert got.data.spans[1].start_time_ns == 0
    assert got.info.request_time == 0 and got.info.execution_duration == 0


def test_token_counts_beyond_64_bits_leave_the_columns_empty(store: Store) -> None:
    trace = make_trace(metadata={"mlflow.trace.tokenUsage":
                                 '{"input_tokens": 18446744073709551616, "output_tokens": -3,'
                                 ' "total_tokens": 7}'})
    store.log_traces([trace])
    assert store.get_trace_info(trace.info.trace_id).token_usage is not None
