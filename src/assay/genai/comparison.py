"""``compare_evaluations``: did a candidate run score better than a baseline on the same rows,
scorer by scorer, and by more than chance?

::

    comparison = assay.genai.compare_evaluations(candidate.run_id, baseline.run_id)
    print(comparison)                      # one line per scorer
    comparison["correctness"].flips        # the rows that went pass → fail or back

How rows and scores are read:

* A run's rows are its traces (``search_traces(run_id=...)``); a row is known by the
  sha256 of the sorted-key JSON of its root span's inputs, so the two runs' rows pair up
  whatever their trace ids. Rows with the same inputs in one run pair in the order they
  were traced.
* A row's scores are the run's Feedback on its trace (``run_id`` set, or the metadata
  ``mlflow.assessment.sourceRunId``), by name. A Feedback with an error is left out and
  counted. A scorer that gives several values on a row (one per retriever span) scores
  the row with their mean.
* A scorer is *pass/fail* when each row has one value and every value is pass/fail
  (booleans, "yes"/"no", "pass"/"fail"), *numeric* when every value is a number (or
  pass/fail, as 1/0), else *other* (counted, not compared).

For each scorer in both runs, over the rows both scored: the baseline's and candidate's
means, their difference (candidate - baseline) with a paired-bootstrap interval (10,000
resamples, seeded), McNemar's exact test (pass/fail) or Wilcoxon's signed-rank test
(numeric; needs scipy, the ``stats`` extra), and for pass/fail the rows that flipped. See
:mod:`assay.stats.paired` for the statistics.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from assay import _runtime
from assay.entities import Assessment, Trace
from assay.errors import InvalidParameterError
from assay.genai._values import all_traces, as_number, as_pass_fail, digest
from assay.genai.evaluation import ASSESSMENT_RUN_KEY
from assay.stats.paired import bootstrap_interval, mcnemar_exact_p, wilcoxon_p
from assay.store.base import Store

__all__ = ["EvaluationComparison", "Flip", "ScorerComparison", "compare_evaluations"]

#: Bootstrap resamples of each interval, and their seed.
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0

Kind = Literal["pass_fail", "numeric", "other", "baseline_only", "candidate_only"]


@dataclass(frozen=True)
class Flip:
    """A row whose pass/fail score changed between the runs."""

    direction: Literal["pass_to_fail", "fail_to_pass"]
    inputs: Any
    baseline_trace_id: str
    candidate_trace_id: str
    baseline_value: Any
    candidate_value: Any


@dataclass(frozen=True)
class ScorerComparison:
    """One scorer compared over the rows both runs scored.

    Attributes:
        name: the scorer's (its Feedback's) name.
        kind: ``pass_fail``, ``numeric`` or ``other`` (not compared); ``baseline_only`` or
            ``candidate_only`` for a scorer only one run has.
        n: rows with a value in both runs (the pairs every figure is computed on).
        baseline_mean, candidate_mean: the means over those rows (pass as 1, fail as 0).
        difference: ``candidate_mean - baseline_mean``.
        interval: the paired-bootstrap interval of the difference at the comparison's
            confidence level.
        test: ``"mcnemar"`` or ``"wilcoxon"``, the test of ``p_value``.
        p_value: two-sided; small means the difference is unlikely to be chance.
        flips: the rows that went pass → fail or fail → pass.
        baseline_errors, candidate_errors: Feedback with an error on the shared rows, left
            out.
        note: why a figure is missing, when one is.
    """

    name: str
    kind: Kind
    n: int = 0
    baseline_mean: float | None = None
    candidate_mean: float | None = None
    difference: float | None = None
    interval: tuple[float, float] | None = None
    test: Literal["mcnemar", "wilcoxon"] | None = None
    p_value: float | None = None
    flips: tuple[Flip, ...] = ()
    baseline_errors: int = 0
    candidate_errors: int = 0
    note: str | None = None

    @property
    def pass_to_fail(self) -> list[Flip]:
        return [f for f in self.flips if f.direction == "pass_to_fail"]

    @property
    def fail_to_pass(self) -> list[Flip]:
        return [f for f in self.flips if f.direction == "fail_to_pass"]


@dataclass(frozen=True)
class EvaluationComparison:
    """What :func:`compare_evaluations` gives back; ``print`` it for a table.

    Attributes:
        candidate_run_id, baseline_run_id: the runs.
        confidence_level: of every interval.
        rows_shared: rows (inputs) both runs have.
        baseline_rows, candidate_rows: each run's rows.
        scorers: one comparison per scorer name, those in both runs first, by name.
    """

    candidate_run_id: str
    baseline_run_id: str
    confidence_level: float
    rows_shared: int
    baseline_rows: int
    candidate_rows: int
    scorers: tuple[ScorerComparison, ...] = field(default=())

    def __getitem__(self, name: str) -> ScorerComparison:
        for scorer in self.scorers:
            if scorer.name == name:
                return scorer
        raise KeyError(name)

    def __iter__(self) -> Iterator[ScorerComparison]:
        return iter(self.scorers)

    def __str__(self) -> str:
        level = f"{self.confidence_level:.0%}"
        lines = [f"Candidate run {self.candidate_run_id} vs baseline run "
                 f"{self.baseline_run_id}: {self.rows_shared} shared rows (baseline "
                 f"{self.baseline_rows}, candidate {self.candidate_rows})"]
        header = ["scorer", "n", "baseline", "candidate", f"difference [{level} CI]",
                  "p-value", "test", "flips", "errors (b/c)"]
        table = [header]
        for s in self.scorers:
            if s.kind in ("baseline_only", "candidate_only"):
                where = "the baseline" if s.kind == "baseline_only" else "the candidate"
                table.append([s.name, "", "", "", f"only in {where}", "", "", "", ""])
                continue
            interval = "" if s.difference is None else f"{s.difference:+.3f}" + (
                "" if s.interval is None
                else f" [{s.interval[0]:+.3f}, {s.interval[1]:+.3f}]")
            flips = "" if s.kind != "pass_fail" else (
                f"{len(s.pass_to_fail)} pass→fail, {len(s.fail_to_pass)} fail→pass")
            table.append([s.name, str(s.n), _number(s.baseline_mean),
                          _number(s.candidate_mean), interval or (s.note or ""),
                          "" if s.p_value is None else f"{s.p_value:.4g}",
                          {"mcnemar": "McNemar", "wilcoxon": "Wilcoxon", None: ""}[s.test],
                          flips, f"{s.baseline_errors}/{s.candidate_errors}"])
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths,
                                                                     strict=True)).rstrip())
        return "\n".join(lines)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


# -- reading a run -------------------------------------------------------------------------------

@dataclass
class _Row:
    trace_id: str
    inputs: Any
    values: dict[str, list[Any]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)


def _run_rows(store: Store, run_id: str, which: str) -> dict[tuple[str, int], _Row]:
    """A run's rows, by (digest of inputs, occurrence) → its trace and scores."""
    try:
        run = store.get_run(run_id)
    except InvalidParameterError as exc:  # name the argument, not the store's run_id
        raise InvalidParameterError(f"Invalid {which} {run_id[:100]!r}: {exc}") from exc
    rows: dict[tuple[str, int], _Row] = {}
    seen: Counter[str] = Counter()
    for trace in all_traces(store, [run.info.experiment_id], run_id=run_id):
        root = trace.data.root_span
        inputs = None if root is None else root.inputs
        key = digest(inputs)
        row = _Row(trace.info.trace_id, inputs)
        for assessment in _scores(trace, run_id):
            if assessment.error is not None:
                row.errors[assessment.name] += 1
            else:
                row.values.setdefault(assessment.name, []).append(assessment.value)
        rows[(key, seen[key])] = row
        seen[key] += 1
    return rows


