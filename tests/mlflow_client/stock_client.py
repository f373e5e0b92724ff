"""Run by the stock mlflow client's python (its own virtual environment), never imported by
the tests: an MLflow app as the seeds write it, against the server at ``argv[1]``.

It traces with ``@mlflow.trace``, logs, overrides, updates and deletes assessments, searches
in every way the client offers, and prints what it saw as one JSON object, which the test
compares with what Assay stored.
"""

import json
import sys
import time
from typing import Any

import mlflow
from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback
from mlflow.tracking import MlflowClient

QUESTIONS = [("What is Assay?", "u-1", "s-1"), ("Does it speak MLflow?", "u-2", "s-1"),
             ("Where are spans kept?", "u-1", "s-2")]


@mlflow.trace(span_type="LLM")
def answer_with_llm(question: str) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": f"About {question}"}}]}


@mlflow.trace(span_type="RETRIEVER")
def retrieve(question: str) -> list[dict[str, Any]]:
    return [{"page_content": f"doc for {question}", "metadata": {"doc_uri": "doc-1"}}]


@mlflow.trace(name="chat", span_type="CHAIN")
def chat(question: str, user: str, session: str, number: int) -> str:
    mlflow.update_current_trace(
        client_request_id=f"req-{number}",
        metadata={"mlflow.trace.user": user, "mlflow.trace.session": session,
                  "app_version": "1.2.0"},
        tags={"env": "test"})
    retrieve(question)
    with mlflow.start_span(name="postprocess", span_type="PARSER") as span:
        span.set_inputs({"n": number})
        span.set_attribute("chars", len(question))
        span.set_outputs({"ok": True})
    content: str = answer_with_llm(question)["choices"][0]["message"]["content"]
    return content


def trace_summary(trace: Any) -> dict[str, Any]:
    info = trace.info
    return {
        "trace_id": info.trace_id,
        "client_request_id": info.client_request_id,
        "state": str(info.state),
        "request_time": info.request_time,
        "execution_duration": info.execution_duration,
        "metadata": {k: v for k, v in info.trace_metadata.items()
                     if k in ("mlflow.trace.user", "mlflow.trace.session", "app_version")},
        "tags": {k: v for k, v in info.tags.items() if not k.startswith("mlflow.")},
        "spans": sorted(
            [{"name": s.name, "span_type": s.span_type, "parent_id": s.parent_id,
              "span_id": s.span_id, "inputs": s.inputs, "outputs": s.outputs,
              "status": str(s.status.status_code)} for s in trace.data.spans],
            key=lambda s: s["name"]),
        "assessments": sorted(
            [{"name": a.name, "value": a.value, "valid": a.valid,
              "source_type": a.source.source_type, "source_id": a.source.source_id,
              "rationale": a.rationale, "overrides": a.overrides,
              "assessment_id": a.assessment_id} for a in info.assessments],
            key=lambda a: (a["name"], a["valid"])),
    }


