"""The evaluation reports: two runs compared, and a judge against the humans.

``GET /evaluations/compare`` compares a candidate run with a baseline score by score (the
figures of :func:`assay.genai.compare_evaluations`: both means, the difference with its
paired-bootstrap interval, McNemar's or Wilcoxon's p-value), with the first flipped rows of
each pass/fail score; ``GET /evaluations/compare/flips`` pages through one score's flipped
rows. ``GET /evaluations/judge-agreement`` sets a judge's Feedback against the human labels
of the same traces (:func:`assay.genai.judge_agreement`: the confusion matrix, accuracy,
Cohen's kappa, true positive and negative rates) with the first disagreements;
``GET /evaluations/judge-agreement/disagreements`` pages through them.

Each route calls the domain function the SDK calls (``compare_runs``, ``agreement_in``) on
the server's store, so the figures are the SDK's to the last digit. The pages are offsets
into the list the function returns, in its order; a token names the query it belongs to, so
one from another query is refused. Every route only reads (*read*).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from assay.errors import InvalidParameterError
from assay.genai.comparison import EvaluationComparison, Flip, ScorerComparison, compare_runs
from assay.genai.judge_agreement import JudgeAgreement, JudgeDisagreement, agreement_in
from assay.server.deps import StoreDep
from assay.server.errors import ERROR_RESPONSES
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable
from assay.store.base import Store

__all__ = ["router"]

router = RouteTable(prefix="/evaluations", tags=["evaluations"], responses=ERROR_RESPONSES)

#: The longest name or id these routes take.
_MAX_NAME = 250
_RUN = Query(min_length=1, max_length=64)
_NAME = Query(min_length=1, max_length=_MAX_NAME)
_LEVEL = Query(gt=0, lt=1,
               description="Of every interval, between 0 and 1 (default 0.95)")
_FIRST = Query(ge=0, le=1000,
               description="How many of the list come with the report (0 to 1000); the "
                           "rest are paged by the list's own route")
_PAGE_SIZE = Query(ge=1, le=1000, description="The page size (1 to 1000)")
_TOKEN = Query(min_length=1, max_length=200,
               description="The `next_page_token` of the previous page of the same query")


# -- page tokens -------------------------------------------------------------------------------

def _fingerprint(query: dict[str, Any]) -> str:
    text = json.dumps(query, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _token(query: dict[str, Any], offset: int) -> str:
    raw = json.dumps({"q": _fingerprint(query), "o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(query: dict[str, Any], token: str | None) -> int:
    """The offset a page token stands for; 0 without one."""
    if token is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        found = json.loads(raw)
        offset = found["o"]
        if found["q"] != _fingerprint(query) or not isinstance(offset, int) \
                or isinstance(offset, bool) or offset < 0:
            raise ValueError(token)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidParameterError(
            f"Invalid page_token {token[:100]!r}: not the next_page_token of a page of this "
            "query") from exc
    return offset


def _page(items: list[Any], query: dict[str, Any], offset: int,
          size: int) -> tuple[list[Any], str | None]:
    """``size`` items from ``offset``, and the token of the rest (None at the end)."""
    end = offset + size
    return items[offset:end], (_token(query, end) if end < len(items) else None)


# -- comparing two runs ------------------------------------------------------------------------

class FlipModel(BaseModel):
    direction: Literal["pass_to_fail", "fail_to_pass"]
    inputs: Any = Field(description="The row's inputs (its root span's)")
    baseline_trace_id: str
    candidate_trace_id: str
    baseline_value: Any
    candidate_value: Any


class IntervalModel(BaseModel):
    low: float
    high: float


class ScorerComparisonModel(BaseModel):
    name: str = Field(description="The scorer's (its Feedback's) name")
    kind: Literal["pass_fail", "numeric", "other", "baseline_only", "candidate_only"] = Field(
        description="pass_fail and numeric are compared; other (values neither) is counted; "
                    "baseline_only and candidate_only: a score one run has")
    n: int = Field(description="Rows with a value in both runs: what every figure is on")
    baseline_mean: float | None
    candidate_mean: float | None
    difference: float | None = Field(description="candidate_mean - baseline_mean")
    interval: IntervalModel | None = Field(
        description="The paired-bootstrap interval of the difference at confidence_level")
    test: Literal["mcnemar", "wilcoxon"] | None = Field(
        description="McNemar's exact test (pass/fail) or Wilcoxon's signed-rank (numeric)")
    p_value: float | None = Field(description="Two-sided")
    significant: bool = Field(description="p_value below 1 - confidence_level")
    pass_to_fail: int = Field(description="Rows that passed in the baseline and fail now")
    fail_to_pass: int = Field(description="Rows that failed in the baseline and pass now")
    flips: list[FlipModel] = Field(description="The first max_flips flipped rows, in the "
                                               "order the baseline traced them")
    flips_next_page_token: str | None = Field(
        description="For GET /evaluations/compare/flips, when there are more")
    baseline_errors: int = Field(description="Feedback with an error on shared rows, left out")
    candidate_errors: int
    note: str | None = Field(description="Why a figure is missing, when one is")


class ComparisonResponse(BaseModel):
    candidate_run_id: str
    baseline_run_id: str
    confidence_level: float
    rows_shared: int = Field(description="Rows (matched by inputs) both runs have")
    baseline_rows: int
    candidate_rows: int
    scorers: list[ScorerComparisonModel] = Field(
        description="One per score name, those in both runs first, by name")


class FlipsResponse(BaseModel):
    flips: list[FlipModel]
    next_page_token: str | None = Field(description="The cursor of the next page, if any")


def _flip(flip: Flip) -> FlipModel:
    return FlipModel(direction=flip.direction, inputs=flip.inputs,
                     baseline_trace_id=flip.baseline_trace_id,
                     candidate_trace_id=flip.candidate_trace_id,
                     baseline_value=flip.baseline_value, candidate_value=flip.candidate_value)


def _compared(store: Store, candidate: str, baseline: str,
              level: float) -> EvaluationComparison:
    try:
        return compare_runs(store, candidate, baseline, level)
    except ImportError as exc:
        raise InvalidParameterError(
            f"These runs have numeric scores, and comparing them needs scipy on the server, "
            f"which it lacks: {exc}") from exc


def _flips_query(candidate: str, baseline: str, name: str) -> dict[str, Any]:
    return {"route": "flips", "candidate": candidate, "baseline": baseline, "scorer": name}


def _scorer(s: ScorerComparison, result: EvaluationComparison,
            first: int) -> ScorerComparisonModel:
    flips, token = _page(list(s.flips), _flips_query(result.candidate_run_id,
                                                      result.baseline_run_id, s.name), 0, first)
    return ScorerComparisonModel(
        name=s.name, kind=s.kind, n=s.n, baseline_mean=s.baseline_mean,
        candidate_mean=s.candidate_mean, difference=s.difference,
        interval=None if s.interval is None else IntervalModel(low=s.interval[0],
                                                               high=s.interval[1]),
        test=s.test, p_value=s.p_value,
        significant=s.p_value is not None and s.p_value < 1 - result.confidence_level,
        pass_to_fail=len(s.pass_to_fail), fail_to_pass=len(s.fail_to_pass),
        flips=[_flip(f) for f in flips], flips_next_page_token=token,
        baseline_errors=s.baseline_errors, candidate_errors=s.candidate_errors, note=s.note)


@router.get("/compare", response_model=ComparisonResponse, openapi_extra=needs(Action.READ))
def compare_evaluations(
        store: StoreDep,
        candidate_run_id: Annotated[str, _RUN],
        baseline_run_id: Annotated[str, _RUN],
        confidence_level: Annotated[float, _LEVEL] = 0.95,
        max_flips: Annotated[int, _FIRST] = 100) -> ComparisonResponse:
    """A candidate evaluation run against a baseline, score by score, over the rows both
    have (matched by their inputs): what ``assay.genai.compare_evaluations`` returns."""
    result = _compared(store, candidate_run_id, baseline_run_id, confidence_level)
    return ComparisonResponse(
        candidate_run_id=result.candidate_run_id, baseline_run_id=result.baseline_run_id,
        confidence_level=result.confidence_level, rows_shared=result.rows_shared,
        baseline_rows=result.baseline_rows, candidate_rows=result.candidate_rows,
        scorers=[_scorer(s, result, max_flips) for s in result.scorers])


@router.get("/compare/flips", response_model=FlipsResponse, openapi_extra=needs(Action.READ))
def comparison_flips(
        store: StoreDep,
        candidate_run_id: Annotated[str, _RUN],
        baseline_run_id: Annotated[str, _RUN],
        scorer: Annotated[str, _NAME],
        max_results: Annotated[int, _PAGE_SIZE] = 100,
        page_token: Annotated[str | None, _TOKEN] = None) -> FlipsResponse:
    """One score's flipped rows (pass → fail and fail → pass), a page at a time, in the
    order the baseline traced them."""
    query = _flips_query(candidate_run_id, baseline_run_id, scorer)
    offset = _offset(query, page_token)
    result = _compared(store, candidate_run_id, baseline_run_id, 0.95)
    names = [s.name for s in result.scorers]
    if scorer not in names:
        raise InvalidParameterError(
            f"Invalid scorer {scorer[:100]!r}: neither run has a score of that name; they "
            f"have {', '.join(names) or 'none'}")
    flips, token = _page(list(result[scorer].flips), query, offset, max_results)
    return FlipsResponse(flips=[_flip(f) for f in flips], next_page_token=token)


# -- a judge against the humans ----------------------------------------------------------------

class DisagreementModel(BaseModel):
    trace_id: str
    judge_value: Any
    human_value: Any
    judge_rationale: str | None
    human_rationale: str | None
    human: str | None = Field(description="The human label's source id (the reviewer; "
                                          "'gold label' for a labeling session's)")
    request: str | None = Field(description="The trace's request preview")


class JudgeAgreementResponse(BaseModel):
    judge_name: str
    human_name: str
    experiment_id: str
    run_id: str | None = Field(description="Only this run's judge Feedback, when given")
    n: int = Field(description="Traces with both a judge value and a human label")
    labels: list[Any] = Field(description="The values seen, sorted; pass/fail as false, true")
    confusion_matrix: list[list[int]] = Field(
        description="confusion_matrix[i][j]: traces the humans labeled labels[i] and the "
                    "judge labels[j]")
    accuracy: float
    cohen_kappa: float | None = Field(description="None when undefined (one label only)")
    true_positive_rate: float | None = Field(
        description="Of the traces the humans passed, the share the judge passed (pass/fail "
                    "values only)")
    true_negative_rate: float | None
    disagreement_count: int
    disagreements: list[DisagreementModel] = Field(
        description="The first max_disagreements traces where the two differ")
    disagreements_next_page_token: str | None = Field(
        description="For GET /evaluations/judge-agreement/disagreements, when there are more")
    judge_errors: int = Field(description="Traces left out: the judge's Feedback is an error")
    without_human_label: int = Field(description="Traces the judge scored, no human labeled")


class DisagreementsResponse(BaseModel):
    disagreements: list[DisagreementModel]
    next_page_token: str | None = Field(description="The cursor of the next page, if any")


def _agreement(store: Store, judge_name: str, human_name: str | None,
               experiment_id: str | None, run_id: str | None) -> tuple[str, JudgeAgreement]:
    if experiment_id is None:
        if run_id is None:
            raise InvalidParameterError(
                "Invalid experiment_id None: give experiment_id, or run_id (its experiment "
                "is then the run's)")
        experiment_id = store.get_run(run_id).info.experiment_id
    else:
        experiment_id = store.get_experiment(experiment_id).experiment_id
        if run_id is not None and store.get_run(run_id).info.experiment_id != experiment_id:
            raise InvalidParameterError(
                f"Invalid run_id {run_id!r}: not a run of experiment {experiment_id}")
    return experiment_id, agreement_in(store, judge_name, human_name, experiment_id, run_id)


def _disagreements_query(judge_name: str, human_name: str | None, experiment_id: str,
                         run_id: str | None) -> dict[str, Any]:
    return {"route": "disagreements", "judge": judge_name, "human": human_name or judge_name,
            "experiment": experiment_id, "run": run_id}


def _disagreement(d: JudgeDisagreement) -> DisagreementModel:
    return DisagreementModel(trace_id=d.trace_id, judge_value=d.judge_value,
                             human_value=d.human_value, judge_rationale=d.judge_rationale,
                             human_rationale=d.human_rationale, human=d.human,
                             request=d.request)


_JUDGE = Query(min_length=1, max_length=_MAX_NAME,
               description="The judge's Feedback name, e.g. correctness")
_HUMAN = Query(min_length=1, max_length=_MAX_NAME,
               description="The humans' assessment name (default judge_name)")
_EXPERIMENT = Query(min_length=1, max_length=64,
                    description="Where the traces are (default the run's experiment)")
_ONLY_RUN = Query(min_length=1, max_length=64,
                  description="Only the judge Feedback of this evaluation run")


@router.get("/judge-agreement", response_model=JudgeAgreementResponse,
            openapi_extra=needs(Action.READ))
def judge_agreement(
        store: StoreDep,
        judge_name: Annotated[str, _JUDGE],
        human_name: Annotated[str | None, _HUMAN] = None,
        experiment_id: Annotated[str | None, _EXPERIMENT] = None,
        run_id: Annotated[str | None, _ONLY_RUN] = None,
        max_disagreements: Annotated[int, _FIRST] = 100) -> JudgeAgreementResponse:
    """How far a judge agrees with the humans on the traces that have both a judge Feedback
    and a human label (a labeling session's gold label first): what
    ``assay.genai.judge_agreement`` returns."""
    eid, found = _agreement(store, judge_name, human_name, experiment_id, run_id)
    query = _disagreements_query(judge_name, human_name, eid, run_id)
    first, token = _page(list(found.disagreements), query, 0, max_disagreements)
    return JudgeAgreementResponse(
        judge_name=found.judge_name, human_name=found.human_name, experiment_id=eid,
        run_id=run_id, n=found.n, labels=list(found.labels),
        confusion_matrix=[list(row) for row in found.confusion_matrix],
        accuracy=found.accuracy, cohen_kappa=found.cohen_kappa,
        true_positive_rate=found.true_positive_rate,
        true_negative_rate=found.true_negative_rate,
        disagreement_count=len(found.disagreements),
        disagreements=[_disagreement(d) for d in first], disagreements_next_page_token=token,
        judge_errors=found.judge_errors, without_human_label=found.without_human_label)


@router.get("/judge-agreement/disagreements", response_model=DisagreementsResponse,
            openapi_extra=needs(Action.READ))
def judge_disagreements(
        store: StoreDep,
        judge_name: Annotated[str, _JUDGE],
        human_name: Annotated[str | None, _HUMAN] = None,
        experiment_id: Annotated[str | None, _EXPERIMENT] = None,
        run_id: Annotated[str | None, _ONLY_RUN] = None,
        max_results: Annotated[int, _PAGE_SIZE] = 100,
        page_token: Annotated[str | None, _TOKEN] = None) -> DisagreementsResponse:
    """The traces where the judge and the humans differ, a page at a time."""
    eid, found = _agreement(store, judge_name, human_name, experiment_id, run_id)
    query = _disagreements_query(judge_name, human_name, eid, run_id)
    offset = _offset(query, page_token)
    page, token = _page(list(found.disagreements), query, offset, max_results)
    return DisagreementsResponse(disagreements=[_disagreement(d) for d in page],
                                 next_page_token=token)
