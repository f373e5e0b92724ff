"""The seeds' feedback snippets run as written, with ``mlflow`` replaced by ``assay``.

Each snippet below is copied from the seed documents (000, 002, 003) exactly as MLflow's
docs print it; ``as_assay`` then renames the module (``import mlflow`` -> ``import assay``,
``mlflow.log_feedback`` -> ``assay.log_feedback``) but leaves strings alone, so the
reserved key "mlflow.trace.session" stays what it is. A snippet runs in a fresh process in
an empty directory (the default store ``sqlite:///assay.db``), followed by a driver that
plays the app's part (what the docs leave to the reader, such as ``process_message``) and
checks what was stored.
"""

# ruff: noqa: E501  (the snippets are the seeds' code, verbatim, long lines included)
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from genai.judge_server import JudgeServer
from snippets import readme_snippet, run_python

# -- seed 003 (human feedback quickstart), step 1 without the OpenAI call, and step 2 -------

SEED_003_APP = '''
import mlflow

@mlflow.trace
def my_chatbot(user_question: str) -> str:
    context = retrieve_context(user_question)
    return f"MLflow is a platform. {context[:20]}"

@mlflow.trace(span_type="RETRIEVER")
def retrieve_context(query: str) -> str:
    if "mlflow" in query.lower():
        return "MLflow is an open-source platform for the machine learning lifecycle."
    return "General information about machine learning and data science."

# Run the app to generate a trace
response = my_chatbot("What is MLflow?")
print(f"Response: {response}")

# Get the trace ID for the next step
trace_id = mlflow.get_last_active_trace_id()
print(f"Trace ID: {trace_id}")
'''

SEED_003_STEP_2 = '''
import mlflow
from mlflow.entities.assessment import AssessmentSource, AssessmentSourceType

# Simulate end-user feedback from your app
# In production, this would be triggered when a user clicks thumbs down in your UI
mlflow.log_feedback(
trace_id=trace_id,
name="user_feedback",
value=False, # False for thumbs down - user is unsatisfied
rationale="Missing details about MLflow's key features like Projects and Model Registry",
source=AssessmentSource(
source_type=AssessmentSourceType.HUMAN,
source_id="enduser_123", # Would be actual user ID in production
),
)

print("End-user feedback recorded!")
'''

SEED_003_CHECKS = '''
import assay
trace = assay.get_trace(trace_id)
[feedback] = trace.data.assessments
assert trace.info.assessments == [feedback]
assert feedback.name == "user_feedback" and feedback.value is False
assert feedback.source.source_type == "HUMAN" and feedback.source.source_id == "enduser_123"
assert feedback.rationale.startswith("Missing details")
assert [s.name for s in trace.data.spans] == ["my_chatbot", "retrieve_context"]
print("CHECKED", trace_id)
'''

# -- seed 003, step 5: send the trace to experts (verbatim) ---------------------------------

SEED_003_STEP_5 = '''
import mlflow
from mlflow.genai.label_schemas import create_label_schema, InputCategorical, InputText
from mlflow.genai.labeling import create_labeling_session

# Define what feedback to collect
accuracy_schema = create_label_schema(
name="response_accuracy",
type="feedback",
title="Is the response factually accurate?",
input=InputCategorical(options=["Accurate", "Partially Accurate", "Inaccurate"]),
overwrite=True
)

ideal_response_schema = create_label_schema(
name="expected_response",
type="expectation",
title="What would be the ideal response?",
input=InputText(),
overwrite=True
)

# Create a labeling session
labeling_session = create_labeling_session(
name="quickstart_review",
label_schemas=[accuracy_schema.name, ideal_response_schema.name],
)

# Add your trace to the session
# Get the most recent trace from the current experiment
traces = mlflow.search_traces(
max_results=1 # Gets the most recent trace
)
labeling_session.add_traces(traces)

# Share with reviewers
print(f"Trace sent for review!")
print(f"Share this link with reviewers: {labeling_session.url}")
'''

