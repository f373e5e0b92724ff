"""``judge_agreement``: how far a judge (an LLM judge or a code scorer) agrees with the
humans who labeled the same traces.

::

    agreement = assay.genai.judge_agreement("correctness")
    print(agreement)                 # the confusion matrix, accuracy, kappa, TPR/TNR
    agreement.disagreements          # each with both values and both rationales

The traces counted have both a judge Feedback of the judge's name (source LLM_JUDGE or
CODE; the newest, optionally only those of one evaluation run, including one a human
overrode) and a human label (:func:`human_label`). Pass/fail values (booleans, "yes"/"no",
"pass"/"fail") are compared as True/False on both sides, so a judge's "yes" agrees with a
reviewer's Pass; any other values are compared as they are (categories, numbers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay import _runtime
from assay.entities import Assessment, Feedback, Trace
from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
from assay.errors import InvalidParameterError
from assay.genai._values import all_traces, as_pass_fail, label
from assay.rules import last_changed
from assay.search.unparse import quote_name
from assay.stats.agreement import compute_agreement
from assay.store.base import Store

__all__ = [
    "JudgeAgreement",
    "JudgeDisagreement",
    "compare_labels",
    "human_label",
    "judge_agreement",
    "judge_feedback",
]

_JUDGE_SOURCES = (AssessmentSourceType.LLM_JUDGE, AssessmentSourceType.CODE)


#: The source id of a human label that is a labeling session's gold label.
GOLD_SOURCE_ID = "gold label"


def gold_labels_of(store: Store, traces: Sequence[Trace]) -> dict[str, dict[str, Any]]:
    """The gold labels of these traces (trace id → name → value), from ``store``."""
    ids = [t.info.trace_id for t in traces]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 10_000):
        found.update(store.get_gold_labels(ids[start:start + 10_000]))
    return found


def human_label(trace: Trace, name: str,
                gold: Mapping[str, Mapping[str, Any]] | None = None) -> Assessment | None:
    """The human label of ``trace`` for ``name``, or None.

    This is the one place that decides what "the humans said" about a trace, for
    :func:`judge_agreement` and ``Judge.align``. The first choice is the trace's gold label
    from a labeling session (the adjudicated value, or the one all its reviewers gave;
    ``gold`` as :func:`gold_labels_of` gives them), as a HUMAN Feedback whose source id is
    :data:`GOLD_SOURCE_ID`; else the newest valid HUMAN assessment (Feedback or
    Expectation) of that name without an error.
    """
    labels = (gold or {}).get(trace.info.trace_id) or {}
    if labels.get(name) is not None:
        return Feedback(name=name, value=labels[name], trace_id=trace.info.trace_id,
                        source=AssessmentSource(AssessmentSourceType.HUMAN, GOLD_SOURCE_ID),
                        rationale="the labeling session's gold label")
    found = [a for a in trace.search_assessments(name)
             if a.source.source_type == AssessmentSourceType.HUMAN and a.error is None
             and a.value is not None]
    return last_changed(found)


def judge_feedback(trace: Trace, name: str, run_id: str | None = None) -> Feedback | None:
    """The newest Feedback of ``name`` a judge or code scorer gave on ``trace`` (of the run
    ``run_id`` only, when given); it may carry an error. One a human overrode counts: it is
    still what the judge said, and the override is the human's label."""
    found = [a for a in trace.search_assessments(name, type="feedback", all=True)
             if isinstance(a, Feedback) and a.source.source_type in _JUDGE_SOURCES
             and (run_id is None or a.run_id == run_id)]
    return last_changed(found)


def compare_labels(judged: Iterable[Any], humans: Iterable[Any]) -> tuple[list[Hashable],
                                                                           list[Hashable]]:
    """Both sides' values as comparable labels: True/False when every value of both sides
    is pass/fail, else as they are (lists and dicts as JSON text)."""
    judged, humans = list(judged), list(humans)
    if all(as_pass_fail(v) is not None for v in (*judged, *humans)):
        return [as_pass_fail(v) for v in judged], [as_pass_fail(v) for v in humans]
    return [label(v) for v in judged], [label(v) for v in humans]


