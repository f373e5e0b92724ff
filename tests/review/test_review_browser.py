"""The review app in headless Chromium: a reviewer labels traces with the keyboard alone (the
next item swapped in without a page load), goes back and changes an answer; the same work
with JavaScript off (plain forms and 303s); and another session's item shows nothing of it.
Screenshots go to the test's temporary folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from assay.entities import Assessment
from review.review_data import ALICE, seed_review
from server.live import Served

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

#: The README's screenshot of an item: written there when the environment sets
#: ASSAY_TEST_SCREENSHOTS=1, else beside the test's other files.
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "review-item.png"
SCREENSHOTS_ENV = "ASSAY_TEST_SCREENSHOTS"


def _answers(served: Served, trace_id: str, run_id: str) -> dict[str, Assessment]:
    """The reviewers' current answers on a trace in the session, by name."""
    found = served.store.get_trace(trace_id).info.assessments
    return {a.name: a for a in found if a.run_id == run_id and a.valid}


def _focused_question(page: Page) -> str | None:
    field: str | None = page.evaluate(
        "() => { const q = document.activeElement && document.activeElement.closest("
        "'[data-question]'); return q ? q.dataset.field : null; }")
    return field


def test_reviewer_labels_three_traces_by_keyboard(ui_server: Served, page: Page,
                                                  tmp_path: Path) -> None:
    from playwright.sync_api import expect

    data = seed_review(ui_server.store, num_items=4)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))

    # The session's link: the name is asked once (the field has focus), then the session.
    page.goto(f"{ui_server.url}/review/{data.run_id}")
    expect(page.get_by_role("heading", name="Who is reviewing?")).to_be_visible()
    # Autofocus comes with the page's first rendering, after it is visible: waited for.
    expect(page.get_by_label("Your name or e-mail")).to_be_focused()
    page.keyboard.type(ALICE)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Quickstart review")).to_be_visible()
    expect(page.locator("[data-count=left]")).to_have_text("4")
    expect(page.get_by_role("button", name="Start reviewing")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#review-item")).to_have_attribute(
        "data-item-url", f"/review/{data.run_id}/items/{data.trace_ids[0]}")
    page.evaluate("window.reviewMarker = 'still here'")
    page.screenshot(path=str(tmp_path / "item-1.png"))

    choices = [("1", "1", "4"), ("2", "2", "3"), ("3", "1", "5")]
    for number, (accuracy, helpful, rating) in enumerate(choices):
        trace_id = data.trace_ids[number]
        expect(page.locator("#review-item")).to_have_attribute(
            "data-item-url", f"/review/{data.run_id}/items/{trace_id}")
        assert page.url.endswith(f"/items/{trace_id}")
        expect(page.locator("[data-question][data-field=a0] input").first).to_be_focused()
        assert _focused_question(page) == "a0"
        page.keyboard.press(accuracy)
        page.keyboard.press("Tab")
        assert _focused_question(page) == "a1"
        page.keyboard.press(helpful)
        page.keyboard.press("Tab")
        page.keyboard.type(rating)
        page.keyboard.press("Tab")
        page.keyboard.press("2")  # Missing detail
        page.keyboard.press("Tab")  # the comment box of question 4
        assert _focused_question(page) == "c3"
        page.keyboard.type(f"Comment {number}")
        page.keyboard.press("Tab")
        assert _focused_question(page) == "a4"
        page.keyboard.type("The ideal answer")
        page.keyboard.press("Enter")  # a new line in a text box, not a submit
        page.keyboard.type("in two lines")
        page.keyboard.press("Tab")
        page.keyboard.type("first fact")
        page.keyboard.press("Enter")
        page.keyboard.type("second fact")
        page.keyboard.press("Escape")  # out of the text box: Enter submits again
        page.keyboard.press("Enter")
        if number == 0:
            # The answers are saved and the next item is in place, without a page load.
            expect(page.locator("#review-item")).to_have_attribute(
                "data-item-url", f"/review/{data.run_id}/items/{data.trace_ids[1]}")
            assert page.evaluate("window.reviewMarker") == "still here"
            # Back to the first item (Left), its answers shown; change one and submit
            # from the text box with Ctrl+Enter.
            page.keyboard.press("ArrowLeft")
            expect(page.locator("#review-item")).to_have_attribute(
                "data-item-url", f"/review/{data.run_id}/items/{trace_id}")
            expect(page.locator("[data-answered]")).to_be_visible()
            expect(page.locator("input[name=a0][value=Accurate]")).to_be_checked()
            expect(page.locator("textarea[name=a5]")).to_have_value("first fact\nsecond fact")
            page.keyboard.press("2")  # Partially accurate
            page.keyboard.press("Shift+Tab")
            assert _focused_question(page) == "a0"
            for _ in range(5):  # a1, a2, a3, its comment c3, a4
                page.keyboard.press("Tab")
            assert _focused_question(page) == "a4"
            page.keyboard.press("Shift+Tab")
            assert _focused_question(page) == "c3"
            expect(page.locator("textarea[name=c3]")).to_have_value("Comment 0")
            page.keyboard.press("Tab")
            assert _focused_question(page) == "a4"
            page.keyboard.press("Control+Enter")
    # The fourth: the shortcuts list, then skip it with S.
    expect(page.locator("#review-item")).to_have_attribute(
        "data-item-url", f"/review/{data.run_id}/items/{data.trace_ids[3]}")
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.screenshot(path=str(tmp_path / "shortcuts.png"))
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()
    assert page.evaluate("window.reviewMarker") == "still here"
    assert len(loads) == 3, loads  # the name form, the session, the first item
    page.keyboard.press("s")
    expect(page.locator(".notice-done")).to_contain_text("You are done")
    expect(page.locator("[data-count=completed]")).to_have_text("3")
    expect(page.locator("[data-count=skipped]")).to_have_text("1")
    page.screenshot(path=str(tmp_path / "done.png"))
    assert not errors, errors

    for number, (accuracy, helpful, rating) in enumerate(choices):
        answers = _answers(ui_server, data.trace_ids[number], data.run_id)
        assert {a.source.source_type.value for a in answers.values()} == {"HUMAN"}
        assert {a.source.source_id for a in answers.values()} == {ALICE}
        options = ["Accurate", "Partially accurate", "Inaccurate"]
        expected = "Partially accurate" if number == 0 else options[int(accuracy) - 1]
        assert answers["response_accuracy"].value == expected
        assert answers["helpful"].value is (helpful == "1")
        assert answers["rating"].value == int(rating)
        assert answers["issues"].value == ["Missing detail"]
        assert answers["issues"].rationale == f"Comment {number}"
        assert answers["rating"].rationale is None
        assert answers["expected_response"].value == "The ideal answer\nin two lines"
        assert answers["expected_response"].kind == "expectation"
        assert answers["expected_facts"].value == ["first fact", "second fact"]
    # Changing an answer overrode it; the first one is kept, no longer valid.
    first = [a for a in ui_server.store.get_trace(data.trace_ids[0]).info.assessments
             if a.name == "response_accuracy"]
    assert sorted((a.value, a.valid) for a in first) == [("Accurate", False),
                                                         ("Partially accurate", True)]
    assert _answers(ui_server, data.trace_ids[3], data.run_id) == {}