# What the expert does in the review app, then the first line of step 6.
SEED_003_STEP_5_CHECKS = '''
import assay
item = labeling_session.next_item("expert@example.com")
assert item == trace_id
labeling_session.submit(item, "expert@example.com", {
    "response_accuracy": "Partially Accurate",
    "expected_response": "MLflow is an open-source platform for the ML lifecycle: tracking, "
                         "projects, models and the model registry."})
labeled_traces = assay.search_traces(run_id=labeling_session.mlflow_run_id)
assert list(labeled_traces["trace_id"]) == [trace_id]
expectation = assay.get_trace(trace_id).search_assessments("expected_response")[0]
assert expectation.source.source_id == "expert@example.com"
assert labeling_session.progress().done_items == 1
print("CHECKED", labeling_session.url)
'''

SEED_003_STEP_6 = '''
import mlflow
from mlflow.genai.scorers import Correctness

# Get traces from the labeling session
labeled_traces = mlflow.search_traces(
run_id=labeling_session.mlflow_run_id, # Labeling Sessions are MLflow Runs
)

# Evaluate your app against expert expectations
eval_results = mlflow.genai.evaluate(
data=labeled_traces,
predict_fn=my_chatbot, # The app we created in Step 1
scorers=[Correctness()] # Compares outputs to expected_response
)
'''

SEED_003_STEP_6_CHECKS = '''
import assay
print("METRICS", sorted(eval_results.metrics))
assert eval_results.metrics["correctness/mean"] == 0.0  # the stand-in app misses the facts
run = assay.get_run(eval_results.run_id)
assert run.info.kind == "evaluation" and run.info.status == "FINISHED"
[row] = eval_results.rows
[judged] = row.feedback
assert judged.name == "correctness" and judged.value == "no", judged
assert judged.source.source_id == "openai:/judge"
new_trace = assay.get_trace(row.trace_id)
assert new_trace.info.trace_id != trace_id  # the app ran again, as a new trace
assert new_trace.search_assessments("expected_response")[0].value.startswith("MLflow is an")
assert [t.info.trace_id for t in assay.search_traces(run_id=eval_results.run_id,
                                                      return_type="list")] == [row.trace_id]
print("CHECKED", eval_results.run_id)
'''

# -- seed 000 (collect user feedback), approach 1: the FastAPI backend ----------------------

SEED_000_BACKEND = '''
import mlflow
from fastapi import FastAPI, Query
from mlflow.client import MlflowClient
from mlflow.entities import AssessmentSource
from pydantic import BaseModel
from typing import Optional

app = FastAPI()

class ChatRequest(BaseModel):
    message: str

class ChatResponse(BaseModel):
    response: str
    trace_id: str  # Include the trace ID in the response

@app.post("/chat", response_model=ChatResponse)
def chat(request: ChatRequest):
    """
    Process a chat request and return the trace ID for feedback collection.
    """
    # Your GenAI application logic here
    response = process_message(request.message)  # Replace with your actual processing logic

    # Get the current trace ID
    trace_id = mlflow.get_current_active_span().trace_id

    return ChatResponse(
        response=response,
        trace_id=trace_id
    )

class FeedbackRequest(BaseModel):
    is_correct: bool  # True for thumbs up, False for thumbs down
    comment: Optional[str] = None

@app.post("/feedback")
def submit_feedback(
    trace_id: str = Query(..., description="The trace ID from the chat response"),
    feedback: FeedbackRequest = ...,
    user_id: Optional[str] = Query(None, description="User identifier")
):
    """
    Collect user feedback using the MLflow trace ID.
    """
    # Log the feedback directly using the trace ID
    mlflow.log_feedback(
        trace_id=trace_id,
        name="user_feedback",
        value=feedback.is_correct,
        source=AssessmentSource(
            source_type="HUMAN",
            source_id=user_id
        ),
        rationale=feedback.comment
    )

    return {
        "status": "success",
        "trace_id": trace_id,
    }
'''

