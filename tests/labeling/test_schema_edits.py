"""Editing a label schema that has answers, on SQLite, PostgreSQL and an Assay server over
HTTP: an edit that keeps every answer valid is saved (options added, ranges and limits
widened, the title, the instruction, the comment box); one that would leave answers invalid
is refused naming the field, the schema and how many answers, and nothing changes. Also
through the SDK (``assay.genai.label_schemas.update_label_schema``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assay import _runtime
from assay.entities import Feedback
from assay.entities.label_schema import (
    InputCategorical,
    InputCategoricalList,
    InputNumeric,
    InputPassFail,
    InputText,
    InputTextList,
    LabelInput,
    LabelSchema,
    LabelSchemaType,
)
from assay.entities.labeling import LabelingSessionInfo
from assay.entities.run import new_run_id
from assay.errors import InvalidParameterError
from assay.genai import label_schemas as sdk
from assay.settings import Settings
from assay.store.base import Store
from conftest import Backend
from labeling.test_store import logged_traces

NAME = "q"


def _answered(store: Store, schema_input: LabelInput, values: list[Any],
              *, per_item: int = 1) -> tuple[LabelSchema, LabelingSessionInfo, list[str]]:
    """A schema and a session asking it, with one reviewer's answer per value."""
    schema = store.create_label_schema(LabelSchema(
        NAME, LabelSchemaType.FEEDBACK, schema_input, experiment_id="0"))
    info = store.create_labeling_session(LabelingSessionInfo(
        run_id=new_run_id(), experiment_id="0", name="Review", label_schemas=(NAME,),
        reviewers_per_item=per_item))
    trace_ids = [t.info.trace_id for t in logged_traces(store, len(values))]
    store.add_labeling_items(info.run_id, trace_ids)
    for trace_id, value in zip(trace_ids, values, strict=True):
        store.submit_labeling_answers(info.run_id, trace_id, "ana", {NAME: value})
    return schema, info, trace_ids