def test_browser_back_returns_to_the_previous_item(ui_server: Served, page: Page) -> None:
    from playwright.sync_api import expect

    data = seed_review(ui_server.store, num_items=3)
    page.goto(f"{ui_server.url}/review/reviewer")
    page.get_by_label("Your name or e-mail").fill(ALICE)
    page.get_by_role("button", name="Continue").click()
    page.goto(f"{ui_server.url}/review/{data.run_id}/items/{data.trace_ids[0]}")
    page.evaluate("window.reviewMarker = 1")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#review-item")).to_have_attribute(
        "data-item-url", f"/review/{data.run_id}/items/{data.trace_ids[1]}")
    page.go_back()
    expect(page.locator("#review-item")).to_have_attribute(
        "data-item-url", f"/review/{data.run_id}/items/{data.trace_ids[0]}")
    assert page.url.endswith(data.trace_ids[0])
    assert page.evaluate("window.reviewMarker") == 1
    # A value out of range is refused before it is sent, at its field.
    page.locator("input[name=a2]").fill("9")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#a2-error")).to_have_text(
        "9 is out of range; enter a number from 1 to 5")
    expect(page.locator("input[name=a2]")).to_be_focused()
    # A comment on a question left unanswered would be lost: said at the comment, unsent.
    page.locator("input[name=a2]").fill("4")
    page.locator("textarea[name=c3]").fill("Why I would say so")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#c3-error")).to_have_text(
        "Answer question 4 too, or clear this comment: a comment is saved with its answer")
    expect(page.locator("textarea[name=c3]")).to_be_focused()
    assert _answers(ui_server, data.trace_ids[0], data.run_id) == {}