SEED_000_DETAILED = '''
from mlflow.entities import AssessmentSource

@app.post("/detailed-feedback")
def submit_detailed_feedback(
    trace_id: str,
    accuracy: int = Query(..., ge=1, le=5, description="Accuracy rating from 1-5"),
    helpfulness: int = Query(..., ge=1, le=5, description="Helpfulness rating from 1-5"),
    relevance: int = Query(..., ge=1, le=5, description="Relevance rating from 1-5"),
    user_id: str = Query(..., description="User identifier"),
    comment: Optional[str] = None
):
    """
    Collect multi-dimensional feedback with separate ratings for different aspects.
    Each aspect is logged as a separate assessment for granular analysis.
    """
    # Log each dimension as a separate assessment
    dimensions = {
        "accuracy": accuracy,
        "helpfulness": helpfulness,
        "relevance": relevance
    }

    for dimension, score in dimensions.items():
        mlflow.log_feedback(
            trace_id=trace_id,
            name=f"user_{dimension}",
            value=score / 5.0,  # Normalize to 0-1 scale
            source=AssessmentSource(
                source_type="HUMAN",
                source_id=user_id
            ),
            rationale=comment if dimension == "accuracy" else None
        )

    return {
        "status": "success",
        "trace_id": trace_id,
        "feedback_recorded": dimensions
    }
'''

SEED_000_ANALYSIS = '''
from mlflow.client import MlflowClient
from datetime import datetime, timedelta

def get_recent_traces(experiment_name: str, hours: int = 24):
    """Get traces from the last N hours."""
    client = MlflowClient()

    # Calculate cutoff time
    cutoff_time = datetime.now() - timedelta(hours=hours)
    cutoff_timestamp_ms = int(cutoff_time.timestamp() * 1000)

    # Query traces
    traces = client.search_traces(
        experiment_names=[experiment_name],
        filter_string=f"trace.timestamp_ms > {cutoff_timestamp_ms}"
    )

    return traces

def analyze_user_feedback(traces):
    """Analyze feedback patterns from traces."""

    client = MlflowClient()

    # Initialize counters
    total_traces = len(traces)
    traces_with_feedback = 0
    positive_count = 0
    negative_count = 0

    # Process each trace
    for trace in traces:
        # Get full trace details including assessments
        trace_detail = client.get_trace(trace.info.trace_id)

        if trace_detail.data.assessments:
            traces_with_feedback += 1

            # Count positive/negative feedback
            for assessment in trace_detail.data.assessments:
                if assessment.name == "user_feedback":
                    if assessment.value:
                        positive_count += 1
                    else:
                        negative_count += 1

    # Calculate metrics
    if traces_with_feedback > 0:
        feedback_rate = (traces_with_feedback / total_traces) * 100
        positive_rate = (positive_count / traces_with_feedback) * 100
    else:
        feedback_rate = 0
        positive_rate = 0

    return {
        "total_traces": total_traces,
        "traces_with_feedback": traces_with_feedback,
        "feedback_rate": feedback_rate,
        "positive_rate": positive_rate,
        "positive_count": positive_count,
        "negative_count": negative_count
    }
'''

SEED_000_DRIVER = '''
import assay

assay.set_experiment("/Shared/production-genai-app")

@assay.trace
def process_message(message: str) -> str:
    return f"You said: {message}"

@assay.trace
def serve_chat(message: str):  # the app's request handling, traced (as with autolog)
    return chat(ChatRequest(message=message))

first = serve_chat("What is MLflow?")
second = serve_chat("And Databricks?")
third = serve_chat("Thanks")
# Right after the response, the user clicks: no flush anywhere.
submit_feedback(trace_id=first.trace_id,
                feedback=FeedbackRequest(is_correct=False, comment="Too vague"),
                user_id="user-1")
submit_feedback(trace_id=second.trace_id, feedback=FeedbackRequest(is_correct=True),
                user_id=None)
result = submit_detailed_feedback(first.trace_id, accuracy=4, helpfulness=5, relevance=3,
                                  user_id="user-1", comment="Mostly right")
assert result["feedback_recorded"] == {"accuracy": 4, "helpfulness": 5, "relevance": 3}

trace = assay.get_trace(first.trace_id)
by_name = {a.name: a for a in trace.data.assessments}
assert by_name["user_feedback"].value is False
assert by_name["user_feedback"].rationale == "Too vague"
assert by_name["user_feedback"].source.source_id == "user-1"
assert by_name["user_accuracy"].value == 0.8 and by_name["user_accuracy"].rationale
assert by_name["user_helpfulness"].value == 1.0
assert by_name["user_relevance"].rationale is None
anonymous = assay.get_trace(second.trace_id).data.assessments[0]
assert anonymous.value is True and anonymous.source.source_id is None

traces = get_recent_traces("/Shared/production-genai-app", hours=24)
results = analyze_user_feedback(traces)
assert results["total_traces"] == 3, results
assert results["traces_with_feedback"] == 2, results
assert results["positive_count"] == 1 and results["negative_count"] == 1, results
print("CHECKED", results)
'''

