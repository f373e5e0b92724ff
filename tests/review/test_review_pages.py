"""The review app's pages and forms over HTTP, in process, on SQLite and PostgreSQL: the
reviewer's name (auth off) or user (auth on), who sees which session and item, CSRF, the
JSON twins, the fragment, and bad answers refused at their field with nothing written."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from assay.entities.label_schema import (
    InputCategorical,
    InputNumeric,
    InputPassFail,
    LabelSchema,
    LabelSchemaType,
)
from assay.entities.labeling import LabelingSessionInfo
from assay.entities.run import new_run_id
from assay.entities.user import Role
from assay.store.sql import SqlStore
from review.review_data import ALICE, SCHEMAS, ReviewData, seed_review
from server.auth_servers import PASSWORD, AuthServer, serve_with_auth
from server.live import Served

HTML = {"Accept": "text/html"}


def _token(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def _sign_in(http: httpx.Client, name: str) -> str:
    """Give the name form ``name``; the page's CSRF token."""
    token = _token(http.get("/review", headers=HTML))
    kept = http.post("/review/reviewer", data={"name": name, "next": "/review",
                                               "csrf_token": token})
    assert kept.status_code == 303, kept.text
    return token


def _field_error(page: httpx.Response, field: str) -> str:
    match = re.search(rf'id="{field}-error" role="alert" data-field-error>([^<]*)<', page.text)
    assert match, f"no message at {field}"
    return html.unescape(match.group(1))


@pytest.fixture
def data(ui_server: Served) -> ReviewData:
    return seed_review(ui_server.store, num_items=3)


# -- the name, and the sessions ----------------------------------------------------------------

def test_the_name_is_asked_once_and_kept(ui_server: Served, data: ReviewData) -> None:
    http = ui_server.http
    asked = http.get(f"/review/{data.run_id}")
    assert asked.status_code == 200
    assert "Who is reviewing?" in asked.text and "Quickstart review" not in asked.text
    assert http.get("/review.json").status_code == 400
    token = _token(asked)
    for bad, message in (("", "Enter your name or e-mail"), ("x" * 300, "Invalid name")):
        refused = http.post("/review/reviewer", data={"name": bad, "csrf_token": token,
                                                      "next": f"/review/{data.run_id}"})
        assert refused.status_code == 400
        assert message in _field_error(refused, "reviewer-name")
    kept = http.post("/review/reviewer", data={"name": f"  {ALICE} ", "csrf_token": token,
                                               "next": f"/review/{data.run_id}"})
    assert kept.status_code == 303
    assert kept.headers["location"] == f"/review/{data.run_id}"
    away = http.post("/review/reviewer", data={"name": ALICE, "csrf_token": token,
                                               "next": "https://evil.example/"})
    assert away.headers["location"] == "/review"
    listed = http.get("/review.json").json()
    assert listed["reviewer"] == ALICE
    assert [s["name"] for s in listed["sessions"]] == ["Quickstart review"]
    assert listed["sessions"][0]["progress"]["left"] == 3
    page = http.get("/review")
    assert "Quickstart review" in page.text and "Secret session" not in page.text
    assert "Reviewing as" in page.text and ALICE in page.text


def test_session_page_starts_the_queue(ui_server: Served, data: ReviewData) -> None:
    http = ui_server.http
    token = _sign_in(http, ALICE)
    session = http.get(f"/review/{data.run_id}.json").json()
    assert session["session"]["name"] == "Quickstart review"
    assert [q["name"] for q in session["questions"]] == [s.name for s in SCHEMAS]
    assert session["progress"] | {"completed": 0, "skipped": 0, "left": 3} == session["progress"]
    assert session["start_label"] == "Start"
    page = http.get(f"/review/{data.run_id}")
    assert "Start reviewing" in page.text and "Judge against the retrieved" in page.text
    started = http.post(f"/review/{data.run_id}/next", data={"csrf_token": token})
    assert started.status_code == 303
    assert started.headers["location"] == f"/review/{data.run_id}/items/{data.trace_ids[0]}"
    # Asked again, the same item: the reviewer holds it.
    again = http.post(f"/review/{data.run_id}/next", data={"csrf_token": token},
                      headers={"Accept": "application/json"})
    assert again.json()["trace_id"] == data.trace_ids[0]


# -- the item page -----------------------------------------------------------------------------

