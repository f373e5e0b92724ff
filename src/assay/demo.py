"""Realistic demo data: a retrieval-augmented chatbot answering questions about MLflow-style
tooling, traced with Assay's own SDK.

Conversations are spread over the last week, with several users, multi-turn sessions,
retriever and LLM spans with token usage, an occasional failure, app versions and
environments as metadata, end users' thumbs, 1-5 ratings and comments, and a developer's
annotations and expected answers, so every view has something to show.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass

from opentelemetry import trace as otel_trace

import assay
from assay.entities.assessment import AssessmentSource, AssessmentSourceType
from assay.entities.span import SpanType

__all__ = ["DemoSummary", "record_demo"]

USERS = ["user-jane", "user-omar", "user-mei", "user-lucas", "user-ana", "user-kofi"]
APP_VERSIONS = ["v1.4.2", "v1.5.0"]

DOCUMENTS = [
    ("doc-tracing", "Tracing records every step of an LLM application as spans: inputs, "
                    "outputs, latency and token usage."),
    ("doc-feedback", "End users can rate answers with a thumbs up or down; the rating is "
                     "stored as a feedback assessment on the trace."),
    ("doc-labeling", "Labeling sessions put traces in front of domain experts, whose answers "
                     "become expectations for evaluation."),
    ("doc-evaluate", "Evaluation runs the app on a dataset and scores every answer with LLM "
                     "judges and code scorers."),
    ("doc-sessions", "A session groups the turns of one conversation, so feedback can be "
                     "read in context."),
    ("doc-postgres", "A team runs one server on PostgreSQL; a single developer needs nothing "
                     "but a SQLite file."),
]

CONVERSATIONS = [
    ["How do I trace my chatbot?", "Does it record token usage too?", "And latency?"],
    ["How can users give feedback on answers?", "Is a thumbs down stored with a comment?"],
    ["What is a labeling session?", "Who can review traces?", "How do labels become tests?"],
    ["How do I evaluate my app before a release?", "Can I use my own scorer?"],
    ["Can several developers share the traces?", "Do I need PostgreSQL on my laptop?"],
    ["What is a session in the traces view?"],
    ["Why is my answer about pricing wrong?", "It says the plan costs nothing."],
]


COMMENTS_GOOD = ["Exactly what I needed", "Clear and short", "Thanks, that helped"]
COMMENTS_BAD = ["Missing details about the key features", "This does not answer my question",
                "Too vague", "The answer is about something else"]
DEVELOPER = "dev-alice"


def _give_feedback(rng: random.Random, trace_id: str, user: str, failed: bool, answer: str,
                   question: str) -> int:
    """What people think of one answer: end-user thumbs, ratings and comments, and now and
    then a developer's annotation and expected answer. Logged while the trace is still
    running, so it is written together with it. Returns how many assessments it logged."""
    logged = 0
    if rng.random() < 0.55:
        # Answers that did not use the best document get more thumbs down.
        relevant = any(w in answer.lower() for w in question.lower().split()[-2:])
        thumbs_up = not failed and rng.random() < (0.8 if relevant else 0.45)
        assay.log_feedback(
            trace_id=trace_id, name="user_feedback", value=thumbs_up,
            rationale=rng.choice(COMMENTS_GOOD if thumbs_up else COMMENTS_BAD)
            if rng.random() < 0.5 else None,
            source=AssessmentSource(AssessmentSourceType.HUMAN, user))
        logged += 1
        if rng.random() < 0.5:
            base = 4 if thumbs_up else 2
            for dimension in ("accuracy", "helpfulness", "relevance"):
                score = min(5, max(1, base + rng.choice([-1, 0, 0, 1])))
                assay.log_feedback(trace_id=trace_id, name=dimension, value=score,
                                   source=AssessmentSource(AssessmentSourceType.HUMAN, user),
                                   metadata={"scale": "1-5"})
                logged += 1
    if rng.random() < 0.12:
        assay.log_feedback(
            trace_id=trace_id, name="accuracy_score", value=round(rng.uniform(0.3, 1.0), 2),
            rationale="Checked against the product documentation",
            source=AssessmentSource(AssessmentSourceType.HUMAN, DEVELOPER))
        assay.log_expectation(
            trace_id=trace_id, name="expected_response",
            value=f"A short, accurate answer to: {question}",
            source=AssessmentSource(AssessmentSourceType.HUMAN, DEVELOPER))
        logged += 2
    return logged


@dataclass(frozen=True)
class DemoSummary:
    experiment_id: str
    num_traces: int
    num_spans: int
    num_assessments: int
    num_sessions: int
    num_users: int
    last_trace_id: str


_STOPWORDS = frozenset({
    "a", "an", "and", "are", "be", "can", "do", "does", "how", "i", "in", "is", "it", "my",
    "of", "on", "the", "to", "too", "what", "who", "why", "with",
})


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z]+", text.lower())} - _STOPWORDS


def _retrieve(rng: random.Random, question: str) -> list[dict[str, object]]:
    words = _words(question)
    scored = sorted(DOCUMENTS, key=lambda d: -len(words & _words(d[0] + " " + d[1])))
    return [{"id": doc_id, "page_content": text, "metadata": {"score": round(0.9 - i * 0.1, 2)}}
            for i, (doc_id, text) in enumerate(scored[: rng.choice([2, 3])])]


def _answer(question: str, docs: list[dict[str, object]]) -> str:
    best = str(docs[0]["page_content"]) if docs else "I do not know."
    return f"{best} (You asked: {question})"


def record_demo(experiment_name: str = "assay-demo/rag-chatbot", num_conversations: int = 40,
                seed: int = 7) -> DemoSummary:
    """Record the demo conversations into the active tracking store; returns a summary."""
    rng = random.Random(seed)
    experiment = assay.set_experiment(experiment_name)
    # The demo experiment is rebuilt from scratch each time, so running it twice does not
    # double its data.
    assay.delete_traces(experiment.experiment_id, max_timestamp_millis=2**62)
    now_ns = time.time_ns()
    week_ns = 7 * 24 * 3600 * 10**9
    num_traces = num_spans = num_assessments = 0
    users: set[str] = set()
    last_trace_id = ""
    for c in range(num_conversations):
        user = rng.choice(USERS)
        users.add(user)
        session = f"session-{c + 1:03d}"
        version = APP_VERSIONS[0] if rng.random() < 0.4 else APP_VERSIONS[1]
        turns = rng.choice(CONVERSATIONS)
        t = now_ns - rng.randrange(week_ns)
        history: list[dict[str, str]] = []
        for turn, question in enumerate(turns):
            history.append({"role": "user", "content": question})
            docs = _retrieve(rng, question)
            answer = _answer(question, docs)
            failed = rng.random() < 0.04
            retrieval_ns = rng.randrange(20, 120) * 10**6
            llm_ns = rng.randrange(400, 2500) * 10**6
            root = assay.start_span_no_context(
                "rag_chatbot", span_type=SpanType.CHAIN, start_time_ns=t,
                inputs={"messages": list(history)})
            root.set_attribute("app.turn", turn + 1)
            retriever = assay.start_span_no_context(
                "retrieve_context", span_type=SpanType.RETRIEVER, parent_span=root,
                start_time_ns=t + 2 * 10**6, inputs={"query": question})
            retriever.end(outputs=docs, end_time_ns=t + 2 * 10**6 + retrieval_ns)
            llm_start = t + 4 * 10**6 + retrieval_ns
            llm = assay.start_span_no_context(
                "chat.completions", span_type=SpanType.CHAT_MODEL, parent_span=root,
                start_time_ns=llm_start,
                inputs={"model": "gpt-4o-mini", "messages": [
                    {"role": "system", "content": "Answer from the context."},
                    {"role": "user", "content": f"Context: {docs}\n\nQuestion: {question}"}]})
            prompt_tokens = 180 + 40 * len(docs) + rng.randrange(60)
            completion_tokens = 40 + rng.randrange(160)
            llm.set_attributes({
                "mlflow.llm.model": "gpt-4o-mini",
                "mlflow.chat.tokenUsage": {"input_tokens": prompt_tokens,
                                           "output_tokens": completion_tokens,
                                           "total_tokens": prompt_tokens + completion_tokens},
            })
            end = llm_start + llm_ns
            if failed:
                llm.record_exception(TimeoutError("The model did not answer within 30 s"))
                llm.end(end_time_ns=end)
                root.record_exception(TimeoutError("The model did not answer within 30 s"))
            else:
                llm.end(outputs={"choices": [{"message": {"role": "assistant",
                                                          "content": answer}}]},
                        end_time_ns=end)
                root.set_outputs(answer)
                history.append({"role": "assistant", "content": answer})
            # Make the root current for a moment to set its trace-level fields.
            with otel_trace.use_span(root, end_on_exit=False):
                assay.update_current_trace(
                    client_request_id=f"req-{c + 1:03d}-{turn + 1}",
                    session_id=session, user=user,
                    metadata={"app_version": version,
                              "environment": "production" if rng.random() < 0.8
                              else "staging"})
            num_assessments += _give_feedback(rng, root.trace_id, user, failed, answer,
                                              question)
            root.end(end_time_ns=end + 3 * 10**6)
            num_traces += 1
            num_spans += 3
            last_trace_id = root.trace_id or last_trace_id
            t = end + rng.randrange(20, 240) * 10**9
    assay.flush_trace_async_logging()
    return DemoSummary(experiment_id=experiment.experiment_id, num_traces=num_traces,
                       num_spans=num_spans, num_assessments=num_assessments,
                       num_sessions=num_conversations,
                       num_users=len(users), last_trace_id=last_trace_id)
