"""The seeds' snippets, run by the stock mlflow client (3.17) twice: with the tracking URI at
a live ``assay server`` and at mlflow's own SQLite store. What each left behind, read back
with mlflow (``seed_parity.py``: traces with their spans and assessments, the seeds' searches,
the snippets' own results), must be the same, field by field, ids and times aside.

The snippets are the seeds' code as MLflow's guides print it (those already in
``assessments/test_seeds.py`` are taken from there; the others are copied below, with the
indentation the pages lost put back). A driver plays the app's part the guides leave to the
reader (``process_message``, the HTTP requests). Left out: seed 003's steps 5 and 6 (in
mlflow 3.17 labeling sessions are Databricks-only: on any other tracking URI
``create_labeling_session`` raises UnsupportedLabelingStoreURIException and
``create_label_schema(title=...)`` as the seed writes it is refused, so there is nothing to
compare them with; ``test_labeling_plugin.py`` runs them against Assay through mlflow, and
``assessments/test_seeds.py`` runs them as written with Assay's SDK),
and seed 003's ``get_databricks_host_creds()`` (replaced by the guide's own alternative, an
OpenAI client with its own key, here the tests' OpenAI-compatible server).
"""

# ruff: noqa: E501  (the snippets are the seeds' code, verbatim, long lines included)
from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assessments.test_seeds import (
    SEED_000_ANALYSIS,
    SEED_000_BACKEND,
    SEED_000_DETAILED,
    SEED_002_FEEDBACK,
    SEED_003_STEP_2,
)
from genai.judge_server import JudgeServer
from mlflow_client.conftest import REPORT_PREFIX
from mlflow_client.mlflow_venv import mlflow_env
from server.live import Served

pytestmark = [pytest.mark.mlflow_client, pytest.mark.live_server, pytest.mark.timeout(900)]

HERE = Path(__file__).resolve().parent

# -- seed 003, step 1: the app, with mlflow.openai.autolog() ---------------------------------

SEED_003_STEP_1 = '''
import mlflow
from openai import OpenAI

# Enable automatic tracing for all OpenAI API calls
mlflow.openai.autolog()

# Connect to a Databricks LLM via OpenAI using the same credentials as MLflow
# Alternatively, you can use your own OpenAI credentials here
mlflow_creds = mlflow.utils.databricks_utils.get_databricks_host_creds()
client = OpenAI(
    api_key=mlflow_creds.token,
    base_url=f"{mlflow_creds.host}/serving-endpoints"
)

# Create a RAG app with tracing
@mlflow.trace
def my_chatbot(user_question: str) -> str:
    # Retrieve relevant context
    context = retrieve_context(user_question)

    # Generate response using LLM with retrieved context
    response = client.chat.completions.create(
        model="databricks-claude-3-7-sonnet",  # If using OpenAI directly, use "gpt-4o" or "gpt-3.5-turbo"
        messages=[
            {"role": "system", "content": "You are a helpful assistant. Use the provided context to answer questions."},
            {"role": "user", "content": f"Context: {context}\\n\\nQuestion: {user_question}"}
        ],
        temperature=0.7,
        max_tokens=150
    )
    return response.choices[0].message.content

@mlflow.trace(span_type="RETRIEVER")
def retrieve_context(query: str) -> str:
    # Simulated retrieval - in production, this would search a vector database
    if "mlflow" in query.lower():
        return "MLflow is an open-source platform for managing the end-to-end machine learning lifecycle. It provides tools for experiment tracking, model packaging, and deployment."
    return "General information about machine learning and data science."

# Run the app to generate a trace
response = my_chatbot("What is MLflow?")
print(f"Response: {response}")

# Get the trace ID for the next step
trace_id = mlflow.get_last_active_trace_id()
print(f"Trace ID: {trace_id}")
'''