# -- seed 002 (metadata and user feedback): the feedback endpoint ---------------------------

SEED_002_FEEDBACK = '''
import mlflow
from mlflow.client import MlflowClient
from fastapi import FastAPI, Query, Request
from pydantic import BaseModel
from typing import Optional
from mlflow.entities import AssessmentSource

# Initialize FastAPI app
app = FastAPI()

class FeedbackRequest(BaseModel):
    is_correct: bool # True for correct, False for incorrect
    comment: Optional[str] = None

@app.post("/chat_feedback")
def handle_chat_feedback(
    request: Request,
    client_request_id: str = Query(..., description="The client request ID from the original chat request"),
    feedback: FeedbackRequest = ...
):
    """
    Collect user feedback for a specific chat interaction identified by client_request_id.
    """
    # Search for the trace with the matching client_request_id
    client = MlflowClient()
    # Get the experiment by name (using Databricks workspace path)
    experiment = client.get_experiment_by_name("/Shared/production-app")
    traces = client.search_traces(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"attributes.client_request_id = '{client_request_id}'",
        max_results=1
    )

    if not traces:
        return {
            "status": "error",
            "message": f"Unable to find data for client request ID: {client_request_id}"
        }, 500

    # Log feedback using MLflow's log_feedback API
    feedback = mlflow.log_feedback(
        trace_id=traces[0].info.trace_id,
        name="response_is_correct",
        value=feedback.is_correct,
        source=AssessmentSource(
            source_type="HUMAN",
            source_id=request.headers.get("X-User-ID")
        ),
        rationale=feedback.comment
    )

    return feedback
'''

SEED_002_DRIVER = '''
import assay
from starlette.requests import Request

assay.set_experiment("/Shared/production-app")

@assay.trace
def handle_chat(message: str) -> str:
    assay.update_current_trace(client_request_id="req-abc-123-xyz-789",
                               metadata={"mlflow.trace.session": "session-def-456"})
    return f"Processed message: '{message}'"

handle_chat("What is my account balance?")
request = Request({"type": "http", "headers": [(b"x-user-id", b"user-jane-doe-12345")]})
feedback = handle_chat_feedback(request, client_request_id="req-abc-123-xyz-789",
                                feedback=FeedbackRequest(is_correct=True,
                                                         comment="Accurate and helpful"))
assert feedback.name == "response_is_correct" and feedback.value is True
assert feedback.source.source_id == "user-jane-doe-12345"
trace = assay.get_trace(feedback.trace_id)
assert trace.data.assessments == [feedback]
print("CHECKED", feedback.assessment_id)
'''

_MODULE_NAME = re.compile(r"""(?<![\w"'.`])mlflow\b""")


def as_assay(code: str) -> str:
    """The snippet with the module ``mlflow`` renamed ``assay`` (strings left alone)."""
    return _MODULE_NAME.sub("assay", code)


def test_the_renaming_leaves_reserved_keys_alone() -> None:
    code = 'import mlflow\nmlflow.log_feedback(metadata={"mlflow.trace.session": "s"})\n'
    assert as_assay(code) == (
        'import assay\nassay.log_feedback(metadata={"mlflow.trace.session": "s"})\n')
    assert as_assay("from mlflow.entities.assessment import X") == \
        "from assay.entities.assessment import X"