def _scores(trace: Trace, run_id: str) -> list[Assessment]:
    return [a for a in trace.search_assessments(type="feedback")
            if a.run_id == run_id or a.metadata.get(ASSESSMENT_RUN_KEY) == run_id]


def _names(rows: dict[tuple[str, int], _Row]) -> set[str]:
    return {name for row in rows.values() for name in (*row.values, *row.errors)}


# -- comparing -----------------------------------------------------------------------------------

def compare_evaluations(candidate_run_id: str, baseline_run_id: str,
                        confidence_level: float = 0.95) -> EvaluationComparison:
    """Compare two evaluation runs row by row, scorer by scorer (see :func:`compare_runs`,
    which this calls on the tracking store)."""
    return compare_runs(_runtime.runtime().readable_store(), candidate_run_id,
                        baseline_run_id, confidence_level)


def compare_runs(store: Store, candidate_run_id: str, baseline_run_id: str,
                 confidence_level: float = 0.95) -> EvaluationComparison:
    """Compare two evaluation runs of ``store`` row by row, scorer by scorer.

    Args:
        candidate_run_id: the run being judged (e.g. the new prompt).
        baseline_run_id: the run it is compared with.
        confidence_level: of the bootstrap intervals, between 0 and 1 (default 0.95).

    Raises:
        NotFoundError: a run that does not exist.
        InvalidParameterError: a bad level, a run without traces, or runs that share no row
            (no trace of one has the inputs of a trace of the other).
        ImportError: a numeric scorer to compare and no scipy (the ``stats`` extra).
    """
    for name, run_id in (("candidate_run_id", candidate_run_id),
                         ("baseline_run_id", baseline_run_id)):
        if not isinstance(run_id, str) or not run_id:
            raise InvalidParameterError(f"Invalid {name} {run_id!r}: expected a run id")
    if isinstance(confidence_level, bool) or not isinstance(confidence_level, (int, float)) \
            or not 0 < confidence_level < 1:
        raise InvalidParameterError(
            f"Invalid confidence_level {confidence_level!r}: expected a number between 0 "
            "and 1, e.g. 0.95")
    baseline = _run_rows(store, baseline_run_id, "baseline_run_id")
    candidate = _run_rows(store, candidate_run_id, "candidate_run_id")
    for which, run_id, rows in (("baseline", baseline_run_id, baseline),
                                ("candidate", candidate_run_id, candidate)):
        if not rows:
            raise InvalidParameterError(
                f"The {which} run {run_id} has no traces to compare")
    shared = [key for key in baseline if key in candidate]
    if not shared:
        raise InvalidParameterError(
            f"Runs {candidate_run_id} and {baseline_run_id} share no rows: no trace of one "
            "has the same inputs as a trace of the other, so nothing can be paired")
    in_baseline, in_candidate = _names(baseline), _names(candidate)
    compared = [_compare(name, [(baseline[k], candidate[k]) for k in shared],
                         float(confidence_level))
                for name in sorted(in_baseline & in_candidate)]
    compared += [ScorerComparison(name, "baseline_only")
                 for name in sorted(in_baseline - in_candidate)]
    compared += [ScorerComparison(name, "candidate_only")
                 for name in sorted(in_candidate - in_baseline)]
    return EvaluationComparison(candidate_run_id, baseline_run_id, float(confidence_level),
                                len(shared), len(baseline), len(candidate), tuple(compared))


