"""``assay.genai.judge_agreement`` on a constructed set of judge verdicts and human labels
(the confusion matrix, accuracy, kappa, TPR/TNR, disagreements worked out by hand), on
SQLite, PostgreSQL and over HTTP; and ``Judge.align`` against the judge server, which
learns from few-shot examples."""

from __future__ import annotations

from typing import Any

import pytest

import assay
from assay import _runtime
from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
from assay.errors import AssayError, InvalidParameterError
from assay.genai import evaluate, judge_agreement
from assay.genai.judges import make_judge
from assay.genai.judges.alignment import EXAMPLES_HEADING
from assay.genai.judges.judge import InstructionsJudge
from genai.judge_server import JudgeServer

JUDGE = AssessmentSource(AssessmentSourceType.LLM_JUDGE, "openai:/judge")


def _human(reviewer: str) -> AssessmentSource:
    return AssessmentSource(AssessmentSourceType.HUMAN, reviewer)


def _trace(question: str, answer: str) -> str:
    with assay.start_span("chat") as span:
        span.set_inputs({"question": question})
        span.set_outputs(answer)
    assay.flush_trace_async_logging()
    return span.trace_id


# (judge, human): 4 true positives, 1 false negative, 2 false positives, 3 true negatives.
CASES = [("yes", True)] * 4 + [("no", True)] + [("yes", False)] * 2 + [("no", False)] * 3


def test_the_judge_is_compared_with_the_humans(rt: _runtime.Runtime) -> None:
    ids = []
    for i, (verdict, label) in enumerate(CASES):
        trace_id = _trace(f"q{i}", f"a{i}")
        ids.append(trace_id)
        assay.log_feedback(trace_id=trace_id, name="correct", value=verdict, source=JUDGE,
                           rationale=f"judge on {i}")
        assay.log_feedback(trace_id=trace_id, name="correct", value=label,
                           source=_human("ann"), rationale=f"ann on {i}")
    # Left out and counted: a judge error, a judged trace no human labeled.
    assay.log_feedback(trace_id=_trace("e", "e"), name="correct", source=JUDGE,
                       error="the judge is down")
    assay.log_feedback(trace_id=_trace("u", "u"), name="correct", value="yes", source=JUDGE)
    # Not counted at all: labeled by a human only, or judged under another name.
    assay.log_feedback(trace_id=_trace("h", "h"), name="correct", value=True,
                       source=_human("ann"))
    assay.log_feedback(trace_id=ids[0], name="other", value="no", source=JUDGE)

    agreement = judge_agreement("correct")
    assert agreement.n == 10
    assert agreement.labels == (False, True)
    assert agreement.confusion_matrix == ((3, 2), (1, 4))  # rows: human; columns: judge
    assert agreement.accuracy == pytest.approx(0.7)
    # p_o = 0.7; p_e = 0.5 * 0.4 + 0.5 * 0.6 = 0.5; kappa = 0.2 / 0.5.
    assert agreement.cohen_kappa == pytest.approx(0.4)
    assert agreement.true_positive_rate == pytest.approx(4 / 5)
    assert agreement.true_negative_rate == pytest.approx(3 / 5)
    assert (agreement.judge_errors, agreement.without_human_label) == (1, 1)
    assert sorted((d.trace_id, d.judge_value, d.human_value, d.judge_rationale,
                   d.human_rationale, d.human) for d in agreement.disagreements) == sorted(
        (ids[i], CASES[i][0], CASES[i][1], f"judge on {i}", f"ann on {i}", "ann")
        for i in (4, 5, 6))
    text = str(agreement)
    assert "10 traces, accuracy 0.700, Cohen's kappa 0.400" in text
    assert "True positive rate 0.800, true negative rate 0.600" in text
    assert "3 disagreements; 1 judge errors and 1 traces without a human label" in text


def test_the_newest_human_label_counts_and_an_override_is_one(
        sqlite_rt: _runtime.Runtime) -> None:
    first = _trace("q1", "a1")
    assay.log_feedback(trace_id=first, name="quality", value="good", source=JUDGE)
    assay.log_feedback(trace_id=first, name="human_quality", value="bad",
                       source=_human("ann"))
    assay.log_feedback(trace_id=first, name="human_quality", value="good",
                       source=_human("bob"), rationale="fine after all")
    second = _trace("q2", "a2")
    judged = assay.log_feedback(trace_id=second, name="quality", value="good", source=JUDGE,
                                rationale="looks good")
    assert judged.assessment_id is not None
    assay.override_feedback(trace_id=second, assessment_id=judged.assessment_id,
                            value="bad", rationale="it is not", source=_human("cy"))
    # The override is a HUMAN "quality": compared with the judge's overridden verdict.
    on_own_name = judge_agreement("quality")
    assert (on_own_name.n, on_own_name.labels, on_own_name.confusion_matrix) == (
        1, ("bad", "good"), ((0, 1), (0, 0)))
    [wrong] = on_own_name.disagreements
    assert (wrong.trace_id, wrong.judge_value, wrong.human_value, wrong.judge_rationale,
            wrong.human_rationale, wrong.human) == (second, "good", "bad", "looks good",
                                                    "it is not", "cy")
    assert on_own_name.true_positive_rate is None  # categories, not pass/fail
    # Under another name: bob's later label wins over ann's.
    other = judge_agreement("quality", human_name="human_quality")
    assert (other.n, other.accuracy, other.cohen_kappa) == (1, 1.0, None)  # one label only


