"""``evaluate``: run an app over a set of rows, score each answer, and record it all as an
evaluation run (MLflow's ``mlflow.genai.evaluate``).

::

    labeled = assay.search_traces(run_id=session.mlflow_run_id)
    result = assay.genai.evaluate(data=labeled, predict_fn=my_chatbot,
                                  scorers=[Correctness()])
    result.metrics["correctness/mean"]

How a call goes:

1. The rows are read from ``data`` (see :func:`evaluate`), and checked before anything runs.
2. With ``predict_fn``, each row's inputs are passed to it as keyword arguments (sync or
   async), up to ``max_workers`` at once; each call's trace is the row's trace (a function
   that is not traced already is traced as it is called). Without it, a row given as a trace
   is scored as it is, and a row of inputs and outputs gets a trace of one span made for it.
3. Each row's answer goes to every scorer, up to ``scorer_workers`` calls at once, as soon
   as the row has its answer. A scorer that raises, or a judge whose model fails, gives a
   Feedback with an error for that row; the evaluation goes on.
4. The new traces are written with their Feedback and the row's expectations, in batches;
   Feedback on traces that were already stored are logged on them. Every trace is linked to
   the run (``assay.search_traces(run_id=result.run_id)`` returns them) and each Feedback
   carries the run's id.
5. The run gets its metrics (``<name>/<aggregation>``, e.g. ``correctness/mean``, with
   "yes"/"no" and booleans as 1/0, the tokens judges used, and their cost,
   ``<name>/cost_usd``, where the judge's model has a price) and ends FINISHED. Ctrl-C stops
   the calls not yet started, keeps and writes what finished, ends the run KILLED, and
   raises KeyboardInterrupt.

On a terminal a progress line shows rows done, errors, rate and time left; in a pipe or a
notebook nothing is printed unless ``progress=True``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import dataclasses
import heapq
import inspect
import itertools
import math
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from assay import _runtime
from assay.entities import Expectation, Feedback, Trace
from assay.entities.assessment import Assessment, AssessmentError
from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
from assay.entities.run import RunData, RunInfo, RunKind, RunStatus, new_run_id
from assay.entities.span import SpanType
from assay.errors import AssayError, InvalidParameterError
from assay.genai.judges.judge import COST_METADATA, TOKEN_METADATA
from assay.genai.scoring import Scorer, ScorerInputs, aggregate, row_fields
from assay.tracing import fluent as tracing
from assay.tracing.assembly import build_trace
from assay.tracing.tracer import InMemoryTrace

if TYPE_CHECKING:
    import pandas

__all__ = ["EvaluationResult", "RowResult", "evaluate"]

#: Rows whose predict_fn calls run at once, by default (MLflow's).
DEFAULT_MAX_WORKERS = 10
#: Scorer calls that run at once, by default (MLflow's).
DEFAULT_SCORER_WORKERS = 10
#: Metadata key of a trace made by an evaluation, and of its Feedback: the run (MLflow's).
SOURCE_RUN_KEY = "mlflow.sourceRun"
#: Metadata key of a trace made by an evaluation: its row's place in the data (zero-padded,
#: so that it sorts).
ROW_KEY = "assay.evaluation.row"
ASSESSMENT_RUN_KEY = "mlflow.assessment.sourceRunId"
#: Traces written per store call.
_WRITE_BATCH = 500
#: Finished rows written together while the evaluation runs.
_STREAM_BATCH = 100
_MAX_ROWS = 100_000


@dataclass
class RowResult:
    """One row of an evaluation: its fields, its trace, and what each scorer gave."""

    index: int
    inputs: Any
    outputs: Any
    expectations: dict[str, Any]
    trace_id: str | None
    feedback: list[Feedback] = field(default_factory=list)
    error: str | None = None  # predict_fn's, when it raised


@dataclass
class EvaluationResult:
    """What :func:`evaluate` gives back.

    Attributes:
        run_id: the evaluation run.
        metrics: ``{"<name>/<aggregation>": value}``, e.g. ``correctness/mean``.
        rows: each row's fields, trace id and Feedback.
        passed: whether every value passed (see :meth:`Scorer.passes`), with no error.
        reason: what failed, in words (None when everything passed).
    """

    run_id: str
    metrics: dict[str, float]
    rows: list[RowResult]
    passed: bool
    reason: str | None

    @property
    def result_df(self) -> pandas.DataFrame:
        """One row per evaluated row: ``trace_id``, ``request``, ``response``, each
        expectation as ``<name>/value``, and for each Feedback name ``<name>/value``,
        ``<name>/rationale`` and ``<name>/error_message``."""
        import pandas

        names = list(dict.fromkeys(f.name for row in self.rows for f in row.feedback))
        expected = list(dict.fromkeys(k for row in self.rows for k in row.expectations))
        records = []
        for row in self.rows:
            record: dict[str, Any] = {"trace_id": row.trace_id, "request": row.inputs,
                                      "response": row.outputs}
            for key in expected:
                record[f"{key}/value"] = row.expectations.get(key)
            by_name = {f.name: f for f in row.feedback}
            for name in names:
                found = by_name.get(name)
                record[f"{name}/value"] = None if found is None else found.value
                record[f"{name}/rationale"] = None if found is None else found.rationale
                record[f"{name}/error_message"] = None if found is None \
                    else found.error_message
            records.append(record)
        return pandas.DataFrame(records)

    @property
    def tables(self) -> dict[str, pandas.DataFrame]:
        """``{"eval_results": result_df}`` (MLflow's older name for it)."""
        return {"eval_results": self.result_df}


# -- reading the rows --------------------------------------------------------------------------

@dataclass
class _Row:
    index: int
    inputs: Any
    outputs: Any
    expectations: dict[str, Any]
    trace: Trace | None  # a trace the data gave (stored already)
    given: frozenset[str] = frozenset()  # the expectations the row itself gave


def _rows(data: Any) -> list[_Row]:
    """The rows of ``data``: a search_traces DataFrame, a DataFrame or list of dicts with
    inputs / outputs / expectations, a list of Trace, or a dataset (its records)."""
    records = getattr(data, "to_evaluation_rows", None)
    if callable(records):
        data = records()
    if _is_dataframe(data):
        if "trace" in data.columns and "trace_id" in data.columns:
            items: list[Any] = [Trace.from_json(text) if isinstance(text, str) else text
                                for text in data["trace"]]
        else:
            items = data.to_dict(orient="records")
    elif isinstance(data, (list, tuple)):
        items = list(data)
    else:
        raise InvalidParameterError(
            f"Invalid data: expected a DataFrame, a list of dicts or Traces, or a dataset; got "
            f"{type(data).__name__}")
    if not items:
        raise InvalidParameterError("Invalid data: there are no rows")
    if len(items) > _MAX_ROWS:
        raise InvalidParameterError(
            f"Invalid data: {len(items):,} rows; evaluate at most {_MAX_ROWS:,} at once")
    return [_row(index, item) for index, item in enumerate(items)]


def _is_dataframe(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("pandas") and type(data).__name__ == "DataFrame"


def _row(index: int, item: Any) -> _Row:
    if isinstance(item, Trace):
        fields = row_fields(trace=item)
        return _Row(index, fields.inputs, fields.outputs, fields.expectations, item)
    if not isinstance(item, Mapping):
        raise InvalidParameterError(
            f"Invalid row {index}: expected a dict with inputs, or a Trace; got "
            f"{type(item).__name__}")
    unknown = set(item) - {"inputs", "outputs", "expectations", "trace", "tags", "trace_id",
                           "source"}
    if unknown:
        raise InvalidParameterError(
            f"Invalid row {index}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; a "
            "row has inputs, outputs, expectations and tags, or a trace")
    trace = item.get("trace")
    if isinstance(trace, str):
        trace = Trace.from_json(trace)
    if trace is not None and not isinstance(trace, Trace):
        raise InvalidParameterError(f"Invalid row {index}: its trace is a "
                                    f"{type(trace).__name__}, not a Trace")
    expectations = item.get("expectations")
    if expectations is not None and not isinstance(expectations, Mapping):
        raise InvalidParameterError(
            f"Invalid row {index}: expectations must be a dict of name → value")
    fields = row_fields(inputs=item.get("inputs"), outputs=item.get("outputs"),
                        expectations=expectations, trace=trace)
    if fields.inputs is None and trace is None:
        raise InvalidParameterError(f"Invalid row {index}: it has no inputs")
    return _Row(index, fields.inputs, fields.outputs, fields.expectations, trace,
                frozenset(expectations or ()))


def _with_gold_labels(store: Any, rows: list[_Row]) -> None:
    """Where experts labeled a row's trace in a labeling session, its gold label (the
    adjudicated value, or the one every reviewer gave) is the expectation, rather than the
    newest reviewer's answer; expectations the row gives itself stay."""
    ids = [r.trace.info.trace_id for r in rows if r.trace is not None]
    gold: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 10_000):
        gold.update(store.get_gold_labels(ids[start:start + 10_000]))
    for row in rows:
        labels = gold.get(row.trace.info.trace_id) if row.trace is not None else None
        if not labels or row.trace is None:
            continue
        expected = {a.name for a in row.trace.search_assessments(type="expectation")}
        for name, value in labels.items():
            if name in expected and name not in row.given:
                row.expectations[name] = value


def _check(rows: list[_Row], scorers: Sequence[Scorer],
           predict_fn: Callable[..., Any] | None) -> None:
    if isinstance(scorers, Scorer) or not isinstance(scorers, (list, tuple)):
        raise InvalidParameterError("Invalid scorers: expected a list of scorers")
    if not scorers:
        raise InvalidParameterError("Invalid scorers: give at least one")
    for scorer in scorers:
        if not isinstance(scorer, Scorer):
            raise InvalidParameterError(
                f"Invalid scorer {scorer!r}: expected a Scorer (a built-in one, @scorer, "
                "or make_judge)")
    names = [s.name for s in scorers]
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"Invalid scorers: two share a name: {names}")
    if predict_fn is None:
        return
    if not callable(predict_fn):
        raise InvalidParameterError("Invalid predict_fn: expected a function")
    for row in rows:
        if not isinstance(row.inputs, Mapping) or not all(isinstance(k, str)
                                                          for k in row.inputs):
            raise InvalidParameterError(
                f"Invalid row {row.index}: with predict_fn its inputs must be a dict of "
                f"argument name → value, got {type(row.inputs).__name__}")
        if row.outputs is not None and row.trace is None:
            raise InvalidParameterError(
                f"Invalid row {row.index}: it has outputs, and predict_fn would make them "
                "again; give one or the other")


