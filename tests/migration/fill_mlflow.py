"""Run by the stock mlflow's python (its own virtual environment), never imported by the
tests: fill an MLflow tracking store the way an MLflow app does, for ``assay import
mlflow`` to copy.

    python fill_mlflow.py <tracking URI> <traces per experiment>

Two experiments of traces with nested spans (``@mlflow.trace``, ``start_span``, an error),
tags, metadata, a client request id, sessions and users; feedback from humans, judges and
code (on traces and on a span), expectations, an override, an update, a deletion, a
session-level feedback, and one trace whose spans are kept as a ``traces.json`` artifact
rather than in the database (as MLflow before 3.x kept them). Prints ``REPORT`` and a JSON
object: the experiments, and every trace as ``mlflow.get_trace`` reads it.
"""

import contextlib
import json
import os
import sqlite3
import sys
from typing import Any

# Each trace is written before the next line runs (its feedback needs it stored).
os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"

import mlflow
from mlflow.entities import AssessmentSource, AssessmentSourceType
from mlflow.tracing.client import TracingClient
from mlflow.tracking import MlflowClient


@mlflow.trace(span_type="RETRIEVER")  # type: ignore[untyped-decorator]
def retrieve(question: str) -> list[dict[str, Any]]:
    return [{"page_content": f"doc for {question}", "metadata": {"doc_uri": "doc-1"}}]


@mlflow.trace(span_type="LLM")  # type: ignore[untyped-decorator]
def generate(question: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant",
                                     "content": f"About {question} ({len(docs)} docs)"}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5}}


@mlflow.trace(span_type="TOOL")  # type: ignore[untyped-decorator]
def failing_tool(number: int) -> None:
    raise ValueError(f"tool {number} failed")


@mlflow.trace(name="chat", span_type="CHAIN")  # type: ignore[untyped-decorator]
def chat(question: str, user: str, session: str, number: int) -> str:
    mlflow.update_current_trace(
        client_request_id=f"req-{number}",
        metadata={"mlflow.trace.user": user, "mlflow.trace.session": session,
                  "app_version": "1.2.0"},
        tags={"env": "test", "number": str(number)})
    docs = retrieve(question)
    with mlflow.start_span(name="postprocess", span_type="PARSER") as span:
        span.set_inputs({"n": number, "unicode": "héllo ✓"})
        span.set_attribute("chars", len(question))
        span.set_attribute("ratio", 0.5)
        span.set_attribute("flags", [1, 2, 3])
        span.add_event(mlflow.entities.SpanEvent("checked", attributes={"ok": True}))
        span.set_outputs({"ok": True})
    if number % 5 == 4:
        with contextlib.suppress(ValueError):
            failing_tool(number)
    content: str = generate(question, docs)["choices"][0]["message"]["content"]
    return content


def assessments_for(trace_id: str, span_ids: dict[str, str],
                    number: int) -> None:
    human = AssessmentSource(AssessmentSourceType.HUMAN, f"reviewer-{number % 3}")
    judge = AssessmentSource(AssessmentSourceType.LLM_JUDGE, "openai:/gpt-4o-mini")
    code = AssessmentSource(AssessmentSourceType.CODE, "length_check")
    first = mlflow.log_feedback(trace_id=trace_id, name="correct", value=number % 2 == 0,
                                source=judge, rationale="the judge read it",
                                metadata={"model": "gpt-4o-mini"})
    mlflow.log_feedback(trace_id=trace_id, name="rating", value=number % 5 + 1, source=human)
    mlflow.log_feedback(trace_id=trace_id, name="length", value=len(str(number)) * 0.25,
                        source=code, span_id=span_ids["generate"])
    mlflow.log_expectation(trace_id=trace_id, name="expected_answer",
                           value={"answer": f"answer {number}", "facts": ["a", "b"]},
                           source=human)
    if number % 3 == 0:
        # A human overrides the judge (the judge's feedback stays, invalid).
        mlflow.override_feedback(trace_id=trace_id, assessment_id=first.assessment_id,
                                 value=number % 2 != 0, rationale="the judge was wrong",
                                 source=human)
    if number % 4 == 1:
        note = mlflow.log_feedback(trace_id=trace_id, name="tone", value="friendly",
                                   source=human)
        mlflow.update_assessment(
            trace_id=trace_id, assessment_id=note.assessment_id,
            assessment=mlflow.entities.Feedback(name="tone", value="curt", source=human))
    if number % 4 == 2:
        gone = mlflow.log_feedback(trace_id=trace_id, name="mistake", value=0, source=human)
        mlflow.delete_assessment(trace_id=trace_id, assessment_id=gone.assessment_id)
    if number % 7 == 3:
        mlflow.log_feedback(
            trace_id=trace_id, name="judge_error", source=judge,
            error=mlflow.entities.AssessmentError(error_code="RATE_LIMIT",
                                                  error_message="too many requests"))


