"""``mlflow.genai.evaluate`` from the stock mlflow client (run in its own virtual
environment, never imported by the tests) against the tracking server at ``argv[1]``, with
its built-in ``Correctness`` judge asking the OpenAI-compatible judge at ``argv[2]``.

Usage: ``python evaluate_client.py <tracking url> <judge base url> [more]``. Prints
``REPORT <json>``: the run, its metrics, and each row's trace with its assessments as mlflow
reads them back; with ``more``, the runs of an evaluation of logged traces (no
``predict_fn``) and of an evaluation dataset the server keeps.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import mlflow
from mlflow.genai.scorers import Correctness, scorer

DATA = [
    {"inputs": {"question": "apples"},
     "expectations": {"expected_response": "Assay keeps traces of apples"}},
    {"inputs": {"question": "UNSAFE pears"},
     "expectations": {"expected_response": "Something else entirely"}},
    {"inputs": {"question": "plums"},
     "expectations": {"expected_response": "Assay keeps traces of plums"}},
]


@scorer  # type: ignore[untyped-decorator]  # mlflow is not typed from here
def exact_match(outputs: str, expectations: dict[str, Any]) -> bool:
    return bool(outputs == expectations["expected_response"])


def predict(question: str) -> str:
    return f"Assay keeps traces of {question}"


def main(url: str, judge_url: str) -> None:
    os.environ["OPENAI_BASE_URL"] = judge_url
    os.environ["OPENAI_API_KEY"] = "test-key"
    mlflow.set_tracking_uri(url)
    if sys.argv[3:4] == ["more"]:
        experiment_id = mlflow.set_experiment("stock-evaluate").experiment_id
        print("REPORT " + json.dumps({"experiment_id": experiment_id,
                                      "on_traces": evaluate_logged_traces(),
                                      "on_dataset": evaluate_a_dataset(experiment_id)}))
        return
    experiment_id = mlflow.set_experiment("stock-evaluate").experiment_id
    result = mlflow.genai.evaluate(data=DATA, predict_fn=predict,
                                   scorers=[exact_match, Correctness(model="openai:/judge")])
    traces = mlflow.search_traces(locations=[experiment_id], run_id=result.run_id,
                                  return_type="list")
    run = mlflow.get_run(result.run_id)
    report = {
        "experiment_id": experiment_id,
        "run_id": result.run_id,
        "metrics": result.metrics,
        "run_metrics": run.data.metrics,
        "run_tags": {k: v for k, v in run.data.tags.items() if k == "mlflow.runType"},
        "status": run.info.status,
        "traces": {
            trace.info.trace_id: {
                "question": json.loads(trace.info.request_preview or "{}").get("question"),
                "assessments": sorted(
                    [{"name": a.name,
                      "kind": "feedback" if a.feedback is not None else "expectation",
                      "value": a.value, "source_type": a.source.source_type,
                      "source_id": a.source.source_id, "rationale": a.rationale}
                     for a in trace.info.assessments],
                    key=lambda a: a["name"]),
            }
            for trace in traces
        },
    }
    print("REPORT " + json.dumps(report, sort_keys=True))


@scorer  # type: ignore[untyped-decorator]
def brief(outputs: str) -> bool:
    return len(outputs) < 30


def evaluate_logged_traces() -> dict[str, Any]:
    """Scoring traces the app logged before, with no ``predict_fn``."""
    experiment_id = mlflow.set_experiment("stock-evaluate-traces").experiment_id
    app = mlflow.trace(predict)
    app("figs")
    app("a question long enough to make the answer long")
    mlflow.flush_trace_async_logging()
    logged = mlflow.search_traces(locations=[experiment_id])
    result = mlflow.genai.evaluate(data=logged, scorers=[brief])
    return {"experiment_id": experiment_id, "run_id": result.run_id,
            "metrics": result.metrics, "trace_ids": sorted(logged["trace_id"])}


def evaluate_a_dataset(experiment_id: str) -> dict[str, Any]:
    """An evaluation dataset kept by the server, as the data."""
    from mlflow.genai.datasets import create_dataset

    mlflow.set_experiment(experiment_id=experiment_id)
    dataset = create_dataset(name="stock-evaluate-data", experiment_id=[experiment_id])
    dataset.merge_records(DATA[:1])
    result = mlflow.genai.evaluate(data=dataset, predict_fn=predict, scorers=[exact_match])
    return {"run_id": result.run_id, "metrics": result.metrics}


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
