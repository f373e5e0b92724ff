"""The evaluation pages in real headless Chromium, at 1440x900 and 1024x768, on data a real
``assay.genai.evaluate`` made: a chatbot answers twenty capital-city questions twice (a
baseline that knows nine capitals, a candidate that knows eighteen), the Correctness judge
(the tests' OpenAI-compatible judge server, through the openai client) and a code scorer
score both runs, and an expert labels the baseline's rows, disagreeing with the judge on
three of them.

A user opens the experiment's Evaluations tab, compares the two runs (the difference,
its interval, "better, beyond noise", the eleven rows that flipped, each linked to both
traces), opens the baseline's run page (twenty rows, then the rows Correctness failed,
then a row's trace), and checks the judge against the expert (the confusion matrix, the
disagreements). Each page's figures are the SDK's. With ``ASSAY_TEST_SCREENSHOT_DIR`` set,
each page's screenshot is kept there (``<page>-<width>.png``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

import assay
from assay.entities import Feedback
from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
from assay.genai import compare_evaluations, evaluate, judge_agreement
from assay.genai.scorers import Correctness, scorer
from genai.judge_server import JudgeServer
from runtimes import default_runtime
from server.live import Served
from ui.screenshots import keep_screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


CAPITALS = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"),
            ("Egypt", "Cairo"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Chile", "Santiago"),
            ("Norway", "Oslo"), ("Poland", "Warsaw"), ("Greece", "Athens"),
            ("Canada", "Ottawa"), ("Brazil", "Brasilia"), ("Turkey", "Ankara"),
            ("Austria", "Vienna"), ("Hungary", "Budapest"), ("Portugal", "Lisbon"),
            ("Ireland", "Dublin"), ("Sweden", "Stockholm"), ("Finland", "Helsinki")]
#: The rows each version of the bot knows: the baseline 0-8, the candidate 1-18, so row 0
#: goes pass → fail and rows 9-18 fail → pass (McNemar: b = 1, c = 10).
BASELINE_KNOWS = range(9)
CANDIDATE_KNOWS = range(1, 19)
#: Rows of the baseline where the expert disagrees with the judge.
EXPERT_DIFFERS = {2: "Says Rome is the capital, but the question asked for Italy's; fine, "
                     "yet the tone is off", 12: "Brasília is right in spirit: I'd pass it",
                  15: "Close enough: Buda and Pest are the capital"}


@scorer
def concise(outputs: Any) -> bool:
    return len(str(outputs)) <= 32


def _bot(knows: range) -> Any:
    def chatbot(question: str) -> str:
        for i, (country, city) in enumerate(CAPITALS):
            if country in question:
                if i in knows:
                    return f"The capital of {country} is {city}."
                return f"I am not sure about {country}; it may be its largest city."
        return "I do not know."
    return chatbot


@dataclass(frozen=True)
class Seeded:
    experiment_id: str
    baseline: str
    candidate: str
    baseline_rows: dict[str, str]  # country → trace id


def _seed(ui: Served) -> Seeded:
    data = [{"inputs": {"question": f"What is the capital of {country}?"},
             "expectations": {"expected_response": city}} for country, city in CAPITALS]
    with default_runtime(ui.store.uri):
        assay.set_experiment("capitals-bot")
        baseline = evaluate(data=data, scorers=[Correctness(), concise],
                            predict_fn=_bot(BASELINE_KNOWS), run_name="prompt-v1")
        candidate = evaluate(data=data, scorers=[Correctness(), concise],
                             predict_fn=_bot(CANDIDATE_KNOWS), run_name="prompt-v2")
    rows = {row.inputs["question"].split()[-1].rstrip("?"): str(row.trace_id)
            for row in baseline.rows}
    for i, (country, _) in enumerate(CAPITALS):
        passed = (i in BASELINE_KNOWS) != (i in EXPERT_DIFFERS)
        ui.store.log_assessment(Feedback(
            "correctness", value=passed, trace_id=rows[country],
            rationale=EXPERT_DIFFERS.get(i, "agrees with the reference"),
            source=AssessmentSource(AssessmentSourceType.HUMAN, "dana@example.com")))
    eid = ui.store.get_run(baseline.run_id).info.experiment_id
    return Seeded(eid, baseline.run_id, candidate.run_id, rows)


def _shot(page: Page, name: str, width: int) -> None:
    keep_screenshot(page, f"{name}-{width}")


def _fits(page: Page, width: int) -> None:
    """Nothing makes the page scroll sideways."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll}px wide in a {width}px window"


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (1024, 768)])
def test_the_evaluation_pages_in_the_browser(ui_server: Served, browser: Browser,
                                             judge: JudgeServer, width: int,
                                             height: int) -> None:
    from playwright.sync_api import expect

    seeded = _seed(ui_server)
    with default_runtime(ui_server.url):  # the SDK over HTTP, to check the pages' figures
        compared = compare_evaluations(seeded.candidate, seeded.baseline)
        agreement = judge_agreement("correctness", experiment_id=seeded.experiment_id,
                                    run_id=seeded.baseline)
    correctness = compared["correctness"]
    assert (len(correctness.pass_to_fail), len(correctness.fail_to_pass)) == (1, 10)
    assert correctness.p_value is not None and correctness.p_value < 0.05

    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        # The Evaluations tab: both runs, newest first, with their means.
        page.goto(f"{ui_server.url}/experiments/{seeded.experiment_id}")
        page.get_by_role("link", name="Evaluations").click()
        page.wait_for_url("**/evaluations")
        runs = page.locator("table.eval-runs tbody tr")
        expect(runs).to_have_count(2)
        expect(runs.nth(0)).to_contain_text("prompt-v2")
        expect(runs.nth(0)).to_contain_text("correctness 0.90")
        expect(runs.nth(1)).to_contain_text("correctness 0.45")
        _fits(page, width)
        _shot(page, "evaluations", width)

        # Compare: the newest is the candidate, the one before the baseline.
        page.get_by_role("button", name="Compare the two runs").click()
        page.wait_for_url("**/evaluations/compare?**")
        row = page.locator("table.eval-compare tbody tr", has_text="correctness")
        assert correctness.difference is not None and correctness.interval is not None
        expect(row).to_contain_text(f"{correctness.difference:+.3f}")
        low, high = correctness.interval
        expect(row).to_contain_text(f"[{low:+.3f}, {high:+.3f}]")
        expect(row).to_contain_text(f"{correctness.p_value:.3g}")
        expect(row).to_contain_text("better, beyond noise")
        flips = page.locator("section.eval-flips", has_text="correctness")
        expect(flips.locator("tbody tr")).to_have_count(11)
        expect(flips.locator("tbody tr", has_text="pass → fail")).to_contain_text(
            "What is the capital of France?")
        _fits(page, width)
        _shot(page, "compare", width)
        flips.locator("tbody tr", has_text="France").get_by_role(
            "link", name="baseline trace").click()
        page.wait_for_url(f"**/traces/{seeded.baseline_rows['France']}")
        expect(page.locator("body")).to_contain_text("The capital of France is Paris.")

        # The baseline's run page: twenty rows, then those Correctness failed.
        page.goto(f"{ui_server.url}/runs/{seeded.baseline}")
        table = page.locator("table.eval-rows tbody tr")
        expect(table).to_have_count(20)
        kenya = table.filter(has_text="Kenya")
        expect(kenya).to_contain_text("The capital of Kenya is Nairobi.")
        expect(kenya).to_contain_text("Nairobi")  # the expected response
        expect(table.filter(has_text="Canada")).to_contain_text("missing: ottawa")
        _fits(page, width)
        _shot(page, "run", width)
        tile = page.locator(".eval-tiles .dash-tile", has_text="correctness")
        tile.get_by_role("link", name="Rows it failed").click()
        page.wait_for_url("**failed=correctness**")
        expect(table).to_have_count(20 - len(BASELINE_KNOWS))
        expect(table.filter(has_text="Kenya")).to_have_count(0)
        _shot(page, "run-failed", width)
        table.filter(has_text="Canada").get_by_role("link").first.click()
        page.wait_for_url(f"**/traces/{seeded.baseline_rows['Canada']}")

        # The judge against the expert.
        page.goto(f"{ui_server.url}/experiments/{seeded.experiment_id}/evaluations/judge")
        page.get_by_label("Judge's score").fill("correctness")
        page.get_by_label("Only this run (optional)").fill(seeded.baseline)
        page.get_by_role("button", name="Compare").click()
        page.wait_for_url("**judge=correctness**")
        matrix = page.locator(".eval-matrix tbody tr")
        expect(matrix).to_have_count(2)
        cells = [[int(c) for c in matrix.nth(i).locator("td").all_inner_texts()]
                 for i in range(2)]
        assert cells == [list(r) for r in agreement.confusion_matrix] == [[9, 1], [2, 8]]
        expect(page.locator(".dash-tiles")).to_contain_text(
            f"{agreement.accuracy * 100:.0f}%")
        assert agreement.cohen_kappa is not None
        expect(page.locator(".dash-tiles")).to_contain_text(f"{agreement.cohen_kappa:.2f}")
        expect(page.locator("table.eval-disagreements tbody tr")).to_have_count(3)
        hungary = page.locator("table.eval-disagreements tbody tr", has_text="Hungary")
        expect(hungary).to_contain_text("missing: budapest")
        expect(hungary).to_contain_text("Close enough: Buda and Pest")
        _fits(page, width)
        _shot(page, "judge", width)
        hungary.get_by_role("link").click()
        page.wait_for_url(f"**/traces/{seeded.baseline_rows['Hungary']}")
    finally:
        context.close()