# The guide's own alternative to Databricks credentials: an OpenAI client of one's own.
_DATABRICKS_CREDENTIALS = '''mlflow_creds = mlflow.utils.databricks_utils.get_databricks_host_creds()
client = OpenAI(
    api_key=mlflow_creds.token,
    base_url=f"{mlflow_creds.host}/serving-endpoints"
)'''
_OWN_CREDENTIALS = 'import os\nclient = OpenAI(api_key="test-key", base_url=os.environ["OPENAI_BASE_URL"])'

SEED_003_DRIVER = '''
from seed_parity import report
report([trace_id], searches={
    # Step 5's search (the most recent trace), which runs without Databricks.
    "most_recent": lambda: mlflow.search_traces(max_results=1),
}, outputs={"response": response})
'''

# -- seed 000, approach 1 (trace ids), with the detailed feedback and the analysis -----------

SEED_000_TRACE_ID_DRIVER = '''
from seed_parity import report

mlflow.set_experiment("/Shared/production-genai-app")

@mlflow.trace
def process_message(message: str) -> str:
    return f"You said: {message}"

@mlflow.trace
def serve_chat(message: str):  # the app's request handling, traced (as with autolog)
    return chat(ChatRequest(message=message))

first = serve_chat("What is MLflow?")
second = serve_chat("And Databricks?")
third = serve_chat("Thanks")
answers = [
    submit_feedback(trace_id=first.trace_id,
                    feedback=FeedbackRequest(is_correct=False, comment="Too vague"),
                    user_id="user-1"),
    submit_feedback(trace_id=second.trace_id, feedback=FeedbackRequest(is_correct=True),
                    user_id=None),
    submit_detailed_feedback(first.trace_id, accuracy=4, helpfulness=5, relevance=3,
                             user_id="user-1", comment="Mostly right"),
]
# The guide's get_recent_traces passes experiment_names=, which the 3.17 client refuses
# (TypeError) whatever the store; the same search by experiment id, then its analysis.
try:
    get_recent_traces("/Shared/production-genai-app", hours=24)
    refused = None
except TypeError as error:
    refused = str(error)
experiment = mlflow.get_experiment_by_name("/Shared/production-genai-app")
cutoff_timestamp_ms = int((datetime.now() - timedelta(hours=24)).timestamp() * 1000)

def recent():
    return MlflowClient().search_traces(
        locations=[experiment.experiment_id],
        filter_string=f"trace.timestamp_ms > {cutoff_timestamp_ms}")

# analyze_user_feedback reads trace_detail.data.assessments, which the 3.17 client's
# TraceData lacks (they are trace.info.assessments there): AttributeError, whatever the store.
try:
    analysis = analyze_user_feedback(recent())
except AttributeError as error:
    analysis = str(error)

report([first.trace_id, second.trace_id, third.trace_id], searches={"recent": recent},
       outputs={"responses": [a.response for a in (first, second, third)],
                "answers": answers, "get_recent_traces": refused, "analysis": analysis})
'''

# -- seed 000, approach 2 (client request ids) ------------------------------------------------

