"""A chat app that collects its users' feedback with Assay: the FastAPI app of MLflow 3's
"collect user feedback" guides, with ``mlflow`` replaced by ``assay``.

:func:`create_app` builds it; ``examples/chat_app/main.py`` in the repository is the runnable
module (traces go where ``ASSAY_TRACKING_URI`` points)::

    ASSAY_TRACKING_URI=http://127.0.0.1:5000 uvicorn examples.chat_app.main:app --port 8001

``assay demo`` drives it in-process, as its end users would.

=====================================  =========================================================
endpoint                               what it does
=====================================  =========================================================
``GET /``                              the chat page (``static/``)
``POST /chat``                         answers ``{"message"}``; returns the answer, the trace id
                                       and the client request id
``POST /chat/stream``                  the same answer as server-sent events: ``start`` (the
                                       trace id, at once), ``token`` ..., then ``done`` (the
                                       trace id again) or ``error``
``POST /feedback?trace_id=``           a thumbs up or down (``{"is_correct", "comment"}``) on
``POST /feedback?client_request_id=``  the answer's trace, found by trace id or by the app's
                                       own request id; named ``user_feedback``
``POST /chat_feedback``                the same by ``client_request_id``, named
                                       ``response_is_correct``; returns the feedback
``POST /detailed-feedback``            accuracy, helpfulness and relevance from 1 to 5, each
                                       stored divided by 5 (``user_accuracy`` ...)
``POST /session-feedback``             a rating of a whole conversation from 1 to 5, named
                                       ``conversation_rating``
=====================================  =========================================================

Every answer is one trace: a CHAIN root span with the question and the answer, a RETRIEVER
span with the documents it used, and a CHAT_MODEL span with the messages, the answer and the
token usage. The ``X-Request-ID``, ``X-Session-ID`` and ``X-User-ID`` headers become the
trace's client request id, session and user. Errors are JSON ``{"error_code", "message"}``,
as from the Assay server; a language model that fails is 502 ``LANGUAGE_MODEL_FAILED`` (an
``error`` event in a stream), and its trace is ERROR.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

import assay
from assay.entities import AssessmentSource, AssessmentSourceType, Feedback, SpanType
from assay.errors import AssayError, InvalidParameterError, NotFoundError, PermissionDeniedError
from assay.examples.chat_app.documents import retrieve_documents
from assay.examples.chat_app.llm import LanguageModelError, build_messages, create_chat_model
from assay.examples.chat_app.settings import ChatAppSettings
from assay.ids import is_trace_id
from assay.search.unparse import quote_string
from assay.server.errors import error_response, install_error_handlers

__all__ = ["create_app"]

_log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
#: The feedback name of the thumbs (the seeds' name); the widget records it too.
USER_FEEDBACK = "user_feedback"
#: The feedback name ``/chat_feedback`` records (the name in the seeds' example of it).
RESPONSE_IS_CORRECT = "response_is_correct"
#: What went wrong, picked by the user with a thumbs down (``issue_category`` of a vote).
ISSUE_CATEGORY = "issue_category"
#: The feedback name of a rating of a whole conversation (``/session-feedback``).
CONVERSATION_RATING = "conversation_rating"
#: The longest id a header may carry (Assay's limit for client request, session and user ids).
MAX_ID_CHARS = 250
TRACE_ID_PATTERN = r"^tr-[0-9a-f]{32}$"
#: How long an answer waits for its feedback token before going on without one.
TOKEN_WAIT_SECONDS = 3.0

RequestIdHeader = Annotated[str | None, Header(
    alias="X-Request-ID", max_length=MAX_ID_CHARS,
    description="The app's own id for this request (default: a new one)")]
SessionHeader = Annotated[str | None, Header(
    alias="X-Session-ID", max_length=MAX_ID_CHARS,
    description="The conversation this request belongs to")]
UserHeader = Annotated[str | None, Header(
    alias="X-User-ID", max_length=MAX_ID_CHARS, description="Who is asking")]
TraceIdQuery = Annotated[str, Query(
    pattern=TRACE_ID_PATTERN, description="The trace id of the answer, from /chat")]


class RequestModel(BaseModel):
    """A request body: unknown fields and values of the wrong type are refused (400)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ChatRequest(RequestModel):
    message: str = Field(min_length=1, max_length=4000, description="The user's question")


class FeedbackWidget(BaseModel):
    """What the page needs to show the ``<assay-feedback>`` widget for an answer."""

    token: str = Field(description="A feedback token for the answer's trace")
    server: str = Field(description="The Assay server the browser sends the votes to")
    names: list[str] = Field(description="The feedback names the token allows")


