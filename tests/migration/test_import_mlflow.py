"""``assay import mlflow`` on a store the real mlflow filled: every trace compared field by
field with what mlflow itself reads back (header, tags, metadata, spans, assessments with
their sources, overrides and valid flags), on SQLite and PostgreSQL; twice copies nothing
twice; an interrupted import goes on; the same from an MLflow server over HTTP; and
``assay export``'s files read back into a fresh store."""

from __future__ import annotations

import base64
import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from assay.cli import main
from assay.entities import Trace
from assay.entities.assessment import Assessment
from assay.migration.convert import DROPPED_TAGS
from assay.migration.importer import ImportSummary, import_mlflow
from assay.migration.sources import open_source
from assay.store.base import Store
from assay.store.sql import SqlStore
from migration.conftest import PER_EXPERIMENT, FilledStore
from server.live import in_process, live

pytestmark = [pytest.mark.mlflow_client, pytest.mark.timeout(900)]


def _import(filled: FilledStore, store: Store, **kwargs: Any) -> ImportSummary:
    source = open_source(filled.uri)
    try:
        return import_mlflow(source, store, progress=False, **kwargs)
    finally:
        source.close()


def _span_form(d: dict[str, Any]) -> dict[str, Any]:
    """A span dict (MLflow's ``Span.to_dict``, or Assay's, which has the same form) with its
    attribute values decoded, so the two compare by value rather than by JSON spelling."""
    attributes = {k: json.loads(v) if isinstance(v, str) else v
                  for k, v in (d.get("attributes") or {}).items()}
    return {
        "trace_id": base64.b64decode(d["trace_id"]).hex(),
        "span_id": base64.b64decode(d["span_id"]).hex(),
        "parent_span_id": (base64.b64decode(d["parent_span_id"]).hex()
                           if d.get("parent_span_id") else None),
        "name": d["name"],
        "start": int(d["start_time_unix_nano"]),
        "end": None if d.get("end_time_unix_nano") is None else int(d["end_time_unix_nano"]),
        "status": ((d.get("status") or {}).get("code"),
                   (d.get("status") or {}).get("message") or ""),
        "attributes": attributes,
        "events": [(e["name"], int(e["time_unix_nano"]), e.get("attributes") or {})
                   for e in d.get("events") or ()],
    }


def _assessment_form(a: Assessment) -> dict[str, Any]:
    return {"id": a.assessment_id, "name": a.name, "kind": a.kind, "value": a.value,
            "error": None if a.error is None else a.error.to_dictionary(),
            "source": (a.source.source_type.value, a.source.source_id),
            "trace_id": a.trace_id, "span_id": a.span_id, "rationale": a.rationale,
            "metadata": a.metadata, "overrides": a.overrides, "valid": a.valid,
            "create_time_ms": a.create_time_ms,
            "last_update_time_ms": a.last_update_time_ms}


def assert_same_as_mlflow(store: Store, filled: FilledStore) -> None:
    """Every trace mlflow reported is in ``store``, field by field, in the experiment of
    the same name."""
    names = {e["experiment_id"]: e["name"] for e in filled.report["experiments"]}
    assert len(filled.report["traces"]) == 2 * PER_EXPERIMENT
    for expected in filled.report["traces"]:
        trace_id = expected["trace_id"]
        stored = store.get_trace(trace_id)
        info = stored.info
        where = f"trace {trace_id}"
        assert store.get_experiment(info.experiment_id).name == \
            names[expected["experiment_id"]], where
        assert info.request_time == expected["request_time"], where
        assert info.execution_duration == expected["execution_duration"], where
        assert expected["state"].endswith(info.state.value), where
        assert info.client_request_id == expected["client_request_id"], where
        assert info.request_preview == expected["request_preview"], where
        assert info.response_preview == expected["response_preview"], where
        assert info.trace_metadata == expected["metadata"], where
        assert info.tags == {k: v for k, v in expected["tags"].items()
                             if k not in DROPPED_TAGS}, where
        # Spans: the same set, every field.
        assert len(stored.data.spans) == len(expected["spans"]) > 0, where
        got = {s.span_id: _span_form(s.to_dict()) for s in stored.data.spans}
        for span in expected["spans"]:
            form = _span_form(span)
            assert got[form["span_id"]] == form, f"{where}, span {form['name']}"
        # Assessments: the trace's own (a session-level one of another trace is read with
        # each trace of its session in Assay), with ids, sources, overrides, valid flags.
        own = [a for a in info.assessments if a.trace_id == trace_id]
        mlflow_side = [Assessment.from_dictionary(a) for a in expected["assessments"]]
        assert sorted((_assessment_form(a) for a in own), key=lambda f: f["id"]) == sorted(
            (_assessment_form(a) for a in mlflow_side), key=lambda f: f["id"]), where


