"""Scorers: what judges one row of an evaluation (MLflow's ``mlflow.genai.scorers``).

A scorer is called with any subset of four fields, by name, and returns its verdict::

    @scorer
    def is_short(outputs) -> bool:
        return len(str(outputs)) < 500

    is_short(outputs="Paris")            # True, called on its own
    is_short.run(trace=trace)            # [Feedback(name="is_short", value=True, ...)]

The fields are ``inputs`` (the request: a dict of the app's arguments), ``outputs`` (the
app's answer), ``expectations`` (``{name: value}``: what the answer should have been, from
the row or from the trace's expectations) and ``trace`` (the whole
:class:`~assay.entities.Trace`). A field the row lacks is taken from the trace when there is
one: its root span's inputs and outputs, and its valid expectations.

A scorer returns a bool, a number, a string, a :class:`Feedback`, or a list of Feedback;
:meth:`Scorer.run` turns any of these into Feedback named for the scorer, with the scorer as
source (CODE, or LLM_JUDGE with the model for judges).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from assay.entities import Feedback, Trace
from assay.entities.assessment import DEFAULT_FEEDBACK_NAME
from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
from assay.errors import InvalidParameterError

__all__ = [
    "AGGREGATIONS",
    "FIELDS",
    "Scorer",
    "ScorerInputs",
    "aggregate",
    "row_fields",
    "scorer",
]

#: The fields a scorer may declare, in the order they are documented.
FIELDS = ("inputs", "outputs", "expectations", "trace")

Aggregation = str | Callable[[list[float]], float]


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    # The nearest rank: the smallest value with at least 90% of the values at or below it.
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


#: The named aggregations of a scorer's values into a run's metric (``<scorer>/<name>``).
AGGREGATIONS: dict[str, Callable[[list[float]], float]] = {
    "min": min,
    "max": max,
    "mean": statistics.fmean,
    "median": statistics.median,
    "variance": lambda values: statistics.pvariance(values) if len(values) > 1 else 0.0,
    "p90": _p90,
}

_NAME = re.compile(r"[A-Za-z0-9_.\- ]{1,200}")


class ScorerInputs:
    """The four fields of one row, as a scorer sees them."""

    __slots__ = ("expectations", "inputs", "outputs", "trace")

    def __init__(self, *, inputs: Any = None, outputs: Any = None,
                 expectations: Mapping[str, Any] | None = None,
                 trace: Trace | None = None) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.expectations = dict(expectations or {})
        self.trace = trace

    def as_kwargs(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "outputs": self.outputs,
                "expectations": self.expectations, "trace": self.trace}


def row_fields(*, inputs: Any = None, outputs: Any = None,
               expectations: Mapping[str, Any] | None = None,
               trace: Trace | None = None) -> ScorerInputs:
    """A row's fields, with what is missing taken from ``trace``: its root span's inputs
    and outputs, and its valid expectations (those given win, name by name)."""
    if trace is not None:
        root = trace.data.root_span
        if inputs is None and root is not None:
            inputs = root.inputs
        if outputs is None and root is not None:
            outputs = root.outputs
        from_trace = {a.name: a.value
                      for a in trace.search_assessments(type="expectation")}
        expectations = {**from_trace, **(expectations or {})}
    return ScorerInputs(inputs=inputs, outputs=outputs, expectations=expectations,
                        trace=trace)


def aggregate(aggregation: Aggregation, values: list[float]) -> float:
    """One aggregation of a scorer's numeric values (none: NaN)."""
    if not values:
        return math.nan
    if callable(aggregation):
        return float(aggregation(values))
    return float(AGGREGATIONS[aggregation](values))


