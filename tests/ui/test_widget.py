"""The drop-in feedback widget, ``/static/assay-feedback.js``, in headless Chromium on SQLite
and PostgreSQL: a shop's page on another origin (allowed with ``cors_origins``) shows
``<assay-feedback>`` with a token the shop's backend issued; a vote, a changed vote and a
comment reach the trace; an expired and a tampered token are refused and the widget says
why. Screenshots: see ``ui/screenshots.py``."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from assay.entities import AssessmentSourceType, Feedback
from assay.entities._time import now_ms
from assay.feedback_tokens import FEEDBACK_TOKEN_PURPOSE, issue_token
from assay.store.sql import SqlStore
from factories import make_trace
from server.feedback_helpers import serving_live
from server.live import Served
from ui.screenshots import keep_screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

_LISTEN = """<script>
  window.sent = []; window.failed = [];
  document.addEventListener("assay-feedback-sent", (e) => window.sent.push(e.detail));
  document.addEventListener("assay-feedback-error", (e) => window.failed.push(e.detail));
</script>"""


@dataclass
class ShopPages:
    """A plain HTTP server on 127.0.0.1 answering every GET with ``html``: another origin
    than the Assay server's, as a real app's pages would be."""

    html: str = ""
    server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def origin(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def shop() -> Iterator[ShopPages]:
    pages = ShopPages()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test output is not the place for an access log

    pages.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=pages.server.serve_forever, name="shop-pages",
                              daemon=True)
    thread.start()
    try:
        yield pages
    finally:
        pages.server.shutdown()
        pages.server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def assay_server(sql_store: SqlStore, shop: ShopPages) -> Iterator[Served]:
    """An Assay server whose feedback endpoint takes votes from the shop's pages."""
    with serving_live(sql_store, cors_origins=(shop.origin,)) as served:
        yield served


def _stored_trace(store: SqlStore) -> str:
    trace = make_trace()
    store.log_traces([trace])
    return trace.info.trace_id


def _votes(store: SqlStore, trace_id: str) -> list[Feedback]:
    votes = [a for a in store.get_trace(trace_id).info.assessments
             if isinstance(a, Feedback)]
    return sorted(votes, key=lambda a: a.create_time_ms)


def _shot(page: Page, name: str) -> None:
    keep_screenshot(page, f"widget-{name}")


