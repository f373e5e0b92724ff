"""An evaluation run's page, ``/runs/{run_id}``, on SQLite and PostgreSQL: its status,
parameters and score cards, its rows with each scorer's value and rationale, the rows a score
failed, paging, the JSON twin, and what it says of runs it cannot show."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from assay.genai import evaluate
from assay.genai.labeling import create_labeling_session
from assay.genai.scorers import scorer
from runtimes import default_runtime
from server.live import Served
from ui.screenshots import keep_screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@scorer
def mentions_paris(outputs: Any) -> bool:
    return "Paris" in str(outputs)


@scorer
def picky(inputs: dict[str, Any]) -> float:
    if inputs["n"] == 2:
        raise ValueError("cannot score row 2")
    return float(inputs["n"]) / 10


def _evaluate(ui: Served, rows: int = 4) -> str:
    with default_runtime(ui.store.uri):
        result = evaluate(
            data=[{"inputs": {"n": n, "question": f"Where {n}?"},
                   "outputs": "Paris" if n % 2 else "Lyon",
                   "expectations": {"expected_response": "Paris"}} for n in range(rows)],
            scorers=[mentions_paris, picky], run_name="nightly")
    return result.run_id


def test_the_run_page_shows_scores_and_rows(ui_server: Served) -> None:
    run_id = _evaluate(ui_server)
    body = ui_server.http.get(f"/runs/{run_id}.json").json()
    assert body["run"] | {"start_ms": 0, "end_ms": 0, "duration_ms": 0} == {
        "run_id": run_id, "name": "nightly", "kind": "evaluation", "status": "FINISHED",
        "start_ms": 0, "end_ms": 0, "duration_ms": 0, "created_by": None,
        "params": {"scorers": "mentions_paris, picky", "rows": "4"}, "tags": {}}
    cards = {s["name"]: s for s in body["scores"]}
    assert [s["name"] for s in body["scores"]] == ["mentions_paris", "picky"]
    assert cards["mentions_paris"]["mean"] == 0.5 and cards["mentions_paris"]["errors"] == 0
    assert cards["picky"]["mean"] == pytest.approx((0 + 1 + 3) / 30)
    assert cards["picky"]["errors"] == 1
    assert body["expected"] == ["expected_response"]
    rows = body["rows"]
    assert [r["scores"]["mentions_paris"]["value"] for r in rows] == [False, True, False, True]
    assert rows[2]["scores"]["picky"]["error"] == "ValueError: cannot score row 2"
    assert all(r["expectations"] == {"expected_response": "Paris"} for r in rows)

    html = ui_server.http.get(f"/runs/{run_id}").text
    assert "<h1>nightly</h1>" in html
    assert html.count('<a class="row-link" href="/traces/') == 4
    assert "ValueError: cannot score row 2" in html
    assert re.search(r'href="/runs/[0-9a-f]{32}\?failed=mentions_paris">Rows it failed', html)


def test_the_rows_a_score_failed_and_pages(ui_server: Served,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.server.ui import evaluations

    run_id = _evaluate(ui_server, rows=7)
    failed = ui_server.http.get(f"/runs/{run_id}.json?failed=mentions_paris").json()
    assert [r["scores"]["mentions_paris"]["value"] for r in failed["rows"]] == [False] * 4
    assert "Rows that <strong>mentions_paris</strong> failed" in ui_server.http.get(
        f"/runs/{run_id}?failed=mentions_paris").text
    monkeypatch.setattr(evaluations, "ROWS_PER_PAGE", 3)
    first = ui_server.http.get(f"/runs/{run_id}.json").json()
    assert len(first["rows"]) == 3 and first["next_url"]
    second = ui_server.http.get(first["next_url"].replace(f"/runs/{run_id}",
                                                          f"/runs/{run_id}.json")).json()
    assert {r["trace_id"] for r in second["rows"]}.isdisjoint(
        r["trace_id"] for r in first["rows"])


def test_runs_it_cannot_show(ui_server: Served) -> None:
    run_id = _evaluate(ui_server, rows=1)
    assert ui_server.http.get("/runs/" + "0" * 32).status_code == 404
    bad = ui_server.http.get(f"/runs/{run_id}?failed=nope")
    assert bad.status_code == 400
    assert "this run has no score of that name; it has mentions_paris, picky" in bad.text
    with default_runtime(ui_server.store.uri):
        session = create_labeling_session(name="review")
    moved = ui_server.http.get(f"/runs/{session.run_id}")
    assert (moved.status_code, moved.headers["location"]) == (
        303, f"/experiments/{session.experiment_id}/labeling/sessions/{session.run_id}")


@pytest.mark.parametrize("width, height", [(1440, 900), (1024, 768)])
def test_the_run_page_in_the_browser(ui_server: Served, browser: Browser,
                                     width: int, height: int) -> None:
    from playwright.sync_api import expect

    run_id = _evaluate(ui_server, rows=6)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(f"{ui_server.url}/runs/{run_id}")
        tiles = page.locator(".eval-tiles .dash-tile")
        expect(tiles).to_have_count(2)
        for i in range(2):  # the score cards are in view without scrolling
            box = tiles.nth(i).bounding_box()
            assert box is not None and box["x"] + box["width"] <= width
            assert box["y"] + box["height"] <= height
        expect(page.locator("table.eval-rows tbody tr")).to_have_count(6)
        keep_screenshot(page, f"evaluation-run-{width}", full_page=False)
        tiles.nth(0).get_by_role("link", name="Rows it failed").click()
        expect(page.locator("table.eval-rows tbody tr")).to_have_count(3)
        expect(page.locator(".eval-filter")).to_contain_text("mentions_paris")
        page.get_by_role("link", name="Show every row").click()
        expect(page.locator("table.eval-rows tbody tr")).to_have_count(6)
    finally:
        context.close()


def test_the_evaluations_tab_lists_runs_and_compares_two(ui_server: Served) -> None:
    first = _evaluate(ui_server, rows=6)

    @scorer(name="mentions_paris")
    def stricter(outputs: Any) -> bool:
        return str(outputs) == "Paris"

    with default_runtime(ui_server.store.uri):
        second = evaluate(data=[{"inputs": {"n": n, "question": f"Where {n}?"},
                                 "outputs": "Paris" if n % 3 else "Lyon"}
                                for n in range(6)], scorers=[stricter], run_name="candidate")
    eid = ui_server.store.get_run(first).info.experiment_id
    listed = ui_server.http.get(f"/experiments/{eid}/evaluations.json").json()
    assert [r["name"] for r in listed["runs"]] == ["candidate", "nightly"]
    assert listed["runs"][1]["scores"][0] == {"name": "mentions_paris", "mean": 0.5,
                                              "errors": 0.0}
    html = ui_server.http.get(f"/experiments/{eid}/evaluations").text
    assert 'aria-current="page" class="active">Evaluations</a>' in html

    compared = ui_server.http.get(
        f"/experiments/{eid}/evaluations/compare.json?candidate={second.run_id}"
        f"&baseline={first}").json()
    assert compared["rows_shared"] == 6
    [paris] = [s for s in compared["scorers"] if s["name"] == "mentions_paris"]
    # Rows 0..5: the baseline passes 1, 3, 5; the candidate passes 1, 2, 4, 5.
    assert (paris["baseline_mean"], paris["candidate_mean"]) == (0.5, pytest.approx(4 / 6))
    assert sorted(f["direction"] for f in paris["flips"]) == [
        "fail_to_pass", "fail_to_pass", "pass_to_fail"]
    assert paris["reading"] == "no significant change"
    page_html = ui_server.http.get(
        f"/experiments/{eid}/evaluations/compare?candidate={second.run_id}&baseline={first}")
    assert page_html.status_code == 200 and "rows that flipped" in page_html.text
    other = ui_server.store.create_experiment("elsewhere")
    wrong = ui_server.http.get(f"/experiments/{other}/evaluations/compare?"
                               f"candidate={second.run_id}&baseline={first}")
    assert wrong.status_code == 400 and "not an evaluation run of this experiment" in wrong.text


def test_the_judge_against_the_humans(ui_server: Served) -> None:
    from assay.entities import Feedback
    from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType

    run_id = _evaluate(ui_server, rows=4)
    rows = ui_server.http.get(f"/runs/{run_id}.json").json()["rows"]
    for i, row in enumerate(rows):  # humans fail row 1, which the scorer passed
        ui_server.store.log_assessment(Feedback(
            "mentions_paris", value=bool(i == 3), trace_id=row["trace_id"],
            source=AssessmentSource(AssessmentSourceType.HUMAN, "ann")))
    eid = ui_server.store.get_run(run_id).info.experiment_id
    empty = ui_server.http.get(f"/experiments/{eid}/evaluations/judge.json").json()
    assert empty["report"] is None and "mentions_paris" in empty["names"]
    report = ui_server.http.get(f"/experiments/{eid}/evaluations/judge.json?"
                                f"judge=mentions_paris&run={run_id}").json()["report"]
    assert report["n"] == 4 and report["labels"] == ["fail", "pass"]
    assert report["matrix"] == [[2, 1], [0, 1]]
    assert report["accuracy"] == 0.75
    assert [d["human_value"] for d in report["disagreements"]] == ["fail"]
    html = ui_server.http.get(f"/experiments/{eid}/evaluations/judge?judge=mentions_paris").text
    assert "Confusion matrix" in html and "75%" in html


def test_a_score_on_the_trace_page_links_to_its_run(ui_server: Served) -> None:
    run_id = _evaluate(ui_server, rows=1)
    [row] = ui_server.http.get(f"/runs/{run_id}.json").json()["rows"]
    page = ui_server.http.get(row["url"]).text
    assert page.count(f'<a href="/runs/{run_id}" title="The evaluation run') == 2  # 2 scores
    detail = ui_server.http.get(row["url"] + ".json").json()
    assert {a["run_url"] for a in detail["assessments"]["feedback"]} == {f"/runs/{run_id}"}


@pytest.mark.parametrize("path", [
    "/runs/{run}?failed=" + "x" * 10_000,
    "/runs/{run}?page=not-a-token",
    "/runs/" + "r" * 5_000,
    "/experiments/{eid}/evaluations?page=" + "p" * 5_000,
    "/experiments/{eid}/evaluations/compare?candidate={run}",
    "/experiments/{eid}/evaluations/compare?candidate={run}&baseline=" + "b" * 100,
    "/experiments/{eid}/evaluations/compare?candidate={run}&baseline=nope",
    "/experiments/{eid}/evaluations/judge?judge=" + "j" * 1_000,
    "/experiments/{eid}/evaluations/judge?judge=mentions_paris&run=nope",
    "/experiments/9999999999999999999999/evaluations",
])
def test_hostile_queries_are_4xx_never_5xx(ui_server: Served, path: str) -> None:
    run_id = _evaluate(ui_server, rows=1)
    eid = ui_server.store.get_run(run_id).info.experiment_id
    response = ui_server.http.get(path.format(run=run_id, eid=eid) + "&x=1"
                                  if "?" in path else path.format(run=run_id, eid=eid))
    assert 400 <= response.status_code < 500, (path[:80], response.status_code)
