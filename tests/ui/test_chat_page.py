"""The chat page of examples/chat_app in headless Chromium: ask a question, read the
streamed answer, give a thumbs down with a comment and ratings, and find them on the trace in
the Assay server; the same thumbs through the server's <assay-feedback> widget when the app
knows the server's address. Screenshots: see ``ui/screenshots.py``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from chat_app_harness import (
    AssayServer,
    ChatApp,
    assay_server_at,
    feedback_named,
    runtime_sending_to,
    serve_app,
    stored,
    trace_of_user,
)
from ui.screenshots import keep_screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def assay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AssayServer]:
    with assay_server_at(tmp_path_factory.mktemp("assay-server") / "assay.db") as server, \
            runtime_sending_to(server):
        yield server


@pytest.fixture(scope="module")
def chat_app(assay_server: AssayServer) -> Iterator[ChatApp]:
    """The app with its own feedback endpoints (it does not know the server's address)."""
    with serve_app() as app:
        yield app


@pytest.fixture(scope="module")
def widget_app(assay_server: AssayServer) -> Iterator[ChatApp]:
    """The app told the server's address: the page's thumbs are the server's widget."""
    with serve_app(assay_url=assay_server.url) as app:
        yield app


@pytest.fixture(scope="module")
def slow_app(assay_server: AssayServer) -> Iterator[ChatApp]:
    """The offline responder at two seconds a word: an answer takes about a minute."""
    with serve_app(token_delay_seconds=2.0) as app:
        yield app


def _shot(page: Page, name: str) -> None:
    keep_screenshot(page, f"chat-{name}")


def _ask(page: Page, app: ChatApp, question: str) -> None:
    from playwright.sync_api import expect

    page.goto(app.url)
    box = page.get_by_label("Your question")
    expect(box).to_be_focused()
    box.fill(question)
    page.keyboard.press("Enter")
    expect(page.locator(".answer")).to_have_attribute("aria-busy", "false")
    expect(page.locator("[data-answer]")).not_to_be_empty()
    expect(box).to_have_value("")


def test_page_streams_an_answer_and_takes_a_thumbs_down_with_a_comment(
        chat_app: ChatApp, assay_server: AssayServer, page: Page) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _ask(page, chat_app, "How do I find a trace by my own request id?")
    expect(page.locator("[data-answer]")).to_contain_text("client_request_id")
    comment_box = page.get_by_label("Tell us more (optional)")
    expect(comment_box).to_be_hidden()  # until there is a vote to comment on
    _shot(page, "1-answer")

    page.get_by_role("button", name="Thumbs down").click()
    status = page.get_by_role("status")
    expect(status).to_have_text("Thanks for your feedback!")
    expect(page.get_by_role("button", name="Thumbs down")).to_have_attribute("aria-pressed",
                                                                             "true")
    comment_box.fill("It should show the search call")
    page.get_by_role("button", name="Send comment").click()
    expect(status).to_have_text("Thanks, your comment was recorded.")

    page.get_by_text("Rate this answer in detail").click()
    for legend, score in (("Accuracy", "4"), ("Helpfulness", "2"), ("Relevance", "5")):
        page.get_by_role("group", name=legend).get_by_label(score, exact=True).check()
    page.get_by_role("button", name="Send ratings").click()
    expect(status).to_have_text("Thanks for rating this answer.")
    _shot(page, "2-feedback")
    assert errors == []

    user = page.locator("[data-user]").inner_text()
    session = page.locator("[data-session]").inner_text()
    assert re.fullmatch(r"user-[0-9a-f]{8}", user) and session.startswith("session-")
    summary = trace_of_user(assay_server, chat_app, user)
    assert summary.info.session_id == session
    assert (summary.info.client_request_id or "").startswith("req-")
    trace = stored(assay_server, summary.info.trace_id, 5)
    first, second = feedback_named(trace, "user_feedback")
    assert (first.value, first.rationale, first.valid) == (False, None, False)
    assert (second.value, second.rationale, second.valid) == (
        False, "It should show the search call", True)
    assert second.source.source_id == user
    ratings = {a.name: a.value for a in trace.info.assessments if a.name != "user_feedback"}
    assert ratings == {"user_accuracy": 0.8, "user_helpfulness": 0.4, "user_relevance": 1.0}


def test_page_thumbs_go_to_the_server_through_the_widget(
        widget_app: ChatApp, assay_server: AssayServer, page: Page) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    to_server: list[str] = []
    page.on("request", lambda r: to_server.append(r.url)
            if r.url.startswith(assay_server.url) else None)
    _ask(page, widget_app, "Can the browser send feedback without an API key?")
    widget = page.locator("assay-feedback")
    expect(widget).to_have_count(1)
    widget.get_by_role("button", name="Thumbs down").click()
    expect(widget.get_by_role("status")).to_have_text("Thanks for your feedback!")
    widget.get_by_label("Tell us more (optional)").fill("Say where the token comes from")
    widget.get_by_role("button", name="Send comment").click()
    expect(widget.get_by_role("status")).to_have_text("Thanks, your comment was recorded.")
    _shot(page, "widget")
    assert errors == []
    # The page loaded the widget from the server and sent the votes there.
    assert f"{assay_server.url}/static/assay-feedback.js" in to_server
    assert to_server.count(f"{assay_server.url}/api/v1/feedback") == 2

    user = page.locator("[data-user]").inner_text()
    summary = trace_of_user(assay_server, widget_app, user)
    first, second = feedback_named(stored(assay_server, summary.info.trace_id, 2),
                                   "user_feedback")
    assert (first.value, first.valid) == (False, False)
    assert (second.value, second.rationale) == (False, "Say where the token comes from")
    assert second.source.source_id == user


def test_page_takes_feedback_while_the_answer_is_still_streaming(
        slow_app: ChatApp, page: Page) -> None:
    from playwright.sync_api import expect

    page.goto(slow_app.url)
    page.get_by_label("Your question").fill("How does streaming work?")
    page.get_by_role("button", name="Send", exact=True).click()
    # The first event brought the trace id: the thumbs work before the first word.
    down = page.get_by_role("button", name="Thumbs down")
    expect(down).to_be_enabled()
    down.click()
    expect(page.get_by_role("status")).to_have_text("Thanks for your feedback!")
    expect(page.locator(".answer")).to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    _shot(page, "streaming")
