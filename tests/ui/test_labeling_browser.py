"""The owner settles a disagreement in real headless Chromium: two reviewers disagree on an
item (through the store), the owner opens the session's page, sees both answers, sets the
final value with the question's own control, and the gold label shows; the agreement on the
page is the one the SDK gets from the server's API. At 1440x900 and 1024x768, with
JavaScript and without."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from assay.genai.labeling import get_labeling_session
from review.review_data import ALICE, BOB
from runtimes import default_runtime
from server.live import Served
from ui.labeling_data import seed_disagreement

if TYPE_CHECKING:
    from playwright.sync_api import Browser

#: Where the README's screenshot of the session page is kept: written there when the
#: environment sets ASSAY_TEST_SCREENSHOTS=1, else beside the test's other files.
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "labeling-session.png"
SCREENSHOTS_ENV = "ASSAY_TEST_SCREENSHOTS"


@pytest.mark.parametrize(("width", "height", "javascript"), [
    (1440, 900, True), (1024, 768, True), (1440, 900, False)])
def test_owner_sees_the_disagreement_and_adjudicates(
        ui_server: Served, browser: Browser, width: int, height: int, javascript: bool,
        tmp_path: Path) -> None:
    seeded = seed_disagreement(ui_server.store)
    eid, run_id = seeded.data.experiment_id, seeded.data.run_id
    context = browser.new_context(viewport={"width": width, "height": height},
                                  java_script_enabled=javascript)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    try:
        tab.goto(f"{ui_server.url}/experiments/{eid}/labeling")
        tab.get_by_role("link", name="Quickstart review").click()
        tab.wait_for_url(f"**/labeling/sessions/{run_id}")
        card = tab.locator(f'[data-disagreement][data-trace="{seeded.disputed}"]'
                           '[data-schema="response_accuracy"]')
        assert card.locator(f'[data-answer="{ALICE}"]').inner_text() == "Accurate"
        assert card.locator(f'[data-answer="{BOB}"]').inner_text() == "Inaccurate"
        dispute = tab.locator(f'[data-dispute="{seeded.disputed}"]')
        assert dispute.locator(".panel-head .chip").inner_text() == "open"
        assert "Does it trace LLM apps?" in dispute.inner_text()  # the request, to judge by
        with default_runtime(ui_server.url):
            expected = get_labeling_session(run_id).agreement()["response_accuracy"]
        kappa = tab.locator('[data-agreement="response_accuracy"] [data-stat="cohen_kappa"]')
        assert kappa.get_attribute("data-value") == repr(expected.cohen_kappa)
        assert f"{expected.cohen_kappa:.3f}" in kappa.inner_text()
        percent = tab.locator(
            '[data-agreement="response_accuracy"] [data-stat="percent_agreement"]')
        assert expected.percent_agreement is not None
        assert f"{expected.percent_agreement * 100:.1f}%" in percent.inner_text()
        if width == 1440 and javascript:
            tab.screenshot(path=str(tmp_path / "session-top.png"))
            tab.locator("#agreement-title").evaluate("e => e.scrollIntoView()")
            keep = os.environ.get(SCREENSHOTS_ENV) == "1"
            tab.screenshot(path=str(SCREENSHOT if keep else tmp_path / SCREENSHOT.name))
        card.get_by_text("Or set the final value").click()
        card.get_by_label("Partially accurate").check()
        card.get_by_role("button", name="Save final value").click()
        tab.wait_for_url("**flash=**")
        assert "Gold label of 'response_accuracy' set to Partially accurate" in tab.locator(
            ".flash").inner_text()
        card = tab.locator(f'[data-disagreement][data-trace="{seeded.disputed}"]'
                           '[data-schema="response_accuracy"]')
        assert card.locator("[data-gold]").inner_text() == (
            "Gold: Partially accurate (adjudicated)")
        cell = tab.locator(f'[data-item="{seeded.disputed}"] [data-gold="response_accuracy"]')
        assert cell.inner_text() == "Partially accurate"
        # Using a reviewer's answer instead: one click.
        helpful = tab.locator(f'[data-disagreement][data-trace="{seeded.disputed}"]'
                              '[data-schema="helpful"]')
        helpful.get_by_role("button", name=f"Use {BOB}'s answer").click()  # Not helpful
        tab.wait_for_url("**flash=**")
        assert helpful.locator("[data-gold]").inner_text() == "Gold: Not helpful (adjudicated)"
        if width == 1440 and javascript:
            tab.screenshot(path=str(tmp_path / "after.png"), full_page=True)
    finally:
        context.close()
    with default_runtime(ui_server.url):
        session = get_labeling_session(run_id)
        assert session.gold_labels()["response_accuracy"][seeded.disputed] == (
            "Partially accurate")
        assert session.gold_labels()["helpful"][seeded.disputed] is False
        (settled,) = session.disagreements()["response_accuracy"]
        assert settled.adjudicated == "Partially accurate"