@dataclass(frozen=True)
class JudgeDisagreement:
    """A trace where the judge and the human label differ."""

    trace_id: str
    judge_value: Any
    human_value: Any
    judge_rationale: str | None
    human_rationale: str | None
    human: str | None  # the human label's source id (the reviewer)
    request: str | None = None  # the trace's request preview, to tell the rows apart


@dataclass(frozen=True)
class JudgeAgreement:
    """What :func:`judge_agreement` gives back; ``print`` it for a summary.

    Attributes:
        judge_name, human_name: the two assessment names compared.
        n: traces with both a judge value and a human label.
        labels: the values seen, sorted (False before True for pass/fail).
        confusion_matrix: ``confusion_matrix[i][j]`` traces the humans labeled
            ``labels[i]`` and the judge ``labels[j]``.
        accuracy: the share of the n traces where they agree.
        cohen_kappa: agreement beyond chance (None when it is undefined: one label only).
        true_positive_rate: of the traces the humans passed, the share the judge passed
            (pass/fail values only; None otherwise or without such traces).
        true_negative_rate: the same for the traces the humans failed.
        disagreements: each trace where they differ.
        judge_errors: traces left out because the judge's Feedback is an error.
        without_human_label: traces the judge scored that no human labeled.
    """

    judge_name: str
    human_name: str
    n: int
    labels: tuple[Hashable, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]
    accuracy: float
    cohen_kappa: float | None
    true_positive_rate: float | None
    true_negative_rate: float | None
    disagreements: tuple[JudgeDisagreement, ...]
    judge_errors: int
    without_human_label: int

    @property
    def is_pass_fail(self) -> bool:
        return all(isinstance(v, bool) for v in self.labels)

    def __str__(self) -> str:
        names = self.judge_name if self.judge_name == self.human_name \
            else f"{self.judge_name} vs human {self.human_name}"
        lines = [f"Judge agreement on {names}: {self.n} traces, accuracy {self.accuracy:.3f}, "
                 f"Cohen's kappa {_figure(self.cohen_kappa)}"]
        if self.is_pass_fail:
            lines.append(f"True positive rate {_figure(self.true_positive_rate)}, true negative "
                         f"rate {_figure(self.true_negative_rate)}")
        shown = [_shown(v) for v in self.labels]
        width = max([len("human \\ judge"), *map(len, shown)])
        cells = max([3, *map(len, shown)])
        lines.append("human \\ judge".ljust(width) + "  " + "  ".join(
            s.rjust(cells) for s in shown))
        for value, row in zip(shown, self.confusion_matrix, strict=True):
            lines.append(value.ljust(width) + "  " + "  ".join(
                str(count).rjust(cells) for count in row))
        lines.append(f"{len(self.disagreements)} disagreements; {self.judge_errors} judge "
                     f"errors and {self.without_human_label} traces without a human label "
                     "left out")
        return "\n".join(lines)


