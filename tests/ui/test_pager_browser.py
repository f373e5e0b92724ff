"""The traces table's count and pager in headless Chromium, at 1440x900 and 1024x768: the
count ("1-25 of 130", an en dash) above and below the table, page links, Next, Prev and Last
going where they say, the pager inside the window, and the user filter offering the
experiment's user ids. Screenshots: see ``ui/screenshots.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from factories import BASE_TIME_MS, make_trace
from server.live import Served
from ui.screenshots import keep_screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

DASH = "\N{EN DASH}"


def _fits(page: Page, selector: str, width: int) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)


@pytest.mark.parametrize("width, height", [(1440, 900), (1024, 768)])
def test_count_and_pager_in_the_browser(ui_server: Served, browser: Browser,
                                        width: int, height: int) -> None:
    from playwright.sync_api import expect

    eid = ui_server.store.create_experiment("paged")
    ui_server.store.log_traces([
        make_trace(experiment_id=eid, request_time=BASE_TIME_MS + i * 1000, num_spans=1,
                   request_preview=f"question {i}", response_preview=f"answer {i}",
                   metadata={"mlflow.trace.user": f"user-{i % 4}"})
        for i in range(130)])
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    count = page.locator("#trace-count")
    try:
        page.goto(f"{ui_server.url}/experiments/{eid}?n=25")
        expect(count).to_have_text(f"1{DASH}25 of 130 traces")
        # The total is in view as the page opens, above the table.
        summary = page.locator("#match-count")
        expect(summary).to_have_text("130 traces")
        box = summary.bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, box
        pager = page.locator("#pager")
        pager.scroll_into_view_if_needed()
        expect(pager).to_be_visible()
        _fits(page, "#pager", width)
        expect(page.locator(".page-number")).to_have_text(["1", "2", "3", "6"])
        keep_screenshot(page, f"pager-first-{width}", full_page=False)

        page.locator(".page-number", has_text="3").click()
        expect(count).to_have_text(f"51{DASH}75 of 130 traces")
        assert "p=3" in page.url
        expect(page.locator(".page-number.current")).to_have_text("3")
        expect(page.locator("#traces-table tbody tr").first).to_contain_text("question 79")

        page.locator('[data-pager="next"]').click()
        expect(count).to_have_text(f"76{DASH}100 of 130 traces")
        expect(page.locator("#traces-table tbody tr").first).to_contain_text("question 54")
        page.locator('[data-pager="prev"]').click()
        expect(count).to_have_text(f"51{DASH}75 of 130 traces")
        page.locator('[data-pager="last"]').click()
        expect(count).to_have_text(f"126{DASH}130 of 130 traces")
        expect(page.locator("#traces-table tbody tr")).to_have_count(5)
        expect(page.locator('[data-pager="next"]')).to_have_count(0)
        page.locator("#pager").scroll_into_view_if_needed()
        _fits(page, "#pager", width)
        keep_screenshot(page, f"pager-last-{width}", full_page=False)

        # The user filter suggests the experiment's users, the most recent first.
        assert page.locator("#q-user").get_attribute("list") == "user-ids"
        options = page.locator("#user-ids option")
        assert [options.nth(i).get_attribute("value") for i in range(options.count())] == [
            "user-1", "user-0", "user-3", "user-2"]
        page.locator("#q-user").fill("user-3")
        page.locator("#q-user").press("Enter")
        expect(count).to_have_text(f"1{DASH}25 of 32 traces")
        expect(summary).to_have_text("32 traces match these filters")
        keep_screenshot(page, f"pager-user-{width}")
    finally:
        context.close()


def test_a_count_past_the_pages_budget_is_filled_in_by_the_script(
        ui_server: Served, browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect

    from assay.entities import Feedback
    from assay.server.ui import traces as traces_ui

    eid = ui_server.store.create_experiment("slow")
    traces = [make_trace(experiment_id=eid, request_time=BASE_TIME_MS + i, num_spans=1)
              for i in range(6000)]
    ui_server.store.log_traces(traces)
    for trace in traces[::50]:
        ui_server.store.log_assessment(Feedback("ok", False, trace_id=trace.info.trace_id))
    monkeypatch.setattr(traces_ui, "COUNT_SECONDS", 1e-6)  # every count is past it
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{ui_server.url}/experiments/{eid}?filter=feedback.ok%20IS%20NULL")
        # The page came without its count; the script asked the count route for it.
        expect(page.locator("#trace-count")).to_have_text(f"1{DASH}50 of 5,880 traces")
        expect(page.locator("#match-count")).to_have_text("5,880 traces match these filters")
        expect(page.locator("#trace-count a")).to_have_count(0)
        keep_screenshot(page, "pager-counted-late-1440", full_page=False)
    finally:
        context.close()
