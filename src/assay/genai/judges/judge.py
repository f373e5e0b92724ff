"""LLM judges: scorers that ask a model for a verdict and its reasons (MLflow's
``mlflow.genai.judges``), and :func:`make_judge` to write one's own.

A judge is a :class:`~assay.genai.scorers.Scorer`: callable on its own
(``Correctness()(inputs=..., outputs=..., expectations=...)`` gives a Feedback) or in an
evaluation. Its Feedback has the model as source (LLM_JUDGE, ``openai:/<model>``), the
model's rationale, and the tokens the call used in its metadata
(``assay.judge.prompt_tokens``, ``assay.judge.completion_tokens``), with their cost in US
dollars (``assay.judge.cost_usd``) when the model's price is known. An answer without a
readable verdict is a Feedback with an error quoting it.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from assay.entities import Feedback
from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
from assay.entities.span import Span
from assay.entities.trace import Trace
from assay.errors import InvalidParameterError
from assay.genai.judges.alignment import AlignmentReport, align_judge
from assay.genai.judges.models import JudgeAnswerError, JudgeModel, default_judge_model
from assay.genai.scoring import FIELDS, Aggregation, Scorer, row_fields

__all__ = [
    "COST_METADATA",
    "TOKEN_METADATA",
    "InstructionsJudge",
    "Judge",
    "OneQuestionJudge",
    "make_judge",
    "render",
    "result_schema",
]

#: Metadata keys of a judge's Feedback: the tokens its call used.
TOKEN_METADATA = ("assay.judge.prompt_tokens", "assay.judge.completion_tokens")
#: Metadata key of a judge's Feedback: what its call cost in US dollars, when the model's
#: price is known (see :mod:`assay.genai.judges.pricing`).
COST_METADATA = "assay.judge.cost_usd"
#: Longest text of one field put in a prompt; longer ones are cut, saying so.
MAX_FIELD_CHARS = 20_000
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
YES_NO = ("yes", "no")


def result_schema(value_type: Any) -> dict[str, Any]:
    """The JSON schema of a verdict of ``value_type``: None ("yes"/"no"), bool, int, float,
    str, or ``Literal[...]`` of strings."""
    if value_type is None:
        return {"type": "string", "enum": list(YES_NO)}
    if value_type is bool:
        return {"type": "boolean"}
    if value_type is int:
        return {"type": "integer"}
    if value_type is float:
        return {"type": "number"}
    if value_type is str:
        return {"type": "string"}
    if typing.get_origin(value_type) is typing.Literal:
        options = typing.get_args(value_type)
        if options and all(isinstance(o, str) for o in options):
            return {"type": "string", "enum": list(options)}
    raise InvalidParameterError(
        f"Invalid feedback_value_type {value_type!r}: expected bool, int, float, str or "
        "Literal[...] of strings")


def _coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    """The verdict as its schema wants it, or JudgeAnswerError."""
    kind = schema["type"]
    if "enum" in schema:
        options: list[str] = schema["enum"]
        if isinstance(value, bool) and options == list(YES_NO):
            return "yes" if value else "no"
        text = str(value).strip().strip(".").lower()
        for option in options:
            if text == option.lower():
                return option
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().strip(".").lower()
        if text in ("true", "yes", "pass"):
            return True
        if text in ("false", "no", "fail"):
            return False
    elif kind in ("integer", "number"):
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is not None and number == number and abs(number) != float("inf"):
            if kind == "number":
                return number
            if number.is_integer():
                return int(number)
    elif kind == "string" and isinstance(value, (str, int, float)):
        return str(value)
    raise JudgeAnswerError(f"The judge's verdict {value!r} is not {_describe(schema)}")


def _describe(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(o) for o in schema["enum"])
    return {"boolean": "true or false", "integer": "an integer", "number": "a number"}.get(
        schema["type"], "a string")


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str, indent=1)
    if len(text) > MAX_FIELD_CHARS:
        text = text[:MAX_FIELD_CHARS] + f"\n[… {len(text) - MAX_FIELD_CHARS} more characters]"
    return text


def _span_lines(trace: Trace) -> str:
    """A trace as the judge reads it: each span's name, type, status, inputs and outputs."""
    spans = trace.data.spans
    children: dict[str | None, list[Span]] = {}
    ids = {s.span_id for s in spans}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_time_ns):
            indent = "  " * depth
            lines.append(f"{indent}- {span.name} ({span.span_type}, "
                         f"{span.status.status_code})")
            for label, raw in (("inputs", span.inputs_json), ("outputs", span.outputs_json)):
                if raw is not None:
                    shown = raw if len(raw) <= 2_000 else raw[:2_000] + " […]"
                    lines.append(f"{indent}  {label}: {shown}")
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return _text("\n".join(lines))


