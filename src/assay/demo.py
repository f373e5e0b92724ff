"""Realistic demo data, recorded through the real path: the example chat app
(:mod:`assay.examples.chat_app`) answers simulated end users, who give their feedback through
its endpoints.

The app runs in this process (its ASGI app, reached through ``httpx.ASGITransport``: no port,
no subprocess), once per deployment: an app version rolled out six days ago (and a little
better liked) beside the older one that a few users stayed on, each in production and in
staging. Six users hold 120 conversations over the last two weeks, one to twelve turns each
(the long ones with follow-ups on what was said before), asked plainly (``POST /chat``) or
streamed (``POST /chat/stream``, read event by event); the offline responder answers each
from the documents that fit it. About a quarter of the turns go to a support agent instead,
recorded with the SDK as the app's agent would: a plan, tool calls (``search_docs`` with a
retriever and a reranker, ``get_user_plan``, ``get_usage_stats``, ``calculator``) and chat
model calls, twenty-odd spans; a few of them fail (a model timeout, a tool refused, a stream
broken off midway: ERROR traces), and some recover from a tool that timed out (an OK trace
with one ERROR span). Users give thumbs with comments and, after a thumbs down, what went
wrong (``/feedback`` by trace id or client request id, ``/chat_feedback`` by client request
id), sometimes change their vote, rate answers from 1 to 5 (``/detailed-feedback``) and whole
conversations (``/session-feedback``). A developer then annotates some answers and writes
the expected answer through the SDK, as a developer would. Every view (the feedback
dashboard above all) has something to show.

Recorded at the real clock, each trace is then moved to its planned time and its spans
stretched to the durations of a deployed app (models 0.4-7 s, retrieval 50-400 ms, tools
20-900 ms). What a seed decides (who asks what, when, what fails, how long each step takes,
and what people think of it) is the same on every run; trace and assessment ids are new
each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import assay
from assay import _runtime
from assay.entities.assessment import AssessmentSource, AssessmentSourceType
from assay.entities.span import Span, SpanStatusCode, SpanType
from assay.entities.trace import Trace, TraceData
from assay.examples.chat_app.documents import retrieve_documents
from assay.examples.chat_app.llm import (
    OFFLINE_MODEL,
    SYSTEM_PROMPT,
    build_messages,
    compose_answer,
    offline_completion,
    offline_usage,
)

if TYPE_CHECKING:
    import httpx

    from assay.store.base import Store

__all__ = ["DemoSummary", "record_demo"]

USERS = ["user-jane", "user-omar", "user-mei", "user-lucas", "user-ana", "user-kofi"]
APP_VERSIONS = ["v1.4.2", "v1.5.0"]
ENVIRONMENTS = ["production", "staging"]

#: What users ask: mostly what the app's documents cover, one conversation it cannot answer,
#: and a few long ones whose follow-ups refer to the earlier turns.
CONVERSATIONS = [
    ["How do I trace my chatbot?", "Does it record token usage too?", "And latency?"],
    ["How can users give feedback on answers?", "Is a thumbs down stored with a comment?"],
    ["Can the browser send feedback without an API key?", "How long is a token valid?"],
    ["How do I find a trace by my own request id?"],
    ["What is a session?", "Can I see every trace of one user?"],
    ["How do users rate answers from 1 to 5?", "Are the ratings averaged?"],
    ["How does streaming work?", "Can users vote before the answer is finished?"],
    ["Who reviews traces as an expert?", "How do labels become tests?"],
    ["Do I need PostgreSQL on my laptop?", "Can several developers share the traces?"],
    ["What does the enterprise plan cost?", "Is there a discount for startups?"],
    ["How do I see which span raised an exception?", "Is the trace marked as failed then?"],
    ["How do I search for thumbs down in production?"],
    ["How do I install the SDK?", "Which Python version does it need?"],
    ["How long are old traces kept?", "Does deleting them remove the feedback too?"],
    ["Can I compare two app versions?", "And production against staging?"],
    ["Are API keys stored safely?"],
    ["How does evaluation use the expected response?",
     "How do I build an evaluation dataset from traces?"],
    # Long conversations: the follow-ups lean on what was said before.
    ["How do I trace my chatbot?", "Does that also show the token usage of each call?",
     "And where does the latency of those calls show?",
     "What happens to that trace when a tool raises an exception?",
     "Can I search for those failed traces?", "Could I filter them to production only?",
     "Then how do I turn the bad ones into an evaluation dataset?",
     "And run the evaluation against it with scorers?"],
    ["How can users give feedback on answers?", "Can they also rate from 1 to 5?",
     "Are those ratings stored between 0 and 1?", "Can the browser send them without a key?",
     "Which server does the browser post those votes to?",
     "And can experts review the same traces later?", "Do their answers become expectations?",
     "And how long are those traces kept?",
     "Is the personal data in them redacted?", "Can I compare feedback of two app versions?"],
    ["What does an agent trace show?", "Are the tool calls shown with their arguments?",
     "And the retriever and the reranker?", "What if one tool fails but the agent recovers?",
     "Is the token usage of every model call counted?", "How do I find the slow answers?"],
]
#: What users ask the support agent, with the tools it calls for each, in order: it searches
#: the documents twice (the question, then what the tools found) around its other tools.
AGENT_QUESTIONS = {
    "What would 4 extra seats cost me per month on my plan?":
        ["search_docs", "get_user_plan", "calculator", "get_usage_stats", "search_docs"],
    "Am I close to my plan's monthly trace limit?":
        ["get_user_plan", "search_docs", "get_usage_stats", "calculator", "search_docs"],
    "How many traces did my team record this month, and what was the thumbs down rate?":
        ["search_docs", "get_usage_stats", "get_user_plan", "calculator", "search_docs"],
    "Why is my token usage so high this month?":
        ["search_docs", "get_usage_stats", "get_user_plan", "calculator", "search_docs"],
    "Which of my app versions gets more thumbs down?":
        ["get_usage_stats", "search_docs", "get_user_plan", "calculator", "search_docs"],
    "Can you check whether my traces in staging have errors?":
        ["search_docs", "get_user_plan", "get_usage_stats", "calculator", "search_docs"],
}
COMMENTS_GOOD = ["Exactly what I needed", "Clear and short", "Thanks, that helped"]
COMMENTS_BAD = ["Missing details about the key features", "This does not answer my question",
                "Too vague", "The answer is about something else"]
#: What an end user picks after a thumbs down ("What went wrong?"), most common first.
COMMENTS_FAILED = ["It stopped halfway", "No answer at all", "Error again"]
ISSUE_CATEGORIES = ["incomplete", "off_topic", "too_vague", "wrong_facts", "outdated"]
_ISSUE_WEIGHTS = [5, 3, 3, 2, 1]
DEVELOPER = "dev-alice"
#: The offline responder's answer when no document matches the question.
_NOT_FOUND = "I could not find that"

_DAY_NS = 24 * 3600 * 10**9
_S_NS = 10**9


@dataclass(frozen=True)
class DemoSummary:
    experiment_id: str
    num_traces: int
    num_spans: int
    num_assessments: int
    num_sessions: int
    num_users: int
    last_trace_id: str


@dataclass
class _Tally:
    """What the simulation has produced so far."""

    num_assessments: int = 0
    #: Each answer's trace and the time it is moved to (ns since the epoch).
    placed: list[tuple[str, int]] = field(default_factory=list)
    users: set[str] = field(default_factory=set)
    #: How many turns got no answer (their traces are ERROR).
    failed: int = 0


def record_demo(experiment_name: str = "assay-demo/rag-chatbot", num_conversations: int = 120,
                seed: int = 7) -> DemoSummary:
    """Record the demo conversations into the active tracking store; returns a summary.

    Raises:
        ValueError: ``num_conversations`` below 1.
        ImportError: the server extra (FastAPI), which the chat app needs, is missing.
    """
    if num_conversations < 1:
        raise ValueError(f"Invalid num_conversations {num_conversations!r}: expected 1 or more")
    import httpx

    # The server extra: imported here so that the error names what is missing.
    from assay.examples.chat_app.main import create_app
    from assay.examples.chat_app.settings import ChatAppSettings

    experiment = assay.set_experiment(experiment_name)
    # The demo experiment is rebuilt from scratch each time, so running it twice does not
    # double its data.
    assay.delete_traces(experiment.experiment_id, max_timestamp_millis=2**62)
    apps = {(version, environment): create_app(ChatAppSettings(
                experiment_name=experiment_name, token_delay_seconds=0,
                app_version=version, environment=environment))
            for version in APP_VERSIONS for environment in ENVIRONMENTS}
    tally = _Tally()

    async def drive() -> None:
        async with AsyncExitStack() as stack:
            clients: dict[tuple[str, str], httpx.AsyncClient] = {}
            for deployment, app in apps.items():
                await stack.enter_async_context(app.router.lifespan_context(app))
                clients[deployment] = await stack.enter_async_context(httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://chat-app",
                    timeout=60))
            rng = random.Random(seed)
            now_ns = time.time_ns()
            for number in range(1, num_conversations + 1):
                await _converse(rng, clients, number, now_ns, tally)

    asyncio.run(drive())
    store = _runtime.runtime().readable_store()
    num_spans = _move_in_time(store, tally.placed, seed)
    tally.num_assessments += _annotate(random.Random(seed + 1), tally.placed)
    return DemoSummary(experiment_id=experiment.experiment_id, num_traces=len(tally.placed),
                       num_spans=num_spans, num_assessments=tally.num_assessments,
                       num_sessions=num_conversations, num_users=len(tally.users),
                       last_trace_id=max(tally.placed, key=lambda p: p[1])[0])


async def _converse(rng: random.Random, clients: dict[tuple[str, str], httpx.AsyncClient],
                    number: int, now_ns: int, tally: _Tally) -> None:
    """One user's conversation: its turns, each maybe rated, then maybe the whole of it."""
    user = rng.choice(USERS)
    tally.users.add(user)
    session = f"session-{number:03d}"
    turns = rng.choice(CONVERSATIONS)
    # A conversation ends before now: each turn takes at most about four minutes.
    start_ns = min(now_ns - rng.randrange(14 * _DAY_NS), now_ns - len(turns) * 250 * _S_NS)
    # The newer version rolled out six days ago; a few users stayed on the old one.
    newer = start_ns > now_ns - 6 * _DAY_NS and rng.random() < 0.9
    version = APP_VERSIONS[1] if newer else APP_VERSIONS[0]
    environment = ENVIRONMENTS[0] if rng.random() < 0.8 else ENVIRONMENTS[1]
    http = clients[(version, environment)]
    started_ms = 0
    for turn, question in enumerate(turns, 1):
        headers = {"X-Request-ID": f"req-{number:03d}-{turn}", "X-Session-ID": session,
                   "X-User-ID": user}
        # Each turn starts in a later millisecond than the one before, so that the session's
        # first trace (which keeps a conversation rating) is the same on every run.
        while time.time_ns() // 1_000_000 <= started_ms:
            await asyncio.sleep(0.0002)
        started_ms = time.time_ns() // 1_000_000
        way = rng.random()
        if way < 0.25:
            # Now and then the user asks about their own account: the support agent answers.
            trace_id, answer = _agent_turn(rng, rng.choice(list(AGENT_QUESTIONS)), headers, version,
                                           environment)
        elif way < 0.6:
            trace_id, answer = await _ask_streamed(http, question, headers)
        else:
            trace_id, answer = await _ask(http, question, headers)
        tally.placed.append((trace_id, start_ns))
        if answer is None:
            tally.failed += 1
            if rng.random() < 0.5:
                # A failed answer gets a thumbs down now and then, as it would.
                _check(await http.post("/feedback", params={"trace_id": trace_id},
                                       json={"is_correct": False, "comment": rng.choice(
                                           COMMENTS_FAILED)}, headers={"X-User-ID": user}))
                tally.num_assessments += 1
        else:
            tally.num_assessments += await _rate_answer(rng, http, trace_id, headers, answer,
                                                        newer)
        # The user reads the answer, then asks the next question.
        start_ns += rng.randrange(2, 8) * _S_NS + rng.randrange(20, 240) * _S_NS
    if len(turns) > 1 and rng.random() < 0.45:
        rating = rng.choices([1, 2, 3, 4, 5], [1, 2, 3, 5, 4])[0]
        params: dict[str, Any] = {"rating": rating}
        comment = rng.choice([None, "Had to ask twice" if rating <= 3 else "Got there quickly"])
        if comment:
            params["comment"] = comment
        _check(await http.post("/session-feedback", params=params,
                               headers={"X-Session-ID": session, "X-User-ID": user}))
        tally.num_assessments += 1


