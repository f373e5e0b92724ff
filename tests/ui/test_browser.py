"""End to end in headless Chromium: a developer's steps 3 and 4 of seed 003, open the traces,
filter by user, open a trace, read the user's thumbs-down, add a Feedback through the form,
see its column in the table, override it and read its history; and the same forms with
JavaScript off. Screenshots: see ``ui/screenshots.py``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from assay.entities import Feedback
from server.live import Served
from ui.chatbot import seed_chatbot
from ui.screenshots import keep_screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def _shot(page: Page, name: str) -> None:
    keep_screenshot(page, f"traces-{name}")


def test_seed_003_review_feedback_and_correct_it(ui_server: Served, page: Page) -> None:
    from playwright.sync_api import expect

    bot = seed_chatbot(ui_server.store)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    thumbs_down = bot.trace_ids[1]

    # Step 3: the traces list, filtered to one user.
    page.goto(f"{ui_server.url}/experiments/{bot.experiment_id}")
    rows = page.locator("#traces-table tbody tr")
    expect(rows).to_have_count(5)
    _shot(page, "1-traces")
    page.get_by_label("User", exact=True).fill("alice")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(2)
    assert "user=alice" in page.url
    expect(page.locator("#traces-table tbody")).not_to_contain_text("bob")
    _shot(page, "2-filtered")

    # Open the trace with the thumbs down; its assessments show the user's vote.
    page.locator(f'a.row-link[href="/traces/{thumbs_down}"]').click()
    expect(page.locator("h1")).to_contain_text(thumbs_down)
    vote = page.locator('[data-assessment-name="user_feedback"]')
    expect(vote).to_contain_text("no")
    expect(vote).to_contain_text("It did not say how")
    expect(vote).to_contain_text("alice")
    # The root span is selected: its chat input reads as a conversation.
    expect(page.locator("#span-panel .msg-user")).to_contain_text("Does it trace LLM apps?")
    page.locator('[data-select-span]', has_text="chat.completions").first.click()
    expect(page.locator("#span-panel .span-title")).to_have_text("chat.completions")
    expect(page.locator("#span-panel .msg-system")).to_contain_text("Answer from the docs.")
    assert "span=" in page.url
    _shot(page, "3-trace")

    # Step 4: add the developer's own Feedback through the form.
    form = page.locator("#add-assessment")
    form.get_by_label("Feedback").check()
    form.get_by_label("Name", exact=True).fill("correctness")
    form.get_by_label("Data type").select_option("boolean")
    form.get_by_role("button", name="False").click()
    form.get_by_label("Rationale").fill("Does not say how tracing works")
    form.get_by_label("About").select_option(label="The whole trace")
    form.get_by_label("Your name").fill("dev-dana")
    form.get_by_role("button", name="Add assessment").click()
    expect(page.locator(".flash")).to_contain_text("Feedback 'correctness' added")
    added = page.locator('[data-assessment-name="correctness"]')
    expect(added).to_contain_text("no")
    expect(added).to_contain_text("dev-dana")
    expect(added).to_contain_text("Does not say how tracing works")
    _shot(page, "4-added")

    # The table shows it among the trace's scores, and in a column of its own once picked.
    page.goto(f"{ui_server.url}/experiments/{bot.experiment_id}?user=alice")
    row = page.locator(f'#traces-table tbody tr[data-href="/traces/{thumbs_down}"]')
    expect(row.locator('.score[data-score="correctness"]')).to_contain_text("no")
    page.locator(".column-picker summary").click()
    page.get_by_label("correctness column").check()
    header = page.locator("#traces-table thead th", has_text="correctness")
    expect(header).to_have_count(1)
    row = page.locator(f'#traces-table tbody tr[data-href="/traces/{thumbs_down}"]')
    expect(row.locator('td[data-col="feedback:correctness"]')).to_contain_text("no")
    other = page.locator(f'#traces-table tbody tr[data-href="/traces/{bot.trace_ids[0]}"]')
    expect(other.locator('td[data-col="feedback:correctness"]')).to_have_text("—")
    _shot(page, "5-column")

    # Override it and read the history.
    row.locator("a.row-link").click()
    added = page.locator('[data-assessment-name="correctness"]')
    added.locator("summary", has_text="Override").click()
    override = added.locator("form", has=page.get_by_role("button", name="Override"))
    override.get_by_role("button", name="True").click()
    override.get_by_label("Why").fill("Re-read it: the second sentence covers it")
    override.get_by_role("button", name="Override").click()
    expect(page.locator(".flash")).to_contain_text("Feedback 'correctness' overridden")
    current = page.locator('[data-assessment-name="correctness"]')
    expect(current).to_have_count(1)
    expect(current.locator(".a-head")).to_contain_text("yes")
    history = current.locator(".history")
    expect(history).to_contain_text("overrode 1 earlier value")
    expect(history).to_contain_text("no")
    expect(history).to_contain_text("Does not say how tracing works")
    _shot(page, "6-overridden")

    # The table now shows the corrected value.
    page.goto(f"{ui_server.url}/experiments/{bot.experiment_id}")
    row = page.locator(f'#traces-table tbody tr[data-href="/traces/{thumbs_down}"]')
    expect(row.locator('.score[data-score="correctness"]')).to_contain_text("yes")
    assert not errors, errors

    stored = [a for a in ui_server.store.get_trace(thumbs_down).info.assessments
              if a.name == "correctness"]
    assert sorted((a.value, a.valid) for a in stored) == [(False, False), (True, True)]


def test_forms_work_without_javascript(ui_server: Served, browser: Browser) -> None:
    from playwright.sync_api import expect

    bot = seed_chatbot(ui_server.store)
    context = browser.new_context(viewport={"width": 1366, "height": 768},
                                  java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        trace_id = bot.trace_ids[4]
        page.goto(f"{ui_server.url}/traces/{trace_id}")
        form = page.locator("#add-assessment")
        form.get_by_label("Expectation").check()
        form.get_by_label("Name", exact=True).fill("expected_response")
        form.get_by_label("Data type").select_option("string")
        form.get_by_label("Value", exact=True).fill("SQLite by default, PostgreSQL for teams")
        form.get_by_role("button", name="Add assessment").click()
        expect(page.locator(".flash")).to_contain_text("Expectation 'expected_response' added")
        assert re.search(r"/traces/tr-[0-9a-f]+\?flash=", page.url)

        # A bad value keeps what was typed and says what is wrong.
        form = page.locator("#add-assessment")
        form.get_by_label("Name", exact=True).fill("stars")
        form.get_by_label("Data type").select_option("number")
        form.get_by_label("Value", exact=True).fill("five")
        form.get_by_role("button", name="Add assessment").click()
        expect(page.locator("#add-assessment .form-error")).to_contain_text(
            "Invalid value 'five' for a number")
        name = page.locator("#add-assessment").get_by_label("Name", exact=True)
        expect(name).to_have_value("stars")
        _shot(page, "nojs-error")

        # Delete asks first (a second button), then deletes.
        item = page.locator('[data-assessment-name="expected_response"]')
        item.locator("summary", has_text="Delete").click()
        item.get_by_role("button", name="Yes, delete expected_response").click()
        expect(page.locator(".flash")).to_contain_text("Expectation 'expected_response' deleted")
        expect(page.locator('[data-assessment-name="expected_response"]')).to_have_count(0)
        _shot(page, "nojs-deleted")
    finally:
        context.close()
    assert [a.name for a in ui_server.store.get_trace(trace_id).info.assessments] == []


def test_big_trace_starts_folded_and_unfolds(ui_server: Served, page: Page) -> None:
    from playwright.sync_api import expect

    from factories import BASE_TIME_MS, make_span, make_trace, new_trace_id

    trace_id = new_trace_id()
    start = BASE_TIME_MS * 1_000_000
    root = make_span(trace_id, name="agent", start_time_ns=start, end_time_ns=start + 10**9)
    spans = [root]
    for i in range(20):
        step = make_span(trace_id, parent_id=root.span_id, name=f"step-{i}",
                         start_time_ns=start + i * 10**7, end_time_ns=start + (i + 1) * 10**7)
        spans += [step, *(make_span(trace_id, parent_id=step.span_id, name=f"tool-{i}-{j}",
                                    start_time_ns=start + i * 10**7 + j,
                                    end_time_ns=start + i * 10**7 + j + 10**6,
                                    outputs={"result": f"r{i}-{j}"}) for j in range(9))]
    ui_server.store.log_traces([make_trace(trace_id=trace_id, spans=spans)])

    page.goto(f"{ui_server.url}/traces/{trace_id}")
    visible = page.locator("#span-tree .span-row:visible")
    expect(visible).to_have_count(21)  # the root and its 20 steps
    step_row = page.locator('.span-row', has_text="step-3")
    expect(step_row).to_contain_text("+9")
    button = step_row.get_by_role("button", name="Spans under step-3 (9)")
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(visible).to_have_count(30)
    page.locator("[data-select-span]", has_text="tool-3-4").click()
    expect(page.locator("#span-panel .span-title")).to_have_text("tool-3-4")
    expect(page.locator("#span-panel")).to_contain_text('"result": "r3-4"')
    _shot(page, "big-trace")
    # Opened with a deep span selected, its branch starts unfolded.
    deep = next(s for s in spans if s.name == "tool-7-2")
    page.goto(f"{ui_server.url}/traces/{trace_id}?span={deep.span_id}")
    expect(page.locator(".span-row.selected")).to_be_visible()
    expect(visible).to_have_count(30)


@pytest.mark.parametrize("width, height", [(1440, 900), (1024, 768)])
def test_scores_are_in_view_without_scrolling_sideways(ui_server: Served, browser: Browser,
                                                        width: int, height: int) -> None:
    """The thumbs of end users are what the table is for: at the common laptop widths the
    user_feedback chip sits inside the viewport, beside a readable request and response."""
    from playwright.sync_api import expect

    bot = seed_chatbot(ui_server.store)
    for name in ("answer_relevance", "correctness_of_citations", "groundedness_score"):
        ui_server.store.log_assessment(Feedback(name=name, value=0.5,
                                                trace_id=bot.trace_ids[1]))
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(f"{ui_server.url}/experiments/{bot.experiment_id}")
        row = page.locator(f'#traces-table tbody tr[data-href="/traces/{bot.trace_ids[1]}"]')
        chip = row.locator('.score[data-score="user_feedback"]')
        expect(chip).to_contain_text("no")
        box = chip.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
        # The trace's own feedback comes first; the others follow, the overflow fading out.
        assert row.locator(".score").first.get_attribute("data-score") == "user_feedback"
        for column in ("request", "response"):
            cell = row.locator("td.clip-wide").nth(0 if column == "request" else 1)
            cell_box = cell.bounding_box()
            assert cell_box is not None and cell_box["width"] >= 150, (column, cell_box)
        keep_screenshot(page, f"traces-in-view-{width}", full_page=False)
    finally:
        context.close()


@pytest.mark.parametrize("width, height", [(1440, 900), (1024, 768)])
def test_adding_an_assessment_is_seen_without_scrolling(ui_server: Served, browser: Browser,
                                                         width: int, height: int) -> None:
    """After "Add", the cursor is in the form; after saving, a confirmation is in view and
    the new card is brought into view and lit, however long the list above it."""
    from playwright.sync_api import expect

    bot = seed_chatbot(ui_server.store)
    trace_id = bot.trace_ids[1]
    for i in range(12):  # a long list, so that the new card lands out of view
        ui_server.store.log_assessment(Feedback(name=f"rubric_{i:02d}", value=i / 12,
                                                trace_id=trace_id))
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{ui_server.url}/traces/{trace_id}")
        page.locator('#assessments a[href="#add-assessment"]').click()
        expect(page.locator("#add-name")).to_be_focused()
        form = page.locator("#add-assessment")
        page.keyboard.type("tone")
        form.get_by_label("Data type").select_option("string")
        form.get_by_role("textbox", name="Value").fill("friendly")
        form.get_by_role("button", name="Add assessment").click()

        toast = page.locator("#toast")
        expect(toast).to_contain_text("Feedback 'tone' added")
        expect(toast).to_be_in_viewport()
        card = page.locator('[data-assessment-name="tone"]')
        expect(card).to_contain_text("friendly")
        expect(card).to_be_in_viewport()
        expect(card).to_have_class(re.compile(r"\bjust-saved\b"))
        # The form is ready for the next one: nothing of the last one left in it.
        expect(page.locator("#add-name")).to_have_value("")
        keep_screenshot(page, f"traces-added-{width}", full_page=False)
    finally:
        context.close()


def test_thumbs_filter_names_its_feedback_and_keeps_the_url_short(ui_server: Served,
                                                                    page: Page) -> None:
    from playwright.sync_api import expect

    bot = seed_chatbot(ui_server.store)
    # A second yes/no feedback, false on a trace whose user voted up: not a "thumbs down".
    ui_server.store.log_assessment(Feedback(name="response_is_correct", value=False,
                                            trace_id=bot.trace_ids[0]))
    page.goto(f"{ui_server.url}/experiments/{bot.experiment_id}")
    page.get_by_label("Feedback", exact=True).select_option("down")
    expect(page.locator("#quick-meaning")).to_contain_text(
        "The quick filters add feedback.user_feedback = 'false'")
    assert page.url.endswith(f"/experiments/{bot.experiment_id}?feedback=down")
    rows = page.locator("#traces-table tbody tr")
    expect(rows).to_have_count(1)
    page.get_by_label("Of", exact=True).select_option("response_is_correct")
    expect(page.locator("#quick-meaning")).to_contain_text("feedback.response_is_correct")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-href", f"/traces/{bot.trace_ids[0]}")
    assert page.url.endswith("?feedback=down&on=response_is_correct"), page.url
