"""The chat app's knowledge: a handful of short documents about Assay, and the retriever
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
             "posts the votes to the Assay server or shows the assay-feedback widget."),
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
             "between 0 and 1."),
    Document("streaming", "Streaming answers",
             "Streamed answers arrive as server-sent events. The first event carries the "
             "trace id, so the thumbs work while the answer is still being written."),
    Document("labeling", "Expert review",
             "Labeling sessions put traces in front of domain experts. Their answers become "
             "expectations, which evaluation compares the app against."),
    Document("server", "Storage and the server",
             "Traces and feedback are stored in a SQLite file on one laptop, or in PostgreSQL "
             "for a team. The assay server command serves them over HTTP, with the web UI."),
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