def _refused(store: Store, schema: LabelSchema, new: LabelInput, *messages: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        store.update_label_schema(schema.schema_id, input=new)
    for message in messages:
        assert message in caught.value.message, caught.value.message
    assert store.get_label_schema(schema_id=schema.schema_id).input == schema.input


MULTI = InputCategorical(["A", "B", "C"], multi_select=True)


@pytest.mark.parametrize(("start", "values", "edit", "messages"), [
    # One option a question: an option an answer holds cannot go.
    (InputCategorical(["A", "B", "C"]), ["A", "B", "B"], InputCategorical(["A", "C"]),
     ["Invalid options: label schema 'q' has 2 answers this change would make invalid",
      "'B' is no longer an option (2 answers)"]),
    # Several options: an option inside a list answer counts too.
    (MULTI, [["A", "B"], ["C"], ["A"]], InputCategorical(["B", "C"], multi_select=True),
     ["Invalid options: label schema 'q' has 2 answers", "'A' is no longer an option"]),
    # Several to one, and one to several: every answer is of the other shape.
    (MULTI, [["A", "B"], ["C"]], InputCategorical(["A", "B", "C"]),
     ["Invalid multi_select: label schema 'q' has 2 answers",
      "each holds several options (2 answers)"]),
    (InputCategorical(["A", "B"]), ["A"], InputCategorical(["A", "B"], multi_select=True),
     ["Invalid multi_select: label schema 'q' has 1 answer this", "each holds one option"]),
    (InputCategoricalList(["A", "B", "C"]), [["A", "C"], []], InputCategoricalList(["A", "B"]),
     ["Invalid options: label schema 'q' has 1 answer", "'C' is no longer an option"]),
    # Lists of texts: fewer items, or shorter ones, than answers hold.
    (InputTextList(max_count=5, max_length_each=50), [["a", "b", "c"], ["a"], ["a", "b", "c"]],
     InputTextList(max_count=2, max_length_each=50),
     ["Invalid max_count: label schema 'q' has 2 answers",
      "a list of 3 texts is more than 2 (2 answers)"]),
    (InputTextList(max_count=5, max_length_each=50), [["x" * 30], ["short"]],
     InputTextList(max_count=5, max_length_each=20),
     ["Invalid max_length_each: label schema 'q' has 1 answer",
      "an item of 30 characters is longer than 20"]),
    (InputText(max_length=100), ["y" * 80], InputText(max_length=50),
     ["Invalid max_length:", "a text of 80 characters is longer than 50"]),
    (InputNumeric(1, 10), [2, 9, 10], InputNumeric(3, 9),
     ["Invalid max_value: label schema 'q' has 2 answers", "10 is above 9 (1 answer)",
      "2 is below 3 (1 answer)"]),
    # Another kind of input: every answer answered the old question.
    (InputNumeric(1, 5), [3, 4], InputText(),
     ["Invalid kind: label schema 'q' has 2 answers",
      "they answer a numeric question, not a text one"]),
    (InputPassFail(), [True, False], InputCategorical(["Pass", "Fail"]),
     ["Invalid kind:", "2 answers"]),
])
def test_an_edit_that_would_leave_answers_invalid_is_refused(
        store: Store, start: LabelInput, values: list[Any], edit: LabelInput,
        messages: list[str]) -> None:
    schema, _, _ = _answered(store, start, values)
    _refused(store, schema, edit, *messages)


@pytest.mark.parametrize(("start", "values", "edit"), [
    (InputCategorical(["A", "B"]), ["A"], InputCategorical(["A", "B", "C"])),
    (InputCategorical(["A", "B", "C"]), ["A", "B"], InputCategorical(["B", "A"])),
    (MULTI, [["A", "B"]], InputCategorical(["A", "B", "D"], multi_select=True)),
    (InputCategoricalList(["A", "B"]), [["A"]], InputCategoricalList(["A", "B", "C"])),
    (InputTextList(max_count=2, max_length_each=10), [["ab", "cd"]],
     InputTextList(max_count=None, max_length_each=100)),
    (InputTextList(max_count=5), [["ab", "cd"]], InputTextList(max_count=2)),
    (InputText(max_length=10), ["abc"], InputText(max_length=3)),
    (InputNumeric(1, 5), [1, 5], InputNumeric(0, 10)),
    (InputNumeric(1, 5), [2], InputNumeric(None, None)),
    (InputPassFail(), [True, False], InputPassFail("Good", "Bad")),
])
def test_an_edit_that_keeps_answers_valid_is_saved(store: Store, start: LabelInput,
                                                   values: list[Any],
                                                   edit: LabelInput) -> None:
    schema, _, _ = _answered(store, start, values)
    saved = store.update_label_schema(schema.schema_id, input=edit, title="New title",
                                      instruction="New words", enable_comment=True)
    assert saved.input == edit
    assert (saved.title, saved.instruction, saved.enable_comment) == (
        "New title", "New words", True)


def test_without_answers_any_input_may_be_chosen(store: Store) -> None:
    schema, _, _ = _answered(store, InputNumeric(1, 5), [])
    saved = store.update_label_schema(schema.schema_id, input=InputCategorical(["x", "y"]))
    assert saved.input == InputCategorical(["x", "y"])
    saved = store.update_label_schema(schema.schema_id,
                                      input=InputCategorical(["x"], multi_select=True))
    assert saved.input == InputCategorical(["x"], multi_select=True)


def test_only_current_answers_and_adjudications_count(store: Store) -> None:
    schema, info, trace_ids = _answered(store, InputCategorical(["A", "B", "C"]),
                                        ["A", "B"])
    # Ana changes her mind on the second item: her "B" is history, not an answer.
    store.submit_labeling_answers(info.run_id, trace_ids[1], "ana", {NAME: "C"})
    narrowed = store.update_label_schema(schema.schema_id,
                                         input=InputCategorical(["A", "C", "D"]))
    assert narrowed.input == InputCategorical(["A", "C", "D"])
    # The owner settles the first item as "D": the adjudication is an answer too.
    store.adjudicate_labeling_item(info.run_id, trace_ids[0], NAME, "D", "owner")
    _refused(store, narrowed, InputCategorical(["A", "C"]),
             "Invalid options: label schema 'q' has 1 answer", "'D' is no longer an option")


def test_values_logged_before_the_schema_do_not_block_an_edit(store: Store) -> None:
    (trace,) = logged_traces(store, 1)
    store.log_assessment(Feedback(NAME, "legacy", trace_id=trace.info.trace_id))
    schema = store.create_label_schema(LabelSchema(
        NAME, LabelSchemaType.FEEDBACK, InputCategorical(["A", "B"]), experiment_id="0"))
    saved = store.update_label_schema(schema.schema_id, input=InputCategorical(["A"]))
    assert saved.input == InputCategorical(["A"])


def test_a_name_in_use_cannot_change(store: Store) -> None:
    schema, _, _ = _answered(store, InputCategorical(["A", "B"]), ["A", "B"])
    with pytest.raises(InvalidParameterError) as caught:
        store.update_label_schema(schema.schema_id, name="renamed")
    assert caught.value.message.startswith(
        "Invalid name: label schema 'q' cannot be renamed while its name is in use: 2 "
        "answers are named 'q'; labeling session 'Review' asks it by name.")
    # A schema nobody uses yet may take another name.
    fresh = store.create_label_schema(LabelSchema(
        "draft", LabelSchemaType.FEEDBACK, InputText(), experiment_id="0"))
    assert store.update_label_schema(fresh.schema_id, name="final").name == "final"


@pytest.fixture
def rt(backend: Backend) -> Iterator[_runtime.Runtime]:
    runtime = _runtime.reset(Settings(tracking_uri=backend.tracking_uri))
    yield runtime
    _runtime.reset(Settings(tracking_uri="sqlite:///:memory:"))
    runtime.close()


def test_the_sdk_refuses_the_same_edits(rt: _runtime.Runtime) -> None:
    store = rt.store()
    schema, _, _ = _answered(store, InputTextList(max_count=4), [["a", "b", "c"]])
    with pytest.raises(InvalidParameterError, match=(
            r"Invalid max_count: label schema 'q' has 1 answer this change would make "
            r"invalid: a list of 3 texts is more than 2 \(1 answer\)")):
        sdk.update_label_schema(schema.schema_id, input=sdk.InputTextList(max_count=2))
    widened = sdk.update_label_schema(schema.schema_id, input=sdk.InputTextList(max_count=3),
                                      title="Facts")
    assert widened.input == InputTextList(max_count=3) and widened.title == "Facts"


def test_overwriting_a_schema_is_an_edit_too(store: Store) -> None:
    schema, _, _ = _answered(store, InputCategorical(["A", "B"]), ["A", "B", "B"])
    again = LabelSchema(NAME, LabelSchemaType.FEEDBACK, InputCategorical(["A"]),
                        experiment_id="0")
    with pytest.raises(InvalidParameterError, match=(
            r"Invalid options: label schema 'q' has 2 answers this change would make "
            r"invalid: 'B' is no longer an option \(2 answers\)")):
        store.create_label_schema(again, overwrite=True)
    expectation = LabelSchema(NAME, LabelSchemaType.EXPECTATION, schema.input,
                              experiment_id="0")
    with pytest.raises(InvalidParameterError, match=(
            r"Invalid type: label schema 'q' has 3 answers this change would make invalid: "
            r"they are feedbacks, not expectations")):
        store.create_label_schema(expectation, overwrite=True)
    assert store.get_label_schema(schema_id=schema.schema_id).input == schema.input
    # The same schema again, or one with more options and another title, is fine.
    same = store.create_label_schema(LabelSchema(
        NAME, LabelSchemaType.FEEDBACK, InputCategorical(["A", "B", "C"]), title="Which?",
        experiment_id="0"), overwrite=True)
    assert same.schema_id == schema.schema_id and same.title == "Which?"