def _check_aggregations(aggregations: Sequence[Aggregation] | None) -> list[Aggregation]:
    if aggregations is None:
        return ["mean"]
    checked: list[Aggregation] = []
    for aggregation in aggregations:
        if not callable(aggregation) and aggregation not in AGGREGATIONS:
            raise InvalidParameterError(
                f"Invalid aggregation {aggregation!r}: expected one of "
                f"{', '.join(AGGREGATIONS)}, or a function of a list of numbers")
        checked.append(aggregation)
    return checked


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class Scorer:
    """A scorer: subclass it and implement ``__call__`` with keyword parameters among
    ``inputs``, ``outputs``, ``expectations`` and ``trace`` (or use :func:`scorer`).

    Args:
        name: the name of its Feedback and metrics (default: the class's name in snake case,
            or the class attribute ``name``).
        aggregations: how its values make a run's metrics: any of ``min``, ``max``,
            ``mean``, ``median``, ``variance``, ``p90``, or a function (default mean).
        pass_if: whether a value passes (default: True, ``"yes"``, or a number above 0).
        timeout: seconds one call may take in an evaluation (None: the evaluation's own).
    """

    name: str = ""

    def __init__(self, *, name: str | None = None,
                 aggregations: Sequence[Aggregation] | None = None,
                 pass_if: Callable[[Any], bool] | None = None,
                 timeout: float | None = None) -> None:
        chosen = name or type(self).__dict__.get("name") or self.name \
            or _snake(type(self).__name__)
        if not isinstance(chosen, str) or not _NAME.fullmatch(chosen):
            raise InvalidParameterError(
                f"Invalid scorer name {chosen!r}: expected 1 to 200 letters, digits, spaces "
                "or _ . -")
        self.name = chosen
        self.aggregations = _check_aggregations(aggregations)
        self.pass_if = pass_if
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise InvalidParameterError(f"Invalid timeout {timeout!r}: expected seconds >= 0")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    if TYPE_CHECKING:
        # Each scorer takes its own keyword parameters among the four fields.
        __call__: Callable[..., Any]
    else:
        def __call__(self, **fields: Any) -> Any:
            raise NotImplementedError(f"{type(self).__name__} does not implement __call__")

    # -- what an evaluation asks of it -----------------------------------------------------
    @property
    def source(self) -> AssessmentSource:
        """Who its Feedback come from: CODE with the scorer's name."""
        return AssessmentSource(AssessmentSourceType.CODE, self.name)

    @functools.cached_property
    def declared_fields(self) -> tuple[str, ...]:
        """The fields its ``__call__`` takes by name (all four if it takes ``**kwargs``)."""
        return _declared_fields(self.__call__, type(self).__name__)

    def run(self, fields: ScorerInputs | None = None, /, **given: Any) -> list[Feedback]:
        """Call the scorer with the fields it declares and return its verdict as Feedback.

        Either pass a :class:`ScorerInputs`, or the fields by name (missing ones are taken
        from ``trace``, as :func:`row_fields` does). Errors the scorer raises propagate.
        """
        row = fields if fields is not None else row_fields(**given)
        values = row.as_kwargs()
        result = self(**{f: values[f] for f in self.declared_fields})
        return self.to_feedback(result)

    def to_feedback(self, result: Any) -> list[Feedback]:
        """What the scorer returned, as Feedback named for it (with its source)."""
        items = result if isinstance(result, list) else [result]
        if not items:
            raise InvalidParameterError(f"Scorer {self.name!r} returned an empty list")
        feedback = []
        for item in items:
            if isinstance(item, Feedback):
                changes: dict[str, Any] = {}
                if item.name == DEFAULT_FEEDBACK_NAME:
                    changes["name"] = self.name
                if item.source.source_type == AssessmentSourceType.CODE \
                        and item.source.source_id == "default":
                    changes["source"] = self.source
                feedback.append(dataclasses.replace(item, **changes) if changes else item)
            elif item is None:
                raise InvalidParameterError(
                    f"Scorer {self.name!r} returned None: expected a bool, a number, a "
                    "string, a Feedback or a list of Feedback")
            elif isinstance(item, (bool, int, float, str)):
                feedback.append(Feedback(name=self.name, value=item, source=self.source))
            else:
                raise InvalidParameterError(
                    f"Scorer {self.name!r} returned a {type(item).__name__}: expected a "
                    "bool, a number, a string, a Feedback or a list of Feedback")
        names = [(f.name, f.span_id) for f in feedback]
        if len(set(names)) != len(names):
            raise InvalidParameterError(
                f"Scorer {self.name!r} returned several Feedback of one name on one span: "
                f"{[f.name for f in feedback]}")
        return feedback

    def passes(self, value: Any) -> bool:
        """Whether ``value`` passes: ``pass_if`` when given, else True, "yes", or a positive
        number."""
        if self.pass_if is not None:
            return bool(self.pass_if(value))
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return value.strip().lower() in ("yes", "true", "pass")
        if isinstance(value, (int, float)):
            return value > 0
        return False


def _declared_fields(function: Callable[..., Any], owner: str) -> tuple[str, ...]:
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return FIELDS
    names = []
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.name not in FIELDS:
            if parameter.default is not inspect.Parameter.empty:
                continue
            raise InvalidParameterError(
                f"Scorer {owner} takes {parameter.name!r}, which no row gives: a scorer "
                f"declares any of {', '.join(FIELDS)}")
        names.append(parameter.name)
    return tuple(names)


class _FunctionScorer(Scorer):
    """A scorer made of a function by :func:`scorer`."""

    def __init__(self, function: Callable[..., Any], **settings: Any) -> None:
        super().__init__(name=settings.pop("name", None) or function.__name__, **settings)
        self._function = function
        self.description = settings.get("description") or inspect.getdoc(function)
        functools.update_wrapper(self, function)

    @functools.cached_property
    def declared_fields(self) -> tuple[str, ...]:
        return _declared_fields(self._function, self._function.__name__)

    def __call__(self, *args: Any, **fields: Any) -> Any:
        return self._function(*args, **fields)


@overload
def scorer(func: Callable[..., Any], /, *, name: str | None = None,
           description: str | None = None,
           aggregations: Sequence[Aggregation] | None = None,
           pass_if: Callable[[Any], bool] | None = None,
           timeout: float | None = None) -> Scorer: ...


@overload
def scorer(func: None = None, /, *, name: str | None = None,
           description: str | None = None,
           aggregations: Sequence[Aggregation] | None = None,
           pass_if: Callable[[Any], bool] | None = None,
           timeout: float | None = None) -> Callable[[Callable[..., Any]], Scorer]: ...


def scorer(func: Callable[..., Any] | None = None, /, *, name: str | None = None,
           description: str | None = None,
           aggregations: Sequence[Aggregation] | None = None,
           pass_if: Callable[[Any], bool] | None = None,
           timeout: float | None = None) -> Scorer | Callable[[Callable[..., Any]], Scorer]:
    """Make a scorer of a function, with or without arguments (``@scorer`` or
    ``@scorer(name=..., aggregations=[...])``). The function declares any of ``inputs``,
    ``outputs``, ``expectations`` and ``trace``; the scorer stays callable as the function."""

    def wrap(function: Callable[..., Any]) -> Scorer:
        if not callable(function):
            raise InvalidParameterError(
                f"@scorer takes a function, got {type(function).__name__}")
        made = _FunctionScorer(function, name=name, aggregations=aggregations,
                               pass_if=pass_if, timeout=timeout)
        if description:
            made.description = description
        made.declared_fields  # noqa: B018 - a parameter no row gives fails here, not later
        return made

    return wrap(func) if func is not None else wrap
