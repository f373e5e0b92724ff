"""``assay.genai.compare_evaluations`` on two evaluation runs of the same questions: rows
paired by their inputs, McNemar for pass/fail, Wilcoxon (as scipy computes it) for numbers,
the flipped rows, scorers only one run has, errors, ties, and runs that share nothing; on
SQLite, PostgreSQL and over HTTP."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import assay
from assay import _runtime
from assay.errors import InvalidParameterError, NotFoundError
from assay.genai import compare_evaluations, evaluate
from assay.genai.scorers import scorer

N = 30


@scorer
def good(outputs: str) -> bool:
    return outputs.startswith("ok")


@scorer
def length(outputs: str) -> int:
    return len(outputs)


@scorer
def polite(outputs: str) -> bool:
    return "please" in outputs


@scorer
def fussy(inputs: dict[str, Any], outputs: str) -> bool:
    if outputs.endswith("!") and int(inputs["question"][1:]) % 10 == 0:
        raise ValueError("too loud")
    return True


def _baseline(i: int) -> str:
    return ("ok" if i < 14 else "no") + " " + "x" * (i % 5)  # 14 pass


def _candidate(i: int) -> str:
    # Rows 0-2 go pass → fail, rows 14-26 fail → pass: McNemar's b = 3, c = 13.
    return ("ok" if 3 <= i < 27 else "no") + " " + "x" * ((3 * i) % 7) + "!"


def _rows(outputs: Any, n: int = N) -> list[dict[str, Any]]:
    return [{"inputs": {"question": f"q{i}"}, "outputs": outputs(i)} for i in range(n)]


def test_two_runs_are_compared_scorer_by_scorer(rt: _runtime.Runtime) -> None:
    baseline = evaluate(data=_rows(_baseline), scorers=[good, length, fussy])
    candidate = evaluate(data=_rows(_candidate), scorers=[good, length, polite, fussy])

    comparison = compare_evaluations(candidate.run_id, baseline.run_id)
    assert (comparison.rows_shared, comparison.baseline_rows, comparison.candidate_rows) == (
        N, N, N)
    assert [s.name for s in comparison] == ["fussy", "good", "length", "polite"]

    passed = comparison["good"]
    assert (passed.kind, passed.n, passed.test) == ("pass_fail", N, "mcnemar")
    assert passed.baseline_mean == pytest.approx(14 / N)
    assert passed.candidate_mean == pytest.approx(24 / N)
    assert passed.difference == pytest.approx(10 / N)
    assert passed.p_value == pytest.approx(2 * (1 + 16 + 120 + 560) / 2 ** 16)
    assert passed.interval is not None
    assert 0 < passed.interval[0] < 10 / N < passed.interval[1] < 1
    baseline_ids = {r.inputs["question"]: r.trace_id for r in baseline.rows}
    candidate_ids = {r.inputs["question"]: r.trace_id for r in candidate.rows}
    assert [(f.inputs["question"], f.baseline_value, f.candidate_value)
            for f in sorted(passed.pass_to_fail, key=lambda f: f.inputs["question"])] == [
        ("q0", True, False), ("q1", True, False), ("q2", True, False)]
    assert sorted(f.inputs["question"] for f in passed.fail_to_pass) == sorted(
        f"q{i}" for i in range(14, 27))
    for flip in passed.flips:
        assert flip.baseline_trace_id == baseline_ids[flip.inputs["question"]]
        assert flip.candidate_trace_id == candidate_ids[flip.inputs["question"]]

    lengths = comparison["length"]
    differences = [len(_candidate(i)) - len(_baseline(i)) for i in range(N)]
    assert (lengths.kind, lengths.test, lengths.flips) == ("numeric", "wilcoxon", ())
    from scipy import stats  # here: half a second to import, for this test alone

    assert lengths.p_value == pytest.approx(stats.wilcoxon(differences).pvalue, rel=1e-12)
    assert lengths.difference == pytest.approx(sum(differences) / N)
    assert lengths.baseline_mean == pytest.approx(sum(len(_baseline(i)) for i in range(N)) / N)

    loud = comparison["fussy"]  # q0, q10, q20 raised in the candidate run: left out, counted
    assert (loud.n, loud.baseline_errors, loud.candidate_errors) == (N - 3, 0, 3)
    assert (loud.difference, loud.interval, loud.p_value) == (0.0, (0.0, 0.0), 1.0)
    assert comparison["polite"].kind == "candidate_only"

    table = str(comparison)
    assert table.splitlines()[0] == (
        f"Candidate run {candidate.run_id} vs baseline run {baseline.run_id}: 30 shared "
        "rows (baseline 30, candidate 30)")
    [good_line] = [line for line in table.splitlines() if line.startswith("good ")]
    assert "0.467" in good_line and "0.800" in good_line and "+0.333 [" in good_line
    assert "McNemar" in good_line and "3 pass→fail, 13 fail→pass" in good_line
    assert any(line.startswith("polite ") and "only in the candidate" in line
               for line in table.splitlines())


def test_the_same_answers_twice_differ_by_nothing(sqlite_rt: _runtime.Runtime) -> None:
    first = evaluate(data=_rows(_baseline), scorers=[good, length])
    second = evaluate(data=_rows(_baseline), scorers=[good, length])
    comparison = compare_evaluations(second.run_id, first.run_id, confidence_level=0.9)
    for name in ("good", "length"):
        same = comparison[name]
        assert (same.n, same.difference, same.interval, same.p_value, same.flips) == (
            N, 0.0, (0.0, 0.0), 1.0, ())
    assert "[90% CI]" in str(comparison)


def test_rows_pair_by_inputs_whatever_their_order_and_repeats(
        sqlite_rt: _runtime.Runtime) -> None:
    rows = [{"inputs": {"b": 2, "a": 1}, "outputs": "ok"},
            {"inputs": {"a": 1, "b": 2}, "outputs": "no"},  # the same inputs again
            {"inputs": {"a": 3}, "outputs": "ok"}]
    baseline = evaluate(data=rows, scorers=[good])
    candidate = evaluate(data=[{"inputs": {"a": 3}, "outputs": "no"},
                               {"inputs": {"a": 9}, "outputs": "ok"}], scorers=[good])
    comparison = compare_evaluations(candidate.run_id, baseline.run_id)
    assert (comparison.rows_shared, comparison.baseline_rows, comparison.candidate_rows) == (
        1, 3, 2)
    [flip] = comparison["good"].flips
    assert (flip.direction, flip.inputs) == ("pass_to_fail", {"a": 3})


def test_values_that_are_not_scores_are_counted_not_compared(
        sqlite_rt: _runtime.Runtime) -> None:
    @scorer
    def tone(outputs: str) -> str:
        return "warm" if "ok" in outputs else "cold"

    baseline = evaluate(data=_rows(_baseline, 4), scorers=[tone])
    candidate = evaluate(data=_rows(_candidate, 4), scorers=[tone])
    other = compare_evaluations(candidate.run_id, baseline.run_id)["tone"]
    assert (other.kind, other.n, other.p_value, other.interval) == ("other", 4, None, None)
    assert other.note == "values are not numbers or pass/fail"


def test_runs_that_share_no_rows_are_refused(sqlite_rt: _runtime.Runtime) -> None:
    baseline = evaluate(data=_rows(_baseline, 3), scorers=[good])
    candidate = evaluate(data=[{"inputs": {"question": "other"}, "outputs": "ok"}],
                         scorers=[good])
    with pytest.raises(InvalidParameterError, match="share no rows"):
        compare_evaluations(candidate.run_id, baseline.run_id)


def test_bad_arguments_are_refused(sqlite_rt: _runtime.Runtime) -> None:
    run = evaluate(data=_rows(_baseline, 2), scorers=[good])
    with pytest.raises(NotFoundError):
        compare_evaluations(run.run_id, "0" * 32)
    for level in (0, 1, 95, True, "0.95"):
        with pytest.raises(InvalidParameterError, match="confidence_level"):
            compare_evaluations(run.run_id, run.run_id, confidence_level=level)  # type: ignore[arg-type]  # hostile input
    with pytest.raises(InvalidParameterError, match="candidate_run_id"):
        compare_evaluations("", run.run_id)
    empty = assay.genai.labeling.create_labeling_session("empty").run_id  # a run, no traces
    with pytest.raises(InvalidParameterError, match="has no traces"):
        compare_evaluations(empty, run.run_id)


def test_numbers_need_scipy_and_pass_fail_does_not(sqlite_rt: _runtime.Runtime,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    baseline = evaluate(data=_rows(_baseline, 5), scorers=[good, length])
    candidate = evaluate(data=_rows(_candidate, 5), scorers=[good, length])
    just_good = evaluate(data=_rows(_candidate, 5), scorers=[good])
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(ImportError, match=r"pip install 'assay\[stats\]'"):
        compare_evaluations(candidate.run_id, baseline.run_id)
    # Rows q0-q2 went pass → fail, none back: 2 * (1/2)^3.
    assert compare_evaluations(just_good.run_id, baseline.run_id)["good"].p_value == 0.25