SEED_000_REQUEST_ID_BACKEND = '''
import mlflow
from fastapi import FastAPI, Query, Request
from mlflow.client import MlflowClient
from mlflow.entities import AssessmentSource
from pydantic import BaseModel
from typing import Optional
import uuid

app = FastAPI()

class ChatRequest(BaseModel):
    message: str

class ChatResponse(BaseModel):
    response: str
    client_request_id: str  # Include the client request ID in the response

@app.post("/chat", response_model=ChatResponse)
def chat(request: ChatRequest):
    """
    Process a chat request and set a client request ID for later feedback collection.
    """
    # Sample: Generate a unique client request ID
    # Normally, this ID would be your app's backend existing ID for this interaction
    client_request_id = f"req-{uuid.uuid4().hex[:8]}"

    # Attach the client request ID to the current trace
    mlflow.update_current_trace(client_request_id=client_request_id)

    # Your GenAI application logic here
    response = process_message(request.message)  # Replace with your actual processing logic

    return ChatResponse(
        response=response,
        client_request_id=client_request_id
    )

class FeedbackRequest(BaseModel):
    is_correct: bool  # True for thumbs up, False for thumbs down
    comment: Optional[str] = None

@app.post("/feedback")
def submit_feedback(
    request: Request,
    client_request_id: str = Query(..., description="The request ID from the original interaction"),
    feedback: FeedbackRequest = ...
):
    """
    Collect user feedback for a specific interaction.

    This endpoint:
    1. Finds the trace using the client request ID
    2. Logs the feedback as an MLflow assessment
    3. Adds tags for easier querying and filtering
    """
    client = MlflowClient()

    # Find the trace using the client request ID
    experiment = client.get_experiment_by_name("/Shared/production-app")
    traces = client.search_traces(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"attributes.client_request_id = '{client_request_id}'",
        max_results=1
    )

    if not traces:
        return {"status": "error", "message": "Unexpected error: request not found"}, 500

    # Log the feedback as an assessment
    # Assessments are the structured way to attach feedback to traces
    mlflow.log_feedback(
        trace_id=traces[0].info.trace_id,
        name="user_feedback",
        value=feedback.is_correct,
        source=AssessmentSource(
            source_type="HUMAN",  # Indicates this is human feedback
            source_id=request.headers.get("X-User-ID")  # Link feedback to the user who provided it
        ),
        rationale=feedback.comment  # Optional explanation from the user
    )

    return {
        "status": "success",
        "trace_id": traces[0].info.trace_id,
    }
'''

_REQUEST = '''
from starlette.requests import Request as _Request

def http_request(headers: dict[str, str]) -> _Request:
    """A request as FastAPI hands it to an endpoint, with these headers."""
    return _Request({"type": "http", "headers": [(k.lower().encode(), v.encode())
                                                 for k, v in headers.items()]})
'''

SEED_000_REQUEST_ID_DRIVER = _REQUEST + '''
from seed_parity import report

mlflow.set_experiment("/Shared/production-app")

@mlflow.trace
def process_message(message: str) -> str:
    return f"You said: {message}"

@mlflow.trace
def serve_chat(message: str):
    return chat(ChatRequest(message=message))

trace_ids, replies = [], []
for message in ("What is MLflow?", "And Databricks?"):
    replies.append(serve_chat(message))
    trace_ids.append(mlflow.get_last_active_trace_id())
# Right after the response, the user clicks: no flush anywhere.
answers = [
    submit_feedback(http_request({"X-User-ID": "user-jane"}),
                    client_request_id=replies[0].client_request_id,
                    feedback=FeedbackRequest(is_correct=True, comment="Spot on")),
    submit_feedback(http_request({}), client_request_id=replies[1].client_request_id,
                    feedback=FeedbackRequest(is_correct=False)),
    submit_feedback(http_request({}), client_request_id="req-unknown",
                    feedback=FeedbackRequest(is_correct=False)),
]
report(trace_ids, outputs={"answers": answers},
       ids={f"R{n}": reply.client_request_id for n, reply in enumerate(replies)})
'''

# -- seed 000: feedback with streamed responses (SSE) ----------------------------------------

SEED_000_STREAMING = '''
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
import mlflow
import json
import asyncio
from typing import AsyncGenerator

@app.post("/chat/stream")
async def chat_stream(request: ChatRequest):
    """
    Stream chat responses with trace ID sent at completion.
    """
    async def generate() -> AsyncGenerator[str, None]:
        try:
            # Start MLflow trace
            with mlflow.start_span(name="streaming_chat") as span:
                # Update trace with request metadata
                mlflow.update_current_trace(
                    request_message=request.message,
                    stream_start_time=datetime.now().isoformat()
                )

                # Stream tokens from your LLM
                full_response = ""
                async for token in your_llm_stream_function(request.message):
                    full_response += token
                    yield f"data: {json.dumps({'type': 'token', 'content': token})}\\n\\n"
                    await asyncio.sleep(0.01)  # Prevent overwhelming the client

                # Log the complete response to the trace
                span.set_attribute("response", full_response)
                span.set_attribute("token_count", len(full_response.split()))

                # Get trace ID after completion
                trace_id = span.trace_id

                # Send trace ID as final event
                yield f"data: {json.dumps({'type': 'done', 'trace_id': trace_id})}\\n\\n"

        except Exception as e:
            # Log error to trace if available
            if mlflow.get_current_active_span():
                mlflow.update_current_trace(error=str(e))

            yield f"data: {json.dumps({'type': 'error', 'error': str(e)})}\\n\\n"

    return StreamingResponse(
        generate(),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            "Connection": "keep-alive",
            "X-Accel-Buffering": "no",  # Disable proxy buffering
        }
    )
'''