# -- progress ------------------------------------------------------------------------------------

class _Progress:
    """A one-line progress display on a terminal: rows done, errors, rate, time left."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self.errors = 0
        self.started = time.monotonic()
        self._shown = 0.0

    def advance(self, errors: int) -> None:
        self.done += 1
        self.errors += errors
        now = time.monotonic()
        if self.stream is not None and (now - self._shown > 0.1 or self.done == self.total):
            self._shown = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        eta = "" if self.done == self.total or math.isinf(left) else f" · {left:.0f}s left"
        errors = f" · {self.errors} error{'s' if self.errors != 1 else ''}" if self.errors \
            else ""
        return (f"Evaluating: {self.done}/{self.total} rows{errors} · {rate:.1f} rows/s"
                f"{eta}")

    def close(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


def _progress_stream(progress: bool | None) -> TextIO | None:
    if progress is False:
        return None
    stream = sys.stderr
    if progress is None and not (hasattr(stream, "isatty") and stream.isatty()):
        return None  # a pipe, a file, or a notebook's captured stream
    return stream


# -- running -------------------------------------------------------------------------------------

class _TraceCollector:
    """Where the rows' traces go while the evaluation runs (not to the exporter)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.traces: dict[str, InMemoryTrace] = {}
        self._built: dict[str, Trace] = {}

    def __call__(self, trace: InMemoryTrace) -> None:
        with self._lock:
            self.traces[trace.trace_id] = trace

    def build(self, trace_id: str | None) -> Trace | None:
        """The collected trace of that id as a Trace (built once: the scorers get it, then
        it is written), or None."""
        running = None if trace_id is None else self.traces.get(trace_id)
        if running is None or trace_id is None:
            return None
        built = self._built.get(trace_id)
        if built is None:
            built = self._built[trace_id] = build_trace(running)
        return built