def test_e_opens_the_full_trace_and_types_in_a_text_box(ui_server: Served,
                                                        page: Page) -> None:
    from playwright.sync_api import expect

    data = seed_review(ui_server.store, num_items=2)
    page.goto(f"{ui_server.url}/review/reviewer")
    page.get_by_label("Your name or e-mail").fill(ALICE)
    page.get_by_role("button", name="Continue").click()
    page.goto(f"{ui_server.url}/review/{data.run_id}/items/{data.trace_ids[0]}")
    expect(page.locator("[data-question][data-field=a0] input").first).to_be_focused()
    # E: the trace's own page, in a new tab; the review stays where it was.
    with page.context.expect_page() as opened:
        page.keyboard.press("e")
    trace_page = opened.value
    trace_page.wait_for_load_state()
    assert trace_page.url == f"{ui_server.url}/traces/{data.trace_ids[0]}"
    expect(trace_page.locator("body")).to_contain_text(data.trace_ids[0])
    trace_page.close()
    assert page.url.endswith(f"/items/{data.trace_ids[0]}")
    # In a text box, E is a letter like any other.
    page.locator("textarea[name=a4]").focus()
    pages_before = len(page.context.pages)
    page.keyboard.type("Eee")
    expect(page.locator("textarea[name=a4]")).to_have_value("Eee")
    assert len(page.context.pages) == pages_before
    # Right then Left: the next item and back, in place.
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#review-item")).to_have_attribute(
        "data-item-url", f"/review/{data.run_id}/items/{data.trace_ids[1]}")
    with page.context.expect_page() as opened:
        page.keyboard.press("Shift+E")
    assert opened.value.url.endswith(f"/traces/{data.trace_ids[1]}")
    opened.value.close()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#review-item")).to_have_attribute(
        "data-item-url", f"/review/{data.run_id}/items/{data.trace_ids[0]}")