def test_only_one_runs_verdicts_are_compared_when_asked(rt: _runtime.Runtime,
                                                       judge: JudgeServer) -> None:
    trace_ids = [_trace(f"q{i}", answer) for i, answer in
                 enumerate(["fine", "UNSAFE advice", "fine", "fine"])]
    for trace_id, label in zip(trace_ids, ["yes", "no", "no", "yes"], strict=True):
        assay.log_feedback(trace_id=trace_id, name="safe", value=label,
                           source=_human("ann"))
    safe = make_judge("safe", "Is this safe? {{ outputs }}")
    traces: Any = assay.search_traces(return_type="list")
    first = evaluate(data=traces, scorers=[safe])
    assay.log_feedback(trace_id=trace_ids[2], name="safe", value="no", source=JUDGE)
    in_run = judge_agreement("safe", run_id=first.run_id)
    assert in_run.n == 4 and in_run.confusion_matrix == ((1, 1), (0, 2))
    assert judge_agreement("safe").confusion_matrix == ((2, 0), (0, 2))  # the newest


def test_ratings_are_labels_in_numeric_order(sqlite_rt: _runtime.Runtime) -> None:
    for i, (rated, label) in enumerate([(2, 2), (10, 10), (2, 10), (3, 3.0)]):
        trace_id = _trace(f"q{i}", f"a{i}")
        assay.log_feedback(trace_id=trace_id, name="rating", value=rated,
                           source=AssessmentSource(AssessmentSourceType.CODE, "rater"))
        assay.log_feedback(trace_id=trace_id, name="rating", value=label,
                           source=_human("ann"))
    agreement = judge_agreement("rating")
    assert agreement.labels == (2, 3, 10)  # 3 and 3.0 are one label
    assert agreement.confusion_matrix == ((1, 0, 0), (0, 1, 0), (1, 0, 1))
    assert agreement.accuracy == 0.75 and not agreement.is_pass_fail
    assert (agreement.true_positive_rate, agreement.true_negative_rate) == (None, None)


def test_nothing_to_compare_is_an_error_that_says_why(sqlite_rt: _runtime.Runtime) -> None:
    assay.log_feedback(trace_id=_trace("q", "a"), name="correct", value="yes", source=JUDGE)
    with pytest.raises(InvalidParameterError, match=r"1 judged traces without a human"):
        judge_agreement("correct")
    with pytest.raises(InvalidParameterError, match="judge_name"):
        judge_agreement("")


# -- Judge.align ----------------------------------------------------------------------------

REFUSALS = ["Sorry, I cannot help with that request.",
            "Sorry, I cannot help with this one.",
            "I am sorry, I cannot help you there.",
            "Sorry, cannot help with that, I am afraid.",
            "Sorry! I cannot help.",
            "Apologies, I cannot help with it, sorry.",
            "Sorry, this is something I cannot help with.",
            "Unfortunately I cannot help, sorry.",
            "Sorry, I really cannot help here.",
            "Sorry, that is not something I can help with: cannot do."]
ANSWERS = ["Paris is the capital of France.", "Water boils at one hundred degrees.",
           "Mount Everest stands tallest.", "Python lists keep insertion order.",
           "Jupiter has dozens of moons.", "Light travels remarkably fast.",
           "Tokyo hosts many museums.", "Bread needs yeast and flour.",
           "Chess openings reward study.", "Rivers carry sediment downstream."]


def _labeled() -> list[Any]:
    """Twenty traces: the humans fail every refusal and pass every answer; the judge's
    instructions alone pass everything."""
    for i, (answer, label) in enumerate([(a, False) for a in REFUSALS]
                                        + [(a, True) for a in ANSWERS]):
        trace_id = _trace(f"question {i}", answer)
        assay.log_feedback(trace_id=trace_id, name="helpful", value=label,
                           source=_human("ann"), rationale="refuses" if not label else "ok")
    return assay.search_traces(return_type="list")


