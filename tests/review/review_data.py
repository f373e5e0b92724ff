"""A labeling session for the review app's tests: the UI tests' chatbot traces (chat-message
inputs, a retriever, an LLM span, two-turn conversations, end users' thumbs), one more trace
with a ``{"question": ...}`` input and a tool call, and one question of every input kind."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assay.entities import SpanType
from assay.entities.label_schema import (
    InputCategorical,
    InputCategoricalList,
    InputNumeric,
    InputPassFail,
    InputText,
    InputTextList,
    LabelSchema,
    LabelSchemaType,
)
from assay.entities.labeling import LabelingSessionInfo
from assay.entities.run import new_run_id
from assay.store.base import Store
from factories import BASE_TIME_MS, make_span, make_trace, new_trace_id
from ui.chatbot import seed_chatbot

#: The reviewers assigned to the session.
ALICE = "alice@example.com"
BOB = "bob"

SCHEMAS = (
    LabelSchema("response_accuracy", LabelSchemaType.FEEDBACK,
                InputCategorical(["Accurate", "Partially accurate", "Inaccurate"]),
                title="Is the response factually accurate?",
                instruction="Judge against the retrieved documents, not your memory."),
    LabelSchema("helpful", LabelSchemaType.FEEDBACK,
                InputPassFail(positive_label="Helpful", negative_label="Not helpful"),
                title="Would this answer help the user?"),
    LabelSchema("rating", LabelSchemaType.FEEDBACK, InputNumeric(min_value=1, max_value=5),
                title="Overall quality, 1 to 5"),
    LabelSchema("issues", LabelSchemaType.FEEDBACK,
                InputCategoricalList(["Wrong facts", "Missing detail", "Tone"]),
                title="Which problems does it have?", enable_comment=True),
    LabelSchema("expected_response", LabelSchemaType.EXPECTATION, InputText(max_length=500),
                title="What would be the ideal response?"),
    LabelSchema("expected_facts", LabelSchemaType.EXPECTATION,
                InputTextList(max_length_each=100, max_count=5),
                title="Facts a good answer must state"),
)


@dataclass(frozen=True)
class ReviewData:
    """What :func:`seed_review` stored."""

    experiment_id: str
    run_id: str
    trace_ids: list[str]
    other_run_id: str
    other_trace_id: str


def seed_review(store: Store, schemas: Sequence[LabelSchema] = SCHEMAS,
                reviewers: Sequence[str] = (ALICE, BOB), num_items: int = 3) -> ReviewData:
    """The chatbot's traces plus a tool-calling one; a session asking ``schemas`` about the
    first ``num_items`` of them (oldest first), assigned to ``reviewers``; and a second
    session, assigned to someone else, about another trace."""
    bot = seed_chatbot(store)
    eid = bot.experiment_id
    trace_id = new_trace_id()
    start = (BASE_TIME_MS + 10 * 60_000) * 1_000_000
    root = make_span(trace_id, name="agent", span_type=SpanType.AGENT, start_time_ns=start,
                     end_time_ns=start + 900_000_000,
                     inputs={"question": "What is the weather in Lisbon?"},
                     outputs={"answer": "It is 21 °C and sunny in Lisbon."})
    tool = make_span(trace_id, parent_id=root.span_id, name="get_weather",
                     span_type=SpanType.TOOL, start_time_ns=start + 1000,
                     end_time_ns=start + 500_000_000, inputs={"city": "Lisbon"},
                     outputs={"temperature_c": 21, "sky": "sunny"})
    store.log_traces([make_trace(experiment_id=eid, trace_id=trace_id,
                                 request_time=BASE_TIME_MS + 10 * 60_000,
                                 execution_duration=900, spans=[root, tool])])
    for schema in schemas:
        store.create_label_schema(LabelSchema(
            schema.name, schema.type, schema.input, title=schema.title,
            instruction=schema.instruction, enable_comment=schema.enable_comment,
            experiment_id=eid))
    ids = [*bot.trace_ids, trace_id]
    run_id = new_run_id()
    store.create_labeling_session(LabelingSessionInfo(
        run_id=run_id, experiment_id=eid, name="Quickstart review",
        label_schemas=tuple(s.name for s in schemas), assigned_users=tuple(reviewers),
        instructions="Read the question and the answer, then judge the answer alone."))
    items = ids[:num_items] if num_items < len(ids) else ids
    store.add_labeling_items(run_id, items)
    other = new_run_id()
    store.create_labeling_session(LabelingSessionInfo(
        run_id=other, experiment_id=eid, name="Secret session",
        label_schemas=(schemas[0].name,), assigned_users=("carol",)))
    store.add_labeling_items(other, [ids[4]])
    return ReviewData(eid, run_id, items, other, ids[4])