def test_item_page_shows_the_conversation_and_hides_earlier_feedback(
        ui_server: Served, data: ReviewData) -> None:
    http = ui_server.http
    _sign_in(http, ALICE)
    item = f"/review/{data.run_id}/items/{data.trace_ids[1]}"
    page = http.get(item)
    assert page.status_code == 200
    text = page.text
    assert "Does it trace LLM apps?" in text  # the question, from chat messages
    assert "Yes: every call becomes a trace of spans." in text  # the response
    assert "Earlier in this conversation (1 turn)" in text and "What is MLflow?" in text
    assert "Retrieved documents (1)" in text and "doc-1" in text
    # The end user's thumbs down is there, folded away, and says why.
    feedback = re.search(r'<details class="prior-feedback"[^>]*>', text)
    assert feedback and " open" not in feedback.group(0)
    assert "It did not say how" in text and "does not sway your judgment" in text
    assert f'href="/traces/{data.trace_ids[1]}"' in text
    for schema in SCHEMAS:
        assert schema.question in text
    assert 'type="number" name="a2"' in text and 'min="1"' in text and 'max="5"' in text
    assert 'maxlength="500"' in text
    assert text.count('type="radio" name="a1"') == 2 and "Not helpful" in text
    assert text.count('type="checkbox" name="a3"') == 3
    # "issues" (question 4) allows a comment, in its own box; the others have none.
    assert 'name="c3"' in text and 'data-for="a3"' in text
    assert 'name="c0"' not in text and 'name="comment"' not in text
    body = http.get(item + ".json").json()
    assert body["conversation"]["request"]["question"] == "Does it trace LLM apps?"
    assert body["item"]["previous_url"].endswith(data.trace_ids[0])
    assert body["item"]["next_url"].endswith(data.trace_ids[2])
    assert [f["value"] for f in body["prior_feedback"]] == [False]
    fragment = http.get(item, params={"fragment": "1"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="review-item"')
    assert "<html" not in fragment.text


def test_item_with_a_question_input_and_a_tool_call(ui_server: Served) -> None:
    data = seed_review(ui_server.store, num_items=6)
    _sign_in(ui_server.http, ALICE)
    body = ui_server.http.get(f"/review/{data.run_id}/items/{data.trace_ids[5]}.json").json()
    convo = body["conversation"]
    assert convo["request"]["question"] == "What is the weather in Lisbon?"
    assert convo["response"] == {"kind": "text", "text": "It is 21 °C and sunny in Lisbon."}
    [call] = convo["tool_calls"]
    assert call["name"] == "get_weather" and '"sky": "sunny"' in call["result"]["text"]
    assert body["earlier_turns"] == [] and body["item"]["next_url"] is None


def test_answers_become_human_assessments_then_the_next_item(ui_server: Served,
                                                            data: ReviewData) -> None:
    http = ui_server.http
    token = _sign_in(http, ALICE)
    item = f"/review/{data.run_id}/items/{data.trace_ids[0]}"
    answers: dict[str, Any] = {"csrf_token": token, "a0": "Inaccurate", "a1": "fail",
                               "a2": "2.5", "a3": ["Tone", "Wrong facts"],
                               "a4": "MLflow manages the ML lifecycle.",
                               "a5": "open source\n\nlifecycle\n", "c3": " Too vague "}
    done = http.post(item, data=answers)
    assert done.status_code == 303
    following = f"/review/{data.run_id}/items/{data.trace_ids[1]}"
    assert done.headers["location"] == following + "?said=saved"
    # The next page says what was done, without the page's script too.
    assert 'role="status">Answers saved. Here is your next item.</p>' in http.get(
        done.headers["location"]).text
    assert "Answers saved" not in http.get(following).text
    stored = {a.name: a for a in ui_server.store.get_trace(data.trace_ids[0]).info.assessments
              if a.run_id == data.run_id}
    assert {n: a.value for n, a in stored.items()} == {
        "response_accuracy": "Inaccurate", "helpful": False, "rating": 2.5,
        "issues": ["Tone", "Wrong facts"], "expected_response": "MLflow manages the ML lifecycle.",
        "expected_facts": ["open source", "lifecycle"]}
    assert {(a.source.source_type.value, a.source.source_id) for a in stored.values()} == {
        ("HUMAN", ALICE)}
    # The comment is the rationale of its own question's answer alone.
    assert stored["issues"].rationale == "Too vague"
    assert {n for n, a in stored.items() if a.rationale} == {"issues"}
    # Back on the item, the answers are filled in; the JSON form says so too.
    page = http.get(item)
    assert 'value="Inaccurate" checked' in page.text and 'value="fail" checked' in page.text
    assert ">open source\nlifecycle</textarea>" in page.text
    assert ">Too vague</textarea>" in page.text
    assert "Update and next" in page.text
    body = http.get(item + ".json").json()
    assert body["item"]["answered"] is True
    assert {q["name"]: q["value"] for q in body["questions"]}["issues"] == [
        "Tone", "Wrong facts"]
    # The script's way: JSON in, the next URL out.
    scripted = http.post(f"/review/{data.run_id}/items/{data.trace_ids[1]}",
                         data={"csrf_token": token, "a1": "pass"},
                         headers={"Accept": "application/json"})
    assert scripted.status_code == 200
    assert scripted.json()["next_url"].endswith(data.trace_ids[2] + "?said=saved")
    assert scripted.json()["message"] == "Answers saved"
    assert "html" not in scripted.json()
    # Asked with ?fragment=1, the answer brings the next item's HTML: one round trip.
    with_html = http.post(f"/review/{data.run_id}/items/{data.trace_ids[1]}?fragment=1",
                          data={"csrf_token": token, "a1": "fail"},
                          headers={"Accept": "application/json"})
    assert with_html.status_code == 200
    body = with_html.json()
    assert body["next_url"].endswith(data.trace_ids[2] + "?said=saved")
    assert '<div id="review-item"' in body["html"]
    assert "Answers saved. Here is your next item." in body["html"]
    assert f'data-item-url="/review/{data.run_id}/items/{data.trace_ids[2]}"' in body["html"]
    assert 'name="csrf_token"' in body["html"] and "<html" not in body["html"]
    progress = http.get(f"/review/{data.run_id}.json").json()["progress"]
    assert (progress["completed"], progress["left"]) == (2, 1)


def test_bad_answers_are_refused_at_their_field(ui_server: Served, data: ReviewData) -> None:
    http = ui_server.http
    token = _sign_in(http, ALICE)
    item = f"/review/{data.run_id}/items/{data.trace_ids[0]}"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"a0": "Maybe"}, "a0", "'Maybe' is not one of the options"),
        ({"a0": ["Accurate", "Inaccurate"]}, "a0", "Choose one option only"),
        ({"a1": "perhaps"}, "a1", "Choose 'Helpful' or 'Not helpful'"),
        ({"a2": "9"}, "a2", "9 is out of range; enter a number from 1 to 5"),
        ({"a2": "four"}, "a2", "'four' is not a number"),
        ({"a2": "nan"}, "a2", "is not a number"),
        ({"a2": "1" * 5000}, "a2", "is not a number"),
        ({"a3": ["Tone", "Nope"]}, "a3", "'Nope' is not one of the options"),
        ({"a4": "x" * 501}, "a4", "the limit is 500"),
        ({"a4": "bad\x00text"}, "a4", "cannot be stored"),
        ({"a5": "\n".join("f" for _ in range(6))}, "a5", "6 lines; at most 5 are taken"),
        ({"a5": "y" * 101}, "a5", "Line 1 is 101 characters long; the limit is 100"),
        ({"c3": "z" * 10_001, "a3": "Tone"}, "c3", "the limit is 10,000"),
        ({"c3": "why", "a1": "pass"}, "c3", "Answer question 4 too, or clear this comment"),
        ({}, "a0", "Answer at least one question"),
        ({"a0": "", "a2": " "}, "a0", "Answer at least one question"),
    ]
    for fields, field, message in cases:
        refused = http.post(item, data={"csrf_token": token, **fields})
        assert refused.status_code == 400, (fields, refused.status_code)
        assert message in _field_error(refused, field), fields
        scripted = http.post(item, data={"csrf_token": token, **fields},
                             headers={"Accept": "application/json"})
        assert scripted.status_code == 400
        assert message in scripted.json()["errors"][field]
    # What was typed is kept beside the message, and nothing was written.
    refused = http.post(item, data={"csrf_token": token, "a2": "9", "a4": "keep me",
                                    "a0": "Accurate"})
    assert 'value="9"' in refused.text and ">keep me</textarea>" in refused.text
    assert 'value="Accurate" checked' in refused.text
    assert [a for a in ui_server.store.get_trace(data.trace_ids[0]).info.assessments
            if a.run_id == data.run_id] == []
    not_a_form = http.post(item, json={"a1": "pass"}, headers={"X-CSRF-Token": token})
    assert not_a_form.status_code == 400


