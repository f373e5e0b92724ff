"""Evaluation runs: the list of an experiment's runs, one run's scores row by row, two runs
compared, and a judge against the humans.

``/experiments/{id}/evaluations`` lists the evaluation runs, newest first, with each score's
mean; two chosen runs open the comparison. ``/experiments/{id}/evaluations/compare`` compares
a candidate run with a baseline (``?candidate=&baseline=``): per score, both means, the
difference with its confidence interval and the test's p-value, in words, and the rows that
flipped. ``/experiments/{id}/evaluations/judge`` sets a judge's Feedback against the human
labels of the same traces (``?judge=&human=&run=``): the confusion matrix, accuracy, kappa,
true positive and negative rates, and the disagreements.

``/runs/{run_id}`` shows an evaluation run: its status, time and parameters, one card per
score (its mean, how many rows passed and failed, errors, the tokens its judge used), and
the rows a page at a time — each row's request, response and expected response, and each
scorer's value with its rationale, linked to the row's trace. ``?failed=<name>`` keeps the
rows that score failed (a "no" or false) in this run: a human's label or another run's
score of the same name on the row's trace does not count. A labeling session's run is sent
to its owner's page. Answers as JSON at the same URL plus
``.json``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response

from assay.entities import Assessment, Trace
from assay.entities.run import Run, RunKind
from assay.errors import InvalidParameterError
from assay.genai._values import as_pass_fail
from assay.genai.comparison import ScorerComparison, compare_runs
from assay.genai.evaluation import ROW_KEY
from assay.genai.judge_agreement import agreement_in
from assay.server.deps import StoreDep
from assay.server.permissions import Action
from assay.server.route_tables import RouteTable
from assay.server.ui.chips import assessment_chip
from assay.server.ui.templating import page, page_route
from assay.store.base import Store

__all__ = ["router"]

router = RouteTable()

#: Rows per page of a run; runs per page of the list.
ROWS_PER_PAGE = 100
RUNS_PER_PAGE = 50
#: Store pages read at most for one page of the rows a score failed.
_FILTER_PAGES = 10
#: What the run page says of a metric's aggregation.
_AGGREGATIONS = ("mean", "median", "min", "max", "p90", "variance")
_NAME_CHARS = 250


@page_route(router, "/runs/{run_id}", action=Action.READ)
def run_page(request: Request, run_id: str, store: StoreDep,
             page_token: Annotated[str | None, Query(alias="page", max_length=4096)] = None,
             failed: Annotated[str | None, Query(max_length=_NAME_CHARS)] = None,
             ) -> Response:
    """An evaluation run: its scores and its rows."""
    run = store.get_run(run_id)
    experiment = store.get_experiment(run.info.experiment_id)
    eid = experiment.experiment_id
    if run.info.kind is RunKind.LABELING:  # its owner's page
        return RedirectResponse(f"/experiments/{quote(eid, safe='')}/labeling/sessions/"
                                f"{quote(run_id, safe='')}", status_code=303)
    scores = _scores(run)
    if failed is not None and (failed not in scores or "`" in failed):
        raise InvalidParameterError(
            f"Invalid failed {failed!r}: this run has no score of that name; it has "
            f"{', '.join(scores) or 'none'}")
    traces, token = _run_traces(store, eid, run_id, page_token, failed)
    rows = [_row(trace, run_id, list(scores)) for trace in traces]
    base = f"/runs/{quote(run_id, safe='')}"
    kept = {} if failed is None else {"failed": failed}
    context = {
        "experiment": {"experiment_id": eid, "name": experiment.name,
                       "url": f"/experiments/{quote(eid, safe='')}"},
        "run": _run(run),
        "scores": [_score_card(name, run, base) for name in scores],
        "rows": rows,
        "expected": sorted({k for r in rows for k in r["expectations"]}),
        "filter": {"failed": failed, "all_url": base},
        "next_url": (f"{base}?{urlencode({**kept, 'page': token})}"
                     if token else None),
        "first_url": f"{base}?{urlencode(kept)}" if page_token else None,
    }
    return page(request, "evaluations/run.html", context)


def _run_traces(store: Store, eid: str, run_id: str, page_token: str | None,
                failed: str | None) -> tuple[list[Trace], str | None]:
    """A page of the run's rows in the data's order, and the next page's token.

    With ``failed``, the rows whose score of that name *in this run* is a fail: the
    filter finds the rows where some Feedback of that name fails (a human's label, or
    another run's score on the same trace, count there), and this run's own score decides.
    Store pages are read until at least half a page of rows is found, the rows run out, or
    :data:`_FILTER_PAGES` pages were read."""
    found: list[Trace] = []
    token = page_token
    for _ in range(1 if failed is None else _FILTER_PAGES):
        page = store.search_traces(
            [eid], max_results=ROWS_PER_PAGE, page_token=token, run_id=run_id,
            include_spans=False, order_by=[f"metadata.`{ROW_KEY}`", "timestamp_ms ASC"],
            filter_string=None if failed is None else
            f"(feedback.`{failed}` = 'no' OR feedback.`{failed}` = 'false')")
        found.extend(t for t in page if failed is None or _failed_here(t, run_id, failed))
        token = page.token
        if token is None or len(found) >= ROWS_PER_PAGE // 2:
            break
    return found, token


def _failed_here(trace: Trace, run_id: str, name: str) -> bool:
    """Whether this run's (first valid) score ``name`` on the trace is a fail."""
    for a in trace.info.assessments:
        if a.valid and a.kind == "feedback" and a.run_id == run_id and a.name == name:
            return as_pass_fail(a.value) is False
    return False


def _scores(run: Run) -> dict[str, dict[str, float]]:
    """The run's scores, by name: ``{aggregation or count: value}`` from its metrics
    (``correctness/mean``, ``correctness/errors``, ...), in the scorers' order (the run's
    ``scorers`` param), then the others by name."""
    found: dict[str, dict[str, float]] = {}
    for key, value in sorted(run.data.metrics.items()):
        name, sep, measure = key.rpartition("/")
        if sep and name:
            found.setdefault(name, {})[measure] = value
    order = [n.strip() for n in run.data.params.get("scorers", "").split(",") if n.strip()]
    ranked = sorted(found, key=lambda n: (order.index(n) if n in order else len(order), n))
    return {name: found[name] for name in ranked}


def _score_card(name: str, run: Run, base: str) -> dict[str, Any]:
    measures = _scores(run)[name]
    mean = measures.get("mean")
    return {
        "name": name,
        "mean": mean,
        "aggregations": {k: measures[k] for k in _AGGREGATIONS if k in measures and k != "mean"},
        "prompt_tokens": measures.get("prompt_tokens"),
        "completion_tokens": measures.get("completion_tokens"),
        "errors": measures.get("errors", 0.0),
        "failed_url": f"{base}?{urlencode({'failed': name})}",
    }


def _run(run: Run) -> dict[str, Any]:
    info = run.info
    duration = None if info.end_time is None else info.end_time - info.start_time
    return {"run_id": info.run_id, "name": info.run_name, "kind": info.kind.value,
            "status": info.status.value, "start_ms": info.start_time, "end_ms": info.end_time,
            "duration_ms": duration, "created_by": info.user_id,
            "params": dict(run.data.params), "tags": dict(run.data.tags)}


def _row(trace: Trace, run_id: str, names: list[str]) -> dict[str, Any]:
    """A row: the trace's request and response, its expectations, and this run's scores."""
    info = trace.info
    mine: dict[str, Assessment] = {}
    for a in info.assessments:
        if a.valid and a.kind == "feedback" and a.run_id == run_id:
            mine.setdefault(a.name, a)
    expectations = {a.name: a.value for a in info.assessments
                    if a.valid and a.kind == "expectation"}
    return {
        "trace_id": info.trace_id,
        "url": f"/traces/{quote(info.trace_id, safe='')}",
        "request": info.request_preview,
        "response": info.response_preview,
        "state": info.state.value,
        "expectations": expectations,
        "scores": {name: (assessment_chip(mine[name]) if name in mine else None)
                   for name in names},
    }


@page_route(router, "/experiments/{experiment_id}/evaluations", action=Action.READ)
def evaluations_page(request: Request, experiment_id: str, store: StoreDep,
                     page_token: Annotated[str | None, Query(alias="page",
                                                             max_length=4096)] = None,
                     ) -> Response:
    """The experiment's evaluation runs, newest first."""
    experiment = store.get_experiment(experiment_id)
    eid = experiment.experiment_id
    found = store.search_runs([eid], max_results=RUNS_PER_PAGE, page_token=page_token,
                              filter_string="attributes.kind = 'evaluation'")
    base = f"/experiments/{quote(eid, safe='')}/evaluations"
    runs = []
    for run in found:
        scores = _scores(run)
        runs.append({**_run(run), "url": f"/runs/{quote(run.info.run_id, safe='')}",
                     "scores": [{"name": name, "mean": m.get("mean"),
                                 "errors": m.get("errors", 0.0)}
                                for name, m in scores.items()]})
    context = {
        "experiment": _experiment(eid, experiment.name),
        "runs": runs,
        "compare_url": f"{base}/compare",
        "judge_url": f"{base}/judge",
        "next_url": f"{base}?{urlencode({'page': found.token})}" if found.token else None,
        "first_url": base if page_token else None,
    }
    return page(request, "evaluations/list.html", context)


def _experiment(eid: str, name: str) -> dict[str, str]:
    return {"experiment_id": eid, "name": name, "url": f"/experiments/{quote(eid, safe='')}"}


_RUN_ID_QUERY = Query(min_length=1, max_length=64)


@page_route(router, "/experiments/{experiment_id}/evaluations/compare", action=Action.READ)
def compare_page(request: Request, experiment_id: str, store: StoreDep,
                 candidate: Annotated[str, _RUN_ID_QUERY],
                 baseline: Annotated[str, _RUN_ID_QUERY]) -> Response:
    """A candidate evaluation run against a baseline, score by score."""
    experiment = store.get_experiment(experiment_id)
    eid = experiment.experiment_id
    runs = {}
    for role, run_id in (("candidate", candidate), ("baseline", baseline)):
        run = store.get_run(run_id)
        if run.info.experiment_id != eid or run.info.kind is not RunKind.EVALUATION:
            raise InvalidParameterError(
                f"Invalid {role} {run_id!r}: not an evaluation run of this experiment")
        runs[role] = {**_run(run), "url": f"/runs/{quote(run_id, safe='')}"}
    result = compare_runs(store, candidate, baseline)
    context = {
        "experiment": _experiment(eid, experiment.name),
        "candidate": runs["candidate"], "baseline": runs["baseline"],
        "confidence_level": result.confidence_level,
        "rows_shared": result.rows_shared, "baseline_rows": result.baseline_rows,
        "candidate_rows": result.candidate_rows,
        "scorers": [_compared(s, result.confidence_level) for s in result.scorers],
        "swap_url": (f"/experiments/{quote(eid, safe='')}/evaluations/compare?"
                     f"{urlencode({'candidate': baseline, 'baseline': candidate})}"),
    }
    return page(request, "evaluations/compare.html", context)


def _compared(s: ScorerComparison, level: float) -> dict[str, Any]:
    significant = s.p_value is not None and s.p_value < 1 - level
    if s.kind in ("baseline_only", "candidate_only"):
        reading = f"only in the {s.kind.split('_')[0]} run"
    elif s.difference is None:
        reading = s.note or "not compared"
    elif not significant:
        reading = "no significant change"
    else:
        reading = "better, beyond noise" if s.difference > 0 else "worse, beyond noise"
    return {
        "name": s.name, "kind": s.kind, "n": s.n, "baseline_mean": s.baseline_mean,
        "candidate_mean": s.candidate_mean, "difference": s.difference,
        "interval": list(s.interval) if s.interval is not None else None,
        "test": {"mcnemar": "McNemar's exact test", "wilcoxon": "Wilcoxon signed-rank",
                 None: None}[s.test],
        "p_value": s.p_value, "significant": significant, "reading": reading,
        "baseline_errors": s.baseline_errors, "candidate_errors": s.candidate_errors,
        "flips": [{"direction": f.direction, "inputs": _inputs_text(f.inputs),
                   "baseline_url": f"/traces/{quote(f.baseline_trace_id, safe='')}",
                   "candidate_url": f"/traces/{quote(f.candidate_trace_id, safe='')}",
                   "baseline_value": f.baseline_value, "candidate_value": f.candidate_value,
                   "baseline_label": _label(as_pass_fail(f.baseline_value)),
                   "candidate_label": _label(as_pass_fail(f.candidate_value))}
                  for f in s.flips],
    }


#: The longest text of a row's inputs shown.
_INPUTS_CHARS = 300


def _inputs_text(inputs: Any) -> str:
    """A row's inputs as a person reads them: the value of a single field as it is (the
    question), several as ``name: value`` joined by " · ", anything else as JSON."""
    if isinstance(inputs, dict) and inputs:
        parts = [v if isinstance(v, str) and len(inputs) == 1 else
                 f"{k}: {v if isinstance(v, str) else json.dumps(v, default=str)}"
                 for k, v in inputs.items()]
        text = " · ".join(str(p) for p in parts)
    else:
        text = json.dumps(inputs, default=str)
    return text if len(text) <= _INPUTS_CHARS else text[:_INPUTS_CHARS - 1] + "…"


_NAME_QUERY = Query(min_length=1, max_length=_NAME_CHARS)
_OPTIONAL_NAME_QUERY = Query(max_length=_NAME_CHARS)
_OPTIONAL_RUN_QUERY = Query(max_length=64)


@page_route(router, "/experiments/{experiment_id}/evaluations/judge", action=Action.READ)
def judge_page(request: Request, experiment_id: str, store: StoreDep,
               judge: Annotated[str | None, _NAME_QUERY] = None,
               human: Annotated[str | None, _OPTIONAL_NAME_QUERY] = None,
               run: Annotated[str | None, _OPTIONAL_RUN_QUERY] = None) -> Response:
    """A judge's Feedback against the human labels of the same traces. The form sends its
    optional fields empty when they are left so: empty means not given."""
    human, run = human or None, run or None
    experiment = store.get_experiment(experiment_id)
    eid = experiment.experiment_id
    names = [n.name for n in store.list_assessment_names(eid, max_results=500)]
    report = None
    if judge is not None:
        if run is not None and store.get_run(run).info.experiment_id != eid:
            raise InvalidParameterError(f"Invalid run {run!r}: not a run of this experiment")
        found = agreement_in(store, judge, human, eid, run)
        report = {
            "judge_name": found.judge_name, "human_name": found.human_name, "n": found.n,
            "labels": [_label(v) for v in found.labels],
            "matrix": [list(row) for row in found.confusion_matrix],
            "accuracy": found.accuracy, "cohen_kappa": found.cohen_kappa,
            "kappa_reading": _kappa_words(found.cohen_kappa),
            "true_positive_rate": found.true_positive_rate,
            "true_negative_rate": found.true_negative_rate,
            "judge_errors": found.judge_errors,
            "without_human_label": found.without_human_label,
            "disagreements": [{
                "trace_id": d.trace_id, "url": f"/traces/{quote(d.trace_id, safe='')}",
                "request": d.request,
                "judge_value": _label(d.judge_value), "human_value": _label(d.human_value),
                "judge_passed": as_pass_fail(d.judge_value),
                "human_passed": as_pass_fail(d.human_value),
                "judge_rationale": d.judge_rationale, "human_rationale": d.human_rationale,
                "human": d.human} for d in found.disagreements],
        }
    context = {"experiment": _experiment(eid, experiment.name), "names": names,
               "judge": judge, "human": human, "run": run, "report": report}
    return page(request, "evaluations/judge.html", context)


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "pass" if value else "fail"
    return str(value)


def _kappa_words(kappa: float | None) -> str:
    """Landis and Koch's words for a kappa."""
    if kappa is None:
        return "undefined: one label only"
    for bound, words in ((0.0, "no agreement beyond chance"), (0.2, "slight"),
                         (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial")):
        if kappa <= bound:
            return words if bound == 0.0 else f"{words} agreement"
    return "almost perfect agreement"
