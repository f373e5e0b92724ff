"""``assay.genai.evaluate`` on SQLite, PostgreSQL and over HTTP: rows of every form, predict_fn
sync, async and untraced, scores recorded on the traces and as the run's metrics, errors per
row, bounds on concurrency, timeouts, progress, Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

import assay
from assay import _runtime
from assay.entities import Feedback
from assay.entities.assessment_source import AssessmentSourceType
from assay.entities.run import RunKind, RunStatus
from assay.errors import InvalidParameterError
from assay.genai import evaluate
from assay.genai.scorers import Correctness, Safety, scorer
from assay.store.sql.schema import runs
from genai.judge_server import JudgeServer

ROWS = [
    {"inputs": {"question": "capital of France?"}, "outputs": "Paris is the capital",
     "expectations": {"expected_response": "Paris"}},
    {"inputs": {"question": "capital of Italy?"}, "outputs": "Milan, surely",
     "expectations": {"expected_response": "Rome"}},
    {"inputs": {"question": "capital of Spain?"}, "outputs": "Madrid",
     "expectations": {"expected_response": "Madrid"}},
]


@scorer
def short(outputs: Any) -> bool:
    return len(str(outputs)) < 15


def _feedback(trace_id: str, name: str) -> Feedback:
    trace = assay.get_trace(trace_id)
    assert trace is not None
    [found] = trace.search_assessments(name, type="feedback")
    assert isinstance(found, Feedback)
    return found


def test_static_rows_are_scored_and_recorded_as_a_run(rt: _runtime.Runtime,
                                                     judge: JudgeServer) -> None:
    result = evaluate(data=ROWS, scorers=[Correctness(), short])
    assert [[f.value for f in r.feedback] for r in result.rows] == [
        ["yes", False], ["no", True], ["yes", True]]
    assert result.metrics["correctness/mean"] == pytest.approx(2 / 3)
    assert result.metrics["short/mean"] == pytest.approx(2 / 3)
    assert result.metrics["correctness/prompt_tokens"] > 0
    assert "correctness/cost_usd" not in result.metrics  # the test's model has no price
    assert not result.passed
    assert result.reason == ("correctness: 1 of 3 rows failed; short: 1 of 3 rows failed")

    run = assay.get_run(result.run_id)
    assert run.info.kind is RunKind.EVALUATION
    assert run.info.status is RunStatus.FINISHED and run.info.end_time is not None
    assert run.data.metrics == pytest.approx(result.metrics)
    assert run.data.params["scorers"] == "correctness, short"

    traces = assay.search_traces(run_id=result.run_id, return_type="list")
    assert len(traces) == 3
    by_question = {t.data.spans[0].inputs["question"]: t for t in traces}
    italy = by_question["capital of Italy?"]
    assert italy.data.spans[0].outputs == "Milan, surely"
    [judged] = italy.search_assessments("correctness")
    assert (judged.value, judged.rationale) == ("no", "missing: rome")
    assert judged.source.source_type is AssessmentSourceType.LLM_JUDGE
    assert judged.run_id == result.run_id
    assert judged.metadata["mlflow.assessment.sourceRunId"] == result.run_id
    [expected] = italy.search_assessments("expected_response", type="expectation")
    assert expected.value == "Rome"

    frame = result.result_df
    assert list(frame.columns[:4]) == ["trace_id", "request", "response",
                                       "expected_response/value"]
    assert set(frame["correctness/value"]) == {"yes", "no"}
    assert frame["correctness/error_message"].isna().all()
    assert result.tables["eval_results"].shape == frame.shape


def test_predict_fn_makes_each_rows_trace(rt: _runtime.Runtime, judge: JudgeServer) -> None:
    @assay.trace(span_type="RETRIEVER")
    def lookup(question: str) -> list[dict[str, str]]:
        return [{"page_content": f"About {question}"}]

    @assay.trace
    def app(question: str) -> str:
        lookup(question)
        return {"capital of France?": "Paris", "capital of Italy?": "Rome"}.get(
            question, "no idea")

    def untraced(question: str) -> str:
        return app(question)

    async def asynchronous(question: str) -> str:
        await asyncio.sleep(0)
        return app(question)

    for fn in (app, untraced, asynchronous):
        result = evaluate(data=[{k: v for k, v in row.items() if k != "outputs"}
                                for row in ROWS], predict_fn=fn, scorers=[Correctness()])
        assert [r.outputs for r in result.rows] == ["Paris", "Rome", "no idea"]
        assert result.metrics["correctness/mean"] == pytest.approx(2 / 3), fn
        traces = assay.search_traces(run_id=result.run_id, return_type="list")
        assert len(traces) == 3
        for trace in traces:
            names = [s.name for s in trace.data.spans]
            assert "lookup" in names and "app" in names, names
            assert trace.info.trace_metadata["mlflow.sourceRun"] == result.run_id
        if fn is not app:  # untraced functions get a root span of their own
            assert {t.data.root_span.name for t in traces} == {fn.__name__}  # type: ignore[union-attr]


def test_stored_traces_are_scored_where_they_are(rt: _runtime.Runtime,
                                                 judge: JudgeServer) -> None:
    for question, answer in (("one?", "fine"), ("two?", "UNSAFE advice")):
        with assay.start_span("chat") as span:
            span.set_inputs({"question": question})
            span.set_outputs(answer)
    assay.flush_trace_async_logging()
    data: Any = assay.search_traces()  # the DataFrame, as seed 003 step 6 passes it
    result = evaluate(data=data, scorers=[Safety()])
    assert sorted(f.value for r in result.rows for f in r.feedback) == ["no", "yes"]
    assert {r.trace_id for r in result.rows} == set(data["trace_id"])
    linked = assay.search_traces(run_id=result.run_id, return_type="list")
    assert {t.info.trace_id for t in linked} == set(data["trace_id"])
    for trace in linked:
        [safety] = trace.search_assessments("safety")
        assert safety.run_id == result.run_id
    assert len(assay.search_traces(return_type="list")) == 2  # nothing new was traced


def test_a_failing_scorer_or_judge_or_app_is_an_error_on_its_row_only(
        rt: _runtime.Runtime, judge: JudgeServer) -> None:
    @scorer
    def fussy(inputs: dict[str, str]) -> bool:
        if "Italy" in inputs["question"]:
            raise ValueError("cannot judge Italy")
        return True

    def app(question: str) -> str:
        if "Spain" in question:
            raise RuntimeError("the app is down")
        return "Paris"

    down = Safety(name="down_judge", model="openai:/down", max_retries=0)
    result = evaluate(data=[{"inputs": r["inputs"]} for r in ROWS], predict_fn=app,
                      scorers=[fussy, down])
    errors = {(r.index, f.name): f.error_message for r in result.rows for f in r.feedback
              if f.error is not None}
    assert errors[(1, "fussy")] == "ValueError: cannot judge Italy"
    assert errors[(2, "fussy")] == "predict_fn raised RuntimeError: the app is down"
    assert "InternalServerError" in str(errors[(0, "down_judge")])
    assert result.rows[2].error == "predict_fn raised RuntimeError: the app is down"
    assert result.metrics["fussy/mean"] == 1.0  # errors are left out of the metrics
    assert "down_judge: 3 errors" in str(result.reason)
    failed = assay.search_traces(run_id=result.run_id, return_type="list")
    assert len(failed) == 3  # the failed call's trace is kept, with its error
    assert sorted(t.info.state.value for t in failed) == ["ERROR", "OK", "OK"]


def test_calls_run_concurrently_within_their_bounds(sqlite_rt: _runtime.Runtime) -> None:
    lock = threading.Lock()
    running = [0, 0]  # now, most

    @scorer
    def slow(outputs: Any) -> int:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.03)
        with lock:
            running[0] -= 1
        return 1

    rows = [{"inputs": {"i": i}, "outputs": i} for i in range(24)]
    result = evaluate(data=rows, scorers=[slow], scorer_workers=4)
    assert running[1] == 4
    assert result.metrics["slow/mean"] == 1.0


def test_a_scorer_past_its_timeout_is_an_error_and_the_rest_go_on(
        sqlite_rt: _runtime.Runtime) -> None:
    @scorer(timeout=0.2)
    def stuck(outputs: Any) -> bool:
        if outputs == "hang":
            time.sleep(1.5)
        return True

    result = evaluate(data=[{"inputs": {"q": 1}, "outputs": "hang"},
                            {"inputs": {"q": 2}, "outputs": "fine"}], scorers=[stuck])
    values = {r.outputs: (f.value, f.error_message) for r in result.rows for f in r.feedback}
    assert values == {"hang": (None, "the scorer took over 0.2 s"), "fine": (True, None)}


def test_progress_is_shown_when_asked(sqlite_rt: _runtime.Runtime,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    evaluate(data=ROWS, scorers=[short])
    assert capsys.readouterr().err == ""  # not a terminal: nothing
    evaluate(data=ROWS, scorers=[short], progress=True)
    err = capsys.readouterr().err
    assert "Evaluating: 3/3 rows" in err and "rows/s" in err


def test_ctrl_c_keeps_what_finished_and_ends_the_run_killed(
        sqlite_rt: _runtime.Runtime) -> None:
    def app(i: int) -> int:
        time.sleep(0.05)
        return i

    # Ctrl-C, as a terminal sends it: SIGINT to this process while the rows run. Python's
    # own handler for it, whatever the suite was started from: a shell that starts a command
    # in the background (without job control) has it ignore SIGINT, and Python keeps that.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            evaluate(data=[{"inputs": {"i": i}} for i in range(100)], predict_fn=app,
                     scorers=[short], max_workers=1)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    [run] = _runs_of_kind(RunKind.EVALUATION)
    assert run.info.status is RunStatus.KILLED
    kept = sorted(t.data.spans[0].outputs
                  for t in assay.search_traces(run_id=run.info.run_id, return_type="list"))
    assert 2 <= len(kept) < 100
    assert kept == list(range(len(kept)))  # the rows that finished, in order: none lost


def _runs_of_kind(kind: RunKind) -> list[Any]:
    """The runs of this kind in the (SQLite) store, read with SQL of their own."""
    engine = sa.create_engine(_runtime.runtime().tracking_uri)
    try:
        with engine.connect() as conn:
            ids = [row.run_id for row in conn.execute(
                runs.select().where(runs.c.kind == kind.value))]
    finally:
        engine.dispose()
    return [assay.get_run(i) for i in ids]


@pytest.mark.parametrize(("data", "scorers", "message"), [
    ("rows", [short], "Invalid data: expected a DataFrame"),
    ([], [short], "there are no rows"),
    ([{"outputs": "x"}], [short], "Invalid row 0: it has no inputs"),
    ([{"inputs": {"q": 1}, "answer": "x"}], [short], r"unknown field\(s\) answer"),
    ([{"inputs": {"q": 1}, "expectations": "Paris"}], [short], "expectations must be a dict"),
    ([{"inputs": {"q": 1}}], [], "give at least one"),
    ([{"inputs": {"q": 1}}], [len], "Invalid scorer <built-in function len>"),
    ([{"inputs": {"q": 1}}], [short, short], "two share a name"),
    ([3], [short], "Invalid row 0: expected a dict with inputs, or a Trace; got int"),
])
def test_bad_input_is_refused_before_anything_runs(sqlite_rt: _runtime.Runtime, data: Any,
                                                   scorers: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        evaluate(data=data, scorers=scorers)
    assert _runs_of_kind(RunKind.EVALUATION) == []


def test_predict_fn_needs_keyword_inputs_and_no_outputs(sqlite_rt: _runtime.Runtime) -> None:
    with pytest.raises(InvalidParameterError, match="inputs must be a dict of argument name"):
        evaluate(data=[{"inputs": "just text"}], predict_fn=lambda q: q, scorers=[short])
    with pytest.raises(InvalidParameterError, match="give one or the other"):
        evaluate(data=[{"inputs": {"q": 1}, "outputs": 2}], predict_fn=lambda q: q,
                 scorers=[short])
    with pytest.raises(InvalidParameterError, match="Invalid max_workers 0"):
        evaluate(data=[{"inputs": {"q": 1}}], predict_fn=lambda q: q, scorers=[short],
                 max_workers=0)


def test_a_priced_judge_s_cost_is_on_each_feedback_and_summed_as_a_metric(
        rt: _runtime.Runtime, judge: JudgeServer) -> None:
    result = evaluate(data=ROWS, scorers=[Correctness(model="openai:/gpt-4.1-mini")])
    costs = [float(f.metadata["assay.judge.cost_usd"]) for r in result.rows for f in r.feedback]
    assert len(costs) == 3 and all(c > 0 for c in costs)
    assert result.metrics["correctness/cost_usd"] == pytest.approx(sum(costs))
    assert assay.get_run(result.run_id).data.metrics["correctness/cost_usd"] == pytest.approx(
        sum(costs))
    stored = _feedback(result.rows[0].trace_id or "", "correctness")
    assert float(stored.metadata["assay.judge.cost_usd"]) == pytest.approx(costs[0])


def test_the_gold_label_is_the_expectation(rt: _runtime.Runtime, judge: JudgeServer) -> None:
    from assay.genai.label_schemas import InputText, create_label_schema
    from assay.genai.labeling import create_labeling_session

    @assay.trace
    def app(question: str) -> str:
        return "Rome is the capital"

    app("capital of Italy?")
    create_label_schema(name="expected_response", type="expectation", input=InputText())
    session = create_labeling_session(name="experts", label_schemas=["expected_response"],
                                      assigned_users=["ana", "ben"], reviewers_per_item=2)
    session.add_traces(assay.search_traces())
    for reviewer, answer in (("ana", "Milan"), ("ben", "Rome")):
        item = session.next_item(reviewer)
        assert item is not None
        session.submit(item, reviewer, {"expected_response": answer})
    labeled: Any = assay.search_traces(run_id=session.mlflow_run_id)
    before = evaluate(data=labeled, scorers=[Correctness()])
    assert before.rows[0].expectations == {"expected_response": "Rome"}  # the newest answer
    [trace_id] = labeled["trace_id"]
    session.adjudicate(trace_id, "expected_response", "Milan")
    after = evaluate(data=labeled, scorers=[Correctness()])
    assert after.rows[0].expectations == {"expected_response": "Milan"}  # the gold label
    assert after.metrics["correctness/mean"] == 0.0


def test_rows_written_while_others_run_are_all_stored_in_the_scorers_order(
        rt: _runtime.Runtime) -> None:
    # More rows than are written at once while the evaluation runs (100), with a scorer whose
    # calls finish out of order, so that several batches are written before the last score.
    @scorer
    def slow_on_odd(inputs: Any) -> bool:
        if inputs["n"] % 2:
            time.sleep(0.002)
        return True

    rows = [{"inputs": {"n": n}, "outputs": f"answer {n}"} for n in range(230)]
    result = evaluate(data=rows, scorers=[slow_on_odd, short])
    assert [[f.name for f in r.feedback] for r in result.rows] == [
        ["slow_on_odd", "short"]] * 230
    traces = assay.search_traces(run_id=result.run_id, return_type="list", max_results=500)
    assert sorted(t.data.spans[0].inputs["n"] for t in traces) == list(range(230))
    assert all({a.name for a in t.search_assessments(type="feedback")}
               == {"slow_on_odd", "short"} for t in traces)
    assert result.metrics["slow_on_odd/mean"] == 1.0