def test_skip_then_an_answered_item_cannot_be_skipped(ui_server: Served,
                                                      data: ReviewData) -> None:
    http = ui_server.http
    token = _sign_in(http, ALICE)
    first = f"/review/{data.run_id}/items/{data.trace_ids[0]}"
    skipped = http.post(first + "/skip", data={"csrf_token": token})
    assert skipped.status_code == 303
    assert skipped.headers["location"].endswith(data.trace_ids[1] + "?said=skipped")
    second = f"/review/{data.run_id}/items/{data.trace_ids[1]}"
    assert http.post(second, data={"csrf_token": token, "a1": "pass"}).status_code == 303
    refused = http.post(second + "/skip", data={"csrf_token": token})
    assert refused.status_code == 400 and "already completed" in refused.text
    progress = http.get(f"/review/{data.run_id}.json").json()["progress"]
    assert (progress["completed"], progress["skipped"], progress["left"]) == (1, 1, 1)


def test_a_queue_item_settled_without_the_script_is_said_on_the_next_page(
        ui_server: Served) -> None:
    data = seed_review(ui_server.store, num_items=2)
    store = ui_server.store
    queue = store.create_review_queue(store.get_run(data.run_id).info.experiment_id,
                                      name="Triage", queue_type="custom", users=[ALICE])
    first, second = data.trace_ids
    store.add_items_to_review_queue(queue.queue_id, [first, second])
    http = ui_server.http
    token = _sign_in(http, ALICE)
    items = f"/review/{queue.run_id}/items"
    completed = http.post(f"{items}/{first}/status",
                          data={"csrf_token": token, "status": "complete"})
    assert completed.headers["location"] == f"{items}/{second}?said=complete"
    assert 'role="status">Marked complete for everyone. Here is your next item.</p>' in \
        http.get(completed.headers["location"]).text
    declined = http.post(f"{items}/{second}/status",
                         data={"csrf_token": token, "status": "declined"})
    assert declined.headers["location"] == f"/review/{queue.run_id}?done=1&said=declined"
    assert "Declined for everyone. <strong>You are done.</strong>" in http.get(
        declined.headers["location"]).text
    # Only what the app itself says is shown: never text from the address.
    made_up = http.get(f"{items}/{second}?said=%3Cb%3Ehello%3C/b%3E").text
    assert "hello" not in made_up and "Here is your next item" not in made_up
    for odd_value in ("x" * 20_000, "Saved", "saved."):
        odd = http.get(f"{items}/{second}?said={odd_value}")
        assert odd.status_code == 200 and "Here is your next item" not in odd.text, odd_value
    # A NUL is refused before any page, naming the parameter (as in every query).
    nul = http.get(f"{items}/{second}?said=saved%00", headers=HTML)
    assert nul.status_code == 400 and "said" in nul.text


