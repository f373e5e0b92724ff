"""Logging a trace again: the header is replaced, but a client request id, session, user or
run that the new header does not give stays (as its metadata keys do), so a header sent
apart from the spans (MLflow's StartTraceV3) and the spans' own can be written in any
order."""

from __future__ import annotations

import dataclasses

from assay.entities.trace import metadata_keys
from assay.store.base import Store
from factories import make_trace


def test_a_header_without_ids_keeps_the_stored_ones(store: Store) -> None:
    experiment_id = store.create_experiment("headers")
    sent = make_trace(experiment_id=experiment_id, client_request_id="req-1",
                      metadata={metadata_keys.SESSION: "s-1", metadata_keys.USER: "u-1"})
    store.log_traces([sent])
    bare = dataclasses.replace(sent.info, client_request_id=None, trace_metadata={},
                               execution_duration=99)
    store.log_traces([dataclasses.replace(sent, info=bare)])
    info = store.get_trace_info(sent.info.trace_id)
    assert info.execution_duration == 99  # the rest of the header is replaced
    assert info.client_request_id == "req-1"
    assert (info.session_id, info.user_id) == ("s-1", "u-1")
    for text in ("trace.client_request_id = 'req-1'", "trace.session_id = 's-1'",
                 "trace.user_id = 'u-1'"):
        found = store.search_traces([experiment_id], filter_string=text)
        assert [t.info.trace_id for t in found] == [sent.info.trace_id], text


def test_a_header_with_other_ids_replaces_them(store: Store) -> None:
    experiment_id = store.create_experiment("replaced")
    sent = make_trace(experiment_id=experiment_id, client_request_id="req-1",
                      metadata={metadata_keys.USER: "u-1"})
    store.log_traces([sent])
    store.log_traces([dataclasses.replace(sent, info=dataclasses.replace(
        sent.info, client_request_id="req-2", trace_metadata={metadata_keys.USER: "u-2"}))])
    info = store.get_trace_info(sent.info.trace_id)
    assert (info.client_request_id, info.user_id) == ("req-2", "u-2")
    assert [t.info.trace_id for t in store.search_traces(
        [experiment_id], filter_string="trace.user_id = 'u-1'")] == []
