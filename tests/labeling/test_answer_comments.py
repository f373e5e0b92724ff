"""A comment per answer: ``submit_labeling_answers(..., comments={name: text})`` gives each
answer its own rationale, ``comment`` stays one for every answer, on SQLite, PostgreSQL and
an Assay server over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from assay.errors import InvalidParameterError
from assay.store.base import Store
from labeling.test_store import ACCURACY, EXPECTED, logged_traces, new_session


def _rationales(store: Store, trace_id: str, run_id: str) -> dict[str, str | None]:
    found = store.get_trace(trace_id, include_spans=False).info.assessments
    return {a.name: a.rationale for a in found if a.run_id == run_id and a.valid}


def test_each_answer_gets_its_own_comment(store: Store) -> None:
    info = new_session(store)
    trace_id = logged_traces(store, 1)[0].info.trace_id
    store.add_labeling_items(info.run_id, [trace_id])
    written = store.submit_labeling_answers(
        info.run_id, trace_id, "ana", {ACCURACY: "Inaccurate", EXPECTED: "Paris."},
        comments={ACCURACY: "It names Lyon"})
    assert [a.rationale for a in written] == ["It names Lyon", None]
    assert _rationales(store, trace_id, info.run_id) == {ACCURACY: "It names Lyon",
                                                         EXPECTED: None}
    # One comment for every answer, as before; an answer's own comment wins over it, and an
    # empty one is none.
    store.submit_labeling_answers(info.run_id, trace_id, "ana",
                                  {ACCURACY: "Accurate", EXPECTED: "Paris, France."},
                                  "second look", comments={EXPECTED: ""})
    assert _rationales(store, trace_id, info.run_id) == {ACCURACY: "second look",
                                                         EXPECTED: None}


@pytest.mark.parametrize(("comments", "message"), [
    ({"tone": "x"}, "Invalid comments: 'tone' is not one of the questions answered"),
    ({EXPECTED: "x"}, f"Invalid comments: {EXPECTED!r} is not one of the questions"),
    ({ACCURACY: 3}, f"Invalid comments[{ACCURACY!r}]: expected a str, got int"),
    (["why"], "Invalid comments: expected a dict"),
    ({ACCURACY: "z" * 10_001}, "the limit is 10,000"),
])
def test_a_bad_comment_is_refused_and_nothing_is_written(store: Store, comments: Any,
                                                         message: str) -> None:
    info = new_session(store)
    trace_id = logged_traces(store, 1)[0].info.trace_id
    store.add_labeling_items(info.run_id, [trace_id])
    with pytest.raises(InvalidParameterError, match=message.replace("[", r"\[")):
        store.submit_labeling_answers(info.run_id, trace_id, "ana", {ACCURACY: "Accurate"},
                                      comments=comments)
    assert _rationales(store, trace_id, info.run_id) == {}
    assert store.get_labeling_progress(info.run_id).completed_reviews == 0