def test_forms_need_the_csrf_token(ui_server: Served, data: ReviewData) -> None:
    http = ui_server.http
    _sign_in(http, ALICE)
    item = f"/review/{data.run_id}/items/{data.trace_ids[0]}"
    for path, fields in ((item, {"a1": "pass"}), (item + "/skip", {"x": "1"}),
                         (f"/review/{data.run_id}/next", {"x": "1"}),
                         ("/review/reviewer", {"name": "mallory"})):
        refused = http.post(path, data=fields)
        assert refused.status_code == 403, path
        assert "CSRF" in refused.text
    assert ui_server.store.get_labeling_progress(data.run_id).completed_reviews == 0


def test_other_sessions_and_items_are_refused(ui_server: Served, data: ReviewData) -> None:
    http = ui_server.http
    token = _sign_in(http, ALICE)
    missing_run = new_run_id()
    cases = [
        (f"/review/{data.other_run_id}", 403),
        (f"/review/{data.other_run_id}/items/{data.other_trace_id}", 403),
        (f"/review/{data.run_id}/items/{data.other_trace_id}", 404),
        (f"/review/{data.run_id}/items/tr-{'0' * 32}", 404),
        (f"/review/{missing_run}", 404),
        ("/review/not-a-run", 400),
        (f"/review/{data.run_id}/items/not-a-trace", 404),
    ]
    for path, status in cases:
        page = http.get(path)
        assert page.status_code == status, (path, page.status_code)
        assert "Where are traces stored?" not in page.text
        assert http.get(path + ".json").status_code == status
    posted = http.post(f"/review/{data.run_id}/items/{data.other_trace_id}",
                       data={"csrf_token": token, "a0": "Accurate"})
    assert posted.status_code == 404
    assert ui_server.store.get_trace(data.other_trace_id).info.assessments == []