class ChatResponse(BaseModel):
    response: str
    trace_id: str = Field(description="The answer's trace: give it back with feedback")
    client_request_id: str = Field(description="The request id (X-Request-ID, or a new one)")
    feedback: FeedbackWidget | None = Field(
        default=None, description="Set when the app knows the Assay server's public URL")


class FeedbackRequest(RequestModel):
    is_correct: bool = Field(description="True for thumbs up, False for thumbs down")
    comment: str | None = Field(default=None, max_length=10_000,
                                description="Why, in the user's words")
    replaces: str | None = Field(
        default=None, pattern=r"^a-[0-9a-f]{32}$",
        description="The assessment_id of this user's earlier vote on the same answer, which "
                    "this one replaces (the earlier one is kept as history)")
    issue_category: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="With a thumbs down: what went wrong (e.g. 'incomplete'), recorded as "
                    "its own feedback 'issue_category'")


class FeedbackResponse(BaseModel):
    status: Literal["success"] = "success"
    trace_id: str
    assessment_id: str = Field(description="Give it as `replaces` to change this vote")


class DetailedFeedbackResponse(BaseModel):
    status: Literal["success"] = "success"
    trace_id: str
    feedback_recorded: dict[str, int] = Field(description="The ratings, from 1 to 5")


class SessionFeedbackResponse(BaseModel):
    status: Literal["success"] = "success"
    session_id: str
    trace_id: str = Field(description="The session's first trace, which keeps the rating")
    assessment_id: str


