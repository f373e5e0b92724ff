"""The chat app's knowledge: some twenty short documents about Assay, and the retriever
that picks the ones a question is about (a RETRIEVER span on the trace).

A real app would search a vector index here; the documents are returned in the shape
retriever spans use (``page_content``, ``metadata`` with ``doc_uri``, ``id``), so the trace
reads the same either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import assay
from assay.entities import SpanType

__all__ = ["DOCUMENTS", "Document", "content_words", "retrieve_documents"]


@dataclass(frozen=True)
class Document:
    """A passage the app answers from."""

    doc_id: str
    title: str
    text: str


DOCUMENTS = (
    Document("tracing", "Tracing",
             "Assay records every call of your app as a trace: a tree of spans with their "
             "inputs, outputs, latency and token usage. Add @assay.trace to a function, or "
             "call assay.openai.autolog() to trace every OpenAI call."),
    Document("feedback", "User feedback",
             "End users rate answers with a thumbs up or down and may add a comment. The app "
             "logs each vote with assay.log_feedback as a feedback on the answer's trace, "
             "with the user as its human source."),
    Document("feedback-tokens", "Feedback from the browser",
             "A feedback token lets an end user's browser vote on one trace without an API "
             "key. The backend issues it with assay.create_feedback_token, and the page "
             "posts the votes to the Assay server or shows the assay-feedback widget. A token "
             "stays valid for one hour by default, long enough to vote on an answer."),
    Document("client-request-ids", "Client request ids",
             "An app can find a trace by its own request id. It records the id with "
             "assay.update_current_trace(client_request_id=...) and later searches for "
             "attributes.client_request_id to attach feedback."),
    Document("sessions", "Sessions and users",
             "A session groups the turns of one conversation, and a user id says who asked. "
             "This app reads both from the X-Session-ID and X-User-ID headers and records "
             "them on every trace."),
    Document("ratings", "Ratings",
             "Detailed feedback rates accuracy, helpfulness and relevance from 1 to 5. Each "
             "rating is stored as its own feedback, divided by 5 so that every score lies "
             "between 0 and 1. The dashboard shows the average of each rating."),
    Document("streaming", "Streaming answers",
             "Streamed answers arrive as server-sent events. The first event carries the "
             "trace id, so the thumbs work and users can vote before the answer is finished."),
    Document("labeling", "Expert review",
             "Labeling sessions put traces in front of domain experts. Their answers become "
             "expectations, which evaluation compares the app against."),
    Document("server", "Storage and the server",
             "Traces and feedback are stored in a SQLite file on one laptop, or in PostgreSQL "
             "for a team, where several developers share them. The assay server command serves "
             "them over HTTP, with the web UI."),
    Document("token-usage", "Token usage",
             "Chat model spans carry the token usage of each call: input, output and total "
             "tokens. The trace sums them, so the traces table shows what every answer cost "
             "in tokens."),
    Document("latency", "Latency",
             "Every span records when it started and ended, so the trace page shows where "
             "the time went. The dashboard plots the median and the 95th percentile latency "
             "of the answers per day."),
    Document("errors", "Errors and exceptions",
             "A span whose code raised is marked ERROR and keeps the exception with its "
             "stack trace as an event. A trace is ERROR when its root span failed; a tool "
             "that failed while the agent recovered leaves the trace OK."),
    Document("search", "Searching traces",
             "The traces table filters with a search string such as "
             "feedback.user_feedback = 'false' or tags.environment = 'production'. Quick "
             "filters cover thumbs down, failed traces and slow answers."),
    Document("agents", "Agents and tools",
             "An agent's trace shows each step: the planner, every tool call as a TOOL span "
             "with its arguments and result, the retriever and the reranker, and each chat "
             "model call with its messages."),
    Document("evaluation", "Evaluation",
             "Evaluation runs the app over a dataset of questions and scores each answer "
             "with scorers, comparing it to the expected response. Results are logged as "
             "feedback, beside the human ratings."),
    Document("datasets", "Evaluation datasets",
             "To build an evaluation dataset from traces, pick good and bad answers in the "
             "traces table and add them, with their expectations, as records to test every "
             "new version against."),
    Document("pricing", "Plans and pricing",
             "Assay is open source and free to self-host. The hosted Starter plan keeps "
             "50,000 traces a month; the Team plan keeps 1 million traces a month for 10 "
             "seats, and extra seats cost 12 dollars each per month."),
    Document("retention", "Data retention",
             "Traces are kept until you delete them. Old traces are deleted with "
             "assay.delete_traces by age or by id, which also removes their feedback."),
    Document("versions", "App versions and environments",
             "Each trace records the app version and the environment in its metadata, so "
             "the dashboard compares the feedback of two versions and production against "
             "staging."),
    Document("security", "Security and privacy",
             "API keys are sent as bearer tokens and stored only as hashes. Redact personal "
             "data before it reaches a span; the server never logs request bodies."),
    Document("sdk-install", "Installing the SDK",
             "Install the assay package with pip, then point ASSAY_TRACKING_URI at a SQLite "
             "file or at the server. It needs Python version 3.11 or newer."),
)

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset({
    "a", "an", "and", "app", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from",
    "how", "i", "in", "is", "it", "its", "me", "my", "of", "on", "or", "so", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "to", "was", "what", "when",
    "where", "which", "who", "why", "will", "with", "you", "your"})


def content_words(text: str) -> set[str]:
    """The words of ``text`` that carry meaning: lower case, without common words, and
    roughly stemmed, so that "traces", "traced" and "tracing" all meet "trace"."""
    words = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        if len(word) > 5 and word.endswith("ing"):
            word = word[:-3]
        elif len(word) > 4 and word.endswith("ed"):
            word = word[:-2]
        elif len(word) > 6 and word.endswith("ion"):
            word = word[:-3]
        if len(word) > 3 and word.endswith("e"):
            word = word[:-1]
        words.add(word)
    return words


@assay.trace(span_type=SpanType.RETRIEVER)
def retrieve_documents(query: str, k: int = 2) -> list[dict[str, Any]]:
    """The ``k`` documents sharing the most words with the query (none if no word matches),
    best first."""
    wanted = content_words(query)
    scored = []
    for order, doc in enumerate(DOCUMENTS):
        overlap = len(wanted & content_words(f"{doc.title} {doc.text}"))
        if overlap:
            scored.append((-overlap, order, doc))
    scored.sort()
    return [{"id": doc.doc_id, "page_content": doc.text,
             "metadata": {"title": doc.title, "doc_uri": f"docs/{doc.doc_id}",
                          "score": round(-negative / max(len(wanted), 1), 3)}}
            for negative, _, doc in scored[:k]]