# -- with auth ---------------------------------------------------------------------------------

@pytest.fixture
def auth(sql_store: SqlStore) -> Iterator[tuple[AuthServer, ReviewData]]:
    data = seed_review(sql_store, reviewers=("reviewer", "member"))
    theirs = new_run_id()
    sql_store.create_labeling_session(LabelingSessionInfo(
        run_id=theirs, experiment_id=data.experiment_id, name="Admins only",
        label_schemas=("helpful",), assigned_users=("admin",)))
    sql_store.add_labeling_items(theirs, [data.other_trace_id])
    with serve_with_auth(sql_store) as server:
        yield server, ReviewData(data.experiment_id, data.run_id, data.trace_ids, theirs,
                                 data.other_trace_id)


def test_with_auth_a_reviewer_sees_only_their_sessions(
        auth: tuple[AuthServer, ReviewData]) -> None:
    server, data = auth
    with server.client() as anonymous:
        assert anonymous.get("/review", headers=HTML).status_code == 303  # to /login
    with server.client("reviewer") as http:
        listed = http.get("/review.json").json()
        assert listed["reviewer"] == "reviewer"
        assert [s["name"] for s in listed["sessions"]] == ["Quickstart review"]
        page = http.get(f"/review/{data.run_id}/items/{data.trace_ids[0]}", headers=HTML)
        assert page.status_code == 200
        assert "/traces/" not in page.text  # a reviewer cannot open the trace page
        token = _token(page)
        for path in (f"/review/{data.other_run_id}",
                     f"/review/{data.other_run_id}/items/{data.other_trace_id}",
                     f"/review/{data.run_id}/items/{data.other_trace_id}"):
            refused = http.get(path, headers=HTML)
            assert refused.status_code == 404, path
            assert "Admins only" not in refused.text and "Where are traces" not in refused.text
        assert http.post(f"/review/{data.other_run_id}/next",
                         data={"csrf_token": token}).status_code == 404
        # The name form is not theirs to use: they review as their user.
        assert http.post("/review/reviewer", data={"csrf_token": token, "name": "x"},
                         headers={"Accept": "application/json"}).status_code == 400
        http.cookies.set("assay_reviewer", "mallory")  # ignored: they are signed in
        done = http.post(f"/review/{data.run_id}/items/{data.trace_ids[0]}",
                         data={"csrf_token": token, "a1": "pass", "a2": "5"})
        assert done.status_code == 303
        # Not a reviewer's pages otherwise.
        assert http.get(f"/traces/{data.trace_ids[0]}", headers=HTML).status_code == 403
    answers = [a for a in server.store.get_trace(data.trace_ids[0]).info.assessments
               if a.run_id == data.run_id]
    assert {(a.name, a.source.source_id) for a in answers} == {("helpful", "reviewer"),
                                                              ("rating", "reviewer")}
    with server.client("member") as http:
        page = http.get(f"/review/{data.run_id}/items/{data.trace_ids[0]}", headers=HTML)
        assert f'href="/traces/{data.trace_ids[0]}"' in page.text
        # Another reviewer's answers are not shown to this one.
        body = http.get(f"/review/{data.run_id}/items/{data.trace_ids[0]}.json").json()
        assert body["item"]["answered"] is False
        assert all(q["value"] in ("", []) for q in body["questions"])
        # A member not assigned is told so.
        assert http.get(f"/review/{data.other_run_id}", headers=HTML).status_code == 403
    with server.client("viewer") as http:
        assert http.get("/review", headers=HTML).status_code == 403


def test_routes_declare_the_review_action(ui_server: Served) -> None:
    from assay.server import ServerSettings, create_app
    from assay.server.permissions import Action, declared_action

    app = create_app(ServerSettings(), ui_server.store)
    review = [(getattr(r, "path", ""), declared_action(r)) for r in app.router.routes
              if getattr(r, "path", "").startswith("/review")]
    assert len(review) == 13
    assert {action for _, action in review} == {Action.REVIEW}