def test_align_learns_from_the_humans_and_is_measured_on_held_out_traces(
        sqlite_rt: _runtime.Runtime, judge: JudgeServer) -> None:
    helpful = make_judge("helpful", "Is this response helpful?\n<response>\n{{ outputs }}\n"
                                    "</response>")
    traces = _labeled()
    aligned = helpful.align(traces, holdout=0.3, seed=3, max_examples=6)
    report = aligned.alignment
    assert report is not None and helpful.alignment is None
    learn, held = set(report.learn_trace_ids), set(report.holdout_trace_ids)
    assert len(held) == 6 and len(learn) == 14 and not learn & held  # 3 of each label held
    assert {e.trace_id for e in report.examples} <= learn
    assert len(report.examples) == 6
    # The judge passed all 7 learned refusals: 4 of the examples are those, 2 agreements.
    assert report.learn_disagreements == 7
    assert [e.agreed for e in report.examples].count(False) == 4
    assert all(e.judge_value == "yes" for e in report.examples)

    # Before: "yes" to everything, right on the 3 held-out answers only; after: all right.
    assert (report.before.n, report.before.accuracy, report.before.cohen_kappa) == (
        6, 0.5, 0.0)
    assert (report.after.n, report.after.accuracy, report.after.cohen_kappa) == (6, 1.0, 1.0)
    assert "Before: accuracy 0.500" in str(report) and "After : accuracy 1.000" in str(report)

    # The examples are in the new judge's instructions, after the old ones, verbatim.
    assert aligned.instructions.startswith(helpful.instructions + "\n\n" + EXAMPLES_HEADING)
    assert aligned.instructions.count("<example>") == 6
    assert aligned.instructions.count("<human_verdict>\nno\n</human_verdict>") == 4
    # The held-out traces were judged, never shown: no held-out answer is in a prompt's
    # examples, and the new judge's prompts carry them all.
    by_id = {t.info.trace_id: t for t in traces}
    held_answers = [by_id[i].data.root_span.outputs for i in held]
    for prompt in judge.prompts():
        examples = prompt.partition(EXAMPLES_HEADING)[2]
        assert not any(answer in examples for answer in held_answers)
    assert aligned(outputs="Sorry, I cannot help with recipes.").value == "no"
    assert aligned(outputs="Tea grows on hillsides.").value == "yes"


def test_align_keeps_braces_in_examples_as_text(sqlite_rt: _runtime.Runtime,
                                                judge: JudgeServer) -> None:
    for i, answer in enumerate(["{{ inputs }} is not a placeholder", "plain", "other",
                                "more"]):
        trace_id = _trace(f"q{i}", answer)
        assay.log_feedback(trace_id=trace_id, name="ok", value=i % 2 == 0,
                           source=_human("ann"))
    ok = make_judge("ok", "Judge {{ outputs }}", feedback_value_type=bool)
    aligned = ok.align(assay.search_traces(), holdout=0.25, seed=0, max_examples=3)
    assert aligned.fields == ("outputs",)
    assert "{{ inputs }}" not in aligned.instructions.partition(EXAMPLES_HEADING)[2]
    assert aligned.alignment is not None and aligned.alignment.before.n == 1


def test_align_refuses_what_cannot_work(sqlite_rt: _runtime.Runtime) -> None:
    helpful = make_judge("helpful", "Is this helpful? {{ outputs }}", model="openai:/judge")
    with pytest.raises(InvalidParameterError, match="at least two traces"):
        helpful.align([], holdout=0.3)
    for holdout in (0, 1, 1.5, True):
        with pytest.raises(InvalidParameterError, match="holdout"):
            helpful.align([], holdout=holdout)
    with pytest.raises(InvalidParameterError, match="max_examples"):
        helpful.align([], max_examples=0)
    with pytest.raises(InvalidParameterError, match="list of Trace"):
        helpful.align(["not a trace"])


def test_align_with_a_judge_that_always_fails_says_so(sqlite_rt: _runtime.Runtime,
                                                      judge: JudgeServer) -> None:
    down = InstructionsJudge(name="helpful", instructions="Helpful? {{ outputs }}",
                             value_type=None, description=None, model="openai:/down",
                             max_retries=0)
    with pytest.raises(AssayError, match=r"failed on all 14 traces it learns from; the "
                                         r"first: InternalServerError"):
        down.align(_labeled())


def test_a_labeling_sessions_gold_label_is_the_human_label(rt: _runtime.Runtime) -> None:
    from assay.genai.label_schemas import InputPassFail, create_label_schema
    from assay.genai.labeling import create_labeling_session

    trace_id = _trace("capital of France?", "Lyon")
    assay.log_feedback(trace_id=trace_id, name="correct", value="yes", source=JUDGE)
    create_label_schema(name="correct", type="feedback", input=InputPassFail())
    session = create_labeling_session(name="experts", label_schemas=["correct"],
                                      assigned_users=["ann", "ben"], reviewers_per_item=2)
    session.add_traces([trace_id])
    for reviewer, answer in (("ann", False), ("ben", True)):
        assert session.next_item(reviewer) == trace_id
        session.submit(trace_id, reviewer, {"correct": answer})
    # No gold label yet (the reviewers differ): the newest answer, ben's, is the label.
    assert judge_agreement("correct").accuracy == 1.0
    session.adjudicate(trace_id, "correct", False)
    agreement = judge_agreement("correct")
    assert agreement.accuracy == 0.0
    [disagreement] = agreement.disagreements
    assert (disagreement.human_value, disagreement.human) == (False, "gold label")