def create_app(settings: ChatAppSettings | None = None) -> FastAPI:
    """The chat app.

    Args:
        settings: how it runs; default :meth:`ChatAppSettings.from_env`.
    """
    settings = settings or ChatAppSettings.from_env()
    model = create_chat_model(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        assay.set_experiment(settings.experiment_name)
        if settings.uses_openai:
            assay.openai.autolog()
        yield
        await model.aclose()
        assay.flush_trace_async_logging()

    app = FastAPI(title="Assay chat example", lifespan=lifespan)
    install_error_handlers(app)
    app.add_exception_handler(LanguageModelError, _model_failed)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.post("/chat", response_model=ChatResponse)
    def chat(request: ChatRequest, request_id: RequestIdHeader = None,
             session_id: SessionHeader = None, user_id: UserHeader = None) -> ChatResponse:
        """Answer a question; the answer comes with its trace id for feedback."""
        client_request_id = request_id or _new_client_request_id()
        with assay.start_span("chat", span_type=SpanType.CHAIN) as root:
            root.set_inputs({"message": request.message})
            _describe_trace(settings, client_request_id, session_id, user_id)
            documents = retrieve_documents(request.message)
            response = model.complete(build_messages(request.message, documents))
            root.set_outputs(response)
            trace_id = root.trace_id
        return ChatResponse(response=response, trace_id=trace_id,
                            client_request_id=client_request_id,
                            feedback=_feedback_widget(settings, trace_id, user_id))

    @app.post("/chat/stream", response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "start, token ..., then done or error"}})
    async def chat_stream(request: ChatRequest, request_id: RequestIdHeader = None,
                          session_id: SessionHeader = None,
                          user_id: UserHeader = None) -> StreamingResponse:
        """Stream the answer as server-sent events; the first one carries the trace id."""
        client_request_id = request_id or _new_client_request_id()

        @assay.trace(name="chat_stream", span_type=SpanType.CHAIN,
                     output_reducer=_streamed_answer)
        async def answer(message: str) -> AsyncGenerator[dict[str, Any], None]:
            # Each event sent is also recorded on the root span; @assay.trace keeps the span
            # current only while this body runs, so a reader who leaves early is harmless.
            _describe_trace(settings, client_request_id, session_id, user_id)
            trace_id = assay.get_active_trace_id()
            widget = None
            if trace_id is not None:
                try:
                    widget = await asyncio.wait_for(
                        asyncio.to_thread(_feedback_widget, settings, trace_id, user_id),
                        TOKEN_WAIT_SECONDS)
                except TimeoutError:
                    # The server is slow or away: the page uses this app's /feedback.
                    _log.warning("No feedback token for trace %s within %s s", trace_id,
                                 TOKEN_WAIT_SECONDS)
            # The trace id comes first, so the page can take feedback at once.
            yield {"type": "start", "trace_id": trace_id,
                   "client_request_id": client_request_id,
                   "feedback": widget.model_dump() if widget else None}
            documents = retrieve_documents(message)
            async with aclosing(model.stream(build_messages(message, documents))) as tokens:
                async for token in tokens:
                    yield {"type": "token", "content": token}

        async def events() -> AsyncIterator[str]:
            trace_id = None
            try:
                async with aclosing(answer(request.message)) as stream:
                    async for event in stream:
                        trace_id = event.get("trace_id", trace_id)
                        yield _sse(event)
            except Exception:
                # The root span recorded the exception, so the trace is ERROR; the page is
                # told without the details, which stay in the trace and the log.
                _log.exception("The answer to request %s failed", client_request_id)
                yield _sse({"type": "error", "trace_id": trace_id,
                            "client_request_id": client_request_id,
                            "error": "The answer could not be completed. Please try again."})
                return
            # Sent once the trace is finished, so a search by client request id finds it.
            yield _sse({"type": "done", "trace_id": trace_id,
                        "client_request_id": client_request_id})

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    @app.post("/feedback", response_model=FeedbackResponse)
    def submit_feedback(
            feedback: FeedbackRequest,
            trace_id: Annotated[str | None, Query(
                pattern=TRACE_ID_PATTERN,
                description="The trace id from the chat response")] = None,
            client_request_id: Annotated[str | None, Query(
                max_length=MAX_ID_CHARS,
                description="Instead of trace_id: the request id of the chat")] = None,
            user_id: Annotated[str | None, Query(
                max_length=MAX_ID_CHARS,
                description="User identifier (default: the X-User-ID header)")] = None,
            x_user_id: UserHeader = None) -> FeedbackResponse:
        """Record a thumbs up or down, with an optional comment, on an answer."""
        if (trace_id is None) == (client_request_id is None):
            raise InvalidParameterError(
                "Give exactly one of the query parameters 'trace_id' and 'client_request_id'")
        found = trace_id or _trace_id_for(client_request_id or "")
        vote = _record_vote(found, USER_FEEDBACK, feedback, user_id or x_user_id)
        assert vote.assessment_id is not None
        return FeedbackResponse(trace_id=found, assessment_id=vote.assessment_id)

    @app.post("/chat_feedback")
    def chat_feedback(
            feedback: FeedbackRequest,
            client_request_id: Annotated[str, Query(
                max_length=MAX_ID_CHARS,
                description="The client request ID from the original chat request")],
            user_id: UserHeader = None) -> dict[str, Any]:
        """Record a thumbs up or down on the answer to a request; returns the feedback."""
        trace_id = _trace_id_for(client_request_id)
        return _record_vote(trace_id, RESPONSE_IS_CORRECT, feedback, user_id).to_dictionary()

    @app.post("/detailed-feedback", response_model=DetailedFeedbackResponse)
    def submit_detailed_feedback(
            trace_id: TraceIdQuery,
            accuracy: Annotated[int, Query(ge=1, le=5, description="Accuracy from 1 to 5")],
            helpfulness: Annotated[int, Query(ge=1, le=5,
                                              description="Helpfulness from 1 to 5")],
            relevance: Annotated[int, Query(ge=1, le=5, description="Relevance from 1 to 5")],
            user_id: Annotated[str, Query(min_length=1, max_length=MAX_ID_CHARS,
                                          description="User identifier")],
            comment: Annotated[str | None, Query(max_length=10_000)] = None,
    ) -> DetailedFeedbackResponse:
        """Record three ratings, each as its own feedback scaled to 0-1."""
        dimensions = {"accuracy": accuracy, "helpfulness": helpfulness,
                      "relevance": relevance}
        source = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id=user_id)
        for dimension, score in dimensions.items():
            assay.log_feedback(trace_id=trace_id, name=f"user_{dimension}", value=score / 5.0,
                               source=source,
                               rationale=comment if dimension == "accuracy" else None)
        return DetailedFeedbackResponse(trace_id=trace_id, feedback_recorded=dimensions)

    @app.post("/session-feedback", response_model=SessionFeedbackResponse)
    def submit_session_feedback(
            rating: Annotated[int, Query(ge=1, le=5,
                                         description="The whole conversation, from 1 to 5")],
            session_id: Annotated[str | None, Query(
                min_length=1, max_length=MAX_ID_CHARS,
                description="The conversation (default: the X-Session-ID header)")] = None,
            user_id: Annotated[str | None, Query(
                max_length=MAX_ID_CHARS,
                description="User identifier (default: the X-User-ID header)")] = None,
            comment: Annotated[str | None, Query(max_length=10_000)] = None,
            x_session_id: SessionHeader = None,
            x_user_id: UserHeader = None) -> SessionFeedbackResponse:
        """Record a rating of a whole conversation, kept on the session's first trace."""
        session = session_id or x_session_id
        if not session:
            raise InvalidParameterError(
                "Give the conversation as the query parameter 'session_id' or the header "
                "'X-Session-ID'")
        source = AssessmentSource(source_type=AssessmentSourceType.HUMAN,
                                  source_id=user_id or x_user_id)
        rated = assay.log_feedback(session_id=session, name=CONVERSATION_RATING, value=rating,
                                   source=source, rationale=comment)
        assert rated.trace_id is not None and rated.assessment_id is not None
        return SessionFeedbackResponse(session_id=session, trace_id=rated.trace_id,
                                       assessment_id=rated.assessment_id)

    return app