def test_a_question_whose_schema_was_deleted_is_shown_not_asked(ui_server: Served,
                                                                 data: ReviewData) -> None:
    store = ui_server.store
    store.delete_label_schema(store.get_label_schema(experiment_id=data.experiment_id,
                                                     name="response_accuracy").schema_id)
    http = ui_server.http
    token = _sign_in(http, ALICE)
    item = f"/review/{data.run_id}/items/{data.trace_ids[0]}"
    page = http.get(item)
    assert page.status_code == 200
    assert "label schema was deleted" in page.text and 'name="a0"' not in page.text
    nothing = http.post(item, data={"csrf_token": token})
    assert nothing.status_code == 400
    assert "Answer at least one question" in _field_error(nothing, "a1")
    assert http.post(item, data={"csrf_token": token, "a1": "pass"}).status_code == 303


def test_a_reviewer_who_signs_in_lands_on_the_review_app(
        auth: tuple[AuthServer, ReviewData]) -> None:
    server, _ = auth
    server.store.create_user("expert", Role.REVIEWER, password=PASSWORD)
    with server.client() as http:
        form = http.get("/login", headers=HTML)
        token = _token(form)
        signed_in = http.post("/login", data={"username": "expert", "password": PASSWORD,
                                              "next": "/", "csrf_token": token})
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/review")
        # Asked for a page of their own, they get it; signed in already, /login moves on.
        again = http.get("/login?next=/review/x", headers=HTML)
        assert (again.status_code, again.headers["location"]) == (303, "/review/x")
        assert http.get("/login", headers=HTML).headers["location"] == "/review"


def test_each_question_keeps_its_own_comment(ui_server: Served) -> None:
    # Two questions with a comment box each: each comment is its own answer's rationale,
    # shown again in its own box; an answer given through the API with one comment for
    # all (the older way) shows that comment in every box.
    schemas = (
        LabelSchema("accuracy", LabelSchemaType.FEEDBACK,
                    InputCategorical(["Right", "Wrong"]), enable_comment=True),
        LabelSchema("tone", LabelSchemaType.FEEDBACK, InputPassFail(), enable_comment=True),
        LabelSchema("rating", LabelSchemaType.FEEDBACK, InputNumeric(min_value=1, max_value=5)),
    )
    data = seed_review(ui_server.store, schemas=schemas, num_items=2)
    http = ui_server.http
    token = _sign_in(http, ALICE)
    first, second = (f"/review/{data.run_id}/items/{t}" for t in data.trace_ids)
    done = http.post(first, data={"csrf_token": token, "a0": "Wrong", "c0": "It says 2019",
                                  "a1": "pass", "c1": "", "a2": "3"})
    assert done.status_code == 303
    stored = {a.name: a for a in ui_server.store.get_trace(data.trace_ids[0]).info.assessments
              if a.run_id == data.run_id}
    assert {n: a.rationale for n, a in stored.items()} == {
        "accuracy": "It says 2019", "tone": None, "rating": None}
    page = http.get(first).text
    assert '<textarea name="c0" id="c0" rows="2" maxlength="10000" ' \
           'aria-describedby="c0-error">It says 2019</textarea>' in page
    assert '<textarea name="c1" id="c1" rows="2" maxlength="10000" ' \
           'aria-describedby="c1-error"></textarea>' in page
    assert 'name="c2"' not in page
    # Answering again with another comment overrides the answer, comment and all.
    http.post(first, data={"csrf_token": token, "a0": "Right", "c0": "Fixed in 2020"})
    body = http.get(first + ".json").json()
    boxes = {q["name"]: q["comment"] for q in body["questions"]}
    assert boxes["accuracy"]["value"] == "Fixed in 2020"
    assert boxes["accuracy"]["field"] == "c0" and boxes["rating"] is None
    # The older way: one comment for every answer.
    ui_server.store.submit_labeling_answers(data.run_id, data.trace_ids[1], ALICE,
                                            {"accuracy": "Right", "tone": False}, "Both off")
    page = http.get(second).text
    assert page.count(">Both off</textarea>") == 2
    # A form with the older single box still posts: its comment goes with every answer.
    http.post(second, data={"csrf_token": token, "a0": "Wrong", "a2": "4",
                            "comment": "From an old page"})
    stored = {a.name: a for a in ui_server.store.get_trace(data.trace_ids[1]).info.assessments
              if a.run_id == data.run_id and a.valid}
    assert {n: a.rationale for n, a in stored.items()} == {
        "accuracy": "From an old page", "rating": "From an old page", "tone": "Both off"}
