"""Realistic demo data, recorded through the real path: the example chat app
(:mod:`assay.examples.chat_app`) answers simulated end users, who give their feedback through
its endpoints.

The app runs in this process (its ASGI app, reached through ``httpx.ASGITransport``: no port,
no subprocess), once per deployment: an app version rolled out six days ago (and a little
better liked) beside the older one that a few users stayed on, each in production and in
staging. Six users hold 120 conversations over the last two weeks, one to three turns each,
asked plainly (``POST /chat``) or streamed (``POST /chat/stream``, read event by event). They
give thumbs with comments and, after a thumbs down, what went wrong (``/feedback`` by trace id
or client request id, ``/chat_feedback`` by client request id), sometimes change their vote,
rate answers from 1 to 5 (``/detailed-feedback``) and whole conversations
(``/session-feedback``). A developer then annotates some answers and writes the expected
answer through the SDK, as a developer would. Every view (the feedback dashboard above all)
has something to show.

What a seed decides (who asks what, when, and what they think of it) is the same on every
run; trace and assessment ids are new each time.
"""

from __future__ import annotations

import asyncio
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
from assay.entities.trace import Trace, TraceData

if TYPE_CHECKING:
    import httpx

    from assay.store.base import Store

__all__ = ["DemoSummary", "record_demo"]

USERS = ["user-jane", "user-omar", "user-mei", "user-lucas", "user-ana", "user-kofi"]
APP_VERSIONS = ["v1.4.2", "v1.5.0"]
ENVIRONMENTS = ["production", "staging"]

#: What users ask: mostly what the app's documents cover, one conversation it cannot answer.
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
]
COMMENTS_GOOD = ["Exactly what I needed", "Clear and short", "Thanks, that helped"]
COMMENTS_BAD = ["Missing details about the key features", "This does not answer my question",
                "Too vague", "The answer is about something else"]
#: What an end user picks after a thumbs down ("What went wrong?"), most common first.
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


def record_demo(experiment_name: str = "assay-demo/rag-chatbot", num_conversations: int = 120,
                seed: int = 7) -> DemoSummary:
    """Record the demo conversations into the active tracking store; returns a summary.

    Raises:
        ValueError: ``num_conversations`` below 1.
        ImportError: the server extra (FastAPI, httpx), which the chat app needs, is missing.
    """
    if num_conversations < 1:
        raise ValueError(f"Invalid num_conversations {num_conversations!r}: expected 1 or more")
    import httpx  # the server extra: imported here so that the error names what is missing

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
    num_spans = _move_in_time(store, tally.placed)
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
    start_ns = now_ns - rng.randrange(14 * _DAY_NS)
    # The newer version rolled out six days ago; a few users stayed on the old one.
    newer = start_ns > now_ns - 6 * _DAY_NS and rng.random() < 0.9
    version = APP_VERSIONS[1] if newer else APP_VERSIONS[0]
    environment = ENVIRONMENTS[0] if rng.random() < 0.8 else ENVIRONMENTS[1]
    http = clients[(version, environment)]
    for turn, question in enumerate(turns, 1):
        headers = {"X-Request-ID": f"req-{number:03d}-{turn}", "X-Session-ID": session,
                   "X-User-ID": user}
        if rng.random() < 0.5:
            trace_id, answer = await _ask_streamed(http, question, headers)
        else:
            trace_id, answer = await _ask(http, question, headers)
        tally.placed.append((trace_id, start_ns))
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


def _move_in_time(store: Store, placed: Sequence[tuple[str, int]]) -> int:
    """Move each answer's trace to its time in the last two weeks; returns the spans moved.

    The app records at the real clock, as any app does, and neither it nor the SDK has a way
    to pretend otherwise (which no real app should have). So the demo writes each finished
    trace again with its spans shifted to the planned time, through the store's ``log_traces``,
    which is idempotent: a trace written again updates its header and upserts its spans by
    id, and its assessments, already stored, are kept as they are.
    """
    num_spans = 0
    for chunk in range(0, len(placed), 100):
        wanted = dict(placed[chunk:chunk + 100])
        found = store.find_traces(list(wanted))
        missing = set(wanted) - set(found)
        if missing:
            raise RuntimeError(f"The chat app's trace {sorted(missing)[0]!r} was not stored")
        moved = []
        for trace_id, trace in found.items():
            shift = wanted[trace_id] - min(s.start_time_ns for s in trace.data.spans)
            spans = [replace(
                s, start_time_ns=s.start_time_ns + shift,
                end_time_ns=None if s.end_time_ns is None else s.end_time_ns + shift,
                events=[replace(e, timestamp_ns=e.timestamp_ns + shift) for e in s.events])
                for s in trace.data.spans]
            info = replace(trace.info, request_time=wanted[trace_id] // 1_000_000)
            moved.append(Trace(info=info, data=TraceData(spans=spans,
                                                         assessments=info.assessments)))
            num_spans += len(spans)
        store.log_traces(moved)
    return num_spans


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
