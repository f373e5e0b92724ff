"""The trace page's assessment forms over HTTP, on SQLite and PostgreSQL: add, edit,
override and delete as plain form posts (303 back with a message), the same posts asking
for JSON (the page's script), and what a bad form gets."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from assay.entities import Expectation, Feedback
from server.live import Served
from ui.chatbot import seed_chatbot


def _token(ui: Served, trace_id: str) -> str:
    """The page's CSRF token (the server also sets its cookie on the client)."""
    html = ui.http.get(f"/traces/{trace_id}").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def _post(ui: Served, path: str, trace_id: str, form: dict[str, str],
          json_answer: bool = False) -> httpx.Response:
    headers = {"Accept": "application/json"} if json_answer else {}
    return ui.http.post(path, data={"csrf_token": _token(ui, trace_id), **form},
                        headers=headers, follow_redirects=False)


def _flash(response: httpx.Response) -> dict[str, list[str]]:
    location = response.headers["location"]
    parts = urlsplit(location)
    assert parts.fragment == "assessments"
    return parse_qs(parts.query)


def test_add_feedback_and_expectation_through_the_form(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    trace_id = bot.trace_ids[4]
    response = _post(ui_server, f"/traces/{trace_id}/assessments", trace_id, {
        "kind": "feedback", "name": "correctness", "data_type": "boolean", "value": "no",
        "rationale": "Misses PostgreSQL setup", "span_id": "", "source_id": "dev-dana"})
    assert response.status_code == 303
    assert _flash(response)["flash"] == ["Feedback 'correctness' added"]

    spans = ui_server.store.get_trace(trace_id).data.spans
    llm = next(s for s in spans if s.name == "chat.completions")
    response = _post(ui_server, f"/traces/{trace_id}/assessments", trace_id, {
        "kind": "expectation", "name": "expected_facts", "data_type": "json",
        "value": '["sqlite", "postgresql"]', "rationale": "from the docs",
        "span_id": llm.span_id, "span": llm.span_id})
    assert response.status_code == 303
    assert _flash(response)["span"] == [llm.span_id]

    stored = {a.name: a for a in ui_server.store.get_trace(trace_id).info.assessments}
    feedback = stored["correctness"]
    assert isinstance(feedback, Feedback)
    assert (feedback.value, feedback.rationale, feedback.span_id) == (
        False, "Misses PostgreSQL setup", None)
    assert (feedback.source.source_type.value, feedback.source.source_id) == ("HUMAN", "dev-dana")
    expectation = stored["expected_facts"]
    assert isinstance(expectation, Expectation)
    assert (expectation.value, expectation.span_id) == (["sqlite", "postgresql"], llm.span_id)
    assert expectation.metadata["rationale"] == "from the docs"

    page = ui_server.http.get(f"/traces/{trace_id}?flash=Feedback+added").text
    assert '<div class="flash" role="status">Feedback added</div>' in page
    assert "span chat.completions" in page


@pytest.mark.parametrize(("form", "message"), [
    ({"name": "stars", "data_type": "number", "value": "five"},
     "Invalid value &#39;five&#39; for a number: expected e.g. 4 or 0.75"),
    ({"name": "ok", "data_type": "boolean", "value": "maybe"},
     "Invalid value &#39;maybe&#39; for a boolean: expected true or false"),
    ({"name": "", "data_type": "string", "value": "x"}, "Invalid name: it is empty"),
    ({"name": "x", "data_type": "json", "value": "{oops"}, "Invalid JSON value"),
    ({"name": "x", "data_type": "float", "value": "1"}, "Invalid data type &#39;float&#39;"),
    ({"name": "x", "kind": "opinion", "data_type": "string", "value": "1"},
     "Invalid type &#39;opinion&#39;"),
    ({"name": "x", "data_type": "string", "value": "y", "span_id": "0123456789abcdef"},
     "0123456789abcdef"),
])
def test_a_bad_add_form_comes_back_with_its_error(ui_server: Served, form: dict[str, str],
                                                  message: str) -> None:
    bot = seed_chatbot(ui_server.store)
    trace_id = bot.trace_ids[4]
    response = _post(ui_server, f"/traces/{trace_id}/assessments", trace_id,
                     {"kind": "feedback", **form})
    assert response.status_code == 400
    html = response.text
    assert message in html
    assert '<div class="form-error" role="alert" data-form-error>' in html
    if form["name"]:
        assert f'value="{form["name"]}"' in html  # what was typed is kept
    assert ui_server.store.get_trace(trace_id).info.assessments == []


def test_edit_override_and_delete(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    trace_id = bot.trace_ids[1]
    [vote] = ui_server.store.get_trace(trace_id).info.assessments
    base = f"/traces/{trace_id}/assessments/{vote.assessment_id}"

    edited = _post(ui_server, f"{base}/edit", trace_id, {
        "data_type": "boolean", "value": "false", "rationale": "Did not say how, at all"})
    assert _flash(edited)["flash"] == ["Feedback 'user_feedback' updated"]
    assert ui_server.store.get_assessment(trace_id, vote.assessment_id or "").rationale == \
        "Did not say how, at all"

    overridden = _post(ui_server, f"{base}/override", trace_id, {
        "data_type": "boolean", "value": "true", "rationale": "It did, in the second line",
        "source_id": "dev-dana"})
    assert _flash(overridden)["flash"] == ["Feedback 'user_feedback' overridden"]
    after = ui_server.store.get_trace(trace_id).info.assessments
    assert sorted((a.value, a.valid, a.source.source_id) for a in after) == [
        (False, False, "alice"), (True, True, "dev-dana")]
    new = next(a for a in after if a.valid)
    html = ui_server.http.get(f"/traces/{trace_id}").text
    assert "History: overrode 1 earlier value" in html

    deleted = _post(ui_server, f"/traces/{trace_id}/assessments/{new.assessment_id}/delete",
                    trace_id, {})
    assert _flash(deleted)["flash"] == ["Feedback 'user_feedback' deleted"]
    # Deleting the override makes the original valid again.
    [back] = ui_server.store.get_trace(trace_id).info.assessments
    assert (back.assessment_id, back.valid) == (vote.assessment_id, True)


def test_bad_edits_go_back_with_the_message(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    trace_id = bot.trace_ids[1]
    [vote] = ui_server.store.get_trace(trace_id).info.assessments
    response = _post(ui_server, f"/traces/{trace_id}/assessments/{vote.assessment_id}/edit",
                     trace_id, {"data_type": "number", "value": "lots"})
    assert response.status_code == 303
    flash = _flash(response)
    assert flash["flash_kind"] == ["error"]
    assert flash["flash"][0].startswith("Invalid value 'lots' for a number")
    assert ui_server.store.get_assessment(trace_id, vote.assessment_id or "").value is False

    expectation = ui_server.store.log_assessment(
        Expectation(name="expected", value="x", trace_id=trace_id))
    refused = _post(ui_server, f"/traces/{trace_id}/assessments/"
                    f"{expectation.assessment_id}/override", trace_id,
                    {"data_type": "string", "value": "y"})
    assert "only feedback can be overridden" in _flash(refused)["flash"][0]

    gone = _post(ui_server, f"/traces/{trace_id}/assessments/a-{'0' * 32}/edit", trace_id,
                 {"data_type": "string", "value": "y"})
    assert gone.status_code == 404
    unknown_trace = ui_server.http.post(
        "/traces/tr-nope/assessments", headers={"Accept": "text/html"},
        data={"csrf_token": _token(ui_server, trace_id), "name": "x", "value": "1"})
    assert unknown_trace.status_code == 404
    assert "Trace with ID &#39;tr-nope&#39; not found" in unknown_trace.text


def test_the_page_script_gets_json(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    trace_id = bot.trace_ids[4]
    response = _post(ui_server, f"/traces/{trace_id}/assessments", trace_id, {
        "kind": "feedback", "name": "stars", "data_type": "number", "value": "4"},
        json_answer=True)
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Feedback 'stars' added"
    assert body["assessment"]["feedback"]["value"] == 4
    assert body["assessment"]["source"] == {"source_type": "HUMAN", "source_id": "web-ui"}

    bad = _post(ui_server, f"/traces/{trace_id}/assessments", trace_id, {
        "kind": "feedback", "name": "stars", "data_type": "number", "value": "x"},
        json_answer=True)
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_forms_must_be_url_encoded(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    trace_id = bot.trace_ids[4]
    token = _token(ui_server, trace_id)
    response = ui_server.http.post(f"/traces/{trace_id}/assessments", content=b"{}",
                                   headers={"Content-Type": "application/json",
                                            "Accept": "application/json",
                                            "X-CSRF-Token": token})
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Invalid form: expected Content-Type application/x-www-form-urlencoded, got "
        "'application/json'")
    # Without the page's token the post is refused before it reaches the form.
    forged = ui_server.http.post(f"/traces/{trace_id}/assessments",
                                 data={"name": "x", "value": "1"},
                                 headers={"Accept": "application/json"})
    assert forged.status_code == 403
    assert ui_server.store.get_trace(trace_id).info.assessments == []
