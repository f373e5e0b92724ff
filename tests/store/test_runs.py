"""Runs in every store (SQLite, PostgreSQL, REST): created, updated, linked to traces — what
an evaluation records."""

from __future__ import annotations

import math
from typing import Any

import pytest

from assay.entities.run import RunData, RunInfo, RunKind, RunStatus, new_run_id
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.store.base import Store
from factories import make_trace


def _info(**changes: Any) -> RunInfo:
    fields: dict[str, Any] = {"run_id": new_run_id(), "experiment_id": "0",
                              "run_name": "nightly", "kind": RunKind.EVALUATION}
    return RunInfo(**(fields | changes))


def test_a_run_is_created_updated_and_read_back(store: Store) -> None:
    info = _info()
    created = store.create_run(info, RunData(params={"model": "m1"}, tags={"team": "a"}))
    assert created.info.status is RunStatus.RUNNING and created.info.start_time > 0
    assert store.create_run(info) == created  # the same run again: a retry, harmless
    updated = store.update_run(info.run_id, status=RunStatus.FINISHED, end_time=123_456,
                               metrics={"correctness/mean": 0.5, "n": 3},
                               tags={"team": "b", "extra": "x"})
    assert updated.info.status is RunStatus.FINISHED and updated.info.end_time == 123_456
    assert updated.data.metrics == {"correctness/mean": 0.5, "n": 3.0}
    assert updated.data.params == {"model": "m1"}
    assert updated.data.tags == {"team": "b", "extra": "x"}
    again = store.update_run(info.run_id, metrics={"n": 4})
    assert again.data.metrics == {"correctness/mean": 0.5, "n": 4.0}
    assert store.get_run(info.run_id) == again


def test_traces_are_linked_once_and_only_from_the_runs_experiment(store: Store) -> None:
    info = _info()
    store.create_run(info)
    other = store.create_experiment("elsewhere")
    mine, theirs = make_trace(), make_trace(experiment_id=other)
    store.log_traces([mine, theirs])
    assert store.link_run_traces(info.run_id, [mine.info.trace_id]) == [mine.info.trace_id]
    assert store.link_run_traces(info.run_id, [mine.info.trace_id]) == []
    with pytest.raises(InvalidParameterError, match="is in experiment"):
        store.link_run_traces(info.run_id, [theirs.info.trace_id])
    found = store.search_traces(["0", other], run_id=info.run_id)
    assert [t.info.trace_id for t in found] == [mine.info.trace_id]


@pytest.mark.parametrize(("change", "message"), [
    ({"status": "DONE"}, "Invalid status 'DONE'"),
    ({"end_time": -1}, "Invalid end_time -1"),
    ({"metrics": {"x": math.inf}}, r"Invalid metrics\['x'\] inf: expected a finite number"),
    ({"metrics": {"x": "high"}}, r"Invalid metrics\['x'\] 'high'"),
    ({"params": {"x": 1}}, r"Invalid params\['x'\]: expected a str"),
])
def test_bad_updates_name_the_field_and_change_nothing(store: Store, change: dict[str, Any],
                                                       message: str) -> None:
    info = _info()
    before = store.create_run(info)
    with pytest.raises(InvalidParameterError, match=message):
        store.update_run(info.run_id, **change)
    assert store.get_run(info.run_id) == before


def test_unknown_runs_and_clashing_ids(store: Store) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        store.update_run(new_run_id(), status=RunStatus.FINISHED)
    with pytest.raises(NotFoundError, match="not found"):
        store.link_run_traces(new_run_id(), [make_trace().info.trace_id])
    info = _info()
    store.create_run(info)
    with pytest.raises(AlreadyExistsError, match="already exists"):
        store.create_run(_info(run_id=info.run_id, run_name="another"))
    with pytest.raises(NotFoundError):
        store.create_run(_info(experiment_id="12345"))