def _figure(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def _shown(value: Hashable) -> str:
    if isinstance(value, bool):
        return "pass" if value else "fail"
    return str(value)


def _sort_key(value: Hashable) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def judge_agreement(judge_name: str, human_name: str | None = None,
                    experiment_id: str | None = None,
                    run_id: str | None = None) -> JudgeAgreement:
    """Compare a judge's Feedback with the human labels of the same traces, in the tracking
    store (see :func:`agreement_in`; the experiment defaults to the run's, else the active
    one)."""
    rt = _runtime.runtime()
    store = rt.readable_store()
    if experiment_id is None:
        experiment_id = (store.get_run(run_id).info.experiment_id if isinstance(run_id, str)
                         and run_id else rt.active_experiment_id())
    return agreement_in(store, judge_name, human_name, experiment_id, run_id)


def agreement_in(store: Store, judge_name: str, human_name: str | None,
                 experiment_id: str, run_id: str | None = None) -> JudgeAgreement:
    """Compare a judge's Feedback with the human labels of the same traces of ``store``.

    Args:
        judge_name: the judge's Feedback name (e.g. ``"correctness"``).
        human_name: the humans' assessment name (default: ``judge_name``).
        experiment_id: where the traces are.
        run_id: only the judge's Feedback of this evaluation run (on the traces linked to
            it).

    Raises:
        InvalidParameterError: bad names, or no trace with both a judge value and a human
            label (the message says how many had each).
        NotFoundError: a run that does not exist.
    """
    for key, value in (("judge_name", judge_name), ("human_name", human_name)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidParameterError(f"Invalid {key} {value!r}: expected a name")
    human_name = human_name or judge_name
    traces = all_traces(store, [experiment_id],
                        filter_string=f"feedback.{quote_name(judge_name)} IS NOT NULL",
                        run_id=run_id)
    judged: list[tuple[Trace, Feedback, Assessment]] = []
    errors = without_label = 0
    gold = gold_labels_of(store, traces)
    for trace in traces:
        verdict = judge_feedback(trace, judge_name, run_id)
        if verdict is None:
            continue  # only human Feedback of that name
        if verdict.error is not None:
            errors += 1
            continue
        human = human_label(trace, human_name, gold)
        if human is None:
            without_label += 1
            continue
        judged.append((trace, verdict, human))
    if not judged:
        raise InvalidParameterError(
            f"No trace has both a judge's Feedback {judge_name!r} and a human label "
            f"{human_name!r} ({without_label} judged traces without a human label, "
            f"{errors} with a judge error)")
    return _summarise(judge_name, human_name, judged, errors, without_label)


def _summarise(judge_name: str, human_name: str,
              judged: Sequence[tuple[Trace, Assessment, Assessment]], judge_errors: int = 0,
              without_human_label: int = 0) -> JudgeAgreement:
    """The agreement of (trace, judge's assessment, human label) triples."""
    judge_values, human_values = compare_labels([j.value for _, j, _ in judged],
                                                [h.value for _, _, h in judged])
    labels = sorted(set(judge_values) | set(human_values), key=_sort_key)
    index = {value: i for i, value in enumerate(labels)}
    counts: Counter[tuple[int, int]] = Counter(
        (index[h], index[j]) for j, h in zip(judge_values, human_values, strict=True))
    matrix = tuple(tuple(counts[(i, j)] for j in range(len(labels)))
                   for i in range(len(labels)))
    n = len(judged)
    agreed = sum(matrix[i][i] for i in range(len(labels)))
    kappa = compute_agreement(
        {i: {"judge": j, "human": h}
         for i, (j, h) in enumerate(zip(judge_values, human_values, strict=True))}
    ).cohen_kappa
    tpr = tnr = None
    if all(isinstance(v, bool) for v in labels):
        tpr = _rate(judge_values, human_values, True)
        tnr = _rate(judge_values, human_values, False)
    disagreements = tuple(
        JudgeDisagreement(trace.info.trace_id, verdict.value, human.value, verdict.rationale,
                          human.rationale, human.source.source_id, trace.info.request_preview)
        for (trace, verdict, human), j, h in zip(judged, judge_values, human_values,
                                                 strict=True)
        if j != h)
    return JudgeAgreement(judge_name, human_name, n, tuple(labels), matrix, agreed / n, kappa,
                          tpr, tnr, disagreements, judge_errors, without_human_label)


def _rate(judged: list[Hashable], humans: list[Hashable], truth: bool) -> float | None:
    relevant = [j for j, h in zip(judged, humans, strict=True) if h is truth]
    return None if not relevant else sum(j is truth for j in relevant) / len(relevant)
