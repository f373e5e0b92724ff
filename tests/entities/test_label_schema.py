"""Label schemas: their inputs check their own parameters, each input accepts exactly the
values it describes, errors name the schema and what it accepts, and the JSON form round
trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.entities.label_schema import (
    EditConflict,
    InputCategorical,
    InputCategoricalList,
    InputNumeric,
    InputPassFail,
    InputText,
    InputTextList,
    LabelInput,
    LabelSchema,
    LabelSchemaType,
    edit_conflicts,
    edit_refused,
    input_from_dict,
    input_to_dict,
)
from assay.errors import InvalidParameterError

ACCURACY = LabelSchema(
    name="response_accuracy", type=LabelSchemaType.FEEDBACK,
    input=InputCategorical(options=["Accurate", "Partially Accurate", "Inaccurate"]),
    title="Is the response factually accurate?")


def schema(label_input: LabelInput, name: str = "q") -> LabelSchema:
    return LabelSchema(name=name, type="feedback", input=label_input)  # type: ignore[arg-type]


@pytest.mark.parametrize(("label_input", "value", "stored"), [
    (InputPassFail(), True, True),
    (InputPassFail(), False, False),
    (InputPassFail("Good", "Bad"), "Good", True),
    (InputPassFail("Good", "Bad"), "Bad", False),
    (InputCategorical(["a", "b"]), "b", "b"),
    (InputCategorical(["a", "b"], multi_select=True), ["b", "a"], ["b", "a"]),
    (InputCategorical(["a", "b"], multi_select=True), [], []),
    (InputCategoricalList(["a", "b"]), ["a"], ["a"]),
    (InputNumeric(1, 5), 1, 1),
    (InputNumeric(1, 5), 4.5, 4.5),
    (InputNumeric(1, 5), 5, 5),
    (InputNumeric(min_value=0), 1e9, 1e9),
    (InputNumeric(max_value=0), -3, -3),
    (InputNumeric(), -1e300, -1e300),
    (InputText(), "", ""),
    (InputText(max_length=3), "abc", "abc"),
    (InputTextList(max_length_each=2, max_count=2), ["ab", "c"], ["ab", "c"]),
])
def test_each_input_accepts_what_it_describes(label_input: LabelInput, value: object,
                                              stored: object) -> None:
    assert schema(label_input).check_value(value) == stored


@pytest.mark.parametrize(("label_input", "value", "accepts"), [
    (InputPassFail(), "yes", "true ('Pass') or false ('Fail')"),
    (InputPassFail(), 1, "true ('Pass') or false ('Fail')"),
    (InputCategorical(["a", "b"]), "c", "one of 'a', 'b'"),
    (InputCategorical(["a", "b"]), ["a"], "one of 'a', 'b'"),
    (InputCategorical(["a", "b"], multi_select=True), "a",
     "a list of distinct options among 'a', 'b'"),
    (InputCategorical(["a", "b"], multi_select=True), ["a", "a"],
     "a list of distinct options among 'a', 'b'"),
    (InputCategoricalList(["a"]), ["z"], "a list of distinct options among 'a'"),
    (InputNumeric(1, 5), 0, "a number from 1 to 5"),
    (InputNumeric(1, 5), 5.01, "a number from 1 to 5"),
    (InputNumeric(1, 5), True, "a number from 1 to 5"),
    (InputNumeric(1, 5), "3", "a number from 1 to 5"),
    (InputNumeric(), float("nan"), "a number"),
    (InputNumeric(min_value=2), 1, "a number of at least 2"),
    (InputNumeric(max_value=2), 3, "a number of at most 2"),
    (InputText(max_length=3), "abcd", "text of at most 3 characters"),
    (InputText(), 3, "text of at most 100,000 characters"),
    (InputTextList(max_count=1), ["a", "b"], "a list of at most 1 texts"),
    (InputTextList(max_length_each=1), ["ab"], "of at most 1 characters each"),
    (InputTextList(), "ab", "a list of at most 1,000 texts"),
])
def test_a_value_outside_the_schema_names_the_schema_and_what_it_accepts(
        label_input: LabelInput, value: object, accepts: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        schema(label_input, name="rating").check_value(value)
    message = str(caught.value)
    assert "label schema 'rating'" in message
    assert accepts in message


def test_text_with_a_nul_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="NUL"):
        schema(InputText()).check_value("a\x00b")
    with pytest.raises(InvalidParameterError, match="NUL"):
        schema(InputTextList()).check_value(["a\x00b"])


@pytest.mark.parametrize(("build", "field"), [
    (lambda: InputPassFail("Same", "Same"), "negative_label"),
    (lambda: InputPassFail("", "No"), "positive_label"),
    (lambda: InputCategorical([]), "options"),
    (lambda: InputCategorical("abc"), "options"),
    (lambda: InputCategorical(["a", "a"]), "options"),
    (lambda: InputCategorical(["x" * 65]), "options item"),
    (lambda: InputCategorical([str(i) for i in range(101)]), "options"),
    (lambda: InputCategorical(["a"], multi_select="yes"),  # type: ignore[arg-type]
     "multi_select"),
    (lambda: InputCategoricalList([]), "options"),
    (lambda: InputNumeric(5, 1), "max_value"),
    (lambda: InputNumeric(1, 1), "max_value"),
    (lambda: InputNumeric(True, 3), "min_value"),
    (lambda: InputNumeric(float("inf")), "min_value"),
    (lambda: InputText(0), "max_length"),
    (lambda: InputText(2.5), "max_length"),  # type: ignore[arg-type]
    (lambda: InputTextList(max_count=-1), "max_count"),
    (lambda: InputTextList(max_length_each=False), "max_length_each"),
    (lambda: schema(InputText(), name=""), "name"),
    (lambda: schema(InputText(), name=" padded"), "name"),
    (lambda: schema(InputText(), name="x" * 251), "name"),
    (lambda: schema(InputText(), name="a\x00"), "name"),
    (lambda: LabelSchema("n", "opinion", InputText()), "type"),  # type: ignore[arg-type]
    (lambda: LabelSchema("n", "feedback", "text"), "input"),  # type: ignore[arg-type]
    (lambda: LabelSchema("n", LabelSchemaType.FEEDBACK, InputText(),
                         instruction="x" * 1001), "instruction"),
    (lambda: LabelSchema("n", LabelSchemaType.FEEDBACK, InputText(),
                         enable_comment="no"), "enable_comment"),  # type: ignore[arg-type]
])
def test_bad_parameters_are_refused_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"Invalid {field}"):
        build()


def test_the_type_is_read_in_any_case() -> None:
    assert LabelSchemaType.parse("EXPECTATION") is LabelSchemaType.EXPECTATION
    assert schema(InputText()).type is LabelSchemaType.FEEDBACK


def test_the_question_is_the_title_or_the_name() -> None:
    assert ACCURACY.question == "Is the response factually accurate?"
    assert schema(InputText(), name="notes").question == "notes"


OPTION = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                 min_size=1, max_size=64)
INPUTS = st.one_of(
    st.builds(InputPassFail, st.sampled_from(["Pass", "Yes"]), st.sampled_from(["Fail", "No"])),
    st.builds(InputCategorical,
              st.lists(OPTION, min_size=1, max_size=5, unique=True),
              st.booleans()),
    st.builds(InputCategoricalList,
              st.lists(OPTION, min_size=1, max_size=5, unique=True)),
    st.builds(InputNumeric, st.none() | st.integers(-10, 0), st.none() | st.integers(1, 10)),
    st.builds(InputText, st.none() | st.integers(1, 10_000)),
    st.builds(InputTextList, st.none() | st.integers(1, 100), st.none() | st.integers(1, 9)),
)


@given(label_input=INPUTS, title=st.none() | OPTION,
       comment=st.booleans(), kind=st.sampled_from(list(LabelSchemaType)))
def test_the_json_form_round_trips(label_input: LabelInput, title: str | None, comment: bool,
                                   kind: LabelSchemaType) -> None:
    original = LabelSchema(name="q", type=kind, input=label_input, title=title,
                           instruction="Judge it", enable_comment=comment, schema_id="ls-1",
                           experiment_id="0", created_by="ann", created_at=5, updated_at=6)
    assert LabelSchema.from_dict(json.loads(json.dumps(original.to_dict()))) == original
    assert input_from_dict(input_to_dict(label_input)) == label_input


def test_the_input_json_form_is_mlflows() -> None:
    assert input_to_dict(InputCategorical(["a"])) == {
        "categorical": {"options": ["a"], "multi_select": False}}
    assert input_from_dict({"pass_fail": {}}) == InputPassFail()
    assert input_from_dict({"numeric": {"min_value": 1, "max_value": None}}) == InputNumeric(1)


@pytest.mark.parametrize(("data", "message"), [
    ([], "one key"),
    ({"text": {}, "numeric": {}}, "one key"),
    ({"slider": {}}, "input type 'slider'"),
    ({"text": []}, "input.text: expected an object"),
    ({"text": {"max_len": 3}}, "unknown field 'max_len'"),
    ({"categorical": {}}, "input.categorical"),
    ({"numeric": {"min_value": "1"}}, "min_value"),
])
def test_a_bad_input_json_form_names_the_problem(data: object, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        input_from_dict(data)


def test_a_label_schema_json_form_missing_a_field_names_it() -> None:
    with pytest.raises(InvalidParameterError, match="'input' is missing"):
        LabelSchema.from_dict({"name": "q", "type": "feedback"})


def test_update_changes_the_fields_given() -> None:
    widened = ACCURACY.updated(
        input=InputCategorical(["Accurate", "Inaccurate", "Unsure"]), instruction="Check",
        updated_at=9)
    assert widened.check_value("Unsure") == "Unsure"
    assert widened.instruction == "Check" and widened.updated_at == 9
    assert widened.title == ACCURACY.title


def test_edit_conflicts_name_the_answers_an_input_would_refuse() -> None:
    answers = [("Accurate", 3), ("Inaccurate", 2), ("not an option", 7)]
    narrowed = edit_conflicts(ACCURACY, InputCategorical(["Accurate", "Unsure"]), answers)
    # A value the schema already refused (logged before it existed) is not counted.
    assert narrowed == [EditConflict("options", 2, "'Inaccurate' is no longer an option")]
    assert edit_conflicts(ACCURACY, InputCategorical(["Inaccurate", "Accurate", "x"]),
                          answers) == []
    (kind,) = edit_conflicts(ACCURACY, InputText(), answers)
    assert (kind.field, kind.count) == ("kind", 5)
    (multi,) = edit_conflicts(ACCURACY, InputCategorical(["Accurate"], multi_select=True),
                              answers)
    assert (multi.field, multi.count) == ("multi_select", 5)
    message = edit_refused(ACCURACY, narrowed).message
    assert message.startswith(f"Invalid options: label schema {ACCURACY.name!r} has 2 "
                              "answers this change would make invalid")