def test_review_works_without_javascript(ui_server: Served, browser: Browser,
                                         tmp_path: Path) -> None:
    from playwright.sync_api import expect

    data = seed_review(ui_server.store, num_items=2)
    context = browser.new_context(viewport={"width": 1366, "height": 768},
                                  java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{ui_server.url}/review")
        page.get_by_label("Your name or e-mail").fill(ALICE)
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("link", name="Quickstart review").click()
        page.get_by_role("button", name="Start reviewing").click()
        assert page.url.endswith(f"/items/{data.trace_ids[0]}")
        page.get_by_label("Partially accurate").check()
        page.get_by_label("Not helpful").check()
        page.get_by_label("Overall quality, 1 to 5").fill("2")
        page.get_by_role("button", name="Submit and next").click()
        # A 303 to the next item, which says what was done.
        assert page.url.endswith(f"/items/{data.trace_ids[1]}?said=saved")
        expect(page.get_by_role("status")).to_have_text(
            "Answers saved. Here is your next item.")
        # A bad value comes back with the message at its field and the answers kept.
        page.locator("input[name=a0][value=Accurate]").check()
        page.get_by_label("Facts a good answer must state").fill(
            "\n".join(f"fact {n}" for n in range(6)))
        page.get_by_role("button", name="Submit and next").click()
        expect(page.locator("#a5-error")).to_have_text("6 lines; at most 5 are taken")
        expect(page.locator("[data-form-error]")).to_have_text(
            "Nothing was saved; check question 6.")
        expect(page.locator("input[name=a0][value=Accurate]")).to_be_checked()
        page.screenshot(path=str(tmp_path / "nojs-error.png"), full_page=True)
        page.get_by_role("button", name="Skip").click()
        expect(page.locator(".notice-done")).to_contain_text("You are done")
    finally:
        context.close()
    answers = _answers(ui_server, data.trace_ids[0], data.run_id)
    assert {n: a.value for n, a in answers.items()} == {
        "response_accuracy": "Partially accurate", "helpful": False, "rating": 2}
    assert _answers(ui_server, data.trace_ids[1], data.run_id) == {}


def test_another_sessions_item_shows_nothing_of_it(ui_server: Served, page: Page) -> None:
    data = seed_review(ui_server.store, num_items=2)
    page.goto(f"{ui_server.url}/review/reviewer")
    page.get_by_label("Your name or e-mail").fill(ALICE)
    page.get_by_role("button", name="Continue").click()
    secret_question = "Where are traces stored?"  # the other session's trace
    for path in (f"/review/{data.other_run_id}/items/{data.other_trace_id}",
                 f"/review/{data.run_id}/items/{data.other_trace_id}"):
        response = page.goto(f"{ui_server.url}{path}")
        assert response is not None and response.status in (403, 404), path
        body = page.content()
        assert secret_question not in body
        assert "In a SQLite file or in PostgreSQL" not in body
        assert 'name="a0"' not in body


def test_an_item_at_1440_by_900(ui_server: Served, browser: Browser, tmp_path: Path) -> None:
    # The README's picture: an item with an earlier turn, a document and an end user's
    # thumbs down, its questions half answered by keyboard, a comment typed.
    from playwright.sync_api import expect

    data = seed_review(ui_server.store, num_items=3)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{ui_server.url}/review/reviewer")
        page.get_by_label("Your name or e-mail").fill(ALICE)
        page.get_by_role("button", name="Continue").click()
        page.goto(f"{ui_server.url}/review/{data.run_id}/items/{data.trace_ids[1]}")
        expect(page.locator("[data-question][data-field=a0] input").first).to_be_focused()
        page.keyboard.press("2")  # Partially accurate
        page.keyboard.press("Tab")
        page.keyboard.press("1")  # Helpful
        page.keyboard.press("Tab")
        page.keyboard.type("3")
        page.keyboard.press("Tab")
        page.keyboard.press("2")  # Missing detail
        page.keyboard.press("Tab")
        page.keyboard.type("Says that calls become spans, not how to turn tracing on")
        page.locator("details.earlier").evaluate("e => e.open = true")
        page.locator("details.step.document").first.evaluate("e => e.open = true")
        keep = os.environ.get(SCREENSHOTS_ENV) == "1"
        page.screenshot(path=str(SCREENSHOT if keep else tmp_path / SCREENSHOT.name))
    finally:
        context.close()


def test_a_queue_item_is_marked_complete_from_its_page(ui_server: Served, page: Page) -> None:
    from playwright.sync_api import expect

    data = seed_review(ui_server.store, num_items=3)
    store = ui_server.store
    experiment_id = store.get_run(data.run_id).info.experiment_id
    queue = store.create_review_queue(experiment_id, name="Triage", queue_type="custom",
                                      users=[ALICE])
    first, second = data.trace_ids[:2]
    store.add_items_to_review_queue(queue.queue_id, [first, second])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{ui_server.url}/review/reviewer")
    page.get_by_label("Your name or e-mail").fill(ALICE)
    page.get_by_role("button", name="Continue").click()
    page.goto(f"{ui_server.url}/review/{queue.run_id}/items/{first}")
    expect(page.locator("#review-item")).to_have_attribute(
        "data-item-url", f"/review/{queue.run_id}/items/{first}")
    page.get_by_role("button", name="Mark complete").click()
    expect(page.locator("#review-item")).to_have_attribute(
        "data-item-url", f"/review/{queue.run_id}/items/{second}")
    [done] = store.list_review_queue_items(queue.queue_id, status="complete")
    assert (done.item_id, done.completed_by) == (first, ALICE)
    assert errors == []
