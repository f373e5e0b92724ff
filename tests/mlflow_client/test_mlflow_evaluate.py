"""``mlflow.genai.evaluate`` from the stock mlflow client against a live ``assay server``:
the run, its metrics, the rows' traces linked to it and every score a Feedback on its trace,
as Assay stores them; the built-in ``Correctness`` judge asks the tests' judge server."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.entities.assessment import AssessmentSourceType
from assay.entities.run import RunKind, RunStatus
from genai.judge_server import JudgeServer
from mlflow_client.mlflow_venv import mlflow_env
from server.live import Served

pytestmark = [pytest.mark.mlflow_client, pytest.mark.live_server, pytest.mark.timeout(900)]

SCRIPT = Path(__file__).with_name("evaluate_client.py")


@pytest.fixture
def judge_server() -> Iterator[JudgeServer]:
    server = JudgeServer()
    server.start()
    yield server
    server.stop()


def _evaluate(python: Path, url: str, judge_url: str,
              *more: str) -> tuple[dict[str, Any], str]:
    with tempfile.TemporaryDirectory(prefix="mlflow-client-") as folder:
        done = subprocess.run([str(python), str(SCRIPT), url, judge_url, *more],
                              capture_output=True, text=True, env=mlflow_env(), timeout=240,
                              cwd=folder)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and lines, f"{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    return json.loads(lines[-1].removeprefix("REPORT ")), done.stderr


def test_mlflow_genai_evaluate_records_a_run_its_traces_and_their_scores_in_assay(
        mlflow_python: Path, served: Served, judge_server: JudgeServer) -> None:
    report, log = _evaluate(mlflow_python, served.url, judge_server.base_url)
    # Nothing the client logged went wrong (a failed upload or call is logged, not raised).
    assert "rror" not in log and "Failed" not in log and "WARNING" not in log, log
    store = served.store

    # The run: an evaluation's, finished, with the aggregate of each scorer.
    run = store.get_run(report["run_id"])
    assert run.info.experiment_id == report["experiment_id"]
    assert (run.info.kind, run.info.status) == (RunKind.EVALUATION, RunStatus.FINISHED)
    assert run.info.end_time is not None
    expected_metrics = {"exact_match/mean": pytest.approx(2 / 3),
                        "correctness/mean": pytest.approx(2 / 3)}
    assert run.data.metrics == expected_metrics
    assert report["metrics"] == report["run_metrics"] == expected_metrics
    assert run.data.tags["mlflow.runType"] == "genai_evaluate"

    # One trace per row, linked to the run, with its expectation and a Feedback per scorer.
    traces = store.search_traces([report["experiment_id"]], run_id=report["run_id"])
    assert sorted(t.info.trace_id for t in traces) == sorted(report["traces"])
    by_question = {root.inputs["question"]: t for t in traces
                   for root in t.data.spans if root.parent_id is None}
    assert sorted(by_question) == ["UNSAFE pears", "apples", "plums"]
    verdicts = {"apples": (True, "yes"), "UNSAFE pears": (False, "no"),
                "plums": (True, "yes")}
    for question, trace in by_question.items():
        exact, correct = verdicts[question]
        found = {a.name: a for a in trace.info.assessments}
        assert sorted(found) == ["correctness", "exact_match", "expected_response"]
        code, judged = found["exact_match"], found["correctness"]
        assert code.kind == judged.kind == "feedback"
        assert found["expected_response"].kind == "expectation"
        assert (code.value, code.source.source_type, code.source.source_id) == (
            exact, AssessmentSourceType.CODE, "exact_match")
        assert (judged.value, judged.source.source_type, judged.source.source_id) == (
            correct, AssessmentSourceType.LLM_JUDGE, "openai:/judge")
        assert judged.rationale == ("the prompt says UNSAFE" if correct == "no"
                                    else "nothing wrong found")
        # Each score names the run that produced it.
        assert code.metadata["mlflow.assessment.sourceRunId"] == report["run_id"]
        # What mlflow read back is what Assay stored.
        seen = report["traces"][trace.info.trace_id]
        assert seen["question"] == question
        assert [(a["name"], a["kind"], a["value"], a["source_type"], a["source_id"],
                 a["rationale"]) for a in seen["assessments"]] == [
            (a.name, a.kind, a.value, a.source.source_type.value, a.source.source_id,
             a.rationale) for a in sorted(trace.info.assessments, key=lambda a: a.name)]

    # The judge was asked once per row, each time about that row's answer.
    prompts = judge_server.prompts()
    assert len(prompts) == 3
    assert sorted(q for q in verdicts if any(f"traces of {q}" in p for p in prompts)) == sorted(
        verdicts)


def test_mlflow_genai_evaluate_scores_logged_traces_and_a_dataset(
        mlflow_python: Path, served: Served, judge_server: JudgeServer) -> None:
    report, log = _evaluate(mlflow_python, served.url, judge_server.base_url, "more")
    assert "rror" not in log and "Failed" not in log and "WARNING" not in log, log
    store = served.store

    # Without predict_fn, the app's own traces are scored: no new trace, each one linked to
    # the run and given its Feedback.
    on_traces = report["on_traces"]
    assert on_traces["metrics"] == {"brief/mean": 0.5}
    assert store.get_run(on_traces["run_id"]).data.metrics == {"brief/mean": 0.5}
    every = store.search_traces([on_traces["experiment_id"]])
    linked = store.search_traces([on_traces["experiment_id"]], run_id=on_traces["run_id"])
    assert sorted(t.info.trace_id for t in every) == on_traces["trace_ids"]
    assert sorted(t.info.trace_id for t in linked) == on_traces["trace_ids"]
    assert sorted(a.value for t in linked for a in t.info.assessments
                  if a.name == "brief" and a.kind == "feedback") == [False, True]

    # An evaluation dataset the server keeps, as the data.
    on_dataset = report["on_dataset"]
    assert on_dataset["metrics"] == {"exact_match/mean": 1.0}
    [trace] = store.search_traces([report["experiment_id"]], run_id=on_dataset["run_id"])
    assert {(a.name, a.value) for a in trace.info.assessments} == {
        ("exact_match", True), ("expected_response", "Assay keeps traces of apples")}