# What the guide leaves to the reader (``app``, ``ChatRequest``, the LLM's stream, the
# ``datetime`` import), then a client that reads the stream and sends feedback for the trace.
SEED_000_STREAMING_PRELUDE = '''
import mlflow
from datetime import datetime
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()

class ChatRequest(BaseModel):
    message: str

async def your_llm_stream_function(message: str):
    for token in ["MLflow ", "is ", "a ", "platform."]:
        yield token
'''

SEED_000_STREAMING_DRIVER = '''
from mlflow.entities import AssessmentSource
from seed_parity import report

mlflow.set_experiment("/Shared/streaming-app")

async def read_stream(message: str) -> list[dict]:
    response = await chat_stream(ChatRequest(message=message))
    return [json.loads(chunk[len("data: "):]) async for chunk in response.body_iterator]

events = asyncio.run(read_stream("What is MLflow?"))
done = [e for e in events if e["type"] == "done"]
trace_id = done[0]["trace_id"] if done else mlflow.get_last_active_trace_id()
mlflow.log_feedback(trace_id=trace_id, name="user_feedback", value=True,
                    source=AssessmentSource(source_type="HUMAN", source_id="user-1"))
report([trace_id], outputs={"events": events})
'''

# -- seed 002: metadata on the trace, the feedback endpoint, queries by user and session -----

SEED_002_CHAT = '''
import os
import mlflow
from fastapi import FastAPI, Request, HTTPException # HTTPException might be needed depending on full app logic
from pydantic import BaseModel

# Initialize FastAPI app
app = FastAPI()

class ChatRequest(BaseModel):
    message: str

@mlflow.trace # Ensure @mlflow.trace is the outermost decorator
@app.post("/chat") # FastAPI decorator should be inner decorator
def handle_chat(request: Request, chat_request: ChatRequest):
    # Retrieve all context from request headers
    client_request_id = request.headers.get("X-Request-ID")
    session_id = request.headers.get("X-Session-ID")
    user_id = request.headers.get("X-User-ID")

    # Update the current trace with all context and environment metadata
    # The @mlflow.trace decorator ensures an active trace is available
    mlflow.update_current_trace(
        client_request_id=client_request_id,
        metadata={
            # Session context - groups traces from multi-turn conversations
            "mlflow.trace.session": session_id,
            # User context - associates traces with specific users
            "mlflow.trace.user": user_id,
            # Override automatically populated environment metadata
            "mlflow.source.type": os.getenv("APP_ENVIRONMENT", "development"), # Override default LOCAL/NOTEBOOK
            # Add customer environment metadata
            "environment": "production",
            "app_version": os.getenv("APP_VERSION", "1.0.0"),
            "deployment_id": os.getenv("DEPLOYMENT_ID", "unknown"),
            "region": os.getenv("REGION", "us-east-1"),
            # Add custom tags
            "my_custom_tag": "custom tag value",
        }
    )

    # --- Your application logic for processing the chat message ---
    # For example, calling a language model with context
    # response_text = my_llm_call(
    #     message=chat_request.message,
    #     session_id=session_id,
    #     user_id=user_id
    # )
    response_text = f"Processed message: '{chat_request.message}'"
    # --- End of application logic ---

    # Return response
    return {
        "response": response_text
    }
'''