def test_import_copies_every_trace_field_by_field(filled_mlflow: FilledStore,
                                                  sql_store: SqlStore) -> None:
    summary = _import(filled_mlflow, sql_store)
    report = filled_mlflow.report
    assert summary.failed == []
    assert summary.traces_copied == len(report["traces"]) == 2 * PER_EXPERIMENT
    assert summary.spans_copied == sum(len(t["spans"]) for t in report["traces"])
    assert summary.assessments_copied == sum(len(t["assessments"]) for t in report["traces"])
    assert summary.experiments_created == 2  # and the Default one, which Assay has
    assert_same_as_mlflow(sql_store, filled_mlflow)
    # The trace whose spans mlflow kept as a traces.json artifact came whole too.
    artifact_trace = report["artifact_trace_id"]
    assert artifact_trace and len(sql_store.get_trace(artifact_trace).data.spans) >= 4
    # Experiment tags came with the experiments; the override history is searchable.
    experiment = sql_store.find_experiment_by_name("support-bot")
    assert experiment is not None and experiment.tags.get("team") == "ml"
    overridden = sql_store.search_traces([experiment.experiment_id],
                                         filter_string="feedback.correct IS NOT NULL")
    assert len(overridden) == PER_EXPERIMENT


def test_import_twice_copies_nothing_twice(filled_mlflow: FilledStore,
                                           sql_store: SqlStore) -> None:
    first = _import(filled_mlflow, sql_store)
    before = {t["trace_id"]: sql_store.get_trace(t["trace_id"])
              for t in filled_mlflow.report["traces"]}
    second = _import(filled_mlflow, sql_store)
    assert (second.traces_copied, second.spans_copied, second.assessments_copied,
            second.experiments_created) == (0, 0, 0, 0)
    assert second.traces_skipped == first.traces_copied
    after = {trace_id: sql_store.get_trace(trace_id) for trace_id in before}
    assert {k: v.to_dict() for k, v in after.items()} == \
        {k: v.to_dict() for k, v in before.items()}
    assert_same_as_mlflow(sql_store, filled_mlflow)


def test_interrupted_import_goes_on_where_it_stopped(filled_mlflow: FilledStore,
                                                     sql_store: SqlStore) -> None:
    batches: list[int] = []
    first = _import(filled_mlflow, sql_store, limit=5, batch_size=2,
                    on_batch=lambda s: batches.append(s.traces_copied))
    assert first.stopped_at_limit and first.traces_copied == 5
    assert batches == [2, 4, 5]  # a transaction a batch: what was written stays
    second = _import(filled_mlflow, sql_store, batch_size=2)
    assert not second.stopped_at_limit
    assert second.traces_copied == 2 * PER_EXPERIMENT - 5
    assert second.traces_skipped == 5
    assert_same_as_mlflow(sql_store, filled_mlflow)


