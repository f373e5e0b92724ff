"""The sessions pages over HTTP, on SQLite and PostgreSQL: the list of an experiment's
sessions and one session turn by turn, as HTML and JSON."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from factories import BASE_TIME_MS, make_trace
from server.live import Served
from ui.analytics_data import ODD_ID, seed_sessions


def get_json(served: Served, path: str) -> dict[str, Any]:
    response = served.http.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_sessions_list(ui_server: Served) -> None:
    eid, _ = seed_sessions(ui_server)
    body = get_json(ui_server, f"/experiments/{eid}/sessions.json")
    assert [s["session_id"] for s in body["sessions"]] == [ODD_ID, "s-1"]  # newest first
    odd, s1 = body["sessions"]
    assert odd["first_question"] == "Hello <there>"  # the user's message of a chat request
    assert odd["url"] == f"/experiments/{eid}/sessions/{quote(ODD_ID, safe='')}"
    assert (s1["num_turns"], s1["user_ids"], s1["num_errors"]) == (3, ["u1"], 1)
    assert (s1["num_turns_with_feedback"], s1["positive"], s1["negative"]) == (2, 1, 1)
    assert s1["first_question"] == "Question 1?"
    assert s1["first_ms"] == BASE_TIME_MS and s1["last_ms"] == BASE_TIME_MS + 120_000 + 1500
    assert s1["length_ms"] == 120_000 + 1500
    assert [(c["name"], c["value"]) for c in s1["feedback"]] == [("conversation_rating", 4)]
    assert body["next_page_token"] is None

    html = ui_server.http.get(f"/experiments/{eid}/sessions").text
    assert 'aria-current="page" class="active">Sessions</a>' in html
    assert f'href="/experiments/{eid}/sessions/team%2Fa%20b%3Fc"' in html
    assert "Question 1?" in html and "1 negative" in html and "1 failed" in html
    assert "conversation_rating" in html
    assert '>2 min 02 s</td>' in html  # how long the conversation went on


def test_session_page_shows_the_conversation_turn_by_turn(ui_server: Served) -> None:
    eid, ids = seed_sessions(ui_server)
    body = get_json(ui_server, f"/experiments/{eid}/sessions/s-1.json")
    session = body["session"]
    assert (session["session_id"], session["num_turns"], session["user_ids"]) == (
        "s-1", 3, ["u1"])
    assert [(c["name"], c["value"], c["source_id"]) for c in session["feedback"]] == [
        ("conversation_rating", 4, "u1")]
    assert session["traces_url"] == f"/experiments/{eid}?session=s-1"
    turns = body["turns"]
    assert [t["number"] for t in turns] == [1, 2, 3]
    assert [t["trace_id"] for t in turns] == ids[:3]
    assert turns[0]["request"] == {"kind": "text", "text": "Question 1?", "cut": False}
    assert turns[0]["response"]["text"] == "Answer 1."
    assert turns[2]["response"] is None and turns[2]["state"] == "ERROR"
    # A turn's own feedback, not the session's (that is listed once, above the turns).
    assert [(c["name"], c["value"], c["rationale"]) for c in turns[1]["feedback"]] == [
        ("thumbs", False, "Too vague")]
    assert [c["name"] for c in turns[0]["feedback"]] == ["thumbs"]

    html = ui_server.http.get(f"/experiments/{eid}/sessions/s-1").text
    for text in ("Turn 1", "Turn 3", "Question 2?", "Answer 1.", "Too vague",
                 "No answer: the turn failed", "Session feedback", "conversation_rating"):
        assert text in html, text
    assert f'href="/traces/{ids[1]}"' in html
    assert html.index("Question 1?") < html.index("Question 2?") < html.index("Question 3?")


def test_session_ids_are_url_encoded_and_chat_messages_rendered(ui_server: Served) -> None:
    eid, ids = seed_sessions(ui_server)
    path = f"/experiments/{eid}/sessions/{quote(ODD_ID, safe='')}"
    body = get_json(ui_server, path + ".json")
    assert body["session"]["session_id"] == ODD_ID
    [turn] = body["turns"]
    assert turn["trace_id"] == ids[3]
    assert turn["request"]["kind"] == "messages"
    assert [m["role"] for m in turn["request"]["messages"]] == ["system", "user"]
    html = ui_server.http.get(path).text
    assert "Hello &lt;there&gt;" in html and "Be brief." in html  # escaped, as messages
    assert "No feedback on the conversation as a whole" in html


def test_long_lists_come_a_page_at_a_time(ui_server: Served) -> None:
    store = ui_server.store
    eid = store.create_experiment("busy")
    one_turn = [make_trace(experiment_id=eid, request_time=BASE_TIME_MS + i,
                           metadata={"mlflow.trace.session": f"short-{i:02d}"})
                for i in range(50)]
    long = [make_trace(experiment_id=eid, request_time=BASE_TIME_MS - 1000 + i,
                       metadata={"mlflow.trace.session": "long"},
                       request_preview=f"turn {i + 1}") for i in range(101)]
    store.log_traces(one_turn + long)
    first = get_json(ui_server, f"/experiments/{eid}/sessions.json")
    assert len(first["sessions"]) == 50 and first["next_url"]
    rest = get_json(ui_server, first["next_url"].replace("/sessions?", "/sessions.json?"))
    assert [s["session_id"] for s in rest["sessions"]] == ["long"]
    assert rest["sessions"][0]["num_turns"] == 101 and rest["next_url"] is None

    page_one = get_json(ui_server, f"/experiments/{eid}/sessions/long.json")
    assert len(page_one["turns"]) == 100 and page_one["session"]["has_more"]
    later = page_one["next_url"].replace("/sessions/long?", "/sessions/long.json?")
    page_two = get_json(ui_server, later)
    [last] = page_two["turns"]
    assert last["number"] == 101 and last["request"]["text"] == "turn 101"
    html = ui_server.http.get(page_one["next_url"]).text
    assert "Turn 101" in html and "The first turns" in html


def test_sessions_empty_state(ui_server: Served) -> None:
    eid = ui_server.store.create_experiment("quiet")
    ui_server.store.log_traces([make_trace(experiment_id=eid)])  # a trace, but no session
    assert get_json(ui_server, f"/experiments/{eid}/sessions.json")["sessions"] == []
    html = ui_server.http.get(f"/experiments/{eid}/sessions").text
    assert "No sessions yet" in html and "session_id=" in html


def test_unknown_sessions_and_bad_pages_are_error_pages(ui_server: Served) -> None:
    eid, _ = seed_sessions(ui_server)
    for path, status in [(f"/experiments/{eid}/sessions/nope", 404),
                         (f"/experiments/{eid}/sessions/", 404),
                         ("/experiments/424242/sessions", 404),
                         ("/experiments/424242/sessions/s-1", 404),
                         (f"/experiments/{eid}/sessions?page=bogus", 400),
                         (f"/experiments/{eid}/sessions/s-1?page=bogus", 400)]:
        page = ui_server.http.get(path)
        assert page.status_code == status, (path, page.text)
        assert page.headers["content-type"].startswith("text/html"), path
    missing = ui_server.http.get(f"/experiments/{eid}/sessions/nope.json")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "nope" in missing.json()["message"]


def test_a_conversation_is_rated_from_its_page(ui_server: Served) -> None:
    import re

    eid, _ = seed_sessions(ui_server)
    page = ui_server.http.get(f"/experiments/{eid}/sessions/{quote(ODD_ID, safe='')}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token and 'id="session-feedback-form"' in page
    form = {"csrf_token": token.group(1), "session_id": ODD_ID, "name": "resolved",
            "data_type": "boolean", "value": "true", "rationale": "Sorted in two turns",
            "source_id": "dana"}
    done = ui_server.http.post(f"/experiments/{eid}/session-feedback", data=form)
    assert done.status_code == 303
    assert done.headers["location"].startswith(
        f"/experiments/{eid}/sessions/{quote(ODD_ID, safe='')}?flash=Session+feedback")
    shown = get_json(ui_server, done.headers["location"].replace("?", ".json?", 1))
    assert [(c["name"], c["value"], c["rationale"]) for c in shown["session"]["feedback"]
            if c["name"] == "resolved"] == [("resolved", True, "Sorted in two turns")]
    # Stored as the SDK stores it: on the session's first trace, with the session id.
    [stored] = [a for t in ui_server.store.search_traces(
        [eid], filter_string=f"trace.session_id = '{ODD_ID.replace(chr(39), chr(39) * 2)}'")
        for a in t.info.assessments if a.name == "resolved"]
    assert (stored.session_id, stored.source.source_id) == (ODD_ID, "dana")
    # A bad value or an unknown session comes back to the form with the reason.
    bad = ui_server.http.post(f"/experiments/{eid}/session-feedback",
                              data={**form, "value": "maybe"})
    assert bad.status_code == 303 and "flash_kind=error" in bad.headers["location"]
    assert bad.headers["location"].endswith("#session-feedback-form")
    missing = ui_server.http.post(f"/experiments/{eid}/session-feedback",
                                  data={**form, "session_id": "no-such-session"},
                                  headers={"Accept": "application/json"})
    assert missing.status_code == 404 and "no-such-session" in missing.json()["message"]
    # An id no session can have goes back to the list, not to a page named by all of it.
    long = ui_server.http.post(f"/experiments/{eid}/session-feedback",
                               data={**form, "session_id": "s" * 100_000})
    assert long.status_code == 303
    assert long.headers["location"].startswith(f"/experiments/{eid}/sessions?flash=Invalid")
    assert len(long.headers["location"]) < 400
    # Without the page's token, it is refused.
    forged = ui_server.http.post(f"/experiments/{eid}/session-feedback",
                                 data={**form, "csrf_token": "x"})
    assert forged.status_code == 403
