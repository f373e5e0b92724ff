"""The unmodified mlflow client (3.17, in its own virtual environment) against a live
``assay server``: an MLflow app changes its tracking URI and keeps working, and what it
logged is what Assay's own SDK reads, field by field, and the other way round."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import assay
from assay.entities import Trace
from assay.entities.assessment import Assessment
from assay.entities.trace import metadata_keys
from assay.entities.user import Role
from assay.server import ServerSettings
from assay.store.sql import SqlStore
from mlflow_client.conftest import run_script, run_stock_client
from mlflow_client.mlflow_venv import mlflow_env
from runtimes import default_runtime
from server.live import Served, live
from snippets import readme_snippet

if TYPE_CHECKING:
    from compatible_server import CompatibleServer

# The first test of a checkout also builds the mlflow venv (about a minute and a half).
pytestmark = [pytest.mark.mlflow_client, pytest.mark.live_server, pytest.mark.timeout(900)]


def _assessment(a: Assessment) -> dict[str, Any]:
    return {"name": a.name, "value": a.value,
            "valid": a.valid if a.kind == "feedback" else None,
            "source_type": a.source.source_type.value, "source_id": a.source.source_id,
            "rationale": a.rationale, "overrides": a.overrides,
            "assessment_id": a.assessment_id}


def _summary(trace: Trace) -> dict[str, Any]:
    """A trace as Assay reads it, in the shape the script reports what mlflow read."""
    info = trace.info
    return {
        "trace_id": info.trace_id,
        "client_request_id": info.client_request_id,
        "state": info.state.value,
        "request_time": info.request_time,
        "execution_duration": info.execution_duration,
        "metadata": {k: v for k, v in info.trace_metadata.items()
                     if k in ("mlflow.trace.user", "mlflow.trace.session", "app_version")},
        "tags": {k: v for k, v in info.tags.items() if not k.startswith("mlflow.")},
        "spans": sorted(
            [{"name": s.name, "span_type": s.span_type, "parent_id": s.parent_id,
              "span_id": s.span_id, "inputs": s.inputs, "outputs": s.outputs,
              "status": f"SpanStatusCode.{s.status.status_code.value}"}
             for s in trace.data.spans],
            key=lambda s: s["name"]),
        "assessments": sorted([_assessment(a) for a in info.assessments],
                              key=lambda a: (a["name"], a["valid"] is True)),
    }


def test_an_mlflow_app_logs_searches_and_assesses_through_assay(
        mlflow_python: Path, served: Served) -> None:
    run = run_stock_client(mlflow_python, served.url)
    report = run.report
    # The spans went by OTLP and the client was told they are stored: it never tried to
    # upload traces.json as an artifact (which would log a failure), nor failed otherwise.
    assert "Failed" not in run.log and "rror" not in run.log, run.log
    trace_ids = report["trace_ids"]
    first, second, third = trace_ids
    ids = report["assessment_ids"]

    # What mlflow read back is what Assay stored, field by field (tags as they were at the
    # end; the deleted trace as it was before it went).
    for trace_id, seen in report["traces"].items():
        if trace_id == third:
            continue
        stored = _summary(served.store.get_trace(trace_id))
        assert seen | {"tags": report["tags_after"][trace_id]} == stored, trace_id
    chat = report["traces"][first]
    assert chat["client_request_id"] == "req-0"
    assert chat["metadata"] == {"mlflow.trace.user": "u-1", "mlflow.trace.session": "s-1",
                                "app_version": "1.2.0"}
    assert chat["tags"] == {"env": "test"}
    spans = {s["name"]: s for s in chat["spans"]}
    assert set(spans) == {"chat", "retrieve", "answer_with_llm", "postprocess"}
    root = spans["chat"]["span_id"]
    assert spans["chat"]["parent_id"] is None
    assert {s["parent_id"] for n, s in spans.items() if n != "chat"} == {root}
    assert spans["answer_with_llm"]["span_type"] == "LLM"
    assert spans["postprocess"]["inputs"] == {"n": 0}
    assert spans["retrieve"]["outputs"][0]["metadata"] == {"doc_uri": "doc-1"}

    # Assessments: override keeps history, update in place, delete.
    by_id = {a["assessment_id"]: a for a in chat["assessments"]}
    assert by_id[ids["vote"]]["value"] is True
    assert by_id[ids["vote"]]["source_id"] == "u-1"
    assert by_id[ids["expected"]]["value"] == {"facts": ["Assay keeps traces"]}
    assert by_id[ids["judged"]]["valid"] is False
    assert by_id[ids["corrected"]] | {"value": 0.9} == by_id[ids["corrected"]]
    assert by_id[ids["corrected"]]["overrides"] == ids["judged"]
    assert report["corrected_overrides"] == ids["judged"]
    assert report["updated"] == {"value": True, "rationale": "changed my mind"}
    assert report["fetched"] is True
    assert ids["deleted"] not in {a["assessment_id"]
                                  for a in report["traces"][third]["assessments"]}

    # Searching: the DataFrame, the seeds' filters, the order, pages of two.
    frame = report["frame"]
    assert frame["rows"] == 3 and frame["trace_ids"] == [third, second, first]
    assert {"trace_id", "request", "response", "assessments", "spans"} <= set(frame["columns"])
    assert json.loads(frame["responses"][2]) == "About What is Assay?"
    assert report["filtered"] == {
        "user": sorted([first, third]), "session": sorted([first, second]),
        "tag": sorted(trace_ids), "status": sorted(trace_ids), "name": sorted(trace_ids),
        "feedback": sorted([first, second]), "client_request_id": [third],
        "seed_session": sorted([first, second]), "seed_user": sorted([first, third]),
        "seed_request": [third], "seed_since": sorted([second, third])}
    assert report["oldest_first"] == trace_ids
    assert report["pages"] == [[third, second], [first]]

    # Tags after the fact, and deleting a trace.
    assert report["tags_after"][second] == {"env": "test", "reviewed": "yes"}
    assert report["tags_after"][third] == {"env": "test"}
    assert report["deleted"] == 1
    assert report["left"] == sorted([first, second])

    # A run, as Assay keeps it (a metric's latest value).
    stored_run = served.store.get_run(report["run"]["run_id"])
    assert report["run"] == {
        "run_id": stored_run.info.run_id, "name": "eval-1", "status": "FINISHED", "ended": True,
        "metrics": {"accuracy": 0.75, "latency_ms": 120.0, "cost": 0.01},
        "params": {"model": "gpt-x", "temperature": "0.2"}, "tags": {"stage": "test"}}
    assert stored_run.info.run_name == "eval-1" and stored_run.info.end_time is not None
    assert stored_run.data.metrics == report["run"]["metrics"]

    # Assay's own SDK, through the server, reads the same traces.
    with default_runtime(served.url):
        read = assay.search_traces(locations=[report["experiment_id"]], return_type="list")
        assert sorted(t.info.trace_id for t in read) == sorted([first, second])
        for trace in read:
            assert _summary(trace) == _summary(served.store.get_trace(trace.info.trace_id))


def test_traces_logged_by_assay_are_read_by_the_mlflow_client(
        mlflow_python: Path, served: Served) -> None:
    with default_runtime(served.url):
        assay.set_experiment("logged-by-assay")

        @assay.trace(span_type="CHAIN")
        def answer(question: str) -> str:
            assay.update_current_trace(metadata={"mlflow.trace.user": "u-9"})
            return helper(question)

        @assay.trace(span_type="LLM")
        def helper(question: str) -> str:
            return question.upper()

        answer("hello")
        trace_id = assay.get_last_active_trace_id()
        assert trace_id is not None
        assay.flush_trace_async_logging()
        assay.log_feedback(trace_id=trace_id, name="user_feedback", value=False)
    run = run_stock_client(mlflow_python, served.url, "read", "logged-by-assay")
    assert run.report["traces"] == {trace_id: _summary(served.store.get_trace(trace_id))}


def test_the_tracking_token_or_password_is_an_api_key_on_a_server_with_auth(
        mlflow_python: Path, sql_store: SqlStore) -> None:
    sql_store.create_user("app", Role.MEMBER)
    key = sql_store.create_api_key("app", "mlflow app").token
    settings = ServerSettings(port=0, backend_store_uri=sql_store.uri, auth=True)
    with live(sql_store, settings) as served:
        refused = run_script(mlflow_python, served.url)
        assert refused.returncode != 0
        assert "UNAUTHENTICATED" in refused.stderr or "401" in refused.stderr
        run = run_stock_client(mlflow_python, served.url,
                               env={"MLFLOW_TRACKING_TOKEN": key})
        # Basic credentials: the user's name, and the key as the password.
        read = run_stock_client(mlflow_python, served.url, "read", "stock-mlflow-client",
                                env={"MLFLOW_TRACKING_USERNAME": "app",
                                     "MLFLOW_TRACKING_PASSWORD": key})
    assert sorted(read.report["traces"]) == run.report["left"]
    assert len(run.report["left"]) == 2
    vote = sql_store.get_assessment(run.report["trace_ids"][0],
                                    run.report["assessment_ids"]["vote"])
    assert vote.value is True


def test_the_readme_snippet_runs_as_written(mlflow_python: Path, served: Served,
                                            tmp_path: Path) -> None:
    code = readme_snippet("The stock mlflow client")
    done = subprocess.run([str(mlflow_python), "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=240,
                          env=mlflow_env() | {"MLFLOW_TRACKING_URI": served.url})
    assert done.returncode == 0, done.stderr
    experiment = served.store.find_experiment_by_name("my-app")
    assert experiment is not None
    [trace] = served.store.search_traces([experiment.experiment_id])
    assert trace.info.user_id == "u-1"
    assert [(a.name, a.value) for a in trace.info.assessments] == [("user_feedback", True)]


def _compatible_server() -> CompatibleServer:
    """The tests' OpenAI-compatible server (``tests/openai``, a folder named like the package
    it imitates, so loaded by its path)."""
    module = sys.modules.get("compatible_server")
    if module is None:
        path = Path(__file__).parents[1] / "openai" / "compatible_server.py"
        spec = importlib.util.spec_from_file_location("compatible_server", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # Registered before it runs: its dataclasses look their module up by name.
        sys.modules["compatible_server"] = module
        spec.loader.exec_module(module)
    server: CompatibleServer = module.CompatibleServer()
    return server


@pytest.fixture
def openai_server() -> Iterator[CompatibleServer]:
    server = _compatible_server()
    server.start()
    yield server
    server.stop()


def test_mlflow_openai_autolog_traces_into_assay(mlflow_python: Path, served: Served,
                                                 openai_server: CompatibleServer) -> None:
    run = run_stock_client(mlflow_python, served.url, "autolog", openai_server.base_url)
    assert run.report["reply"] == "You said: hello there"
    [request] = openai_server.requests
    assert request.path == "/v1/chat/completions"
    seen = run.report["trace"]
    stored = served.store.get_trace(seen["trace_id"])
    assert seen == _summary(stored)
    [span] = seen["spans"]
    assert span["span_type"] == "CHAT_MODEL"
    assert span["inputs"]["messages"] == [{"role": "user", "content": "hello there"}]
    assert span["outputs"]["choices"][0]["message"]["content"] == "You said: hello there"
    # Word counts, as the test server counts tokens.
    usage = json.loads(stored.info.trace_metadata[metadata_keys.TOKEN_USAGE])
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (2, 4, 6)
    assert run.report["token_usage"] == usage


def _normalized(report: dict[str, Any]) -> dict[str, Any]:
    """A report with its ids named by role (trace-0, assessment-vote, span-chat, run) and
    its times left out: what two runs of the same app can share."""
    names = {trace_id: f"trace-{i}" for i, trace_id in enumerate(report["trace_ids"])}
    names |= {assessment_id: f"assessment-{role}"
              for role, assessment_id in report["assessment_ids"].items()}
    names[report["run"]["run_id"]] = "run"
    for trace in report["traces"].values():
        names |= {span["span_id"]: f"span-{span['name']}" for span in trace["spans"]}
    text = json.dumps(report)
    for old, new in names.items():
        text = text.replace(old, new)
    normalized: dict[str, Any] = json.loads(text)
    normalized.pop("experiment_id")
    # Lists the script sorted by id, now that the ids are names.
    normalized["left"] = sorted(normalized["left"])
    normalized["filtered"] = {k: sorted(v) for k, v in normalized["filtered"].items()}
    for trace in normalized["traces"].values():
        del trace["request_time"], trace["execution_duration"]
        for assessment in trace["assessments"]:
            if assessment["name"] == "expected_response":
                # mlflow reads an expectation's validity from its own store, but never from
                # a server's answer (its Expectation.from_proto leaves it out): True on one
                # side, None on the other, whatever the server says.
                del assessment["valid"]
    return normalized


def test_the_same_app_answers_alike_on_mlflow_and_on_assay(
        mlflow_python: Path, served: Served, tmp_path: Path) -> None:
    on_mlflow = _normalized(run_stock_client(
        mlflow_python, f"sqlite:///{tmp_path / 'mlflow.db'}").report)
    on_assay = _normalized(run_stock_client(mlflow_python, served.url).report)
    # The seeds filter on tags.`mlflow.trace.session` and tags.`mlflow.trace.user`; MLflow
    # keeps those as metadata, so its own store finds nothing, where Assay (by design) reads
    # them as the trace's session and user.
    for key, expected in (("seed_session", ["trace-0", "trace-1"]),
                          ("seed_user", ["trace-0", "trace-2"])):
        assert on_mlflow["filtered"].pop(key) == []
        assert on_assay["filtered"].pop(key) == expected
    # Field by field, so that a difference names itself.
    traces_on_mlflow, traces_on_assay = on_mlflow.pop("traces"), on_assay.pop("traces")
    assert sorted(traces_on_assay) == sorted(traces_on_mlflow)
    for trace_id, seen in traces_on_mlflow.items():
        for field, value in seen.items():
            assert traces_on_assay[trace_id][field] == value, (trace_id, field)
    for key, value in on_mlflow.items():
        assert on_assay[key] == value, key
    assert sorted(on_assay) == sorted(on_mlflow)
