"""The feedback dashboard and the sessions pages in headless Chromium: what a developer sees
and can click. Screenshots: see ``ui/screenshots.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.live import Served
from ui.analytics_data import seed_dashboard, seed_sessions
from ui.screenshots import keep_screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page


def _shot(page: Page, name: str) -> None:
    keep_screenshot(page, f"analytics-{name}")


def test_dashboard_reads_and_breaks_down(ui_server: Served, page: Page) -> None:
    from playwright.sync_api import expect

    eid, ids = seed_dashboard(ui_server)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{ui_server.url}/experiments/{eid}/dashboard")
    tiles = page.locator(".dash-tile")
    expect(tiles.nth(0)).to_contain_text("12")
    expect(tiles.nth(1)).to_contain_text("83%")
    expect(tiles.nth(1)).to_contain_text("10 of 12 traces")
    expect(tiles.nth(2)).to_contain_text("50%")
    expect(tiles.nth(3)).to_contain_text("stars")
    expect(page.locator("svg.chart")).to_have_count(7)
    # Each chart is drawn at a readable size, and names itself for screen readers.
    volume = page.get_by_role("img", name="Traces per day")
    box = volume.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 80
    expect(page.get_by_role("img", name="Rates per day")).to_be_visible()
    # The values behind a chart are a click away, without JavaScript.
    page.locator(".dash-values summary").first.click()
    expect(page.locator(".dash-values table").first).to_contain_text("2025-01-07")
    segments = page.locator(".dash-segments table tbody tr")
    expect(segments).to_have_count(3)
    expect(segments.nth(0)).to_contain_text("u1")
    worst = page.locator('section[aria-labelledby="h-worst"] tbody tr')
    expect(worst).to_have_count(5)  # the five thumbs down
    _shot(page, "1-dashboard")

    # Break down by app version, then hourly buckets (the select applies itself).
    page.get_by_role("link", name="App version").first.click()
    expect(segments).to_have_count(2)
    expect(segments.nth(0)).to_contain_text("v1")
    assert "segment=app_version" in page.url
    page.get_by_label("Per", exact=True).select_option("hour")
    page.wait_for_url("**bucket=hour**")
    expect(page.get_by_role("img", name="Traces per hour")).to_be_visible()
    expect(page.locator("#dash-segment")).to_have_value("app_version")
    _shot(page, "2-by-version-hourly")

    # The worst-rated trace opens its trace page.
    page.goto(f"{ui_server.url}/experiments/{eid}/dashboard")
    worst.first.locator("a.row-link").click()
    page.wait_for_url(f"**/traces/{ids[9]}")
    assert errors == []


def test_sessions_read_as_conversations(ui_server: Served, page: Page) -> None:
    from playwright.sync_api import expect

    eid, ids = seed_sessions(ui_server)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{ui_server.url}/experiments/{eid}")
    page.get_by_role("link", name="Sessions").first.click()
    rows = page.locator("table.sessions tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("1 negative")
    expect(rows.nth(1)).to_contain_text("conversation_rating")
    _shot(page, "3-sessions")

    rows.nth(1).locator("a.row-link").click()
    expect(page.locator("h1")).to_contain_text("s-1")
    turns = page.locator("li.turn")
    expect(turns).to_have_count(3)
    expect(turns.nth(0).locator(".turn-msg-user")).to_contain_text("Question 1?")
    expect(turns.nth(0).locator(".turn-msg-assistant")).to_contain_text("Answer 1.")
    expect(turns.nth(1).locator(".turn-feedback")).to_contain_text("Too vague")
    expect(turns.nth(2)).to_contain_text("No answer: the turn failed")
    expect(page.locator(".session-aside")).to_contain_text("conversation_rating")
    _shot(page, "4-session")

    # The other session's id needs encoding; its request is a list of chat messages.
    page.go_back()
    rows.nth(0).locator("a.row-link").click()
    expect(page.locator("h1")).to_contain_text("team/a b?c")
    expect(page.locator(".turn-msg-user")).to_contain_text("Hello <there>")
    page.go_back()
    rows.nth(1).locator("a.row-link").click()
    page.locator("li.turn").nth(1).get_by_role("link", name="Open trace").click()
    page.wait_for_url(f"**/traces/{ids[1]}")
    assert errors == []