async def _ask(http: httpx.AsyncClient, question: str,
               headers: dict[str, str]) -> tuple[str, str]:
    """``POST /chat``: the answer's trace id and text."""
    body = _check(await http.post("/chat", json={"message": question}, headers=headers))
    return str(body["trace_id"]), str(body["response"])


async def _ask_streamed(http: httpx.AsyncClient, question: str,
                        headers: dict[str, str]) -> tuple[str, str]:
    """``POST /chat/stream``, read event by event as a page does: the trace id from the first
    event, the answer from the words that follow, until ``done``."""
    trace_id = None
    words: list[str] = []
    async with http.stream("POST", "/chat/stream", json={"message": question},
                           headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            _check(response)
        data: list[str] = []
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
                continue
            if line or not data:
                continue  # the event's other fields; a blank line ends it
            event = json.loads("\n".join(data))
            data = []
            if event["type"] == "start":
                trace_id = event["trace_id"]
            elif event["type"] == "token":
                words.append(event["content"])
            elif event["type"] == "error":
                raise RuntimeError(f"The chat app failed to answer {question!r}: "
                                   f"{event['error']}")
    if trace_id is None:
        raise RuntimeError(f"The chat app's stream for {question!r} had no start event")
    return trace_id, "".join(words)


async def _rate_answer(rng: random.Random, http: httpx.AsyncClient, trace_id: str,
                       headers: dict[str, str], answer: str, newer: bool) -> int:
    """What the end user thinks of one answer, through the app's endpoints: a thumbs up or
    down (with a comment, what went wrong, a change of mind), ratings from 1 to 5. Returns
    how many assessments were logged."""
    if rng.random() >= 0.55:
        return 0
    logged = 0
    user = headers["X-User-ID"]
    # Answers from no document get more thumbs down; the newer app version does a little
    # better.
    relevant = not answer.startswith(_NOT_FOUND)
    thumbs_up = rng.random() < (0.75 if relevant else 0.3) + (0.1 if newer else -0.05)
    vote: dict[str, Any] = {"is_correct": thumbs_up}
    if rng.random() < 0.5:
        vote["comment"] = rng.choice(COMMENTS_GOOD if thumbs_up else COMMENTS_BAD)
    if not thumbs_up and rng.random() < 0.7:
        vote["issue_category"] = rng.choices(ISSUE_CATEGORIES, _ISSUE_WEIGHTS)[0]
        logged += 1
    way = rng.random()
    if way < 0.2:
        # An API client: the vote by the request id it sent, as ``response_is_correct``.
        _check(await http.post("/chat_feedback", json=vote, headers={"X-User-ID": user},
                               params={"client_request_id": headers["X-Request-ID"]}))
        logged += 1
    else:
        params = ({"client_request_id": headers["X-Request-ID"]} if way < 0.35
                  else {"trace_id": trace_id})
        sent = _check(await http.post("/feedback", json=vote, params=params,
                                      headers={"X-User-ID": user}))
        logged += 1
        if rng.random() < 0.06:
            # A change of mind: the new vote replaces the first, which is kept as history.
            changed = {"is_correct": not thumbs_up, "replaces": sent["assessment_id"]}
            _check(await http.post("/feedback", json=changed, params={"trace_id": trace_id},
                                   headers={"X-User-ID": user}))
            logged += 1
    if rng.random() < 0.5:
        base = 4 if thumbs_up else 2
        ratings = {d: min(5, max(1, base + rng.choice([-1, 0, 0, 1])))
                   for d in ("accuracy", "helpfulness", "relevance")}
        _check(await http.post("/detailed-feedback",
                               params={"trace_id": trace_id, "user_id": user, **ratings}))
        logged += 3
    return logged


def _check(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a successful answer of the app; RuntimeError naming it otherwise."""
    if response.status_code != 200:
        raise RuntimeError(f"The chat app answered {response.request.method} "
                           f"{response.request.url.path} with {response.status_code}: "
                           f"{response.text[:500]}")
    body = response.json()
    assert isinstance(body, dict)
    return body


def _move_in_time(store: Store, placed: Sequence[tuple[str, int]], seed: int) -> int:
    """Move each answer's trace to its time in the last two weeks; returns the spans moved.

    The app records at the real clock, as any app does, and neither it nor the SDK has a way
    to pretend otherwise (which no real app should have). So the demo writes each finished
    trace again with its spans shifted to the planned time, through the store's ``log_traces``,
    which is idempotent: a trace written again updates its header and upserts its spans by
    id, and its assessments, already stored, are kept as they are. The spans are stretched
    to the durations of a deployed app too (:func:`_stretch`), the same for the same seed.
    """
    order = {trace_id: n for n, (trace_id, _) in enumerate(placed)}
    num_spans = 0
    for chunk in range(0, len(placed), 100):
        wanted = dict(placed[chunk:chunk + 100])
        found = store.find_traces(list(wanted))
        missing = set(wanted) - set(found)
        if missing:
            raise RuntimeError(f"The chat app's trace {sorted(missing)[0]!r} was not stored")
        moved = []
        for trace_id, trace in found.items():
            spans = _stretch(trace.data.spans, wanted[trace_id],
                             random.Random(f"{seed}/{order[trace_id]}"))
            root = min(spans, key=lambda s: s.start_time_ns)
            duration = (None if root.end_time_ns is None
                        else (root.end_time_ns - root.start_time_ns) // 1_000_000)
            info = replace(trace.info, request_time=wanted[trace_id] // 1_000_000,
                           execution_duration=duration)
            moved.append(Trace(info=info, data=TraceData(spans=spans,
                                                         assessments=info.assessments)))
            num_spans += len(spans)
        store.log_traces(moved)
    return num_spans


def _duration_ns(rng: random.Random, span: Span) -> int:
    """How long a span with no children takes in a deployed app: chat model calls from
    0.4 s, mostly under 6 s with a long tail (short ones to choose a tool, longer ones to
    write the answer; a timeout waits its 6 s), the retriever 50-400 ms, tools 20-900 ms."""
    failed = span.status.status_code == SpanStatusCode.ERROR
    if span.span_type == SpanType.CHAT_MODEL:
        if failed and not any(e.name == "chunk" for e in span.events):
            return _MODEL_TIMEOUT_S * _S_NS
        if span.name in ("choose_tool", "plan"):
            seconds = min(0.4 + rng.lognormvariate(0, 0.6) * 0.25, 3.0)
        else:
            seconds = min(0.4 + rng.lognormvariate(0, 0.7) * 1.0, 7.0)
    elif span.span_type == SpanType.RETRIEVER:
        seconds = min(max(rng.lognormvariate(0, 0.5) * 0.12, 0.05), 0.4)
    elif span.span_type == SpanType.RERANKER:
        seconds = rng.uniform(0.03, 0.25)
    elif span.span_type == SpanType.TOOL:
        seconds = 0.8 if failed else min(max(rng.lognormvariate(0, 0.8) * 0.12, 0.02), 0.9)
    else:
        seconds = rng.uniform(0.001, 0.02)
    return int(seconds * _S_NS)


def _stretch(spans: Sequence[Span], start_ns: int, rng: random.Random) -> list[Span]:
    """The spans of one trace laid out again from ``start_ns`` with realistic durations.

    Each span with no children gets a duration drawn for its type (:func:`_duration_ns`);
    a parent lasts as long as its children, which follow each other in their recorded order
    with a few milliseconds between them, so children stay inside their parents. Events
    keep their place within their span, in proportion.
    """
    children: dict[str | None, list[Span]] = {}
    for span in sorted(spans, key=lambda s: (s.start_time_ns, s.span_id)):
        children.setdefault(span.parent_id, []).append(span)
    known = {s.span_id for s in spans}
    placed: dict[str, tuple[int, int]] = {}

    def lay(span: Span, at: int) -> int:
        kids = children.get(span.span_id, [])
        if not kids:
            end = at + _duration_ns(rng, span)
        else:
            end = at + rng.randrange(1, 15) * 1_000_000
            for kid in kids:
                end = lay(kid, end) + rng.randrange(0, 6) * 1_000_000
            end += rng.randrange(1, 10) * 1_000_000
        placed[span.span_id] = (at, end)
        return end

    at = start_ns
    for root in [s for s in spans if s.parent_id is None or s.parent_id not in known]:
        at = lay(root, at)
    stretched = []
    for span in spans:
        new_start, new_end = placed[span.span_id]
        old_end = span.end_time_ns if span.end_time_ns is not None else span.start_time_ns
        old = max(old_end - span.start_time_ns, 1)
        stretched.append(replace(
            span, start_time_ns=new_start, end_time_ns=new_end,
            events=[replace(e, timestamp_ns=new_start + (new_end - new_start) * min(
                max(e.timestamp_ns - span.start_time_ns, 0), old) // old)
                for e in span.events]))
    return stretched


def _annotate(rng: random.Random, placed: Sequence[tuple[str, int]]) -> int:
    """A developer goes through some answers with the SDK: an accuracy score with a reason,
    and the answer they expected. Returns how many assessments were logged."""
    logged = 0
    developer = AssessmentSource(AssessmentSourceType.HUMAN, DEVELOPER)
    for trace_id, _ in placed:
        if rng.random() >= 0.12:
            continue
        trace = assay.get_trace(trace_id)
        question = (trace.info.request_preview if trace else None) or "the question"
        assay.log_feedback(trace_id=trace_id, name="accuracy_score",
                           value=round(rng.uniform(0.3, 1.0), 2),
                           rationale="Checked against the product documentation",
                           source=developer)
        assay.log_expectation(trace_id=trace_id, name="expected_response",
                              value=f"A short, accurate answer to: {question}",
                              source=developer)
        logged += 2
    return logged


# The support agent: turns about the user's own account, which plan, call tools and search
# the documents before answering. They are recorded with the SDK here, as the app's agent
# endpoint would record them, with the same ids and metadata as the chat app's traces.

#: The plans the agent's get_user_plan tool knows, by user.
_PLANS = {user: ("team" if n % 2 else "starter") for n, user in enumerate(USERS)}
_SEAT_PRICE = 12
#: How long the agent waits for the model before giving up.
_MODEL_TIMEOUT_S = 6


class ToolTimeoutError(TimeoutError):
    """A tool that did not answer in time (the agent may retry it)."""


class ModelTimeoutError(TimeoutError):
    """The language model did not answer in time (the turn fails)."""


def _llm_call(name: str, messages: list[dict[str, str]], answer: str,
              fail: BaseException | None = None) -> str:
    """One chat model call as a CHAT_MODEL span with its messages, answer and token usage;
    ``fail`` is raised instead of answering (a timeout, a broken stream)."""
    with assay.start_span(name, span_type=SpanType.CHAT_MODEL,
                          attributes={"mlflow.llm.model": OFFLINE_MODEL}) as span:
        span.set_inputs({"messages": messages})
        if fail is not None:
            raise fail
        span.set_attribute("mlflow.chat.tokenUsage", offline_usage(messages, answer))
        span.set_outputs(offline_completion(answer))
    return answer


def _tool(name: str, arguments: dict[str, Any], result: Any,
          fail: BaseException | None = None) -> Any:
    """One tool call as a TOOL span with its arguments and result."""
    with assay.start_span(name, span_type=SpanType.TOOL) as span:
        span.set_inputs(arguments)
        if fail is not None:
            raise fail
        span.set_outputs(result)
    return result


def _search_docs(query: str, fail: BaseException | None = None) -> list[dict[str, Any]]:
    """The search_docs tool: the retriever, then a reranker over what it found."""
    with assay.start_span("search_docs", span_type=SpanType.TOOL) as span:
        span.set_inputs({"query": query, "k": 4})
        if fail is not None:
            raise fail
        found = retrieve_documents(query, k=4)
        with assay.start_span("rerank", span_type=SpanType.RERANKER) as rerank:
            rerank.set_inputs({"query": query, "documents": [d["id"] for d in found]})
            ranked = sorted(found, key=lambda d: -float(d["metadata"]["score"]))[:2]
            rerank.set_outputs(ranked)
        span.set_outputs([d["id"] for d in ranked])
    return ranked


def _calculation(question: str, traces: int, limit: int, thumbs_down_rate: float,
                 errors: int, tokens_per_trace: int) -> tuple[str, float, str]:
    """What the agent asks the calculator for this question: the expression, its value and
    the sentence of the answer that uses it."""
    if "seats" in question:
        return (f"4 * {_SEAT_PRICE}", 4 * _SEAT_PRICE,
                f"4 extra seats would cost {4 * _SEAT_PRICE} dollars a month.")
    if "limit" in question:
        share = round(100 * traces / limit, 1)
        return (f"{traces} / {limit} * 100", share,
                f"That is {share}% of your monthly limit of {limit:,} traces.")
    if "token" in question:
        total = traces * tokens_per_trace
        return (f"{traces} * {tokens_per_trace}", total,
                f"At about {tokens_per_trace} tokens a trace, that is {total:,} tokens.")
    if "staging" in question:
        share = round(100 * errors / traces, 2)
        return (f"{errors} / {traces} * 100", share,
                f"{errors} of them ended in an error in staging ({share}%).")
    down = round(traces * thumbs_down_rate)
    return (f"{traces} * {thumbs_down_rate}", down,
            f"About {down:,} got a thumbs down, {round(100 * thumbs_down_rate)}% of them.")


def _agent_turn(rng: random.Random, question: str, headers: dict[str, str], version: str,
                environment: str) -> tuple[str, str | None]:
    """One turn of the support agent: its trace id and answer (None when the turn failed:
    the model timed out, a tool failed for good, or the answer broke off mid-stream)."""
    user = headers["X-User-ID"]
    fate = rng.random()
    # About one agent turn in six fails (a few percent of all turns); one in eight has a
    # tool that fails and is retried.
    fatal = ("model_timeout" if fate < 0.06 else "tool_error" if fate < 0.12
             else "broken_stream" if fate < 0.18 else None)
    recovered = fatal is None and rng.random() < 0.12
    plan = _PLANS[user]
    seats = rng.randrange(3, 15)
    limit = 1_000_000 if plan == "team" else 50_000
    traces_this_month = rng.randrange(limit // 8, limit * 21 // 20)
    steps = AGENT_QUESTIONS[question]
    thumbs_down_rate = round(rng.uniform(0.05, 0.3), 2)
    errors = rng.randrange(0, 40)
    tokens_per_trace = rng.randrange(300, 2400)
    trace_id = ""
    answer: str | None = None
    try:
        with assay.start_span("support_agent", span_type=SpanType.AGENT) as root:
            trace_id = root.trace_id
            root.set_inputs({"message": question})
            assay.update_current_trace(
                client_request_id=headers["X-Request-ID"],
                session_id=headers["X-Session-ID"], user=user,
                metadata={"environment": environment, "app_version": version,
                          "agent": "support"})
            system = {"role": "system", "content": SYSTEM_PROMPT + " Use the tools."}
            asked = {"role": "user", "content": question}
            _llm_call("plan", [system, asked], "Plan: " + ", then ".join(steps) + ".")
            documents: list[dict[str, Any]] = []
            facts: list[str] = []
            for number, tool in enumerate(steps, 1):
                with assay.start_span(f"step_{number}", span_type=SpanType.CHAIN) as step:
                    step.set_inputs({"tool": tool})
                    _llm_call("choose_tool", [system, asked],
                              json.dumps({"tool": tool, "step": number}))
                    if tool == "search_docs":
                        if recovered and not documents:
                            # The first search times out; the agent tries again, below.
                            with contextlib.suppress(ToolTimeoutError):
                                _search_docs(question, ToolTimeoutError(
                                    "search_docs timed out after 0.8 s"))
                        documents += [d for d in _search_docs(question)
                                      if d["id"] not in {known["id"] for known in documents}]
                    elif tool == "get_user_plan":
                        _tool("get_user_plan", {"user_id": user},
                              {"plan": plan, "seats": seats, "monthly_trace_limit": limit},
                              fail=PermissionError(f"{user} may not read the billing account")
                              if fatal == "tool_error" else None)
                        facts.append(f"You are on the {plan.title()} plan with {seats} seats.")
                    elif tool == "get_usage_stats":
                        _tool("get_usage_stats", {"user_id": user, "days": 30},
                              {"traces": traces_this_month, "limit": limit,
                               "thumbs_down_rate": thumbs_down_rate, "errors": errors,
                               "tokens_per_trace": tokens_per_trace})
                        facts.append(f"You recorded {traces_this_month:,} traces in the last "
                                     f"30 days.")
                    else:
                        expression, result, fact = _calculation(
                            question, traces_this_month, limit, thumbs_down_rate, errors,
                            tokens_per_trace)
                        _tool("calculator", {"expression": expression}, result)
                        facts.append(fact)
                    step.set_outputs({"done": tool})
            messages = build_messages(question, documents)
            text = " ".join([*facts, compose_answer(messages)])
            if fatal == "model_timeout":
                _llm_call("compose_answer", messages, text,
                          ModelTimeoutError(
                    f"The model did not answer within {_MODEL_TIMEOUT_S} s"))
            with assay.start_span("compose_answer", span_type=SpanType.CHAT_MODEL,
                                  attributes={"mlflow.llm.model": OFFLINE_MODEL}
                                  ) as llm:
                llm.set_inputs({"messages": messages})
                words = text.split(" ")
                for n, word in enumerate(words):
                    if fatal == "broken_stream" and n == len(words) // 2:
                        raise ConnectionResetError("The model's stream broke off")
                    llm.add_event("chunk", {"content": word + " "})
                llm.set_attribute("mlflow.chat.tokenUsage", offline_usage(messages, text))
                llm.set_outputs(offline_completion(text))
            root.set_outputs(text)
            answer = text
    except (ModelTimeoutError, PermissionError, ConnectionResetError):
        answer = None  # the root span recorded it: the trace is ERROR
    return trace_id, answer