def render(template: str, fields: Mapping[str, Any]) -> str:
    """``template`` with each ``{{ field }}`` replaced by that field's text."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = fields.get(name)
        if name == "trace" and isinstance(value, Trace):
            return _span_lines(value)
        return _text(value)

    return _PLACEHOLDER.sub(fill, template)


class Judge(Scorer):
    """A scorer that asks a model: what every judge shares (its model, its source,
    :meth:`ask`). :class:`OneQuestionJudge` gives one Feedback per row; the retrieval judges
    give one per retriever span."""

    #: The verdict's type: None for "yes"/"no", else bool, int, float, str or a Literal.
    value_type: Any = None

    def __init__(self, *, name: str | None = None, model: str | None = None,
                 aggregations: Sequence[Aggregation] | None = None,
                 timeout: float | None = None, **model_options: Any) -> None:
        super().__init__(name=name, aggregations=aggregations, timeout=timeout)
        self.model = JudgeModel(model or default_judge_model(), **model_options)
        self._schema = result_schema(self.value_type)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.model.uri!r})"

    @property
    def source(self) -> AssessmentSource:
        return AssessmentSource(AssessmentSourceType.LLM_JUDGE, self.model.uri)

    def ask(self, prompt: str, *, name: str | None = None,
            span_id: str | None = None) -> Feedback:
        """One question to the model, as a Feedback (an unreadable answer: with an error)."""
        metadata: dict[str, Any] = {}
        try:
            answer = self.model.judge(prompt, self._schema)
            for key, count in zip(TOKEN_METADATA, (answer.prompt_tokens,
                                                   answer.completion_tokens), strict=True):
                if count is not None:
                    metadata[key] = count
            if answer.cost_usd is not None:
                metadata[COST_METADATA] = answer.cost_usd
            value = _coerce(answer.result, self._schema)
        except JudgeAnswerError as exc:
            return Feedback(name=name or self.name, error=exc, source=self.source,
                            metadata=metadata, span_id=span_id)
        return Feedback(name=name or self.name, value=value, rationale=answer.rationale,
                        source=self.source, metadata=metadata, span_id=span_id)

    @property
    def declared_fields(self) -> tuple[str, ...]:
        return FIELDS


class OneQuestionJudge(Judge):
    """A judge that asks one question of a row and gives one Feedback: subclasses give
    :meth:`prompt`."""

    def prompt(self, **fields: Any) -> str:
        raise NotImplementedError

    def __call__(self, *, inputs: Any = None, outputs: Any = None,
                 expectations: Mapping[str, Any] | None = None,
                 trace: Trace | None = None) -> Feedback:
        row = row_fields(inputs=inputs, outputs=outputs, expectations=expectations,
                         trace=trace)
        return self.ask(self.prompt(**row.as_kwargs()))


class InstructionsJudge(OneQuestionJudge):
    """A judge made by :func:`make_judge`."""

    #: How it was aligned with human labels (a judge :meth:`align` made), else None.
    alignment: AlignmentReport | None = None

    def __init__(self, *, name: str, instructions: str, value_type: Any,
                 description: str | None, **settings: Any) -> None:
        self.value_type = value_type
        super().__init__(name=name, **settings)
        self.instructions = instructions
        self.description = description
        self.fields = tuple(dict.fromkeys(_PLACEHOLDER.findall(instructions)))

    def prompt(self, **fields: Any) -> str:
        missing = [f for f in self.fields if f != "expectations" and fields.get(f) is None]
        if missing:
            raise InvalidParameterError(
                f"Judge {self.name!r} needs {', '.join(missing)}, which this row lacks")
        return render(self.instructions, fields) + "\n\n" + _answer_line(self._schema)

    def align(self, traces: Any, *, holdout: float = 0.3, seed: int = 0,
              max_examples: int = 8) -> InstructionsJudge:
        """A new judge taught by the human labels of its name on ``traces`` (a list of
        Trace or a search_traces DataFrame), with few-shot examples in its instructions,
        chosen mostly where this judge disagreed with the humans. ``holdout`` of the
        labeled traces are kept out of the examples, and both judges' accuracy and kappa
        on them are in the new judge's ``alignment`` report. See
        :mod:`assay.genai.judges.alignment` for the method.
        """
        return align_judge(self, traces, holdout=holdout, seed=seed,
                           max_examples=max_examples)


def _answer_line(schema: Mapping[str, Any]) -> str:
    return f"Give your verdict as the JSON object's \"result\": {_describe(schema)}."


def make_judge(name: str, instructions: str, model: str | None = None, *,
               description: str | None = None, feedback_value_type: Any = None,
               inference_params: Mapping[str, Any] | None = None,
               base_url: str | None = None, extra_headers: Mapping[str, str] | None = None,
               aggregations: Sequence[Aggregation] | None = None,
               timeout: float | None = None,
               cost_per_million_tokens: Sequence[float] | None = None) -> InstructionsJudge:
    """A judge of one's own: ``instructions`` refer to the row with ``{{ inputs }}``,
    ``{{ outputs }}``, ``{{ expectations }}`` and ``{{ trace }}``.

    Args:
        name: its Feedback's name.
        instructions: what to judge and how; at least one of the four placeholders.
        model: ``openai:/<model>`` (default: ASSAY_GENAI_JUDGE_DEFAULT_MODEL, then
            MLFLOW_GENAI_JUDGE_DEFAULT_MODEL, then ``openai:/gpt-4.1-mini``).
        feedback_value_type: the verdict's type: bool, int, float, str or
            ``Literal["good", "bad", ...]``; default "yes"/"no".
        inference_params: more arguments of each chat completion (e.g. temperature).
        base_url: the endpoint, instead of OPENAI_BASE_URL.
        extra_headers: headers sent with each call.
        cost_per_million_tokens: ``(input, output)`` US dollars per million tokens (default:
            the model's list price, when it is listed).
    """
    if not isinstance(instructions, str) or not instructions.strip():
        raise InvalidParameterError("Invalid instructions: expected a non-empty template")
    used = set(_PLACEHOLDER.findall(instructions))
    unknown = sorted(used - set(FIELDS))
    if unknown:
        raise InvalidParameterError(
            f"Invalid instructions of judge {name!r}: unknown placeholder(s) "
            f"{', '.join('{{ ' + u + ' }}' for u in unknown)}; use "
            f"{', '.join('{{ ' + f + ' }}' for f in FIELDS)}")
    if not used:
        raise InvalidParameterError(
            f"Invalid instructions of judge {name!r}: refer to the row with at least one of "
            f"{', '.join('{{ ' + f + ' }}' for f in FIELDS)}")
    return InstructionsJudge(name=name, instructions=instructions,
                              value_type=feedback_value_type, description=description,
                              model=model, inference_params=inference_params,
                              base_url=base_url, extra_headers=extra_headers,
                              aggregations=aggregations, timeout=timeout,
                              cost_per_million_tokens=cost_per_million_tokens)
