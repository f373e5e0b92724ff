"""The reports' routes (``/api/v1/evaluations/compare``, ``.../compare/flips``,
``.../judge-agreement``, ``.../judge-agreement/disagreements``) give what the SDK's
``compare_evaluations`` and ``judge_agreement`` give on the same data, figure for figure and
row for row, their lists paged to the end; on SQLite, PostgreSQL, and with the SDK over HTTP
(the REST store reading a live server, whose route answers the same); and hostile queries get
a 4xx naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import assay
from assay import _runtime
from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
from assay.genai import compare_evaluations, evaluate, judge_agreement
from assay.genai.comparison import EvaluationComparison
from assay.genai.judge_agreement import JudgeAgreement
from assay.store.sql import SqlStore
from conftest import Backend
from genai.test_compare import N, good, length, polite
from local_http import LOCAL_TLS
from server.live import in_process


def _rows(pass_from: int, pass_to: int, tail: int) -> list[dict[str, Any]]:
    return [{"inputs": {"question": f"q{i}"},
             "outputs": ("ok" if pass_from <= i < pass_to else "no") + "x" * ((tail * i) % 7)}
            for i in range(N)]


@pytest.fixture
def api(rt: _runtime.Runtime, backend: Backend) -> Iterator[httpx.Client]:
    """A client of a server over the test's store: the live server the REST store talks to,
    or the app in this process over the same database."""
    if backend.kind == "rest":
        with httpx.Client(base_url=backend.tracking_uri, verify=LOCAL_TLS, timeout=60) as http:
            yield http
        return
    store = SqlStore(backend.database_uri)
    try:
        with in_process(store) as served:
            yield served.http
    finally:
        store.close()


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _flip(f: Any) -> dict[str, Any]:
    return {"direction": f.direction, "inputs": f.inputs,
            "baseline_trace_id": f.baseline_trace_id,
            "candidate_trace_id": f.candidate_trace_id, "baseline_value": f.baseline_value,
            "candidate_value": f.candidate_value}


def _same_comparison(body: dict[str, Any], sdk: EvaluationComparison) -> None:
    assert (body["rows_shared"], body["baseline_rows"], body["candidate_rows"]) == (
        sdk.rows_shared, sdk.baseline_rows, sdk.candidate_rows)
    assert [s["name"] for s in body["scorers"]] == [s.name for s in sdk]
    for got, want in zip(body["scorers"], sdk, strict=True):
        assert (got["kind"], got["n"], got["baseline_mean"], got["candidate_mean"],
                got["difference"], got["test"], got["p_value"], got["baseline_errors"],
                got["candidate_errors"], got["note"]) == (
            want.kind, want.n, want.baseline_mean, want.candidate_mean, want.difference,
            want.test, want.p_value, want.baseline_errors, want.candidate_errors, want.note)
        assert got["interval"] == (None if want.interval is None else
                                   {"low": want.interval[0], "high": want.interval[1]})
        assert (got["pass_to_fail"], got["fail_to_pass"]) == (len(want.pass_to_fail),
                                                             len(want.fail_to_pass))
        assert got["significant"] == (want.p_value is not None and want.p_value < 0.05)


def test_the_comparison_route_gives_the_sdks_figures_and_pages_the_flips(
        rt: _runtime.Runtime, api: httpx.Client) -> None:
    baseline = evaluate(data=_rows(0, 14, 1), scorers=[good, length])
    candidate = evaluate(data=_rows(3, 27, 3), scorers=[good, length, polite])
    sdk = compare_evaluations(candidate.run_id, baseline.run_id)
    ids = {"candidate_run_id": candidate.run_id, "baseline_run_id": baseline.run_id}

    body = _ok(api.get("/api/v1/evaluations/compare", params={**ids, "max_flips": 5}))
    _same_comparison(body, sdk)
    assert (body["candidate_run_id"], body["baseline_run_id"], body["confidence_level"]) == (
        candidate.run_id, baseline.run_id, 0.95)
    good_flips = [_flip(f) for f in sdk["good"].flips]
    assert len(good_flips) == 16  # 3 pass → fail, 13 fail → pass
    [shown] = [s for s in body["scorers"] if s["name"] == "good"]
    assert shown["flips"] == good_flips[:5] and shown["significant"]
    paged, token = list(shown["flips"]), shown["flips_next_page_token"]
    while token is not None:
        page = _ok(api.get("/api/v1/evaluations/compare/flips",
                           params={**ids, "scorer": "good", "max_results": 4,
                                   "page_token": token}))
        assert 0 < len(page["flips"]) <= 4
        paged += page["flips"]
        token = page["next_page_token"]
    assert paged == good_flips
    every = _ok(api.get("/api/v1/evaluations/compare", params=ids))
    assert [s["flips_next_page_token"] for s in every["scorers"]] == [None] * 3
    assert _ok(api.get("/api/v1/evaluations/compare/flips",
                       params={**ids, "scorer": "length"})) == {"flips": [],
                                                                "next_page_token": None}

    narrow = compare_evaluations(candidate.run_id, baseline.run_id, confidence_level=0.5)
    _same_comparison(_ok(api.get("/api/v1/evaluations/compare",
                                 params={**ids, "confidence_level": 0.5})), narrow)


JUDGE = AssessmentSource(AssessmentSourceType.LLM_JUDGE, "openai:/judge")
# (judge, human): 4 true positives, 1 false negative, 2 false positives, 3 true negatives.
CASES = [("yes", True)] * 4 + [("no", True)] + [("yes", False)] * 2 + [("no", False)] * 3


def _trace(question: str) -> str:
    with assay.start_span("chat") as span:
        span.set_inputs({"question": question})
        span.set_outputs("an answer")
    assay.flush_trace_async_logging()
    return span.trace_id


def _disagreement(d: Any) -> dict[str, Any]:
    return {"trace_id": d.trace_id, "judge_value": d.judge_value,
            "human_value": d.human_value, "judge_rationale": d.judge_rationale,
            "human_rationale": d.human_rationale, "human": d.human, "request": d.request}


def _same_agreement(body: dict[str, Any], sdk: JudgeAgreement) -> None:
    assert (body["judge_name"], body["human_name"], body["n"], body["labels"],
            body["confusion_matrix"], body["accuracy"], body["cohen_kappa"],
            body["true_positive_rate"], body["true_negative_rate"],
            body["disagreement_count"], body["judge_errors"],
            body["without_human_label"]) == (
        sdk.judge_name, sdk.human_name, sdk.n, list(sdk.labels),
        [list(r) for r in sdk.confusion_matrix], sdk.accuracy, sdk.cohen_kappa,
        sdk.true_positive_rate, sdk.true_negative_rate, len(sdk.disagreements),
        sdk.judge_errors, sdk.without_human_label)


def test_the_agreement_route_gives_the_sdks_figures_and_pages_the_disagreements(
        rt: _runtime.Runtime, api: httpx.Client) -> None:
    for i, (verdict, label) in enumerate(CASES):
        trace_id = _trace(f"q{i}")
        assay.log_feedback(trace_id=trace_id, name="correct", value=verdict, source=JUDGE,
                           rationale=f"judge on {i}")
        assay.log_feedback(trace_id=trace_id, name="correct", value=label,
                           source=AssessmentSource(AssessmentSourceType.HUMAN, "ann"),
                           rationale=f"ann on {i}")
    assay.log_feedback(trace_id=_trace("e"), name="correct", source=JUDGE, error="down")
    experiment_id = rt.active_experiment_id()
    sdk = judge_agreement("correct", experiment_id=experiment_id)
    query = {"judge_name": "correct", "experiment_id": experiment_id}

    body = _ok(api.get("/api/v1/evaluations/judge-agreement",
                       params={**query, "max_disagreements": 1}))
    _same_agreement(body, sdk)
    assert (body["labels"], body["confusion_matrix"]) == ([False, True], [[3, 2], [1, 4]])
    assert (body["experiment_id"], body["run_id"], body["judge_errors"]) == (
        experiment_id, None, 1)
    wanted = [_disagreement(d) for d in sdk.disagreements]
    paged, token = list(body["disagreements"]), body["disagreements_next_page_token"]
    assert len(paged) == 1
    while token is not None:
        page = _ok(api.get("/api/v1/evaluations/judge-agreement/disagreements",
                           params={**query, "max_results": 1, "page_token": token}))
        paged += page["disagreements"]
        token = page["next_page_token"]
    assert paged == wanted and len(wanted) == 3
    named = _ok(api.get("/api/v1/evaluations/judge-agreement",
                        params={**query, "human_name": "correct"}))
    assert named["disagreements"] == wanted and named["disagreements_next_page_token"] is None


def test_one_runs_verdicts_by_run_id_alone(rt: _runtime.Runtime, api: httpx.Client) -> None:
    data = [{"inputs": {"question": f"q{i}"}, "outputs": "ok" if i % 2 else "no"}
            for i in range(6)]
    result = evaluate(data=data, scorers=[good])
    for row in result.rows:
        assay.log_feedback(trace_id=row.trace_id, name="good", value=True,
                           source=AssessmentSource(AssessmentSourceType.HUMAN, "ann"))
    sdk = judge_agreement("good", run_id=result.run_id)
    body = _ok(api.get("/api/v1/evaluations/judge-agreement",
                       params={"judge_name": "good", "run_id": result.run_id}))
    _same_agreement(body, sdk)
    assert (body["n"], body["true_positive_rate"], body["run_id"]) == (6, 0.5, result.run_id)
    assert body["experiment_id"] == rt.active_experiment_id()


def _refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message, message


def test_hostile_queries_are_refused_naming_the_field(rt: _runtime.Runtime,
                                                       api: httpx.Client) -> None:
    baseline = evaluate(data=_rows(0, 14, 1), scorers=[good])
    candidate = evaluate(data=_rows(3, 27, 3), scorers=[good])
    ids = {"candidate_run_id": candidate.run_id, "baseline_run_id": baseline.run_id}
    compare, flips = "/api/v1/evaluations/compare", "/api/v1/evaluations/compare/flips"
    agreement = "/api/v1/evaluations/judge-agreement"
    _refused(api.get(compare, params={"candidate_run_id": candidate.run_id}), 400,
             "baseline_run_id")
    _refused(api.get(compare, params={**ids, "baseline_run_id": "f" * 32}), 404, "f" * 32)
    _refused(api.get(compare, params={**ids, "baseline_run_id": "x" * 5000}), 400,
             "baseline_run_id")
    for level in ("1", "0", "-0.5", "nan", "much"):
        _refused(api.get(compare, params={**ids, "confidence_level": level}), 400,
                 "confidence_level")
    _refused(api.get(compare, params={**ids, "max_flips": 5000}), 400, "max_flips")
    _refused(api.get(flips, params={**ids, "scorer": "nope"}), 400, "scorer", "good")
    _refused(api.get(flips, params={**ids, "scorer": "good", "max_results": 0}), 400,
             "max_results")
    for token in ("garbage", "eyJxIjogIngiLCAibyI6IDV9", "x" * 300):
        _refused(api.get(flips, params={**ids, "scorer": "good", "page_token": token}), 400,
                 "page_token")
    # A token of another query (another scorer's flips) is refused too.
    first = _ok(api.get(compare, params={**ids, "max_flips": 1}))["scorers"][0]
    _refused(api.get(flips, params={**ids, "scorer": "other",
                                    "page_token": first["flips_next_page_token"]}), 400,
             "page_token")
    _refused(api.get(compare, params={"candidate_run_id": candidate.run_id,
                                      "baseline_run_id": candidate.run_id + "0"}), 400,
             "baseline_run_id")

    _refused(api.get(agreement, params={"judge_name": "good"}), 400, "experiment_id")
    _refused(api.get(agreement, params={"judge_name": "", "run_id": baseline.run_id}), 400,
             "judge_name")
    _refused(api.get(agreement, params={"judge_name": "good", "experiment_id": "999999"}),
             404, "999999")
    _refused(api.get(agreement, params={"judge_name": "good", "run_id": baseline.run_id}),
             400, "human label")
    other = assay.create_experiment("elsewhere")
    _refused(api.get(agreement, params={"judge_name": "good", "experiment_id": other,
                                        "run_id": baseline.run_id}), 400, "run_id")
    _refused(api.get(agreement, params={"judge_name": "`" * 300,
                                        "run_id": baseline.run_id}), 400, "judge_name")