def test_seed_003_quickstart_feedback_runs_right_after_the_call(tmp_path: Path) -> None:
    code = as_assay(SEED_003_APP + SEED_003_STEP_2) + SEED_003_CHECKS
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "End-user feedback recorded!" in result.stdout
    assert "CHECKED tr-" in result.stdout
    trace_id = result.stdout.split("CHECKED ")[1].split()[0]
    # Another process reads the same feedback from the file.
    again = run_python(f'''
import assay
[feedback] = assay.get_trace({trace_id!r}).search_assessments("user_feedback")
print(feedback.value, feedback.source.source_type)
''', tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["False", "HUMAN"]


def test_seed_003_step_5_sends_the_trace_to_experts_as_written(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    code = as_assay(SEED_003_APP + SEED_003_STEP_2 + SEED_003_STEP_5) + SEED_003_STEP_5_CHECKS
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Trace sent for review!" in result.stdout
    assert re.search(r"Share this link with reviewers: http://127\.0\.0\.1:5000/review/"
                     r"[0-9a-f]{32}\n", result.stdout), result.stdout
    assert "CHECKED http://127.0.0.1:5000/review/" in result.stdout


@pytest.fixture
def judge_server() -> Iterator[JudgeServer]:
    """An OpenAI-compatible judge (see tests/genai/judge_server.py)."""
    server = JudgeServer()
    server.start()
    yield server
    server.stop()


def test_seed_003_step_6_evaluates_the_app_against_the_experts_labels(
        tmp_path: Path, judge_server: JudgeServer) -> None:
    pytest.importorskip("pandas")
    code = as_assay(SEED_003_APP + SEED_003_STEP_2 + SEED_003_STEP_5) \
        + SEED_003_STEP_5_CHECKS + as_assay(SEED_003_STEP_6) + SEED_003_STEP_6_CHECKS
    result = run_python(code, tmp_path, env={
        "OPENAI_BASE_URL": judge_server.base_url,
        "ASSAY_GENAI_JUDGE_DEFAULT_MODEL": "openai:/judge"})
    assert result.returncode == 0, result.stderr
    assert "METRICS ['correctness/completion_tokens', 'correctness/errors', " \
           "'correctness/mean', 'correctness/prompt_tokens']" in result.stdout
    assert "CHECKED " in result.stdout
    # The judge read the expert's expected response and the app's new answer.
    [prompt] = judge_server.prompts()
    assert "tracking, projects, models and the model registry" in prompt
    assert "MLflow is a platform. MLflow is an open-s" in prompt


def test_seed_000_feedback_backend_runs_as_written(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    code = as_assay(SEED_000_BACKEND + SEED_000_DETAILED + SEED_000_ANALYSIS) \
        + SEED_000_DRIVER
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "CHECKED" in result.stdout


def test_seed_002_feedback_endpoint_runs_as_written(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    result = run_python(as_assay(SEED_002_FEEDBACK) + SEED_002_DRIVER, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "CHECKED a-" in result.stdout


def test_the_readme_example_runs(tmp_path: Path) -> None:
    example = readme_snippet("Feedback and expectations")
    prelude = '''
import assay

@assay.trace
def chat(message: str) -> str:
    assay.update_current_trace(session_id="session-1")
    return "MLflow is a platform"

chat("What is MLflow?")
'''
    checks = '''
assert [a.name for a in trace.search_assessments()] == ["expected_response", "user_feedback"]
assert trace.search_assessments("user_feedback")[0].value is True
assert len(trace.data.assessments) == 3  # with the overridden one
assert len(assay.get_trace(trace_id).data.assessments) == 4  # and the session's rating
print("CHECKED")
'''
    result = run_python(prelude + example + checks, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "session-1 1 [Feedback(name='conversation_rating'" in result.stdout
    assert "CHECKED" in result.stdout