def _model_failed(request: Request, exc: Exception) -> JSONResponse:
    # The trace holds the error; the caller gets no details of the endpoint.
    _log.error("%s %s: %s", request.method, request.url.path, exc)
    return error_response(502, "LANGUAGE_MODEL_FAILED",
                          "The language model could not answer; please try again")


def _new_client_request_id() -> str:
    return f"req-{uuid.uuid4().hex[:12]}"


def _describe_trace(settings: ChatAppSettings, client_request_id: str,
                    session_id: str | None, user_id: str | None) -> None:
    """Put the request's ids and the app's environment on the current trace."""
    assay.update_current_trace(
        client_request_id=client_request_id, session_id=session_id or None,
        user=user_id or None,
        metadata={"environment": settings.environment, "app_version": settings.app_version})


def _feedback_widget(settings: ChatAppSettings, trace_id: str,
                     user_id: str | None) -> FeedbackWidget | None:
    """A feedback token for the browser, when the app knows where the Assay server is."""
    if settings.assay_url is None or not is_trace_id(trace_id):  # tracing off: no trace
        return None
    try:
        token = assay.create_feedback_token(trace_id, names=[USER_FEEDBACK],
                                            end_user_id=user_id or None,
                                            expires_in=settings.feedback_token_seconds)
    except AssayError as exc:
        # The page then sends the thumbs to this app's /feedback instead.
        _log.warning("No feedback token for trace %s: %s", trace_id, exc)
        return None
    return FeedbackWidget(token=token, server=settings.assay_url, names=[USER_FEEDBACK])


def _trace_id_for(client_request_id: str) -> str:
    """The newest trace of the app's experiment with this client request id."""
    traces = assay.search_traces(
        filter_string=f"attributes.client_request_id = {quote_string(client_request_id)}",
        max_results=1, return_type="list", include_spans=False)
    if not traces:
        raise NotFoundError(f"No finished answer with client request ID "
                            f"{client_request_id!r}")
    assert isinstance(traces, list)
    return traces[0].info.trace_id


def _record_vote(trace_id: str, name: str, feedback: FeedbackRequest,
                 user_id: str | None) -> Feedback:
    """Log a thumbs up or down by an end user, or replace their earlier one; with a thumbs
    down, log what went wrong too (after the vote, so a refused vote writes nothing)."""
    if feedback.issue_category is not None and feedback.is_correct:
        raise InvalidParameterError(
            "Invalid issue_category: it goes with a thumbs down ('is_correct': false) only")
    source = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id=user_id)
    if feedback.replaces is None:
        vote = assay.log_feedback(trace_id=trace_id, name=name, value=feedback.is_correct,
                                  source=source, rationale=feedback.comment)
    else:
        earlier = assay.get_assessment(trace_id, feedback.replaces)
        if earlier.name != name or earlier.source != source:
            raise PermissionDeniedError(
                f"Invalid replaces {feedback.replaces!r}: it is not this user's {name!r} vote "
                f"on trace {trace_id!r}")
        vote = assay.override_feedback(trace_id=trace_id, assessment_id=feedback.replaces,
                                       value=feedback.is_correct, rationale=feedback.comment,
                                       source=source)
    if feedback.issue_category is not None:
        assay.log_feedback(trace_id=trace_id, name=ISSUE_CATEGORY,
                           value=feedback.issue_category, source=source)
    return vote


def _streamed_answer(events: list[dict[str, Any]]) -> str:
    """The outputs of a streamed answer's root span: the text of its token events."""
    return "".join(e["content"] for e in events if e.get("type") == "token")


def _sse(event: dict[str, Any]) -> str:
    """One server-sent event: its type as ``event:``, and the whole of it as JSON ``data:``
    (which keeps the type too, for readers that look at ``data:`` lines only)."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"

