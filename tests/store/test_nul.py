"""NUL characters through the SDK's store, on SQLite, PostgreSQL and an Assay server: ids,
names and keys holding one are refused with an InvalidParameterError naming the field, free
text has each NUL replaced by U+FFFD, and JSON keeps it as an escape. PostgreSQL cannot store
a NUL in text where SQLite can; before, the one failed with a database error and the other
stored it. Users and keys, which only SQL stores hold, on the two databases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from assay.entities import SpanEvent, SpanStatus, SpanStatusCode
from assay.errors import InvalidParameterError
from assay.store.base import Store
from assay.store.sql import SqlStore
from assay.store.sql.schema import experiments, traces
from conftest import Backend
from factories import make_span, make_trace, new_trace_id

NUL = "a\x00b"


def _count(db: sa.Engine, table: sa.Table) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _stored_trace(store: Store) -> str:
    trace = make_trace()
    store.log_traces([trace])
    return trace.info.trace_id


# (call, a word the message names)
REFUSED: list[tuple[str, Callable[[Store, str], Any], str]] = [
    ("create_experiment name", lambda s, t: s.create_experiment(NUL), "experiment name"),
    ("create_experiment tag key", lambda s, t: s.create_experiment("x", {NUL: "v"}),
     "experiment tag key"),
    ("find_experiment_by_name", lambda s, t: s.find_experiment_by_name(NUL),
     "experiment name"),
    ("get_experiment", lambda s, t: s.get_experiment(NUL), "experiment_id"),
    ("get_trace", lambda s, t: s.get_trace(NUL), "trace_id"),
    ("get_trace_info", lambda s, t: s.get_trace_info("tr-\x00"), "trace_id"),
    ("find_traces", lambda s, t: s.find_traces([t, NUL]), "trace_id"),
    ("set_trace_tag key", lambda s, t: s.set_trace_tag(t, NUL, "v"), "tag key"),
    ("set_trace_tag trace id", lambda s, t: s.set_trace_tag(NUL, "k", "v"), "trace_id"),
    ("delete_trace_tag key", lambda s, t: s.delete_trace_tag(t, NUL), "tag key"),
    ("delete_traces ids", lambda s, t: s.delete_traces("0", trace_ids=[NUL]), "trace_id"),
    ("find_session_trace_id", lambda s, t: s.find_session_trace_id(NUL), "session_id"),
    ("search_traces page_token", lambda s, t: s.search_traces(["0"], page_token=NUL),
     "page_token"),
    ("search_traces run_id", lambda s, t: s.search_traces(["0"], run_id=NUL), "run_id"),
    ("search_sessions run_id", lambda s, t: s.search_sessions(["0"], run_id=NUL), "run_id"),
    ("search_sessions model_id", lambda s, t: s.search_sessions(["0"], model_id=NUL),
     "model_id"),
    ("list_span_outlines", lambda s, t: s.list_span_outlines(NUL), "trace_id"),
    ("log_traces trace id", lambda s, t: s.log_traces([make_trace(trace_id="tr-\x00")]),
     "trace_id"),
    ("log_traces tag key", lambda s, t: s.log_traces([make_trace(tags={NUL: "v"})]),
     "tag key"),
    ("log_traces metadata key", lambda s, t: s.log_traces([make_trace(metadata={NUL: "v"})]),
     "metadata key"),
    ("log_traces client_request_id",
     lambda s, t: s.log_traces([make_trace(client_request_id=NUL)]), "client_request_id"),
]


@pytest.mark.parametrize("call,word", [case[1:] for case in REFUSED],
                         ids=[case[0] for case in REFUSED])
def test_ids_names_and_keys_with_a_nul_are_refused_naming_the_field(
        store: Store, backend: Backend, call: Callable[[Store, str], Any], word: str) -> None:
    trace_id = _stored_trace(store)
    with pytest.raises(InvalidParameterError) as info:
        call(store, trace_id)
    message = str(info.value)
    # Over HTTP, a NUL in a URL is refused before any route: the message names the path
    # segment or query parameter instead of the field.
    assert (word in message or (backend.kind == "rest" and "NUL" in message)), message


def test_a_batch_with_a_nul_in_a_key_is_refused_naming_it(store: Store,
                                                          backend: Backend) -> None:
    good = make_trace()
    bad = make_trace(tags={NUL: "v"})
    with pytest.raises(InvalidParameterError, match="tag key") as info:
        store.log_traces([good, bad])
    assert bad.info.trace_id in str(info.value)
    engine = sa.create_engine(backend.database_uri)
    try:
        # A SQL store writes nothing of a refused batch; a server stores the good traces and
        # names the spans it rejected (OTLP's partial success).
        assert _count(engine, traces) == (1 if backend.kind == "rest" else 0)
        assert _count(engine, experiments) == 1  # the default experiment alone
    finally:
        engine.dispose()
    assert set(store.find_traces([good.info.trace_id, bad.info.trace_id])) == (
        {good.info.trace_id} if backend.kind == "rest" else set())


def test_free_text_keeps_its_nul_as_a_replacement_character(store: Store) -> None:
    trace_id = new_trace_id()
    root = make_span(trace_id, name="ro\x00ot", span_type="CH\x00AIN",
                     status=SpanStatus(SpanStatusCode.ERROR, "went\x00 wrong"),
                     inputs_json='"in\x00"', outputs={"answer": "out\x00"},
                     attributes={"k\x00": "v\x00"},
                     events=[SpanEvent("ev\x00", 1, {"e": "\x00"})])
    trace = make_trace(trace_id=trace_id, spans=[root], tags={"tag": "v\x00al"},
                       metadata={"mlflow.trace.session": "s\x00", "note": "n\x00"},
                       request_preview="q\x00", response_preview="r\x00")
    store.log_traces([trace])
    got = store.get_trace(trace_id)
    span = got.data.spans[0]
    assert (span.name, span.span_type, span.status.description) == (
        "ro\ufffdot", "CH\ufffdAIN", "went\ufffd wrong")
    assert span.inputs_json == '"in\ufffd"'  # raw text holding a NUL: no JSON has one
    assert span.outputs == {"answer": "out\x00"}  # JSON: an escape, kept exactly
    assert span.attributes == {"k\x00": "v\x00"}
    assert span.events[0].name == "ev\x00" and span.events[0].attributes == {"e": "\x00"}
    assert got.info.tags["tag"] == "v\ufffdal"
    assert got.info.trace_metadata["mlflow.trace.session"] == "s\ufffd"
    assert got.info.trace_metadata["note"] == "n\ufffd"
    assert (got.info.request_preview, got.info.response_preview) == ("q\ufffd", "r\ufffd")
    store.set_trace_tag(trace_id, "later", "x\x00y")
    assert store.get_trace_info(trace_id).tags["later"] == "x\ufffdy"
    # Experiment tag values are JSON: kept exactly.
    experiment_id = store.create_experiment("nul-tags", {"k": "v\x00"})
    assert store.get_experiment(experiment_id).tags == {"k": "v\x00"}


def test_feedback_summary_names_with_a_nul_are_refused(store: Store) -> None:
    with pytest.raises(InvalidParameterError, match=r"names\[\]"):
        store.get_feedback_summary(["0"], names=[NUL])


def test_users_and_keys_with_a_nul(sql_store: SqlStore) -> None:
    sql_store.create_user("bob", "viewer", password="a long password")
    # Nobody can be called that: not found, as at a login form.
    assert sql_store.find_user_by_name(NUL) is None
    assert sql_store.authenticate_password("bob\x00", "a long password") is None
    with pytest.raises(InvalidParameterError, match="key name"):
        sql_store.create_api_key("bob", NUL)
    for call in (lambda: sql_store.set_user_role(NUL, "admin"),
                 lambda: sql_store.create_api_key(NUL, "k"),
                 lambda: sql_store.list_api_keys(NUL)):
        with pytest.raises(InvalidParameterError, match="username"):
            call()