def main(url: str) -> None:
    report: dict[str, Any] = {}
    mlflow.set_tracking_uri(url)
    experiment = mlflow.set_experiment("stock-mlflow-client")
    report["experiment_id"] = experiment.experiment_id
    trace_ids = []
    for number, (question, user, session) in enumerate(QUESTIONS):
        chat(question, user, session, number)
        trace_ids.append(mlflow.get_last_active_trace_id())
        # Each trace in a millisecond of its own: searches order by time, then by id, so
        # two traces of one millisecond would come back in either order.
        time.sleep(0.002)
    mlflow.flush_trace_async_logging()
    report["trace_ids"] = trace_ids
    first = trace_ids[0]

    # Assessments: feedback from a user, an expectation, a judge corrected by a person,
    # an update in place, a deletion.
    vote = mlflow.log_feedback(trace_id=first, name="user_feedback", value=True,
                               rationale="helpful",
                               source=AssessmentSource(AssessmentSourceType.HUMAN, "u-1"))
    expected = mlflow.log_expectation(trace_id=first, name="expected_response",
                                      value={"facts": ["Assay keeps traces"]})
    judged = mlflow.log_feedback(trace_id=first, name="quality", value=0.4,
                                 source=AssessmentSource(AssessmentSourceType.LLM_JUDGE,
                                                         "judge-model"))
    corrected = mlflow.override_feedback(trace_id=first, assessment_id=judged.assessment_id,
                                         value=0.9, rationale="the judge was harsh")
    doomed = mlflow.log_feedback(trace_id=trace_ids[1], name="user_feedback", value=False,
                                 source=AssessmentSource(AssessmentSourceType.HUMAN, "u-2"))
    updated = mlflow.update_assessment(
        trace_id=trace_ids[1], assessment_id=doomed.assessment_id,
        assessment=Feedback(name="user_feedback", value=True, rationale="changed my mind"))
    spare = mlflow.log_feedback(trace_id=trace_ids[2], name="user_feedback", value=False,
                                source=AssessmentSource(AssessmentSourceType.HUMAN, "u-1"))
    mlflow.delete_assessment(trace_id=trace_ids[2], assessment_id=spare.assessment_id)
    report["assessment_ids"] = {
        "vote": vote.assessment_id, "expected": expected.assessment_id,
        "judged": judged.assessment_id, "corrected": corrected.assessment_id,
        "updated": updated.assessment_id, "deleted": spare.assessment_id}
    report["updated"] = {"value": updated.feedback.value, "rationale": updated.rationale}
    report["corrected_overrides"] = corrected.overrides
    report["fetched"] = mlflow.get_assessment(first, vote.assessment_id).value

    # Reading back: one trace, every search form.
    report["traces"] = {trace_id: trace_summary(mlflow.get_trace(trace_id))
                        for trace_id in trace_ids}
    ids = [experiment.experiment_id]
    frame = mlflow.search_traces(locations=ids)
    report["frame"] = {"rows": len(frame), "columns": sorted(frame.columns),
                       "trace_ids": list(frame["trace_id"]),
                       "requests": [json.dumps(r, sort_keys=True) for r in frame["request"]],
                       "responses": [json.dumps(r) for r in frame["response"]]}
    filters = {
        "user": "metadata.`mlflow.trace.user` = 'u-1'",
        "session": "metadata.`mlflow.trace.session` = 's-1'",
        "tag": "tags.env = 'test'",
        "status": "attributes.status = 'OK'",
        "name": "trace.name = 'chat'",
        "feedback": "feedback.user_feedback = 'true'",
        "client_request_id": "trace.client_request_id = 'req-2'",
        # As the seeds write them.
        "seed_session": "tags.`mlflow.trace.session` = 's-1'",
        "seed_user": "tags.`mlflow.trace.user` = 'u-1'",
        "seed_request": "attributes.client_request_id = 'req-2'",
        "seed_since": f"trace.timestamp_ms > {report['traces'][first]['request_time']}",
    }
    report["filtered"] = {
        key: sorted(t.info.trace_id for t in mlflow.search_traces(
            locations=ids, filter_string=text, return_type="list"))
        for key, text in filters.items()}
    ordered = mlflow.search_traces(locations=ids, order_by=["timestamp_ms ASC"],
                                   return_type="list")
    report["oldest_first"] = [t.info.trace_id for t in ordered]

    client = MlflowClient()
    pages = []
    token = None
    while True:
        page = client.search_traces(locations=ids, max_results=2, page_token=token)
        pages.append([t.info.trace_id for t in page])
        token = page.token
        if not token:
            break
    report["pages"] = pages

    # Tags after the fact, and deleting a trace.
    mlflow.set_trace_tag(trace_ids[1], "reviewed", "yes")
    client.set_trace_tag(trace_ids[2], "temporary", "1")
    client.delete_trace_tag(trace_ids[2], "temporary")
    report["tags_after"] = {t: {k: v for k, v in mlflow.get_trace(t).info.tags.items()
                                if not k.startswith("mlflow.")} for t in trace_ids}
    report["deleted"] = client.delete_traces(experiment_id=experiment.experiment_id,
                                             trace_ids=[trace_ids[2]])
    report["left"] = sorted(t.info.trace_id for t in mlflow.search_traces(
        locations=ids, return_type="list"))
    report["run"] = log_a_run()
    print("REPORT " + json.dumps(report, default=str))


def log_a_run() -> dict[str, Any]:
    """A run with params, metrics and tags, read back."""
    with mlflow.start_run(run_name="eval-1") as run:
        mlflow.log_param("model", "gpt-x")
        mlflow.log_metric("accuracy", 0.5)
        mlflow.log_metric("accuracy", 0.75, step=1)
        mlflow.log_metrics({"latency_ms": 120.0, "cost": 0.01})
        mlflow.log_params({"temperature": 0.2})
        mlflow.set_tag("stage", "test")
    got = MlflowClient().get_run(run.info.run_id)
    return {"run_id": got.info.run_id, "name": got.info.run_name, "status": got.info.status,
            "ended": got.info.end_time is not None, "metrics": got.data.metrics,
            "params": got.data.params,
            "tags": {k: v for k, v in got.data.tags.items() if not k.startswith("mlflow.")}}


def read(url: str, experiment_name: str) -> None:
    """Read back, with mlflow, every trace of an experiment that Assay's SDK logged."""
    mlflow.set_tracking_uri(url)
    experiment = mlflow.get_experiment_by_name(experiment_name)
    found = mlflow.search_traces(locations=[experiment.experiment_id], return_type="list")
    report = {"traces": {t.info.trace_id: trace_summary(mlflow.get_trace(t.info.trace_id))
                         for t in found}}
    print("REPORT " + json.dumps(report, default=str))


def autolog(url: str, openai_base_url: str) -> None:
    """An OpenAI chat call traced by ``mlflow.openai.autolog()``, read back."""
    import openai

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("autolog")
    mlflow.openai.autolog()
    client = openai.OpenAI(base_url=openai_base_url, api_key="test-key")
    reply = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hello there"}])
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    trace = mlflow.get_trace(trace_id)
    report = {"reply": reply.choices[0].message.content, "trace": trace_summary(trace),
              "token_usage": trace.info.token_usage}
    print("REPORT " + json.dumps(report, default=str))


