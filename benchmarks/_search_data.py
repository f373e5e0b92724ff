"""The synthetic traces of ``search.py``, the same for Assay and for mlflow.

Standard library only: the Assay side (project venv) and the mlflow side
(``benchmarks/.venv-mlflow``) both import this file, so both stores hold the same traces.

Trace ``i`` of ``n``:

* starts at ``START_MS`` plus ``i`` thirtieths of a day's worth of spread (30 days in all,
  in order), lasts 50 ms to 5 s (1% still in progress, no duration), state OK (95%), ERROR
  (4%) or IN_PROGRESS (1%);
* has client request id ``req-<i>``, name ``chat``, tag ``env`` = prod/staging;
* belongs to session ``session-<i // 5>`` (five turns each) of one of 10,000 users;
* has three spans: a CHAIN root, a RETRIEVER and an LLM (with a ``model`` attribute);
* gets, for 20% of traces, a ``user_feedback`` (true 70% of the time) from its user, and for
  5%, a ``user_rating`` of 1 to 5 stars.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["DAY_MS", "SPREAD_MS", "START_MS", "WINDOW_MS", "FeedbackRow", "SpanRow", "TraceRow",
           "generate"]

START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
DAY_MS = 86_400_000
SPREAD_MS = 30 * DAY_MS
#: The "recent traces" both sides summarise for the mlflow comparison: the seeds fetch every
#: trace of the window one by one, which over all traces would take hours.
WINDOW_MS = 3_600_000
USERS = 10_000
TURNS_PER_SESSION = 5


@dataclass(frozen=True)
class SpanRow:
    span_id: str
    parent_id: str | None
    name: str
    span_type: str
    start_ns: int
    end_ns: int | None
    inputs: str
    outputs: str
    attributes: dict[str, object]


@dataclass(frozen=True)
class FeedbackRow:
    assessment_id: str
    name: str
    value: bool | int
    source_id: str


@dataclass(frozen=True)
class TraceRow:
    index: int
    trace_id: str
    request_time_ms: int
    execution_time_ms: int | None
    state: str
    client_request_id: str
    session_id: str
    user_id: str
    env: str
    spans: tuple[SpanRow, ...]
    feedback: tuple[FeedbackRow, ...]


def generate(n: int, seed: int = 42) -> Iterator[TraceRow]:
    """The ``n`` traces, oldest first."""
    rng = random.Random(seed)
    step = max(1, SPREAD_MS // max(n, 1))
    question = json.dumps({"question": "What is MLflow?"})
    answer = json.dumps("MLflow is an open-source platform for the ML lifecycle.")
    for i in range(n):
        start = START_MS + i * step + rng.randrange(step)
        roll = rng.random()
        state = "OK" if roll < 0.95 else "ERROR" if roll < 0.99 else "IN_PROGRESS"
        duration = None if state == "IN_PROGRESS" else rng.randint(50, 5000)
        session = i // TURNS_PER_SESSION
        user = f"user-{(session * 7919) % USERS}"
        trace_id = f"tr-{i:012x}{rng.getrandbits(80):020x}"
        start_ns = start * 1_000_000
        end_ns = None if duration is None else start_ns + duration * 1_000_000
        root = f"{i:012x}0001"
        spans = (
            SpanRow(root, None, "chat", "CHAIN", start_ns, end_ns, question, answer, {}),
            SpanRow(f"{i:012x}0002", root, "retrieve", "RETRIEVER", start_ns + 1_000,
                    start_ns + 2_000_000, json.dumps({"query": "MLflow"}),
                    json.dumps(["doc-1", "doc-2"]), {}),
            SpanRow(f"{i:012x}0003", root, "llm", "LLM", start_ns + 2_000_000, end_ns,
                    question, answer, {"model": "gpt-4o-mini"}),
        )
        feedback: list[FeedbackRow] = []
        if rng.random() < 0.20:
            feedback.append(FeedbackRow(f"a-{i:012x}{1:020x}", "user_feedback",
                                        rng.random() < 0.7, user))
        if rng.random() < 0.05:
            feedback.append(FeedbackRow(f"a-{i:012x}{2:020x}", "user_rating",
                                        rng.randint(1, 5), user))
        yield TraceRow(i, trace_id, start, duration, state, f"req-{i:07d}", f"session-{session}",
                       user, "prod" if i % 3 else "staging", spans, tuple(feedback))
