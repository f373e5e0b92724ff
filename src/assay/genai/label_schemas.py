"""Label schemas: the questions experts answer in labeling sessions (MLflow's
``mlflow.genai.label_schemas``).

::

    from assay.genai.label_schemas import create_label_schema, InputCategorical

    accuracy = create_label_schema(
        name="response_accuracy", type="feedback",
        title="Is the response factually accurate?",
        input=InputCategorical(options=["Accurate", "Partially Accurate", "Inaccurate"]),
        overwrite=True)

A schema belongs to an experiment (the active one unless ``experiment_id`` is given) and is
unique there by name. Once it exists, every value logged under its name in that experiment
is checked against it, however it is written.
"""

from __future__ import annotations

from assay import _runtime
from assay.entities.label_schema import (
    EXPECTED_FACTS,
    EXPECTED_RESPONSE,
    GUIDELINES,
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
from assay.errors import InvalidParameterError
from assay.paging import PagedList

__all__ = [
    "EXPECTED_FACTS",
    "EXPECTED_RESPONSE",
    "GUIDELINES",
    "InputCategorical",
    "InputCategoricalList",
    "InputNumeric",
    "InputPassFail",
    "InputText",
    "InputTextList",
    "LabelSchema",
    "LabelSchemaType",
    "create_label_schema",
    "delete_label_schema",
    "get_label_schema",
    "list_label_schemas",
    "update_label_schema",
]


def create_label_schema(name: str, *, type: str | LabelSchemaType, input: LabelInput,
                        instruction: str | None = None, enable_comment: bool = False,
                        title: str | None = None, overwrite: bool = False,
                        experiment_id: str | None = None) -> LabelSchema:
    """Create a label schema and return it as stored.

    Args:
        name: the name of the assessments it collects (e.g. ``"response_accuracy"``).
        type: ``"feedback"`` (a judgment) or ``"expectation"`` (ground truth).
        input: what an answer is: :class:`InputCategorical`, :class:`InputPassFail`,
            :class:`InputNumeric`, :class:`InputText`, :class:`InputCategoricalList`,
            :class:`InputTextList`.
        instruction: guidance shown under the question.
        enable_comment: let reviewers add a comment to their answer.
        title: the question as reviewers read it (default: the name).
        overwrite: replace a schema of the same name (refused, naming them, when answers
            already given would not fit the new type or input); without it, an existing
            name is an AlreadyExistsError naming it.
        experiment_id: where the schema lives (default: the active experiment).
    """
    rt = _runtime.runtime()
    schema = LabelSchema(name=name, type=LabelSchemaType.parse(type), input=input,
                         instruction=instruction, enable_comment=enable_comment, title=title,
                         experiment_id=_experiment(experiment_id))
    if not isinstance(overwrite, bool):
        raise InvalidParameterError(f"Invalid overwrite {overwrite!r}: expected True or False")
    return rt.store().create_label_schema(schema, overwrite=overwrite)


def get_label_schema(name: str | None = None, *, schema_id: str | None = None,
                     experiment_id: str | None = None) -> LabelSchema:
    """The schema with this name in the experiment (default: the active one), or with this
    ``schema_id``; NotFoundError otherwise."""
    if (name is None) == (schema_id is None):
        raise InvalidParameterError("get_label_schema needs a name or a schema_id (one of them)")
    store = _runtime.runtime().store()
    if schema_id is not None:
        return store.get_label_schema(schema_id=schema_id)
    return store.get_label_schema(experiment_id=_experiment(experiment_id), name=name)


def list_label_schemas(experiment_id: str | None = None, *, max_results: int = 100,
                       page_token: str | None = None) -> PagedList[LabelSchema]:
    """The experiment's schemas (default: the active one), oldest first; ``.token`` of the
    list gives the next page."""
    return _runtime.runtime().store().list_label_schemas(_experiment(experiment_id),
                                                         max_results, page_token)


def update_label_schema(schema_id: str, *, name: str | None = None,
                        instruction: str | None = None, enable_comment: bool | None = None,
                        input: LabelInput | None = None,
                        title: str | None = None) -> LabelSchema:
    """Change the given fields of a schema (the type cannot change).

    The answers already given under it must stay valid: adding options, widening a range
    or a limit, the title, the instruction and ``enable_comment`` are always saved; an
    input that would refuse answers (an option removed that one holds, ``max_count``,
    ``max_length_each``, ``max_length`` or a bound past one, another kind of input, or
    ``multi_select`` switched) and a new name while answers or sessions use the old one
    are refused with an InvalidParameterError naming the field, the schema and how many
    answers."""
    return _runtime.runtime().store().update_label_schema(
        schema_id, name=name, instruction=instruction, enable_comment=enable_comment,
        input=input, title=title)


def delete_label_schema(name: str | None = None, *, schema_id: str | None = None,
                        experiment_id: str | None = None) -> None:
    """Delete a schema, by name in the experiment (default: the active one) or by id. The
    answers it collected stay on their traces."""
    if schema_id is None:
        schema_id = get_label_schema(name, experiment_id=experiment_id).schema_id
    _runtime.runtime().store().delete_label_schema(schema_id)


def _experiment(experiment_id: str | None) -> str:
    if experiment_id is not None:
        return str(experiment_id)
    return _runtime.runtime().active_experiment_id()
