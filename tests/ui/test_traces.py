"""The traces table, ``/experiments/{id}``, on SQLite and PostgreSQL: rows and assessment
columns, quick filters, the filter box and its errors, sorting, cursor pages, the column
picker, and the 404 page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from assay.entities import Feedback
from assay.server.ui import traces as traces_ui
from factories import BASE_TIME_MS, make_trace
from server.live import Served
from ui.chatbot import QUESTIONS, seed_chatbot


def _json(ui: Served, experiment_id: str, query: str = "", status: int = 200) -> Any:
    response = ui.http.get(f"/experiments/{experiment_id}.json{query}")
    assert response.status_code == status, response.text
    return response.json()


def _ids(body: Any) -> list[str]:
    return [t["trace_id"] for t in body["traces"]]


def test_rows_have_trace_fields_scores_and_a_column_per_assessment_name(
        ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    body = _json(ui_server, bot.experiment_id)
    assert _ids(body) == bot.trace_ids[::-1]  # newest first
    newest = body["traces"][0]
    assert newest | {"timestamp_ms": 0} == newest | {
        "request": QUESTIONS[4][1], "response": QUESTIONS[4][2], "user_id": "carol",
        "session_id": "s-carol", "name": "rag_chatbot", "duration_ms": 1200, "state": "OK",
        "tags": {"env": "prod"}, "url": f"/traces/{bot.trace_ids[4]}", "timestamp_ms": 0}
    assert newest["assessments"] == {}
    assert newest["scores"] == []
    down = body["traces"][3]["assessments"]["feedback:user_feedback"]
    assert (down["value"], down["count"], down["source"]) == (False, 1, "HUMAN alice")
    assert [(s["name"], s["value"]) for s in body["traces"][3]["scores"]] == [
        ("user_feedback", False)]
    columns = {c["key"]: c for c in body["columns"]}
    # Every feedback is a chip in the Scores column, right after the response; one column
    # per name is in the picker.
    assert [c["key"] for c in body["columns"] if c["visible"]][:3] == [
        "request", "response", "scores"]
    assert columns["feedback:user_feedback"] | {"sort_url": ""} == {
        "key": "feedback:user_feedback", "label": "user_feedback", "group": "feedback",
        "numeric": False, "default": False, "visible": False, "sortable": True, "sorted": None,
        "sort_url": ""}
    assert columns["time"]["sorted"] == "desc"
    assert not columns["tags"]["visible"]

    html = ui_server.http.get(f"/experiments/{bot.experiment_id}").text
    assert html.count("<tr data-href=") == 5
    assert 'data-col="feedback:user_feedback"' not in html
    assert re.search(r'<span class="score" data-score="user_feedback" title="user_feedback: '
                     r'false · HUMAN alice"><span class="score-name">user_feedback</span>'
                     r'<span class="chip chip-bad chip-bool" title="false">', html)
    assert f'href="/traces/{bot.trace_ids[1]}"' in html
    assert 'aria-sort="descending"' in html
    assert "<label for=\"filter\"" in html


def test_several_valid_values_show_the_latest_and_a_count(ui_server: Served) -> None:
    from assay.entities import Feedback

    bot = seed_chatbot(ui_server.store)
    for offset, stars in enumerate((3, 5)):  # apart in time, so that 5 is the latest
        ui_server.store.log_assessment(Feedback(name="stars", value=stars,
                                                trace_id=bot.trace_ids[0],
                                                create_time_ms=1_767_225_600_000 + offset))
    row = _json(ui_server, bot.experiment_id)["traces"][4]
    assert row["assessments"]["feedback:stars"]["value"] == 5
    assert row["assessments"]["feedback:stars"]["count"] == 2
    html = ui_server.http.get(
        f"/experiments/{bot.experiment_id}?cols=1&col=feedback:stars").text
    assert re.search(r'title="2 valid values: 3, 5">\u00d72</span>', html)
    # The Scores chip says so too.
    html = ui_server.http.get(f"/experiments/{bot.experiment_id}").text
    assert re.search(r'title="stars: 3, 5 · CODE default"><span class="score-name">stars</span>'
                     r'<span class="num">5</span><span class="score-count">\u00d72</span>', html)


def test_quick_filters(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    ids = bot.trace_ids
    eid = bot.experiment_id
    assert _ids(_json(ui_server, eid, "?user=alice")) == [ids[1], ids[0]]
    assert _ids(_json(ui_server, eid, "?session=s-bob")) == [ids[3], ids[2]]
    down = _json(ui_server, eid, "?feedback=down")
    assert _ids(down) == [ids[1]]
    assert down["filter_string"] == "feedback.user_feedback = 'false'"
    page = ui_server.http.get(f"/experiments/{eid}?feedback=down").text
    assert ('The quick filters add <code>feedback.user_feedback = &#39;false&#39;</code>'
            in page)
    assert '<option value="user_feedback" selected>user_feedback</option>' in page
    # Another yes/no feedback does not join in: "Thumbs down" agrees with the filter
    # feedback.user_feedback = 'false', and "Of" picks the other name.
    from assay.entities import Feedback
    ui_server.store.log_assessment(Feedback(name="response_is_correct", value=False,
                                            trace_id=ids[0]))
    assert _ids(_json(ui_server, eid, "?feedback=down")) == [ids[1]]
    assert _ids(_json(ui_server, eid, "?feedback=down&on=response_is_correct")) == [ids[0]]
    assert _ids(_json(ui_server, eid, "?feedback=up")) == [ids[3], ids[2], ids[0]]
    assert _ids(_json(ui_server, eid, "?feedback=any")) == ids[3::-1]
    assert _ids(_json(ui_server, eid, "?feedback=none")) == [ids[4]]
    combined = _json(ui_server, eid, "?user=alice&feedback=up&filter=trace.status%20%3D%20'OK'")
    assert _ids(combined) == [ids[0]]
    assert combined["filter_string"] == (
        "(trace.status = 'OK') AND trace.user_id = 'alice' AND feedback.user_feedback = 'true'")
    # A user name with a quote is a value, not filter syntax.
    assert _ids(_json(ui_server, eid, "?user=o'brien")) == []
    # The seeded traces are from 2025: nothing in the last 24 hours.
    recent = ui_server.http.get(f"/experiments/{eid}?range=24h")
    assert recent.status_code == 200
    assert "No traces match these filters" in recent.text
    assert _ids(_json(ui_server, eid, "?from=2025-01-01T00:02&to=2025-01-01T00:03:30")) \
        == [ids[3], ids[2]]


def test_filter_errors_show_under_the_box_with_their_position(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    query = "?filter=trace.status%20%3D%20'OK'%20AND%20trace.nonsense%20%3D%201&user=alice"
    body = _json(ui_server, bot.experiment_id, query, status=400)
    error = body["filter_error"]
    assert error["position"] == 30
    assert error["fragment"] == "nonsense"
    assert (error["before"], error["at"]) == ("trace.status = 'OK' AND trace.", "nonsense")
    assert body["traces"] == []

    page = ui_server.http.get(f"/experiments/{bot.experiment_id}{query}")
    assert page.status_code == 400
    html = page.text
    assert 'aria-invalid="true"' in html
    assert "<mark>nonsense</mark>" in html
    assert 'id="filter-error" role="alert"' in html
    assert 'value="trace.status = &#39;OK&#39; AND trace.nonsense = 1"' in html

    quoted = _json(ui_server, bot.experiment_id,
                   "?filter=feedback.user_feedback%20%3E%20'3'", status=400)
    assert quoted["filter_error"]["position"] == 25
    assert "numbers are unquoted" in quoted["filter_error"]["message"]


def test_sorting_by_columns(ui_server: Served) -> None:
    from assay.entities import Feedback

    bot = seed_chatbot(ui_server.store)
    ids = bot.trace_ids
    for i, stars in ((0, 2), (2, 5), (4, 4)):
        ui_server.store.log_assessment(Feedback(name="stars", value=stars, trace_id=ids[i]))
    eid = bot.experiment_id
    by_stars = _json(ui_server, eid, "?sort=feedback:stars&dir=desc")
    assert _ids(by_stars)[:3] == [ids[2], ids[4], ids[0]]
    assert {c["key"]: c["sorted"] for c in by_stars["columns"]}["feedback:stars"] == "desc"
    assert _ids(_json(ui_server, eid, "?sort=time&dir=asc")) == ids
    assert _ids(_json(ui_server, eid, "?sort=user&dir=asc"))[:2] == [ids[1], ids[0]]
    # A column's link flips the direction of the sorted column, and sorts others.
    columns = {c["key"]: c for c in _json(ui_server, eid, "?sort=user&dir=asc")["columns"]}
    assert columns["user"]["sort_url"] == f"/experiments/{eid}?sort=user&dir=desc"
    assert columns["duration"]["sort_url"] == f"/experiments/{eid}?sort=duration&dir=desc"
    assert columns["request"]["sort_url"] is None
    unknown = _json(ui_server, eid, "?sort=request")
    assert unknown["errors"] == ["Cannot sort by 'request'; sorted by time instead"]
    assert _ids(unknown) == ids[::-1]


def test_cursor_pages_follow_the_next_link(ui_server: Served) -> None:
    eid = ui_server.store.create_experiment("busy")
    traces = [make_trace(experiment_id=eid, request_time=BASE_TIME_MS + i * 1000,
                         metadata={"mlflow.trace.user": "bob" if i % 2 else "ann"})
              for i in range(45)]
    ui_server.store.log_traces(traces)
    bobs = [t.info.trace_id for t in traces[::-1] if t.info.user_id == "bob"]
    seen: list[str] = []
    pages = 0
    url: str | None = f"/experiments/{eid}?n=10&user=bob"
    while url:
        body = ui_server.http.get(url.replace(f"/experiments/{eid}?",
                                              f"/experiments/{eid}.json?")).json()
        assert body["view"]["user"] == "bob"
        seen += _ids(body)
        pages += 1
        url = body["next_url"]
        assert pages <= 3
    assert seen == bobs
    assert pages == 3
    html = ui_server.http.get(f"/experiments/{eid}?n=10&user=bob").text
    assert 'rel="next" data-pager="next">Next' in html
    assert 'data-pager="first"' not in html
    bad = ui_server.http.get(f"/experiments/{eid}.json?page=nonsense")
    assert bad.status_code == 400
    assert "Invalid page_token" in bad.json()["errors"][0]


def test_column_picker_keeps_the_choice_in_the_url(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    eid = bot.experiment_id
    body = _json(ui_server, eid, "?cols=1&col=user&col=feedback:user_feedback&col=bogus")
    assert [c["key"] for c in body["columns"] if c["visible"]] == [
        "user", "feedback:user_feedback"]
    assert body["view"]["columns"] == ["user", "feedback:user_feedback", "bogus"]
    html = ui_server.http.get(
        f"/experiments/{eid}?cols=1&col=user&col=feedback:user_feedback").text
    assert re.findall(r'<th scope="col" class="[^"]*" data-col="([^"]+)"', html) == [
        "user", "feedback:user_feedback"]
    # Sort links keep the columns.
    assert "cols=1&amp;col=user&amp;col=feedback%3Auser_feedback" in html
    # Picking exactly the defaults keeps the URL short.
    defaults = [c["key"] for c in _json(ui_server, eid)["columns"] if c["visible"]]
    query = "?cols=1&" + "&".join(f"col={k}" for k in defaults)
    assert _json(ui_server, eid, query)["view"]["columns"] is None


def test_bad_view_parameters_are_named_not_fatal(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    body = _json(ui_server, bot.experiment_id, "?n=5000&feedback=sideways&dir=up&range=1y",
                 status=200)
    assert body["errors"] == [
        "Unknown feedback filter 'sideways': expected one of any, none, down, up",
        "Unknown sort direction 'up': expected asc or desc",
        "Invalid rows per page '5000': expected 10 to 200",
        "Invalid range '1y': expected one of 24h, 7d, 30d, all"]
    assert len(body["traces"]) == 5


def test_unknown_experiment_is_a_404_page(ui_server: Served) -> None:
    page = ui_server.http.get("/experiments/4242")
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text
    assert "Experiment with ID &#39;4242&#39; not found" in page.text
    data = ui_server.http.get("/experiments/4242.json")
    assert data.status_code == 404
    assert data.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_empty_experiment_says_how_to_send_traces(ui_server: Served) -> None:
    eid = ui_server.store.create_experiment("fresh")
    html = ui_server.http.get(f"/experiments/{eid}").text
    assert "No traces in this experiment yet" in html
    assert 'assay.set_experiment("fresh")' in html


def test_a_misspelled_assessment_name_is_pointed_out(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    eid = bot.experiment_id
    body = _json(ui_server, eid, "?filter=feedback.user_feedbak%20%3D%20'false'")
    assert body["traces"] == []
    [warning] = body["warnings"]
    assert warning["message"] == ("No feedback in this experiment is named 'user_feedbak', so "
                                  "this clause matches no trace.")
    assert warning["suggestion"] == "user_feedback"
    fixed = _json(ui_server, eid, warning["url"].removeprefix(f"/experiments/{eid}"))
    assert fixed["view"]["filter"] == "feedback.user_feedback = 'false'"
    assert fixed["warnings"] == [] and _ids(fixed) == [bot.trace_ids[1]]
    html = ui_server.http.get(f"/experiments/{eid}?filter=feedback.user_feedbak%20%3D%20'false'")
    assert 'class="notice notice-warn"' in html.text and "Did you mean <a href=" in html.text
    # Nothing near: the names it has are listed; a known name warns of nothing.
    [far] = _json(ui_server, eid, "?filter=expectation.zzz%20IS%20NULL")["warnings"]
    assert far["suggestion"] is None
    assert _json(ui_server, eid, "?filter=feedback.user_feedback%20IS%20NULL")["warnings"] == []

DASH = "\N{EN DASH}"


def _busy(ui: Served, n: int = 45) -> tuple[str, list[str]]:
    """An experiment of ``n`` traces a second apart (ids newest first), users u0..u2 (the
    newest trace is u2's when n is 45) and sessions of five turns."""
    eid = ui.store.create_experiment("busy")
    traces = [make_trace(experiment_id=eid, request_time=BASE_TIME_MS + i * 1000, num_spans=1,
                         metadata={"mlflow.trace.user": f"u{i % 3}",
                                   "mlflow.trace.session": f"s{i // 5}"})
              for i in range(n)]
    ui.store.log_traces(traces)
    return eid, [t.info.trace_id for t in traces[::-1]]


def test_count_and_page_numbers(ui_server: Served) -> None:
    eid, ids = _busy(ui_server)
    body = _json(ui_server, eid, "?n=10")
    assert body["count"] == {"count": 45, "capped": False}
    pager = body["pager"]
    assert (pager["number"], pager["first_row"], pager["last_row"], pager["last_page"]) == (
        1, 1, 10, 5)
    assert [link and link["number"] for link in pager["links"]] == [1, 2, 3, None, 5]
    assert pager["prev_url"] is None and pager["first_url"] is None
    assert pager["last_url"] == f"/experiments/{eid}?n=10&p=5"
    # Next is a cursor page that knows its number.
    two = ui_server.http.get(pager["next_url"].replace(f"/experiments/{eid}?",
                                                       f"/experiments/{eid}.json?")).json()
    assert _ids(two) == ids[10:20]
    assert (two["pager"]["number"], two["pager"]["first_row"]) == (2, 11)
    assert two["pager"]["prev_url"] == f"/experiments/{eid}?n=10"
    # A page number alone is a jump to the same rows a cursor reaches.
    for number in (2, 3, 4, 5):
        jumped = _json(ui_server, eid, f"?n=10&p={number}")
        assert _ids(jumped) == ids[(number - 1) * 10:number * 10], number
        assert jumped["pager"]["number"] == number
        assert jumped["pager"]["prev_url"] == (f"/experiments/{eid}?n=10&p={number - 1}"
                                               if number > 2 else f"/experiments/{eid}?n=10")
    last = _json(ui_server, eid, "?n=10&p=5")
    assert (last["pager"]["first_row"], last["pager"]["last_row"]) == (41, 45)
    assert last["next_url"] is None and last["pager"]["last_url"] is None
    assert [link and link["number"] for link in last["pager"]["links"]] == [1, None, 3, 4, 5]
    # A page past the last shows the last.
    past = _json(ui_server, eid, "?n=10&p=9")
    assert _ids(past) == ids[40:] and past["pager"]["number"] == 5

    html = ui_server.http.get(f"/experiments/{eid}?n=10&p=3").text
    assert re.search(rf'id="trace-count"[^>]*><strong class="num">21{DASH}30</strong> of '
                     r'<strong class="num">45</strong> traces', html)
    assert 'aria-current="page" aria-label="Page 3, this page">3</a>' in html
    assert 'rel="prev" data-pager="prev"' in html and 'data-pager="last"' in html


def test_the_count_follows_the_filters(ui_server: Served) -> None:
    eid, _ = _busy(ui_server)
    assert _json(ui_server, eid, "?user=u1")["count"] == {"count": 15, "capped": False}
    one = _json(ui_server, eid, "?filter=trace.session_id%20%3D%20's2'")
    assert one["count"] == {"count": 5, "capped": False}
    assert [link["number"] for link in one["pager"]["links"]] == [1]
    assert one["pager"]["next_url"] is None and one["pager"]["last_url"] is None
    html = ui_server.http.get(f"/experiments/{eid}?filter=trace.session_id%20%3D%20's2'").text
    assert f'<strong class="num">1{DASH}5</strong> of <strong class="num">5</strong> traces' \
        in html
    assert 'class="page-numbers"' not in html  # one page: no page links
    # No feedback in the experiment: "with feedback" matches nothing, counted as 0.
    assert _json(ui_server, eid, "?feedback=any")["count"] == {"count": 0, "capped": False}
    # A filter that does not parse is neither searched nor counted.
    bad = _json(ui_server, eid, "?filter=trace.status%20%3D%3D", status=400)
    assert bad["count"] is None and bad["traces"] == []


def test_a_bad_page_number_is_named_and_the_first_page_shown(ui_server: Served) -> None:
    eid, ids = _busy(ui_server)
    for bad in ("0", "-2", "abc", "1e3", "²", "9" * 12, "3.5"):
        body = _json(ui_server, eid, f"?n=10&p={bad}")
        assert _ids(body) == ids[:10], bad
        assert any("Invalid page number" in e for e in body["errors"]), bad
        assert body["pager"]["number"] == 1
    # A number beside a cursor only labels the page; the cursor decides the rows.
    token = _json(ui_server, eid, "?n=10")["next_page_token"]
    body = _json(ui_server, eid, f"?n=10&page={token}")
    assert _ids(body) == ids[10:20]
    assert body["pager"]["number"] is None and body["pager"]["first_url"]
    html = ui_server.http.get(f"/experiments/{eid}?n=10&page={token}").text
    assert re.search(r'id="trace-count"[^>]*>10 on this page of <strong class="num">45'
                     r'</strong> traces', html)


def test_user_and_session_filters_suggest_recent_ids(ui_server: Served) -> None:
    eid, _ = _busy(ui_server)
    html = ui_server.http.get(f"/experiments/{eid}").text
    assert 'id="q-user" name="user"' in html and 'list="user-ids"' in html
    assert ('<datalist id="user-ids"><option value="u2"></option><option value="u1"></option>'
            '<option value="u0"></option></datalist>') in html
    sessions = re.search(r'<datalist id="session-ids">(.*?)</datalist>', html)
    assert sessions is not None
    assert re.findall(r'value="([^"]+)"', sessions.group(1)) == [
        f"s{i}" for i in range(8, -1, -1)]
    # An experiment without users offers nothing (and no empty list).
    empty = ui_server.store.create_experiment("quiet")
    ui_server.store.log_traces([make_trace(experiment_id=empty, num_spans=1)])
    html = ui_server.http.get(f"/experiments/{empty}").text
    assert "<datalist" not in html and 'list="user-ids"' not in html


def test_the_count_route_counts_the_views_filters(ui_server: Served) -> None:
    eid, _ = _busy(ui_server)
    body = ui_server.http.get(f"/experiments/{eid}/count.json?user=u1&sort=duration&p=3")
    assert body.status_code == 200, body.text
    assert body.json()["count"] == {"count": 15, "capped": False}
    assert body.json()["traces_url"] == f"/experiments/{eid}?user=u1&sort=duration&dir=desc"
    html = ui_server.http.get(f"/experiments/{eid}/count?user=u1").text
    assert re.search(r'<p id="trace-total"><strong class="num">15</strong> traces match these '
                     r'filters', html)
    everything = ui_server.http.get(f"/experiments/{eid}/count").text
    assert "<strong class=\"num\">45</strong> traces in this experiment" in everything
    # The page links to it with its filters only.
    page = _json(ui_server, eid, "?user=u1&n=10&sort=duration")
    assert page["count"] == {"count": 15, "capped": False}
    # Hostile or broken input: a 4xx naming the problem, never a 500.
    for query, status, words in (
            ("?filter=trace.status%20%3D%3D", 400, "comparator"),
            ("?range=forever", 400, "range"),
            ("?filter=" + "x" * 5000, 200, None)):  # too long: ignored, as by the page
        response = ui_server.http.get(f"/experiments/{eid}/count.json{query}")
        assert response.status_code == status, (query, response.text)
        if words:
            assert words in response.json()["message"].lower(), response.text
    assert ui_server.http.get("/experiments/424242/count.json").status_code == 404


def test_a_count_past_its_budget_leaves_a_link(ui_server: Served,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # A count that takes longer than the page's budget: the page shows without it, "many"
    # links to the count route, and the pager offers only the next page.
    eid = ui_server.store.create_experiment("slow")
    traces = [make_trace(experiment_id=eid, request_time=BASE_TIME_MS + i, num_spans=1)
              for i in range(6000)]
    ui_server.store.log_traces(traces)
    for trace in traces[::50]:
        ui_server.store.log_assessment(Feedback("ok", False, trace_id=trace.info.trace_id))
    monkeypatch.setattr(traces_ui, "COUNT_SECONDS", 1e-6)
    query = "?filter=feedback.ok%20IS%20NULL&n=10"
    body = _json(ui_server, eid, query)
    assert len(body["traces"]) == 10 and body["count"] is None
    assert [link and link["number"] for link in body["pager"]["links"]] == [1, 2, None]
    html = ui_server.http.get(f"/experiments/{eid}{query}").text
    link = f"/experiments/{eid}/count?filter=feedback.ok+IS+NULL"
    assert f'<a href="{link}" data-count-url="{link}"' in html
    assert '<p class="table-summary" id="match-count" hidden' in html
    counted = ui_server.http.get(link.replace("/count?", "/count.json?")).json()
    assert counted["count"] == {"count": 5880, "capped": False}