def move_spans_to_artifact(database: str, trace_id: str) -> None:
    """Keep one trace's spans as a traces.json artifact, as MLflow 2.x did: written by
    MLflow's own artifact code, then its rows and its spans-location tag removed."""
    trace = mlflow.get_trace(trace_id)
    TracingClient()._upload_trace_data(trace.info, trace.data)
    with sqlite3.connect(database) as conn:
        conn.execute("DELETE FROM spans WHERE trace_id = ?", (trace_id,))
        conn.execute("DELETE FROM trace_tags WHERE request_id = ? AND key = ?",
                     (trace_id, "mlflow.trace.spansLocation"))


def trace_report(trace: Any) -> dict[str, Any]:
    info = trace.info
    return {
        "trace_id": info.trace_id,
        "experiment_id": info.experiment_id,
        "request_time": info.request_time,
        "execution_duration": info.execution_duration,
        "state": str(info.state),
        "client_request_id": info.client_request_id,
        "request_preview": info.request_preview,
        "response_preview": info.response_preview,
        "metadata": dict(info.trace_metadata),
        "tags": dict(info.tags),
        "spans": [json.loads(json.dumps(span.to_dict(), default=str))
                  for span in trace.data.spans],
        "assessments": [a.to_dictionary() for a in info.assessments],
    }


def main(uri: str, per_experiment: int) -> None:
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    report: dict[str, Any] = {"experiments": [], "traces": []}
    number = 0
    for name in ("support-bot", "search/agent"):
        experiment = mlflow.set_experiment(name)
        client.set_experiment_tag(experiment.experiment_id, "team", "ml")
        report["experiments"].append({"experiment_id": experiment.experiment_id,
                                      "name": name, "tags": {"team": "ml"}})
        for _ in range(per_experiment):
            chat(f"question {number}?", f"u-{number % 4}", f"s-{number // 3}", number)
            trace_id = mlflow.get_last_active_trace_id()
            trace = mlflow.get_trace(trace_id)
            span_ids = {span.name: span.span_id for span in trace.data.spans}
            assessments_for(trace_id, span_ids, number)
            if number % 6 == 5:
                client.set_trace_tag(trace_id, "reviewed", "yes")
                client.delete_trace_tag(trace_id, "number")
            number += 1
    # A session-level feedback (on the first trace of session s-0).
    first = mlflow.search_traces(locations=[report["experiments"][0]["experiment_id"]],
                                 order_by=["timestamp_ms ASC"], max_results=1,
                                 return_type="list")[0]
    mlflow.log_feedback(trace_id=first.info.trace_id, name="session_quality", value="good",
                        metadata={"mlflow.trace.session": "s-0"},
                        source=AssessmentSource(AssessmentSourceType.HUMAN, "lead"))
    database = uri.removeprefix("sqlite:///")
    artifact_trace = None
    if uri.startswith("sqlite:///") and os.path.exists(database):
        last = mlflow.search_traces(locations=[report["experiments"][1]["experiment_id"]],
                                    max_results=1, return_type="list")
        if last:
            artifact_trace = last[0].info.trace_id
            move_spans_to_artifact(database, artifact_trace)
    report["artifact_trace_id"] = artifact_trace
    for experiment in report["experiments"]:
        for trace in mlflow.search_traces(locations=[experiment["experiment_id"]],
                                          max_results=100_000, return_type="list",
                                          include_spans=True):
            report["traces"].append(trace_report(trace))
    print("REPORT " + json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