def test_only_named_experiments_and_since(filled_mlflow: FilledStore,
                                          sql_store: SqlStore) -> None:
    traces = [t for t in filled_mlflow.report["traces"]
              if t["experiment_id"] == filled_mlflow.report["experiments"][1]["experiment_id"]]
    middle = sorted(t["request_time"] for t in traces)[len(traces) // 2]
    summary = _import(filled_mlflow, sql_store, experiment_names=["search/agent"],
                      since_ms=middle)
    assert summary.traces_copied == sum(t["request_time"] >= middle for t in traces)
    assert sql_store.find_experiment_by_name("support-bot") is None


def test_import_from_an_mlflow_server_over_http(filled_mlflow: FilledStore,
                                                sql_store: SqlStore, tmp_path: Path) -> None:
    """The HTTP source, against a server that speaks MLflow's REST protocol (Assay's, over
    the store imported from the database): the second store ends up the same."""
    with closing(SqlStore(f"sqlite:///{tmp_path / 'first.db'}")) as first:
        _import(filled_mlflow, first)
        with live(first) as served:
            source = open_source(served.url)
            try:
                summary = import_mlflow(source, sql_store, progress=False, batch_size=5)
                again = import_mlflow(source, sql_store, progress=False)
            finally:
                source.close()
    assert summary.failed == [] and summary.traces_copied == 2 * PER_EXPERIMENT
    assert again.traces_copied == 0
    assert_same_as_mlflow(sql_store, filled_mlflow)


def test_cli_import_then_export_round_trip(filled_mlflow: FilledStore, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    target = f"sqlite:///{tmp_path / 'assay.db'}"
    assert main(["import", "mlflow", "--from", str(filled_mlflow.path),
                 "--tracking-uri", target]) == 0
    out = capsys.readouterr().out
    assert f"Traces:      {2 * PER_EXPERIMENT} copied, 0 already in Assay, 0 failed" in out
    assert main(["import", "mlflow", "--from", filled_mlflow.uri,
                 "--tracking-uri", target]) == 0
    assert f"0 copied, {2 * PER_EXPERIMENT} already in Assay" in capsys.readouterr().out
    folder = tmp_path / "out"
    assert main(["export", "--experiment", "support-bot", "--out", str(folder),
                 "--tracking-uri", target]) == 0
    assert f"Exported {PER_EXPERIMENT} traces" in capsys.readouterr().out
    with closing(SqlStore(target)) as store:
        experiment = store.find_experiment_by_name("support-bot")
        assert experiment is not None
        originals = {t.info.trace_id: t for t in store.search_traces(
            [experiment.experiment_id], max_results=100)}
    # JSON lines: each trace as Trace.to_dict, each assessment on its own line.
    lines = (folder / "traces.jsonl").read_text().splitlines()
    read_back = [Trace.from_dict(json.loads(line)) for line in lines]
    assert {t.info.trace_id: t.to_dict() for t in read_back} == \
        {k: v.to_dict() for k, v in originals.items()}
    assessments = [json.loads(line) for line in
                   (folder / "assessments.jsonl").read_text().splitlines()]
    assert sorted(a["assessment_id"] for a in assessments) == sorted(
        a.assessment_id or "" for t in originals.values() for a in t.info.assessments
        if a.trace_id == t.info.trace_id)
    # OTLP JSON: posted to a fresh Assay server, it stores the same traces in an
    # experiment of the same name.
    otlp_lines = (folder / "traces.otlp.jsonl").read_text().splitlines()
    assert otlp_lines and all(json.loads(line)["resourceSpans"] for line in otlp_lines)
    with closing(SqlStore(f"sqlite:///{tmp_path / 'fresh.db'}")) as fresh, \
            in_process(fresh) as served:
        for line in otlp_lines:
            response = served.http.post("/v1/traces", content=line.encode(),
                                        headers={"Content-Type": "application/json"})
            assert response.status_code == 200, response.text
        moved = fresh.find_experiment_by_name("support-bot")
        assert moved is not None
        for trace_id, original in originals.items():
            copy = fresh.get_trace(trace_id)
            assert copy.info.experiment_id == moved.experiment_id
            expected = original.to_dict()
            got = copy.to_dict()
            for d in (expected, got):
                d["info"].pop("trace_location")
            assert got == expected, trace_id


@pytest.mark.parametrize(("argv", "message"), [
    (["import", "mlflow", "--from", "/no/such/file.db"], "no such file"),
    (["import", "mlflow", "--from", "file:///tmp/mlruns"], "file store"),
    (["import", "mlflow", "--from", "ftp://host/x"], "expected an MLflow tracking URI"),
    (["export", "--experiment", "nope", "--out", "OUT"], "not found"),
])
def test_bad_arguments_say_what_is_wrong(argv: list[str], message: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    target = ["--tracking-uri", f"sqlite:///{tmp_path / 'assay.db'}"]
    assert main(argv + target) == 2
    assert message in capsys.readouterr().err


def test_unknown_experiment_and_bad_since(filled_mlflow: FilledStore, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    target = ["--tracking-uri", f"sqlite:///{tmp_path / 'assay.db'}"]
    assert main(["import", "mlflow", "--from", filled_mlflow.uri, "--experiment", "nope",
                 *target]) == 2
    assert "MLflow has no experiment named 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["import", "mlflow", "--from", filled_mlflow.uri, "--since", "yesterday",
              *target])
    assert "--since" in capsys.readouterr().err