SEED_002_QUERIES = '''
import mlflow
from mlflow.client import MlflowClient
import pandas as pd

client = MlflowClient()
experiment = client.get_experiment_by_name("/Shared/production-app")

# Query traces by user
user_traces = client.search_traces(
    experiment_ids=[experiment.experiment_id],
    filter_string="tags.`mlflow.trace.user` = 'user-jane-doe-12345'",
    max_results=100
)

# Query traces by session
session_traces = client.search_traces(
    experiment_ids=[experiment.experiment_id],
    filter_string="tags.`mlflow.trace.session` = 'session-123'",
    max_results=100
)
'''

SEED_002_DRIVER = _REQUEST + '''
mlflow.set_experiment("/Shared/production-app")
trace_ids = []
for request_id, session, user, message in [
        ("req-abc-123-xyz-789", "session-def-456-uvw-012", "user-jane-doe-12345",
         "What is my account balance?"),
        ("req-2", "session-123", "user-jane-doe-12345", "And my last payment?"),
        ("req-3", "session-123", "user-joe", "Hello")]:
    handle_chat(http_request({"X-Request-ID": request_id, "X-Session-ID": session,
                              "X-User-ID": user}), ChatRequest(message=message))
    trace_ids.append(mlflow.get_last_active_trace_id())
feedback = handle_chat_feedback(
    http_request({"X-User-ID": "user-jane-doe-12345"}),
    client_request_id="req-abc-123-xyz-789",
    feedback=FeedbackRequest(is_correct=True, comment="Accurate and helpful"))
'''

SEED_002_REPORT = '''
from seed_parity import report
report(trace_ids, searches={"user_traces": lambda: user_traces,
                            "session_traces": lambda: session_traces},
       outputs={"feedback": {"name": feedback.name, "value": feedback.value,
                             "rationale": feedback.rationale,
                             "source_id": feedback.source.source_id,
                             "trace_id": feedback.trace_id}})
'''


@dataclass(frozen=True)
class Case:
    code: str
    needs_openai: bool = False


CASES = {
    "seed_003_quickstart_with_autolog": Case(
        SEED_003_STEP_1.replace(_DATABRICKS_CREDENTIALS, _OWN_CREDENTIALS)
        + SEED_003_STEP_2 + SEED_003_DRIVER, needs_openai=True),
    "seed_000_feedback_by_trace_id": Case(
        SEED_000_BACKEND + SEED_000_DETAILED + SEED_000_ANALYSIS + SEED_000_TRACE_ID_DRIVER),
    "seed_000_feedback_by_client_request_id": Case(
        SEED_000_REQUEST_ID_BACKEND + SEED_000_REQUEST_ID_DRIVER),
    "seed_000_feedback_on_a_streamed_response": Case(
        SEED_000_STREAMING_PRELUDE + SEED_000_STREAMING + SEED_000_STREAMING_DRIVER),
    "seed_002_metadata_feedback_and_queries": Case(
        SEED_002_CHAT + SEED_002_FEEDBACK + SEED_002_DRIVER + SEED_002_QUERIES
        + SEED_002_REPORT),
}


def test_the_credentials_swap_finds_the_seed_text() -> None:
    assert _DATABRICKS_CREDENTIALS in SEED_003_STEP_1