def labeling(url: str) -> None:
    """Label schemas, a labeling session (through Assay's labeling store plugin), an
    evaluation dataset and a run search, as mlflow's own functions do them."""
    from mlflow.genai import datasets
    from mlflow.genai import labeling as mlflow_labeling
    from mlflow.genai.label_schemas import (
        InputCategorical,
        InputText,
        create_label_schema,
        get_label_schema,
        list_label_schemas,
        update_label_schema,
    )

    mlflow.set_tracking_uri(url)
    experiment = mlflow.set_experiment("labeling-through-mlflow")
    ids = [experiment.experiment_id]
    for number, (question, user, session) in enumerate(QUESTIONS):
        chat(question, user, session, number)
    mlflow.flush_trace_async_logging()
    report: dict[str, Any] = {"experiment_id": experiment.experiment_id}

    accuracy = create_label_schema(
        name="accuracy", type="feedback", input=InputCategorical(options=["right", "wrong"]),
        instruction="Is the answer right?", enable_comment=True)
    create_label_schema(name="expected_response", type="expectation", input=InputText())
    updated = update_label_schema(accuracy.schema_id, instruction="Is it right?")
    report["schemas"] = {
        "created": {"name": accuracy.name, "type": str(accuracy.type),
                    "options": accuracy.input.options, "schema_id": accuracy.schema_id},
        "by_id": get_label_schema(schema_id=accuracy.schema_id).name,
        "by_name": get_label_schema("accuracy",
                                    experiment_id=experiment.experiment_id).schema_id,
        "listed": [s.name for s in list_label_schemas(experiment_id=experiment.experiment_id)],
        "updated_instruction": updated.instruction}

    session = mlflow_labeling.create_labeling_session(
        name="review", assigned_users=["ana"], label_schemas=["accuracy", "expected_response"])
    traces = mlflow.search_traces(locations=ids, return_type="list")
    session = session.add_traces(traces[:2])
    session = session.add_traces(mlflow.search_traces(locations=ids))  # the DataFrame
    session = session.set_assigned_users(["ana", "ben"])
    found = mlflow_labeling.get_labeling_session(session.mlflow_run_id)
    report["session"] = {
        "run_id": session.mlflow_run_id, "name": found.name, "url": found.url,
        "assigned_users": found.assigned_users, "label_schemas": found.label_schemas,
        "experiment_id": found.experiment_id,
        "listed": [s.mlflow_run_id for s in mlflow_labeling.get_labeling_sessions()],
        "trace_ids": sorted(t.info.trace_id for t in traces)}
    try:
        mlflow_labeling.create_labeling_session(name="bad", label_schemas=["missing"])
    except mlflow.exceptions.MlflowException as error:
        report["refused"] = {"code": error.error_code, "message": error.message}

    dataset = datasets.create_dataset(name="golden", experiment_id=experiment.experiment_id,
                                      tags={"team": "qa"})
    dataset.merge_records([{"inputs": {"question": "What is Assay?"},
                            "expectations": {"expected_response": "A server"}}])
    dataset.merge_records(traces)
    dataset.merge_records([{"inputs": {"question": "What is Assay?"},
                            "expectations": {"expected_facts": ["self-hosted"]}}])
    read = datasets.get_dataset(dataset_id=dataset.dataset_id)
    frame = read.to_df()
    report["dataset"] = {
        "dataset_id": dataset.dataset_id, "name": read.name, "tags": read.tags,
        "records": len(frame),
        "merged": sorted(json.dumps(e, sort_keys=True) for e in frame["expectations"]
                         if e and "expected_response" in e),
        "searched": [d.name for d in datasets.search_datasets(
            experiment_ids=[experiment.experiment_id])]}

    client = MlflowClient()
    with mlflow.start_run(run_name="eval-good") as good:
        mlflow.log_metric("accuracy", 0.9)
    with mlflow.start_run(run_name="eval-bad"):
        mlflow.log_metric("accuracy", 0.2)
    report["runs"] = {
        "good": good.info.run_id,
        "found": [r.info.run_id for r in client.search_runs(
            ids, filter_string="metrics.accuracy > 0.5")],
        "history": [m.value for m in client.get_metric_history(good.info.run_id, "accuracy")]}
    doomed = mlflow_labeling.create_labeling_session(name="temporary")
    report["before_delete"] = len(mlflow_labeling.get_labeling_sessions())
    mlflow_labeling.delete_labeling_session(doomed)
    report["after_delete"] = [s.mlflow_run_id for s in mlflow_labeling.get_labeling_sessions()]
    print("REPORT " + json.dumps(report, default=str))


if __name__ == "__main__":
    if sys.argv[2:3] == ["labeling"]:
        labeling(sys.argv[1])
    elif sys.argv[2:3] == ["read"]:
        read(sys.argv[1], sys.argv[3])
    elif sys.argv[2:3] == ["autolog"]:
        autolog(sys.argv[1], sys.argv[3])
    else:
        main(sys.argv[1])
