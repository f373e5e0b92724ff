"""The chat app of examples/chat_app end to end: the app as its README starts it (uvicorn
on 127.0.0.1) sending its traces to a real Assay server over HTTP, every endpoint of the
seeds, the stream read as a browser reads it, an OpenAI-compatible endpoint through the real
openai client, and a model that fails mid-stream. (Its page in Chromium:
tests/ui/test_chat_page.py.)

This folder has no ``__init__.py``: a package named ``examples`` here would hide the
repository's ``examples`` package.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import assay
from assay.entities import AssessmentSourceType, SpanStatusCode, SpanType, Trace
from assay.entities.trace import TraceState
from assay.feedback_tokens import FEEDBACK_TOKEN_PURPOSE, verify_token
from assay.ids import is_trace_id
from chat_app_harness import (
    AppProcess,
    AssayServer,
    ChatApp,
    assay_server_at,
    compatible_server_module,
    experiment_id,
    feedback_named,
    read_events,
    runtime_sending_to,
    serve_app,
    stored,
    stream_chat,
)
from local_http import LOCAL_TLS
from server.feedback_helpers import wait_for

HEADERS = {"X-Request-ID": "req-abc-123-xyz-789", "X-Session-ID": "session-def-456",
           "X-User-ID": "user-jane-doe-12345"}


# -- fixtures: one server and one set of apps for the whole module ------------------------

@pytest.fixture(scope="module")
def assay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AssayServer]:
    with assay_server_at(tmp_path_factory.mktemp("assay-server") / "assay.db") as server:
        yield server


@pytest.fixture(scope="module")
def offline_app(assay_server: AssayServer) -> Iterator[ChatApp]:
    """``uvicorn examples.chat_app.main:app`` from the repository root, with
    ASSAY_TRACKING_URI pointing at the server and no LLM configured (the offline
    responder)."""
    app = AppProcess({"ASSAY_TRACKING_URI": assay_server.url, "CHAT_APP_TOKEN_DELAY": "0"})
    try:
        url = app.wait_ready()
        with httpx.Client(base_url=url, verify=LOCAL_TLS, timeout=30) as http:
            yield ChatApp(url, http, "chat-app")
    finally:
        app.stop()


@pytest.fixture(scope="module")
def thread_runtime(assay_server: AssayServer) -> Iterator[None]:
    with runtime_sending_to(assay_server):
        yield


@pytest.fixture(scope="module")
def compatible_api() -> Iterator[Any]:
    """The OpenAI-compatible test server of tests/openai."""
    server = compatible_server_module().CompatibleServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def openai_app(thread_runtime: None, compatible_api: Any) -> Iterator[ChatApp]:
    """The app answering through the real openai client, from the compatible server."""
    try:
        with serve_app(openai_base_url=compatible_api.base_url,
                       openai_api_key="sk-test-key", model="gpt-4o-mini") as app:
            yield app
    finally:
        assay.openai.autolog(disable=True)


@pytest.fixture(scope="module")
def failing_app(thread_runtime: None, compatible_api: Any) -> Iterator[ChatApp]:
    """The app with a model whose streams break after two chunks."""
    try:
        with serve_app(openai_base_url=compatible_api.base_url,
                       openai_api_key="sk-test-key", model="stream-error") as app:
            yield app
    finally:
        assay.openai.autolog(disable=True)


@pytest.fixture(scope="module")
def refusing_app(thread_runtime: None, compatible_api: Any) -> Iterator[ChatApp]:
    """The app with a model the endpoint refuses (400)."""
    try:
        with serve_app(openai_base_url=compatible_api.base_url,
                       openai_api_key="sk-test-key", model="error-400") as app:
            yield app
    finally:
        assay.openai.autolog(disable=True)


@pytest.fixture(scope="module")
def widget_app(thread_runtime: None, assay_server: AssayServer) -> Iterator[ChatApp]:
    """The offline app, told where the Assay server is: its answers carry feedback tokens."""
    with serve_app(assay_url=assay_server.url) as app:
        yield app


def spans_by_type(trace: Trace) -> dict[str, Any]:
    return {span.span_type: span for span in trace.data.spans}


#: Questions on different topics, each with words its fitting answer must contain.
TOPICAL_QUESTIONS = {
    "How do I trace my chatbot?": "tree of spans",
    "How do users give feedback?": "thumbs up or down",
    "How long is a feedback token valid?": "one hour",
    "How do I find a trace by my own request id?": "client_request_id",
    "What is a session?": "one conversation",
    "Are the ratings averaged?": "average of each rating",
    "Can users vote before a streamed answer is finished?": "server-sent events",
    "Who reviews traces as an expert?": "domain experts",
    "Do I need PostgreSQL on my laptop?": "SQLite file",
    "Does it count token usage of each call?": "input, output and total tokens",
    "Where does the latency show?": "95th percentile",
    "How do I see which span raised an exception?": "stack trace",
    "How do I search for thumbs down in production?": "search string",
    "What does an agent trace show with its tool calls?": "TOOL span",
    "How does evaluation use scorers?": "scorers",
    "How do I build an evaluation dataset?": "records",
    "What does the Team plan cost?": "1 million traces",
    "How long are old traces kept?": "delete_traces",
    "Can I compare two app versions?": "production against staging",
    "Are API keys stored safely?": "hashes",
    "Which Python version does the SDK need?": "3.11",
}


# -- POST /chat ----------------------------------------------------------------------------

def test_different_questions_get_fitting_different_answers(offline_app: ChatApp) -> None:
    answers = {}
    for question, expected in TOPICAL_QUESTIONS.items():
        response = offline_app.http.post("/chat", json={"message": question}, headers=HEADERS)
        assert response.status_code == 200, response.text
        answers[question] = response.json()["response"]
        assert expected in answers[question], (question, answers[question])
    assert len(set(answers.values())) == len(TOPICAL_QUESTIONS)
    # The offline responder is deterministic: the same question, the same answer.
    again = offline_app.http.post("/chat", json={"message": "What is a session?"}).json()
    assert again["response"] == answers["What is a session?"]


def test_chat_returns_the_trace_id_and_records_a_rag_trace(offline_app: ChatApp,
                                                          assay_server: AssayServer) -> None:
    question = "How do users give feedback?"
    response = offline_app.http.post("/chat", json={"message": question}, headers=HEADERS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["client_request_id"] == HEADERS["X-Request-ID"]
    assert is_trace_id(body["trace_id"])
    assert body["feedback"] is None  # the app was not told where the server is
    assert "thumbs up or down" in body["response"]

    trace = stored(assay_server, body["trace_id"])
    info = trace.info
    assert info.experiment_id == experiment_id(assay_server, offline_app)
    assert info.state == TraceState.OK
    assert info.client_request_id == HEADERS["X-Request-ID"]
    assert (info.session_id, info.user_id) == (HEADERS["X-Session-ID"],
                                               HEADERS["X-User-ID"])
    assert info.trace_metadata["environment"] == "development"
    assert info.trace_metadata["app_version"] == "1.0.0"
    assert (info.request_preview, info.response_preview) == (question, body["response"])

    spans = spans_by_type(trace)
    root, retriever, llm = (spans[SpanType.CHAIN], spans[SpanType.RETRIEVER],
                            spans[SpanType.CHAT_MODEL])
    assert len(trace.data.spans) == 3
    assert root.parent_id is None and root.name == "chat"
    assert retriever.parent_id == root.span_id == llm.parent_id
    assert retriever.inputs == {"query": question, "k": 2}
    documents = retriever.outputs
    assert [d["id"] for d in documents] == ["feedback", "feedback-tokens"]
    assert all(d["page_content"] and d["metadata"]["doc_uri"] for d in documents)
    messages = llm.inputs["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"].endswith(f"Question: {question}")
    assert documents[0]["page_content"] in messages[1]["content"]
    assert llm.outputs["choices"][0]["message"]["content"] == body["response"]
    usage = llm.attributes["mlflow.chat.tokenUsage"]
    assert usage["input_tokens"] > 50 and usage["output_tokens"] > 10
    assert info.token_usage == usage


# -- feedback ------------------------------------------------------------------------------

def test_feedback_by_trace_id_and_a_changed_vote_replaces_the_first(
        offline_app: ChatApp, assay_server: AssayServer) -> None:
    trace_id = offline_app.http.post("/chat", json={"message": "What is a session?"}
                                     ).json()["trace_id"]
    first = offline_app.http.post(f"/feedback?trace_id={trace_id}&user_id=user-ann",
                                  json={"is_correct": True, "comment": None})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "success" and first.json()["trace_id"] == trace_id

    # The same user changes their mind and says why: their vote is replaced.
    second = offline_app.http.post(
        f"/feedback?trace_id={trace_id}", headers={"X-User-ID": "user-ann"},
        json={"is_correct": False, "comment": "It skipped the user part",
              "replaces": first.json()["assessment_id"]})
    assert second.status_code == 200, second.text
    # Nobody else can replace it.
    stolen = offline_app.http.post(
        f"/feedback?trace_id={trace_id}", headers={"X-User-ID": "user-bob"},
        json={"is_correct": True, "replaces": second.json()["assessment_id"]})
    assert stolen.status_code == 403, stolen.text
    assert stolen.json()["error_code"] == "PERMISSION_DENIED"

    old, new = feedback_named(stored(assay_server, trace_id, 2), "user_feedback")
    assert (old.value, old.valid) == (True, False)
    assert (new.value, new.valid, new.overrides) == (False, True, old.assessment_id)
    assert new.rationale == "It skipped the user part"
    assert new.source.source_type == AssessmentSourceType.HUMAN
    assert new.source.source_id == "user-ann"
    assert new.assessment_id == second.json()["assessment_id"]


def test_feedback_by_client_request_id(offline_app: ChatApp,
                                       assay_server: AssayServer) -> None:
    headers = {**HEADERS, "X-Request-ID": "req-it's-mine"}  # a quote is no problem
    chat = offline_app.http.post("/chat", json={"message": "Where are traces stored?"},
                                 headers=headers).json()
    assert chat["client_request_id"] == "req-it's-mine"

    # The seeds' approach 2: /feedback?client_request_id=...
    voted = offline_app.http.post("/feedback", params={"client_request_id": "req-it's-mine"},
                                  headers={"X-User-ID": "user-jane"},
                                  json={"is_correct": True, "comment": "Clear"})
    assert voted.status_code == 200, voted.text
    assert voted.json()["trace_id"] == chat["trace_id"]
    # And /chat_feedback, which answers with the feedback itself.
    recorded = offline_app.http.post(
        "/chat_feedback", params={"client_request_id": "req-it's-mine"},
        headers={"X-User-ID": "user-jane"},
        json={"is_correct": False, "comment": "On second thought, too short"})
    assert recorded.status_code == 200, recorded.text
    feedback = recorded.json()
    assert feedback["assessment_name"] == "response_is_correct"
    assert feedback["trace_id"] == chat["trace_id"]
    assert feedback["feedback"] == {"value": False}
    assert feedback["source"] == {"source_type": "HUMAN", "source_id": "user-jane"}

    trace = stored(assay_server, chat["trace_id"], 2)
    (thumbs,) = feedback_named(trace, "user_feedback")
    (correct,) = feedback_named(trace, "response_is_correct")
    assert (thumbs.value, thumbs.rationale) == (True, "Clear")
    assert (correct.value, correct.rationale) == (False, "On second thought, too short")

    missing = offline_app.http.post("/chat_feedback", params={"client_request_id": "req-nope"},
                                    json={"is_correct": True})
    assert missing.status_code == 404
    assert missing.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                              "message": "No finished answer with client request ID "
                                         "'req-nope'"}


def test_detailed_feedback_is_stored_normalized(offline_app: ChatApp,
                                                assay_server: AssayServer) -> None:
    trace_id = offline_app.http.post("/chat", json={"message": "How are ratings stored?"}
                                     ).json()["trace_id"]
    response = offline_app.http.post("/detailed-feedback", params={
        "trace_id": trace_id, "accuracy": 5, "helpfulness": 3, "relevance": 1,
        "user_id": "user-kim", "comment": "Accurate but not what I asked"})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success", "trace_id": trace_id,
                               "feedback_recorded": {"accuracy": 5, "helpfulness": 3,
                                                     "relevance": 1}}

    trace = stored(assay_server, trace_id, 3)
    values = {a.name: (a.value, a.rationale, a.source.source_id)
              for a in trace.info.assessments}
    assert values == {"user_accuracy": (1.0, "Accurate but not what I asked", "user-kim"),
                      "user_helpfulness": (0.6, None, "user-kim"),
                      "user_relevance": (0.2, None, "user-kim")}


def test_a_thumbs_down_says_what_went_wrong(offline_app: ChatApp,
                                            assay_server: AssayServer) -> None:
    trace_id = offline_app.http.post("/chat", json={"message": "What does the plan cost?"}
                                     ).json()["trace_id"]
    # With a thumbs up there is nothing wrong to say, and nothing is written.
    refused = offline_app.http.post("/feedback", params={"trace_id": trace_id},
                                    headers={"X-User-ID": "user-lee"},
                                    json={"is_correct": True, "issue_category": "off_topic"})
    assert refused.status_code == 400, refused.text
    assert "issue_category" in refused.json()["message"]
    voted = offline_app.http.post("/feedback", params={"trace_id": trace_id},
                                  headers={"X-User-ID": "user-lee"},
                                  json={"is_correct": False, "issue_category": "off_topic"})
    assert voted.status_code == 200, voted.text

    trace = stored(assay_server, trace_id, 2)
    assert [(a.value, a.source.source_id) for a in feedback_named(trace, "user_feedback")] \
        == [(False, "user-lee")]
    assert [(a.value, a.source.source_id) for a in feedback_named(trace, "issue_category")] \
        == [("off_topic", "user-lee")]


def test_session_feedback_rates_the_whole_conversation(offline_app: ChatApp,
                                                       assay_server: AssayServer) -> None:
    headers = {"X-Session-ID": "session-rated-1", "X-User-ID": "user-ivy"}
    first = offline_app.http.post("/chat", json={"message": "What is a session?"},
                                  headers={**headers, "X-Request-ID": "req-rated-1"}).json()
    offline_app.http.post("/chat", json={"message": "And a user id?"},
                          headers={**headers, "X-Request-ID": "req-rated-2"})
    rated = offline_app.http.post("/session-feedback", headers=headers,
                                  params={"rating": 4, "comment": "Got there quickly"})
    assert rated.status_code == 200, rated.text
    assert rated.json()["session_id"] == "session-rated-1"
    assert rated.json()["trace_id"] == first["trace_id"]

    (rating,) = feedback_named(stored(assay_server, first["trace_id"], 1), "conversation_rating")
    assert (rating.value, rating.rationale, rating.source.source_id) \
        == (4, "Got there quickly", "user-ivy")
    assert rating.assessment_id == rated.json()["assessment_id"]

    missing_or_bad: list[tuple[dict[str, str | int], str]] = [
        ({"rating": 4}, "'session_id'"),
        ({"rating": 6, "session_id": "session-rated-1"}, "'rating'")]
    for params, names in missing_or_bad:
        bad = offline_app.http.post("/session-feedback", params=params)
        assert bad.status_code == 400, bad.text
        assert names in bad.json()["message"]
    unknown = offline_app.http.post("/session-feedback",
                                    params={"rating": 3, "session_id": "session-nobody"})
    assert unknown.status_code == 404, unknown.text


@pytest.mark.parametrize(("method", "path", "kwargs", "names"), [
    ("POST", "/chat", {"json": {}}, "'message'"),
    ("POST", "/chat", {"json": {"message": ""}}, "'message'"),
    ("POST", "/chat", {"json": {"message": "hi", "model": "x"}}, "'model'"),
    ("POST", "/chat", {"json": {"message": 42}}, "'message'"),
    ("POST", "/chat", {"content": b"{not json", "headers": {"Content-Type":
                                                             "application/json"}}, "JSON"),
    ("POST", "/chat", {"json": {"message": "hi"}, "headers": {"X-Request-ID": "r" * 251}},
     "'X-Request-ID'"),
    ("POST", "/chat/stream", {"json": {"message": ""}}, "'message'"),
    ("POST", "/feedback", {"json": {"is_correct": True}}, "'trace_id'"),
    ("POST", "/feedback?trace_id=tr-1", {"json": {"is_correct": True}}, "'trace_id'"),
    ("POST", "/feedback?trace_id=tr-" + "0" * 32, {"json": {"is_correct": "yes"}},
     "'is_correct'"),
    ("POST", "/feedback?trace_id=tr-" + "0" * 32,
     {"json": {"is_correct": True, "replaces": "a-1"}}, "'replaces'"),
    ("POST", "/chat_feedback", {"json": {"is_correct": True}}, "'client_request_id'"),
    ("POST", "/detailed-feedback", {"params": {"trace_id": "tr-" + "0" * 32, "accuracy": 6,
                                               "helpfulness": 0, "relevance": 3,
                                               "user_id": "u"}}, "'accuracy'"),
])
def test_bad_input_gets_a_clear_error_and_writes_nothing(
        offline_app: ChatApp, assay_server: AssayServer, method: str, path: str,
        kwargs: dict[str, Any], names: str) -> None:
    exp = experiment_id(assay_server, offline_app)
    before = len(assay_server.store.search_traces([exp], max_results=1000))
    response = offline_app.http.request(method, path, **kwargs)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert names in body["message"]
    assert len(assay_server.store.search_traces([exp], max_results=1000)) == before


# -- POST /chat/stream ---------------------------------------------------------------------

def test_stream_sends_the_trace_id_first_and_last(offline_app: ChatApp,
                                                 assay_server: AssayServer) -> None:
    question = "How does streaming work with feedback?"
    with offline_app.http.stream("POST", "/chat/stream", json={"message": question},
                                 headers=HEADERS) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        chunks = response.iter_raw()
        events = read_events(chunks)
    kinds = [e.type for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"} and len(kinds) > 10
    data = [e.json() for e in events]
    assert all(d["type"] == e.type for d, e in zip(data, events, strict=True))
    start, done = data[0], data[-1]
    assert is_trace_id(start["trace_id"]) and done["trace_id"] == start["trace_id"]
    assert start["client_request_id"] == done["client_request_id"] == HEADERS["X-Request-ID"]
    assert start["feedback"] is None
    answer = "".join(d["content"] for d in data[1:-1])
    assert "first event carries the trace id" in answer

    trace = stored(assay_server, start["trace_id"])
    assert trace.info.state == TraceState.OK
    assert (trace.info.request_preview, trace.info.response_preview) == (question, answer)
    assert trace.info.client_request_id == HEADERS["X-Request-ID"]
    assert trace.info.session_id == HEADERS["X-Session-ID"]
    spans = spans_by_type(trace)
    assert spans[SpanType.CHAIN].name == "chat_stream"
    assert spans[SpanType.CHAIN].outputs == answer
    assert spans[SpanType.RETRIEVER].outputs[0]["id"] == "streaming"
    llm = spans[SpanType.CHAT_MODEL]
    assert llm.outputs["choices"][0]["message"]["content"] == answer
    assert llm.attributes["mlflow.chat.tokenUsage"]["output_tokens"] > 10
    # Each word streamed is an event of the LLM span.
    assert len(llm.events) == len(data) - 2


def test_feedback_works_from_the_first_event(offline_app: ChatApp,
                                             assay_server: AssayServer) -> None:
    with offline_app.http.stream("POST", "/chat/stream",
                                 json={"message": "What is a label?"}) as response:
        chunks = response.iter_raw()
        first = b""
        while b"\n\n" not in first:
            first += next(chunks)
        (start,) = read_events(iter([first.split(b"\n\n")[0] + b"\n\n"]))
        trace_id = start.json()["trace_id"]
        # Before reading the rest of the answer: vote.
        voted = offline_app.http.post(f"/feedback?trace_id={trace_id}&user_id=user-fast",
                                      json={"is_correct": False})
        assert voted.status_code == 200, voted.text
        rest = read_events(chunks)
    assert rest[-1].type == "done"
    (vote,) = feedback_named(stored(assay_server, trace_id, 1), "user_feedback")
    assert (vote.value, vote.source.source_id) == (False, "user-fast")


# -- an OpenAI-compatible endpoint ----------------------------------------------------------

def test_openai_endpoint_answers_and_streams(openai_app: ChatApp, compatible_api: Any,
                                             assay_server: AssayServer) -> None:
    compatible_api.requests.clear()
    question = "Which headers does the app read?"
    chat = openai_app.http.post("/chat", json={"message": question}, headers=HEADERS)
    assert chat.status_code == 200, chat.text
    body = chat.json()
    assert body["response"].startswith("You said: Context:")
    assert body["response"].endswith(f"Question: {question}")
    (sent,) = compatible_api.requests
    assert sent.headers["authorization"] == "Bearer sk-test-key"
    assert sent.body["model"] == "gpt-4o-mini"
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]

    trace = stored(assay_server, body["trace_id"])
    assert trace.info.experiment_id == experiment_id(assay_server, openai_app)
    llm = spans_by_type(trace)[SpanType.CHAT_MODEL]
    assert llm.name == "Completions"  # recorded by assay.openai.autolog()
    assert llm.parent_id == spans_by_type(trace)[SpanType.CHAIN].span_id
    # The request carried the LLM span's trace context.
    assert llm.span_id in sent.headers["traceparent"]
    words = len(sent.body["messages"][0]["content"].split()) + len(
        sent.body["messages"][1]["content"].split())
    assert trace.info.token_usage == {"input_tokens": words,
                                      "output_tokens": len(body["response"].split()),
                                      "total_tokens": words + len(body["response"].split())}

    response, events = stream_chat(openai_app.http, question, HEADERS)
    assert response.status_code == 200
    data = [e.json() for e in events]
    assert [d["type"] for d in data[:1] + data[-1:]] == ["start", "done"]
    answer = "".join(d["content"] for d in data if d["type"] == "token")
    assert answer == body["response"]
    streamed = stored(assay_server, data[0]["trace_id"])
    llm = spans_by_type(streamed)[SpanType.CHAT_MODEL]
    assert llm.name == "AsyncCompletions"
    assert llm.outputs["choices"][0]["message"]["content"] == answer
    assert streamed.info.token_usage is not None
    assert streamed.info.token_usage["output_tokens"] == len(answer.split())


def test_an_llm_error_mid_stream_is_an_error_event_and_an_error_trace(
        failing_app: ChatApp, assay_server: AssayServer) -> None:
    response, events = stream_chat(failing_app.http, "Will this break?", HEADERS)
    assert response.status_code == 200
    kinds = [e.type for e in events]
    assert kinds[0] == "start" and kinds[-1] == "error" and "done" not in kinds
    assert set(kinds[1:-1]) <= {"token"}
    start, error = events[0].json(), events[-1].json()
    assert error["trace_id"] == start["trace_id"]
    assert error["error"] == "The answer could not be completed. Please try again."

    trace = stored(assay_server, start["trace_id"])
    assert trace.info.state == TraceState.ERROR
    spans = spans_by_type(trace)
    assert spans[SpanType.CHAIN].status.status_code == SpanStatusCode.ERROR
    assert spans[SpanType.CHAT_MODEL].status.status_code == SpanStatusCode.ERROR
    # The failed answer can still be rated.
    voted = failing_app.http.post(f"/feedback?trace_id={start['trace_id']}&user_id=u-1",
                                  json={"is_correct": False, "comment": "It broke"})
    assert voted.status_code == 200, voted.text
    (vote,) = feedback_named(stored(assay_server, start["trace_id"], 1), "user_feedback")
    assert vote.rationale == "It broke"


def test_a_refused_llm_call_is_a_502_and_an_error_trace(
        refusing_app: ChatApp, assay_server: AssayServer) -> None:
    response = refusing_app.http.post("/chat", json={"message": "Anyone there?"},
                                      headers={**HEADERS, "X-Request-ID": "req-refused"})
    assert response.status_code == 502
    assert response.json() == {"error_code": "LANGUAGE_MODEL_FAILED",
                               "message": "The language model could not answer; please "
                                          "try again"}
    found: list[Trace] = []

    def arrived() -> bool:
        found[:] = assay_server.store.search_traces(
            [experiment_id(assay_server, refusing_app)],
            filter_string="attributes.client_request_id = 'req-refused'")
        return bool(found)

    wait_for(arrived)
    assert found[0].info.state == TraceState.ERROR

    _, events = stream_chat(refusing_app.http, "Anyone there?")
    assert [e.type for e in events] == ["start", "error"]
    trace = stored(assay_server, events[0].json()["trace_id"])
    assert trace.info.state == TraceState.ERROR


# -- feedback tokens for the <assay-feedback> widget ---------------------------------------

def test_answers_carry_a_feedback_token_when_the_server_is_known(
        widget_app: ChatApp, assay_server: AssayServer) -> None:
    key = assay_server.store.signing_key(FEEDBACK_TOKEN_PURPOSE)
    chat = widget_app.http.post("/chat", json={"message": "hello"}, headers=HEADERS).json()
    widget = chat["feedback"]
    assert (widget["server"], widget["names"]) == (assay_server.url, ["user_feedback"])
    claims = verify_token(key, widget["token"])
    assert (claims.trace_id, claims.end_user_id, claims.names) == (
        chat["trace_id"], HEADERS["X-User-ID"], ("user_feedback",))

    # In a stream, the token comes in the first event, with the trace id.
    response, events = stream_chat(widget_app.http, "hello", {"X-User-ID": "user-lee"})
    assert response.status_code == 200
    start = events[0].json()
    assert start["type"] == "start" and events[-1].type == "done"
    claims = verify_token(key, start["feedback"]["token"])
    assert (claims.trace_id, claims.end_user_id) == (start["trace_id"], "user-lee")
    # With it, the browser votes at the server itself.
    vote = httpx.post(f"{assay_server.url}/api/v1/feedback", json={
        "token": start["feedback"]["token"], "name": "user_feedback", "value": True})
    assert vote.status_code in (201, 202), vote.text
    (stored_vote,) = feedback_named(stored(assay_server, start["trace_id"], 1), "user_feedback")
    assert (stored_vote.value, stored_vote.source.source_id) == (True, "user-lee")