def _compare(name: str, rows: list[tuple[_Row, _Row]],
             confidence_level: float) -> ScorerComparison:
    errors = (sum(b.errors[name] for b, _ in rows), sum(c.errors[name] for _, c in rows))
    pairs = [(b, c) for b, c in rows if b.values.get(name) and c.values.get(name)]
    values = [v for b, c in rows for side in (b, c) for v in side.values.get(name, ())]
    if all(as_pass_fail(v) is not None for v in values) and all(
            len(b.values[name]) == 1 and len(c.values[name]) == 1 for b, c in pairs):
        kind: Kind = "pass_fail"
    elif all(as_number(v) is not None for v in values):
        kind = "numeric"
    else:
        return ScorerComparison(name, "other", len(pairs), baseline_errors=errors[0],
                                candidate_errors=errors[1],
                                note="values are not numbers or pass/fail")
    if not pairs:
        return ScorerComparison(name, kind, 0, baseline_errors=errors[0],
                                candidate_errors=errors[1],
                                note="no shared row has a value in both runs")
    base = [_mean(b.values[name]) for b, _ in pairs]
    cand = [_mean(c.values[name]) for _, c in pairs]
    differences = [c - b for b, c in zip(base, cand, strict=True)]
    flips: tuple[Flip, ...] = ()
    if kind == "pass_fail":
        flips = tuple(
            Flip("pass_to_fail" if b_value else "fail_to_pass", b.inputs, b.trace_id,
                 c.trace_id, b.values[name][0], c.values[name][0])
            for (b, c), b_value, c_value in zip(pairs, base, cand, strict=True)
            if b_value != c_value)
        test: Literal["mcnemar", "wilcoxon"] = "mcnemar"
        p_value = mcnemar_exact_p(sum(f.direction == "pass_to_fail" for f in flips),
                                  sum(f.direction == "fail_to_pass" for f in flips))
    else:
        test, p_value = "wilcoxon", wilcoxon_p(differences)
    n = len(pairs)
    return ScorerComparison(
        name, kind, n, baseline_mean=math.fsum(base) / n, candidate_mean=math.fsum(cand) / n,
        difference=math.fsum(differences) / n,
        interval=bootstrap_interval(differences, confidence_level,
                                    resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED),
        test=test, p_value=p_value, flips=flips, baseline_errors=errors[0],
        candidate_errors=errors[1])


def _mean(values: list[Any]) -> float:
    numbers = [as_number(v) for v in values]
    return math.fsum(x for x in numbers if x is not None) / len(numbers)
