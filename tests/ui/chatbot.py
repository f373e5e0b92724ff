"""A small RAG chatbot's traces for the UI tests: two users, two-turn sessions, a retriever
and an LLM span under each root, chat messages as inputs, and the end users' thumbs."""

from __future__ import annotations

from dataclasses import dataclass

from assay.entities import AssessmentSource, Feedback, SpanType
from assay.store.base import Store
from factories import BASE_TIME_MS, make_span, make_trace, new_trace_id

QUESTIONS = [
    ("alice", "What is MLflow?", "MLflow is an open-source platform for the ML lifecycle."),
    ("alice", "Does it trace LLM apps?", "Yes: every call becomes a trace of spans."),
    ("bob", "How do I log feedback?", "Call log_feedback with the trace id."),
    ("bob", "Can users vote?", "Yes, with thumbs up or down."),
    ("carol", "Where are traces stored?", "In a SQLite file or in PostgreSQL."),
]
#: The end users' thumbs, by trace index (trace 1 got a thumbs down; trace 4 none).
THUMBS = {0: True, 1: False, 2: True, 3: True}


@dataclass(frozen=True)
class Chatbot:
    """What :func:`seed_chatbot` stored: the experiment and the trace ids, oldest first."""

    experiment_id: str
    trace_ids: list[str]


def seed_chatbot(store: Store, name: str = "rag-chatbot") -> Chatbot:
    """Five traces a minute apart, in sessions of two turns, with the end users' thumbs."""
    experiment_id = store.create_experiment(name)
    traces = []
    for i, (user, question, answer) in enumerate(QUESTIONS):
        trace_id = new_trace_id()
        start = (BASE_TIME_MS + i * 60_000) * 1_000_000
        root = make_span(trace_id, name="rag_chatbot", span_type=SpanType.CHAIN,
                         start_time_ns=start, end_time_ns=start + 1_200_000_000,
                         inputs={"messages": [{"role": "user", "content": question}]},
                         outputs=answer)
        retriever = make_span(trace_id, parent_id=root.span_id, name="retrieve_docs",
                              span_type=SpanType.RETRIEVER, start_time_ns=start + 1_000_000,
                              end_time_ns=start + 90_000_000, inputs={"query": question},
                              outputs=[{"page_content": "MLflow docs", "id": "doc-1"}])
        llm = make_span(trace_id, parent_id=root.span_id, name="chat.completions",
                        span_type=SpanType.CHAT_MODEL, start_time_ns=start + 100_000_000,
                        end_time_ns=start + 1_150_000_000,
                        inputs={"model": "gpt-4o-mini", "messages": [
                            {"role": "system", "content": "Answer from the docs."},
                            {"role": "user", "content": question}]},
                        outputs={"choices": [{"message": {"role": "assistant",
                                                          "content": answer}}]},
                        attributes={"mlflow.llm.model": "gpt-4o-mini"})
        traces.append(make_trace(
            experiment_id=experiment_id, trace_id=trace_id,
            request_time=BASE_TIME_MS + i * 60_000, execution_duration=1200,
            name="rag_chatbot", request_preview=question, response_preview=answer,
            client_request_id=f"req-{i}", tags={"env": "prod"},
            metadata={"mlflow.trace.user": user, "mlflow.trace.session": f"s-{user}"},
            spans=[root, retriever, llm]))
    store.log_traces(traces)
    ids = [t.info.trace_id for t in traces]
    for i, up in THUMBS.items():
        store.log_assessment(Feedback(
            name="user_feedback", value=up, trace_id=ids[i],
            source=AssessmentSource("HUMAN", QUESTIONS[i][0]),
            rationale=None if up else "It did not say how"))
    return Chatbot(experiment_id, ids)