def test_widget_records_a_vote_a_change_and_a_comment(
        assay_server: Served, shop: ShopPages, page: Page) -> None:
    from playwright.sync_api import expect

    trace_id = _stored_trace(assay_server.store)
    token = assay_server.store.create_feedback_token(trace_id, names=["user_feedback"],
                                                     end_user_id="enduser-7", expires_in=600)
    # No `server` attribute: the widget sends to the server it was loaded from.
    shop.html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
      <title>Shop assistant</title>
      <script src="{assay_server.url}/static/assay-feedback.js"></script></head>
      <body><h1>Shop assistant</h1><p>Your parcel leaves the warehouse tomorrow.</p>
      <assay-feedback token="{token}" names="user_feedback" comment></assay-feedback>
      {_LISTEN}</body></html>"""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(shop.origin)
    widget = page.locator("assay-feedback")
    status = widget.get_by_role("status")
    up = widget.get_by_role("button", name="Thumbs up")
    down = widget.get_by_role("button", name="Thumbs down")
    expect(widget.get_by_role("group", name="Was this answer helpful?")).to_be_visible()
    expect(widget.get_by_label("Tell us more (optional)")).to_be_hidden()

    up.click()
    expect(status).to_have_text("Thanks for your feedback!")
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-pressed", "false")
    (vote,) = _votes(assay_server.store, trace_id)
    assert (vote.name, vote.value, vote.valid) == ("user_feedback", True, True)
    assert vote.source.source_type == AssessmentSourceType.HUMAN
    assert vote.source.source_id == "enduser-7"
    sent = page.evaluate("window.sent")
    assert sent == [{"name": "user_feedback", "value": True, "rationale": None,
                     "assessmentId": vote.assessment_id, "traceId": trace_id,
                     "pending": False, "overrides": None}]

    # A change of mind replaces the vote; then a comment replaces it again, with the why.
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    widget.get_by_label("Tell us more (optional)").fill("It did not say which day")
    widget.get_by_role("button", name="Send comment").click()
    expect(status).to_have_text("Thanks, your comment was recorded.")
    _shot(page, "widget-voted")
    first, second, third = _votes(assay_server.store, trace_id)
    assert [v.valid for v in (first, second, third)] == [False, False, True]
    assert (third.value, third.rationale) == (False, "It did not say which day")
    assert (second.overrides, third.overrides) == (first.assessment_id, second.assessment_id)
    assert [d["value"] for d in page.evaluate("window.sent")] == [True, False, False]
    assert page.evaluate("window.failed") == [] and errors == []


def _tampered(token: str) -> str:
    """The token with its claims changed (another end user) and its signature kept."""
    version, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["end_user_id"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{version}.{forged}.{signature}"


def test_widget_refuses_an_expired_and_a_tampered_token(
        assay_server: Served, shop: ShopPages, page: Page) -> None:
    from playwright.sync_api import expect

    store = assay_server.store
    trace_id = _stored_trace(store)
    key = store.signing_key(FEEDBACK_TOKEN_PURPOSE)
    expired = issue_token(key, trace_id, ["user_feedback"], "enduser-7", expires_in=60,
                          now=now_ms() - 120_000)
    tampered = _tampered(store.create_feedback_token(trace_id, end_user_id="enduser-7"))
    # The tampered one is set the way React 19 sets a custom element's props: properties.
    shop.html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
      <title>Shop assistant</title>
      <script src="{assay_server.url}/static/assay-feedback.js"></script></head>
      <body><h1>Shop assistant</h1>
      <assay-feedback token="{expired}" prompt="Yesterday's answer: helpful?"
                      server="{assay_server.url}/"></assay-feedback>
      <p><assay-feedback prompt="No token yet"></assay-feedback></p>
      {_LISTEN}
      <script>
        const widget = document.createElement("assay-feedback");
        widget.prompt = "Today's answer: helpful?";
        widget.token = {json.dumps(tampered)};
        document.body.append(widget);
      </script></body></html>"""
    page.goto(shop.origin)
    widgets = page.locator("assay-feedback")
    expect(widgets).to_have_count(3)
    stale, empty, forged = widgets.nth(0), widgets.nth(1), widgets.nth(2)

    def refused(widget: Locator, text: str) -> None:
        widget.get_by_role("button", name="Thumbs up").click()
        expect(widget.get_by_role("status")).to_have_text(text)
        expect(widget.get_by_role("button", name="Thumbs up")).to_be_disabled()
        expect(widget.get_by_role("button", name="Thumbs down")).to_be_disabled()

    refused(stale, "This feedback link has expired.")
    refused(forged, "This feedback link is not valid.")
    expect(empty.get_by_role("button", name="Thumbs up")).to_be_disabled()
    _shot(page, "widget-refused")

    failed = page.evaluate("window.failed")
    assert [(f["reason"], f["status"], f["errorCode"]) for f in failed] == [
        ("expired", 401, "UNAUTHENTICATED"), ("invalid", 401, "UNAUTHENTICATED")]
    assert failed[0]["message"].startswith("Expired feedback token")
    assert "signature does not match" in failed[1]["message"]
    assert page.evaluate("window.sent") == []
    assert _votes(store, trace_id) == []


def test_widget_script_is_served_as_javascript(assay_server: Served) -> None:
    response = assay_server.http.get("/static/assay-feedback.js")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] in ("text/javascript",
                                                              "application/javascript")
    assert 'customElements.define(TAG, AssayFeedback)' in response.text