def run_case(python: Path, code: str, tracking_uri: str, folder: Path,
             env: dict[str, str]) -> dict[str, Any]:
    """``code`` run by the mlflow venv's python in ``folder`` with the tracking URI set; the
    report it printed."""
    folder.mkdir()
    script = folder / "snippet.py"
    script.write_text(code)
    done = subprocess.run(
        [str(python), str(script)], capture_output=True, text=True, cwd=folder, timeout=300,
        env=mlflow_env() | env | {"MLFLOW_TRACKING_URI": tracking_uri,
                                  "PYTHONPATH": str(HERE)})
    lines = [line for line in done.stdout.splitlines() if line.startswith(REPORT_PREFIX)]
    assert done.returncode == 0 and lines, (
        f"the snippet failed against {tracking_uri} (exit {done.returncode}):\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    report: dict[str, Any] = json.loads(lines[-1][len(REPORT_PREFIX):])
    return report


#: Where Assay answers otherwise than mlflow's own store, on purpose or not yet: the
#: difference at each path (a regular expression) is left out, for the reason given.
KNOWN_DIFFERENCES = {
    # On purpose: Assay keeps no artifacts, so it sets no mlflow.artifactLocation tag (the
    # client needs one only to upload traces.json, which Assay never asks for, and for
    # attachments).
    r"traces\.T\d+\.has_artifact_location": "no mlflow.artifactLocation tag on Assay",
    # On purpose: mlflow.trace.infoFinalized = "true" is mlflow's SQL store's own marker for
    # its merging of StartTraceV3 with spans logged apart (the client never reads it);
    # Assay merges its own way (ingest.stored_header_kept) and needs no marker.
    r"traces\.T\d+\.metadata\.mlflow\.trace\.infoFinalized":
        "no mlflow.trace.infoFinalized metadata on Assay",
    # On purpose: the seeds filter on tags.`mlflow.trace.user` / `mlflow.trace.session`
    # (which work on Databricks); Assay reads them as the user and session, mlflow's SQL
    # store looks for tags of those names, which no trace has, and finds nothing.
    r"searches\.(user_traces|session_traces)": "tags.`mlflow.trace.user|session` match on "
                                               "Assay, as on Databricks",
}


def unexpected(found: list[str]) -> list[str]:
    """The differences not in KNOWN_DIFFERENCES."""
    return [d for d in found
            if not any(re.match(pattern + ":", d) for pattern in KNOWN_DIFFERENCES)]


def differences(assay: Any, mlflow: Any, path: str = "") -> list[str]:
    """Every place where the two reports differ, as ``path: assay != mlflow``."""
    if isinstance(assay, dict) and isinstance(mlflow, dict):
        found = []
        for key in sorted(set(assay) | set(mlflow)):
            where = f"{path}.{key}" if path else key
            if key not in mlflow:
                found.append(f"{where}: only on Assay: {assay[key]!r}")
            elif key not in assay:
                found.append(f"{where}: only on mlflow: {mlflow[key]!r}")
            else:
                found += differences(assay[key], mlflow[key], where)
        return found
    if isinstance(assay, list) and isinstance(mlflow, list) and len(assay) == len(mlflow):
        return [d for i, (a, m) in enumerate(zip(assay, mlflow, strict=True))
                for d in differences(a, m, f"{path}[{i}]")]
    return [] if assay == mlflow else [f"{path}: Assay {assay!r} != mlflow {mlflow!r}"]


@pytest.fixture(scope="module")
def openai_server() -> Iterator[JudgeServer]:
    """An OpenAI-compatible server for the apps that call an LLM (tests/genai)."""
    server = JudgeServer()
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_seed_snippet_leaves_the_same_on_assay_as_on_mlflow(
        name: str, mlflow_python: Path, served: Served, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    case = CASES[name]
    # The snippets log feedback (and search) right after the call. With the client's default
    # asynchronous trace logging, mlflow's own store refuses that feedback ("Trace ... not
    # found": the trace is still in the client's queue) where Assay keeps it pending; the two
    # can only be compared with the trace written before the call returns.
    env = {"MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false"}
    if case.needs_openai:
        env["OPENAI_BASE_URL"] = request.getfixturevalue("openai_server").base_url
    on_assay = run_case(mlflow_python, case.code, served.url, tmp_path / "assay", env)
    on_mlflow = run_case(mlflow_python, case.code,
                         f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}",
                         tmp_path / "mlflow", env)
    found = unexpected(differences(on_assay, on_mlflow))
    assert not found, "\n".join(found)