def _traced(predict_fn: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(predict_fn, "__assay_traced__", False):
        return predict_fn
    return tracing.trace(sampling_ratio_override=1.0)(predict_fn)


def _predict(rt: _runtime.Runtime, sink: _TraceCollector, fn: Callable[..., Any],
             is_async: bool, row: _Row) -> tuple[Any, str | None, str | None]:
    """Call ``fn`` with the row's inputs, its trace going to ``sink``:
    ``(outputs, trace_id, error)``."""
    token = rt.trace_sink.set(sink)
    before = rt.last_trace_id_in_context.get()
    try:
        try:
            if is_async:
                async def call() -> tuple[Any, str | None]:
                    answer = await fn(**row.inputs)
                    return answer, rt.last_trace_id_in_context.get()

                outputs, trace_id = asyncio.run(call())
            else:
                outputs = fn(**row.inputs)
                trace_id = rt.last_trace_id_in_context.get()
        except Exception as exc:
            trace_id = rt.last_trace_id_in_context.get()
            error = f"predict_fn raised {type(exc).__name__}: {exc}"
            return None, None if trace_id == before else trace_id, error
        if trace_id is None or trace_id == before:
            return outputs, None, ("predict_fn made no trace (is tracing turned off, or "
                                   "sampled out?)")
        return outputs, trace_id, None
    finally:
        rt.trace_sink.reset(token)


def _static_trace(rt: _runtime.Runtime, sink: _TraceCollector, row: _Row) -> str | None:
    """A trace of one span holding a row's inputs and outputs (rows given without one)."""
    token = rt.trace_sink.set(sink)
    try:
        with tracing.start_span("evaluation_row", span_type=SpanType.CHAIN) as span:
            span.set_inputs(row.inputs)
            span.set_outputs(row.outputs)
        return rt.last_trace_id_in_context.get()
    finally:
        rt.trace_sink.reset(token)


def _score(scorer: Scorer, fields: ScorerInputs) -> list[Feedback]:
    """One scorer on one row; whatever goes wrong is a Feedback with an error."""
    try:
        return scorer.run(fields)
    except Exception as exc:
        # Assay's own errors say what is wrong in words; others keep their class's name.
        message = str(exc) if isinstance(exc, AssayError) else f"{type(exc).__name__}: {exc}"
        return [Feedback(name=scorer.name, error=AssessmentError(
            error_code="SCORER_ERROR", error_message=message), source=scorer.source)]


def _timeout_feedback(scorer: Scorer, seconds: float) -> Feedback:
    return Feedback(name=scorer.name, error=AssessmentError(
        error_code="SCORER_ERROR", error_message=f"the scorer took over {seconds:g} s"),
        source=scorer.source)


@dataclass
class _Pending:
    row: int
    scorer: Scorer
    deadline: float


def evaluate(data: Any, scorers: Sequence[Scorer], predict_fn: Callable[..., Any] | None = None,
             model_id: str | None = None, *, run_name: str | None = None,
             max_workers: int = DEFAULT_MAX_WORKERS,
             scorer_workers: int = DEFAULT_SCORER_WORKERS,
             progress: bool | None = None) -> EvaluationResult:
    """Score an app's answers and record the scores as an evaluation run.

    Args:
        data: the rows: a ``search_traces`` DataFrame or a list of Trace (scored as they are,
            or their inputs given to ``predict_fn``), a DataFrame or a list of dicts with
            ``inputs`` (a dict), ``outputs`` and ``expectations`` (a dict), or a dataset.
            Expectations come from the row, else from the trace: a labeling session's gold
            label where there is one, else the trace's newest expectation of that name.
        scorers: the scorers (``Correctness()``, ``@scorer`` functions, ``make_judge``).
        predict_fn: the app: called with each row's inputs as keyword arguments.
        model_id: recorded as the run's ``model_id`` param.
        run_name: the run's name (default ``evaluation-<time>``).
        max_workers: predict_fn calls at once (default 10).
        scorer_workers: scorer calls at once (default 10).
        progress: show a progress line (default: only on a terminal).

    Raises:
        InvalidParameterError: data, scorers or predict_fn that cannot work, before anything
            runs.
        KeyboardInterrupt: after Ctrl-C, once what finished is written.
    """
    rows = _rows(data)
    _check(rows, scorers, predict_fn)
    for name, value in (("max_workers", max_workers), ("scorer_workers", scorer_workers)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
            raise InvalidParameterError(f"Invalid {name} {value!r}: expected 1 to 1000")
    rt = _runtime.runtime()
    store = rt.readable_store()
    _with_gold_labels(store, rows)
    experiment_id = _run_experiment(rt, rows, predict_fn)
    run_id = new_run_id()
    params = {"scorers": ", ".join(s.name for s in scorers), "rows": str(len(rows))}
    if model_id is not None:
        params["model_id"] = str(model_id)
    if predict_fn is not None:
        params["predict_fn"] = getattr(predict_fn, "__qualname__", repr(predict_fn))[:500]
    dataset_params = getattr(data, "evaluation_params", None)  # a dataset: which version
    if callable(dataset_params):
        params.update(dataset_params())
    store.create_run(RunInfo(run_id=run_id, experiment_id=experiment_id,
                             run_name=run_name or time.strftime("evaluation-%Y%m%d-%H%M%S"),
                             kind=RunKind.EVALUATION), RunData(params=params))
    sink = _TraceCollector()
    results = [RowResult(r.index, r.inputs, r.outputs, dict(r.expectations),
                         None if r.trace is None else r.trace.info.trace_id) for r in rows]
    shown = _Progress(len(rows), _progress_stream(progress))
    writer = _Writer(store, sink, rows, results, run_id, scorers)

    def row_done(index: int, errors: int) -> None:
        shown.advance(errors)
        writer.add(index)

    interrupted = False
    try:
        _run_rows(rt, sink, rows, results, scorers, predict_fn, max_workers, scorer_workers,
                  row_done)
    except KeyboardInterrupt:
        interrupted = True
    except BaseException:
        writer.abandon()
        raise
    finally:
        shown.close()
    writer.finish()  # the rows not written yet (after Ctrl-C: whatever they have)
    metrics = _metrics(results, scorers)
    status = RunStatus.KILLED if interrupted else RunStatus.FINISHED
    store.update_run(run_id, status=status, end_time=int(time.time() * 1000),
                     metrics=metrics)
    if interrupted:
        raise KeyboardInterrupt
    passed, reason = _verdict(results, scorers)
    return EvaluationResult(run_id=run_id, metrics=metrics, rows=results, passed=passed,
                            reason=reason)


def _run_experiment(rt: _runtime.Runtime, rows: list[_Row],
                    predict_fn: Callable[..., Any] | None) -> str:
    """The run's experiment: that of the rows' traces when they are scored as they are
    (and share one), else the active one, where new traces go."""
    if predict_fn is None:
        stored = {r.trace.info.experiment_id for r in rows if r.trace is not None}
        if len(stored) == 1 and all(r.trace is not None for r in rows):
            return stored.pop()
    return rt.active_experiment_id()


def _run_rows(rt: _runtime.Runtime, sink: _TraceCollector, rows: list[_Row],
              results: list[RowResult], scorers: Sequence[Scorer],
              predict_fn: Callable[..., Any] | None, max_workers: int, scorer_workers: int,
              row_done: Callable[[int, int], None]) -> None:
    """Predict and score every row, scoring each as soon as it has its answer;
    ``row_done(index, errors)`` is called as each row gets its last Feedback."""
    fn = None if predict_fn is None else _traced(predict_fn)
    is_async = fn is not None and inspect.iscoroutinefunction(inspect.unwrap(fn))
    left = {r.index: len(scorers) for r in rows}
    errors = dict.fromkeys(left, 0)
    with _pool(max_workers, "assay-predict") as predicting, \
            _pool(scorer_workers, "assay-score") as scoring:
        # Each future says when it is done on this queue: the loop below takes them as they
        # come, in constant time each (waiting on all pending futures at every turn is
        # quadratic in the rows).
        finished: queue.SimpleQueue[cf.Future[Any]] = queue.SimpleQueue()
        answers: dict[cf.Future[tuple[Any, str | None, str | None]], _Row] = {}
        for row in rows:
            if fn is not None:
                answer = predicting.submit(_predict, rt, sink, fn, is_async, row)
            elif row.trace is None:
                answer = predicting.submit(_as_answer, rt, sink, row)
            else:
                answer = _done((row.outputs, row.trace.info.trace_id, None))
            answers[answer] = row
            answer.add_done_callback(finished.put)
        scores: dict[cf.Future[list[Feedback]], _Pending] = {}
        # (deadline, sequence, future) of the scorer calls that have a timeout, soonest first.
        deadlines: list[tuple[float, int, cf.Future[list[Feedback]]]] = []
        sequence = itertools.count()

        def answered(row: _Row, outputs: Any, trace_id: str | None, error: str | None,
                     score: bool = True) -> None:
            result = results[row.index]
            result.outputs, result.trace_id, result.error = outputs, trace_id, error
            if error is not None:
                result.feedback = [_predict_failed(s, error) for s in scorers]
                errors[row.index], left[row.index] = len(scorers), 0
                row_done(row.index, len(scorers))
            elif score:
                trace = row.trace if fn is None and row.trace is not None \
                    else sink.build(trace_id)
                fields = ScorerInputs(inputs=row.inputs, outputs=outputs,
                                      expectations=row.expectations, trace=trace)
                for scorer in scorers:
                    future = scoring.submit(_score, scorer, fields)
                    pending = _Pending(row.index, scorer,
                                       time.monotonic() + (scorer.timeout or math.inf))
                    scores[future] = pending
                    if pending.deadline < math.inf:
                        heapq.heappush(deadlines, (pending.deadline, next(sequence), future))
                    future.add_done_callback(finished.put)

        try:
            while answers or scores:
                while deadlines and deadlines[0][2] not in scores:
                    heapq.heappop(deadlines)  # finished in time
                timeout = None if not deadlines else max(
                    0.0, deadlines[0][0] - time.monotonic())
                try:
                    done = [finished.get(timeout=timeout)]
                except queue.Empty:
                    done = []
                while not finished.empty():
                    done.append(finished.get_nowait())
                for future in done:
                    if future in answers:
                        answered(answers.pop(future), *future.result())
                    elif future in scores:
                        pending = scores.pop(future)
                        _scored(results, pending, future.result(), left, errors, row_done)
                now = time.monotonic()
                while deadlines and deadlines[0][0] <= now:
                    _, _, future = heapq.heappop(deadlines)
                    pending_or_none = scores.get(future)
                    if pending_or_none is not None and not future.done():
                        del scores[future]
                        future.cancel()
                        _scored(results, pending_or_none, [_timeout_feedback(
                            pending_or_none.scorer, pending_or_none.scorer.timeout or 0.0)],
                            left, errors, row_done)
        except KeyboardInterrupt:
            # Calls not started are dropped; those running finish, and whatever finished is
            # kept (an answer not yet scored keeps its trace, without scores).
            predicting.shutdown(wait=True, cancel_futures=True)
            scoring.shutdown(wait=True, cancel_futures=True)
            for future, row in answers.items():
                if _succeeded(future):
                    answered(row, *future.result(), score=False)
            for future, pending in scores.items():
                if _succeeded(future):
                    _scored(results, pending, future.result(), left, errors, row_done)
            raise


def _succeeded(future: cf.Future[Any]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def _scored(results: list[RowResult], pending: _Pending, feedback: list[Feedback],
            left: dict[int, int], errors: dict[int, int],
            row_done: Callable[[int, int], None]) -> None:
    results[pending.row].feedback.extend(feedback)
    errors[pending.row] += sum(f.error is not None for f in feedback)
    left[pending.row] -= 1
    if left[pending.row] == 0:
        row_done(pending.row, errors[pending.row])


@contextlib.contextmanager
def _pool(workers: int, name: str) -> Iterator[cf.ThreadPoolExecutor]:
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    try:
        yield pool
    except BaseException:
        # Ctrl-C or a bug: calls not started are dropped; those running finish.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _done(value: tuple[Any, str | None, str | None]) -> cf.Future[
        tuple[Any, str | None, str | None]]:
    future: cf.Future[tuple[Any, str | None, str | None]] = cf.Future()
    future.set_result(value)
    return future


def _as_answer(rt: _runtime.Runtime, sink: _TraceCollector,
               row: _Row) -> tuple[Any, str | None, str | None]:
    return row.outputs, _static_trace(rt, sink, row), None


def _predict_failed(scorer: Scorer, error: str) -> Feedback:
    return Feedback(name=scorer.name, error=AssessmentError(
        error_code="PREDICT_ERROR", error_message=error), source=scorer.source)


# -- writing -------------------------------------------------------------------------------------

class _Writer:
    """Writes finished rows while the others run, :data:`_STREAM_BATCH` rows at a time, in
    one background thread, so that only the last few are left to write when the last score
    comes in; :meth:`finish` writes the rest and raises what a write raised."""

    def __init__(self, store: Any, sink: _TraceCollector, rows: list[_Row],
                 results: list[RowResult], run_id: str, scorers: Sequence[Scorer]) -> None:
        self._args = (store, sink, run_id)
        self._rows = rows
        self._results = results
        self._order = {s.name: i for i, s in enumerate(scorers)}
        self._ready: list[int] = []
        self._written: set[int] = set()
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="assay-write")
        self._writes: list[cf.Future[None]] = []

    def add(self, index: int) -> None:
        """Row ``index`` has all its Feedback."""
        self._ready.append(index)
        if len(self._ready) >= _STREAM_BATCH:
            self._submit()

    def finish(self) -> None:
        self._ready.extend(i for i in range(len(self._rows))
                           if i not in self._written and i not in self._ready)
        try:
            self._submit()
            for write in self._writes:
                write.result()
        finally:
            self._pool.shutdown(wait=True)

    def abandon(self) -> None:
        """Write nothing more (the evaluation failed); let a write under way end."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self) -> None:
        if not self._ready:
            return
        chosen, self._ready = sorted(self._ready), []
        self._written.update(chosen)
        for index in chosen:  # in the scorers' order, whichever finished first
            self._results[index].feedback.sort(
                key=lambda f: self._order.get(f.name, len(self._order)))
        store, sink, run_id = self._args
        self._writes.append(self._pool.submit(
            _write, store, sink, [self._rows[i] for i in chosen],
            [self._results[i] for i in chosen], run_id))


def _write(store: Any, sink: _TraceCollector, rows: list[_Row], results: list[RowResult],
           run_id: str) -> None:
    """Write the new traces with their Feedback and expectations, log Feedback on the
    traces the data gave, and link every trace to the run."""
    new: list[Trace] = []
    for row, result in zip(rows, results, strict=True):
        stamped = [_stamped(f, result.trace_id, run_id) for f in result.feedback]
        trace = sink.build(result.trace_id)
        if trace is not None:
            trace.info.trace_metadata[SOURCE_RUN_KEY] = run_id
            trace.info.trace_metadata[ROW_KEY] = f"{row.index:06d}"
            trace.info.assessments.extend([*_expectations(result, trace), *stamped])
            new.append(trace)
        elif result.trace_id is not None and row.trace is not None:
            for feedback in stamped:
                store.log_assessment(feedback)
        result.feedback = stamped
    for start in range(0, len(new), _WRITE_BATCH):
        store.log_traces(new[start:start + _WRITE_BATCH])
    given = [r.trace_id for row, r in zip(rows, results, strict=True)
             if r.trace_id is not None and row.trace is not None
             and r.trace_id not in sink.traces]
    for start in range(0, len(given), 10_000):
        store.link_run_traces(run_id, given[start:start + 10_000])


def _stamped(feedback: Feedback, trace_id: str | None, run_id: str) -> Feedback:
    return dataclasses.replace(feedback, trace_id=trace_id, run_id=run_id,
                               metadata={**feedback.metadata, ASSESSMENT_RUN_KEY: run_id})


def _expectations(result: RowResult, trace: Trace) -> list[Assessment]:
    """The row's expectations, as HUMAN Expectations on its new trace."""
    return [Expectation(name, value, trace_id=trace.info.trace_id,
                        source=AssessmentSource(AssessmentSourceType.HUMAN, "evaluation"))
            for name, value in result.expectations.items()]


# -- metrics -------------------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("yes", "true", "pass"):
            return 1.0
        if text in ("no", "false", "fail"):
            return 0.0
    return None


def _metrics(results: list[RowResult], scorers: Sequence[Scorer]) -> dict[str, float]:
    by_name: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    tokens: dict[str, list[int]] = {}
    costs: dict[str, float] = {}
    owner: dict[str, Scorer] = {}
    sources = {s.source: s for s in scorers}
    for result in results:
        for feedback in result.feedback:
            scorer = next((s for s in scorers if s.name == feedback.name), None) \
                or sources.get(feedback.source)
            if scorer is not None:
                owner.setdefault(feedback.name, scorer)
            failures.setdefault(feedback.name, 0)
            if feedback.error is not None:
                failures[feedback.name] += 1
            number = None if feedback.error is not None else _number(feedback.value)
            if number is not None:
                by_name.setdefault(feedback.name, []).append(number)
            counts = tokens.setdefault(feedback.name, [0, 0])
            for i, key in enumerate(TOKEN_METADATA):
                with contextlib.suppress(KeyError, ValueError):
                    counts[i] += int(feedback.metadata[key])
            with contextlib.suppress(KeyError, ValueError, TypeError):
                cost = float(feedback.metadata[COST_METADATA])
                if math.isfinite(cost):
                    costs[feedback.name] = costs.get(feedback.name, 0.0) + cost
    metrics: dict[str, float] = {}
    for name, values in by_name.items():
        scorer = owner.get(name)
        for aggregation in (scorer.aggregations if scorer is not None else ["mean"]):
            label = aggregation if isinstance(aggregation, str) else getattr(
                aggregation, "__name__", "custom")
            value = aggregate(aggregation, values)
            if math.isfinite(value):
                metrics[f"{name}/{label}"] = value
    for name, count in failures.items():
        metrics[f"{name}/errors"] = float(count)
    for name, (prompt, completion) in tokens.items():
        if prompt or completion:
            metrics[f"{name}/prompt_tokens"] = float(prompt)
            metrics[f"{name}/completion_tokens"] = float(completion)
    for name, total in costs.items():
        metrics[f"{name}/cost_usd"] = total
    return metrics


def _verdict(results: list[RowResult], scorers: Sequence[Scorer]) -> tuple[bool, str | None]:
    """Whether everything passed, and if not, what failed, scorer by scorer."""
    failures: dict[str, int] = {}
    errors: dict[str, int] = {}
    owners = {s.name: s for s in scorers}
    for result in results:
        for feedback in result.feedback:
            owner = owners.get(feedback.name)
            if feedback.error is not None:
                errors[feedback.name] = errors.get(feedback.name, 0) + 1
            elif owner is not None and not owner.passes(feedback.value):
                failures[feedback.name] = failures.get(feedback.name, 0) + 1
    if not failures and not errors:
        return True, None
    parts = []
    for name in dict.fromkeys([*owners, *failures, *errors]):
        if failures.get(name):
            parts.append(f"{name}: {failures[name]} of {len(results)} rows failed")
        if errors.get(name):
            parts.append(f"{name}: {errors[name]} error{'s' if errors[name] != 1 else ''}")
    return False, "; ".join(parts)
