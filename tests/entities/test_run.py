"""Runs have MLflow's shape, check their ids, names and states, and round trip as JSON."""

from __future__ import annotations

import json

import pytest

from assay.entities.run import (
    Run,
    RunData,
    RunInfo,
    RunKind,
    RunStatus,
    check_run_id,
    new_run_id,
)
from assay.errors import InvalidParameterError


def test_a_run_reads_as_mlflows_and_round_trips() -> None:
    run = Run(RunInfo(new_run_id(), "0", "quickstart_review", RunKind.LABELING,
                      start_time=5, user_id="ann"),
              RunData(metrics={"correctness/mean": 0.5}, params={"model": "m"},
                      tags={"team": "qa"}))
    assert run.info.run_uuid == run.info.run_id
    assert run.info.status is RunStatus.RUNNING and run.info.end_time is None
    assert Run.from_dict(json.loads(json.dumps(run.to_dict()))) == run


def test_run_ids_are_mlflows_form() -> None:
    run_id = new_run_id()
    assert check_run_id(run_id) == run_id and run_id != new_run_id()
    for bad in ("", "A" * 32, "0" * 31, "0" * 33, 7, None, "0" * 31 + "\x00"):
        with pytest.raises(InvalidParameterError, match="Invalid run_id"):
            check_run_id(bad)


def test_status_reads_in_any_case_and_a_bad_one_is_named() -> None:
    assert RunStatus.parse("finished") is RunStatus.FINISHED
    with pytest.raises(InvalidParameterError, match="Invalid status 'DONE'"):
        RunStatus.parse("DONE")


def test_a_run_needs_a_name() -> None:
    with pytest.raises(InvalidParameterError, match="Invalid run_name"):
        RunInfo(new_run_id(), "0", "", RunKind.EVALUATION)
